"""Write, audit, publish through the IO managers: a refused run's partitions get their previous
contents back (new ones disappear), the refused data stays inspectable, and a later read of a
partition left missing says which check refused it.

The refusal API is driven directly here (fast, and as a hypothesis state model); the end-to-end
behaviour through Dagster runs and contract checks is in tests/contracts/test_refusal_runs.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.io.conftest import KINDS, Where, make_manager

FORMATS = ["delta", "parquet"]
_INSTANCE = dg.DagsterInstance.ephemeral()


class RunLake:
    """One asset written and refused through an IO manager, each write as its own run."""

    def __init__(self, fmt: str, root: str, kind: str, **options: str) -> None:
        self.manager = make_manager(fmt, root, **options)
        self.fmt = fmt
        self.partitions_def, partition_by, self.keys = KINDS[kind]
        self.metadata = {"partition_by": partition_by} if partition_by else {}
        self.instance = _INSTANCE
        if kind == "dynamic":
            self.instance.add_dynamic_partitions("tickers", self.keys)

    def _partition_args(self, keys: list[str]) -> dict[str, Any]:
        if self.partitions_def is None:
            return {}
        args: dict[str, Any] = {"asset_partitions_def": self.partitions_def}
        if len(keys) == 1:
            args["partition_key"] = keys[0]
        else:
            args["asset_partition_key_range"] = dg.PartitionKeyRange(keys[0], keys[-1])
        return args

    def write(self, values: dict[str, int], run_id: str) -> None:
        """One run writing value `v` (3 rows) into each partition key of `values`."""
        keys = list(values) if self.partitions_def is not None else []
        ctx = dg.build_output_context(
            asset_key=["t"],
            run_id=run_id,
            definition_metadata=self.metadata,
            instance=self.instance,
            **self._partition_args(keys),
        )
        rows = [
            self.with_partition(pl.DataFrame({"i": [0, 1, 2], "v": [v] * 3}), k)
            for k, v in values.items()
        ]
        self.manager.handle_output(ctx, pl.concat(rows))

    def refuse(self, keys: list[str], run_id: str) -> dict[str, Any]:
        return self.manager.refuse(
            dg.AssetKey("t"),
            self.partitions_def,
            self.metadata,
            keys if self.partitions_def is not None else [],
            run_id=run_id,
            check="t_contract",
            reason="2 failing rows",
        )

    def read(self, keys: list[str] | None = None) -> pl.DataFrame:
        upstream = dg.build_output_context(definition_metadata=self.metadata)
        args: dict[str, Any] = {"asset_key": ["t"], "upstream_output": upstream}
        if keys:
            args.update(self._partition_args(keys))
        frame = self.manager.load_input(dg.build_input_context(instance=self.instance, **args))
        return frame.collect()

    def with_partition(self, frame: pl.DataFrame, key: str) -> pl.DataFrame:
        if self.partitions_def is None:
            return frame
        from dag_io.partitioning import layout_for

        layout = layout_for("t", self.partitions_def, self.metadata["partition_by"])
        assert layout is not None
        values = layout.values([key])
        return frame.with_columns(
            pl.lit(values.item(0, c), dtype=values.schema[c]).alias(c) for c in values.columns
        )

    def values_of(self, key: str | None) -> list[int]:
        frame = self.read([key] if key else None)
        return sorted(set(frame.get_column("v").to_list()))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["daily", "multi", "dynamic"])
def test_refusal_restores_previous_and_removes_new_partitions(
    fmt: str, kind: str, where: Where
) -> None:
    lake = RunLake(fmt, where.root, kind, **where.options)
    good, fresh, other = lake.keys
    lake.write({good: 1}, "run-good")
    lake.write({other: 5}, "run-other")
    lake.write({good: 2, fresh: 2}, "run-bad")  # replaces `good`, creates `fresh`
    meta = lake.refuse([good, fresh], "run-bad")
    assert meta["refused"] is True and meta["refused_by_run"] == "run-bad"
    assert lake.values_of(good) == [1]  # the good month is back
    assert lake.values_of(other) == [5]  # untouched
    with pytest.raises(FileNotFoundError, match=r"refused by check t_contract in run run-bad"):
        lake.read([fresh])
    # the refused data stays inspectable where the metadata says
    options = where.resolved() or None
    if fmt == "delta":
        uri, version = meta["quarantine"].rsplit("@v", 1)
        table = DeltaTable(uri, version=int(version), storage_options=options)
        refused = pl.scan_delta(table).collect()
    else:
        refused = pl.read_parquet(
            f"{meta['quarantine']}/**/*.parquet",
            hive_partitioning=False,
            storage_options=options,
        )
    assert set(refused.get_column("v").to_list()) >= {2}
    # a second check of the same run refusing again changes nothing
    again = lake.refuse([good, fresh], "run-bad")
    assert again["refused"] is True
    assert lake.values_of(good) == [1]
    # writing the partition again clears its refusal: it reads normally
    lake.write({fresh: 3}, "run-fixed")
    assert lake.values_of(fresh) == [3]


@pytest.mark.parametrize("fmt", FORMATS)
def test_refused_first_write_of_unpartitioned_table_is_missing(fmt: str, lake_root: str) -> None:
    lake = RunLake(fmt, lake_root, "unpartitioned")
    lake.write({"": 7}, "run-1")
    lake.refuse([], "run-1")
    with pytest.raises(FileNotFoundError, match="run-1"):
        lake.read()
    lake.write({"": 8}, "run-2")
    lake.write({"": 9}, "run-3")
    lake.refuse([], "run-3")
    assert lake.values_of(None) == [8]


@pytest.mark.parametrize("fmt", FORMATS)
def test_refusing_a_run_that_wrote_nothing_is_an_error(fmt: str, lake_root: str) -> None:
    lake = RunLake(fmt, lake_root, "daily")
    lake.write({lake.keys[0]: 1}, "run-1")
    with pytest.raises(RuntimeError, match="nothing of this run to refuse"):
        lake.refuse([lake.keys[0]], "run-never")
    assert lake.values_of(lake.keys[0]) == [1]


def test_delta_refusal_keeps_a_concurrent_writers_later_commit(lake_root: str) -> None:
    """Another run committed to another partition after the refused write: only the refused
    partitions are rewritten from the version before it (no whole-table restore)."""
    lake = RunLake("delta", lake_root, "daily")
    a, b, _ = lake.keys
    lake.write({a: 1}, "run-1")
    lake.write({a: 2}, "run-bad")
    lake.write({b: 3}, "run-concurrent")
    lake.refuse([a], "run-bad")
    assert lake.values_of(a) == [1]
    assert lake.values_of(b) == [3]
    history = DeltaTable(lake.manager.root_uri + "/t").history(1)
    assert history[0]["dag_io.operation"] == "revert"


# -- model-based: whatever the sequence of good and refused runs, every partition holds the last
# accepted write, and partitions never accepted are missing --------------------------------------
step = st.tuples(
    st.sampled_from([(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2)]),  # a range of partitions
    st.integers(1, 1000),  # value written
    st.booleans(),  # refused by a blocking check?
)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking Delta writes takes minutes
)
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_partitions_hold_the_last_accepted_write(fmt: str, lake_root: str, steps: list) -> None:
    lake = RunLake(fmt, f"{lake_root}/{uuid.uuid4().hex[:8]}", "daily")
    accepted: dict[str, int] = {}
    for n, (indexes, value, refused) in enumerate(steps):
        keys = sorted(lake.keys[i] for i in indexes)
        run = f"run-{n}"
        lake.write(dict.fromkeys(keys, value), run)
        if refused:
            lake.refuse(keys, run)
        else:
            accepted.update(dict.fromkeys(keys, value))
    for key in lake.keys:
        if key in accepted:
            expected = lake.with_partition(
                pl.DataFrame({"i": [0, 1, 2], "v": [accepted[key]] * 3}), key
            )
            got = lake.read([key]).sort("i")
            assert_frame_equal(got, expected, check_column_order=False, check_dtypes=False)
        else:
            with pytest.raises(FileNotFoundError):
                lake.read([key])
