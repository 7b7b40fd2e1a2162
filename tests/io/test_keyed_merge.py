"""Keyed merge tables: a partitioned asset (one run per crawl file) upserting into one table, and
rows whose key a run marks for deletion (`merge_delete_flag`)."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dag_io import DeltaIOManager, lake

FILES = dg.DynamicPartitionsDefinition(name="files")
SCHEMA = {"post_id": pl.String, "url_hash": pl.String, "url": pl.String}

# What each file delivers: (post, image) rows; a post listed with no images loses all of them.
DELIVERIES: dict[str, dict[str, list[str]]] = {}


def _rows(context: dg.AssetExecutionContext, current: pl.DataFrame) -> pl.DataFrame:
    delivered = DELIVERIES[context.partition_key]
    incoming = pl.DataFrame(
        [(p, h, f"https://x/{h}") for p, hashes in delivered.items() for h in hashes],
        schema=SCHEMA,
        orient="row",
    )
    vanished = current.filter(pl.col("post_id").is_in(list(delivered))).join(
        incoming, on=["post_id", "url_hash"], how="anti"
    )
    return pl.concat(
        [
            incoming.with_columns(deleted=pl.lit(False)),
            vanished.with_columns(deleted=pl.lit(True)),
        ]
    )


def _definitions(root: Path) -> tuple[dg.AssetsDefinition, dg.Definitions]:
    manager = DeltaIOManager(root_uri=str(root))

    @dg.asset(
        partitions_def=FILES,
        io_manager_key="io_manager",
        metadata=lake(
            write_mode="merge", merge_keys=["post_id", "url_hash"], merge_delete_flag="deleted"
        ),
    )
    def images(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        try:
            current = manager.read(images.key, None, images.metadata_by_key[images.key]).collect()
        except FileNotFoundError:
            current = pl.DataFrame(schema=SCHEMA)
        return _rows(context, current).lazy()

    return images, dg.Definitions(assets=[images], resources={"io_manager": manager})


def _run(defs: dg.Definitions, asset: dg.AssetsDefinition, key: str, instance) -> dict:
    instance.add_dynamic_partitions("files", [key])
    result = dg.materialize(
        [asset], partition_key=key, instance=instance, resources=defs.resources
    )
    (mat,) = result.asset_materializations_for_node("images")
    return {k: v.value for k, v in mat.metadata.items()}


def test_runs_of_different_partitions_upsert_one_table_and_delete_flagged_keys(
    tmp_path: Path,
) -> None:
    images, defs = _definitions(tmp_path)
    with dg.instance_for_test() as instance:
        DELIVERIES["a"] = {"p1": ["h1", "h2"], "p2": ["h3"]}
        _run(defs, images, "a", instance)
        DELIVERIES["b"] = {"p1": ["h2", "h4"], "p2": []}  # h1 vanished, p2's list is now empty
        meta = _run(defs, images, "b", instance)
        table = pl.read_delta(str(tmp_path / "images")).sort("post_id", "url_hash")
    assert table.columns == ["post_id", "url_hash", "url"]  # the flag is never stored
    assert table.select("post_id", "url_hash").rows() == [("p1", "h2"), ("p1", "h4")]
    assert (meta["rows_deleted"], meta["rows_inserted"], meta["rows_updated"]) == (2, 1, 1)


def test_same_delivery_twice_gives_the_same_table(tmp_path: Path) -> None:
    images, defs = _definitions(tmp_path)
    with dg.instance_for_test() as instance:
        DELIVERIES["c"] = {"p1": ["h1", "h2"]}
        _run(defs, images, "c", instance)
        first = pl.read_delta(str(tmp_path / "images")).sort("url_hash")
        _run(defs, images, "c", instance)
        assert_frame_equal(first, pl.read_delta(str(tmp_path / "images")).sort("url_hash"))


def test_delete_flag_needs_merge_mode() -> None:
    with pytest.raises(ValueError, match=r"merge_delete_flag .* needs write_mode='merge'"):
        lake(merge_delete_flag="deleted")
