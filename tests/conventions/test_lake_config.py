"""Typed lake configuration: `lake(...)` refuses impossible combinations when a module is
imported, and the code location's load (`dagster definitions validate`) names misspelt keys and
settings that disagree with an asset's partitions, IO manager or columns."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dag_io import DeltaIOManager, LakeConfig, ParquetIOManager, lake
from dag_io.lake_config import lake_violations

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")
SCHEMA = dg.TableSchema(columns=[dg.TableColumn("d", "Date"), dg.TableColumn("id", "String")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"write_mode": "merge"}, "write_mode='merge' needs merge_keys"),
        ({"merge_keys": ["id"]}, "merge_keys are only used with write_mode='merge'"),
        ({"write_mode": "upsert", "merge_keys": ["id"]}, "write_mode must be one of"),
        ({"schema_mode": "replace"}, "schema_mode must be one of"),
        ({"partition_by": ""}, "partition_by must be a column name"),
        ({"partition_by": {"date": 3}}, "partition_by must be a column name"),
    ],
)
def test_impossible_combinations_fail_at_import(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lake(**kwargs)


@given(
    partition_by=st.one_of(st.none(), st.sampled_from(["d", "ym"])),
    merge=st.booleans(),
    schema_mode=st.sampled_from(["merge", "overwrite"]),
    mask=st.lists(st.sampled_from(["name", "email"]), unique=True),
)
def test_metadata_round_trips(partition_by, merge, schema_mode, mask) -> None:
    kwargs = {
        "partition_by": partition_by,
        "write_mode": "merge" if merge else "overwrite",
        "merge_keys": ("id",) if merge else (),
        "schema_mode": schema_mode,
        "mask_columns": tuple(mask),
    }
    assert LakeConfig.from_metadata(lake(**kwargs)) == LakeConfig(**kwargs)


def _violations(metadata: dict, manager: object | None, partitioned: bool = True) -> list[str]:
    return lake_violations("t", DAILY if partitioned else None, metadata, manager)


def test_definitions_load_names_what_is_wrong(tmp_path: Path) -> None:
    delta = DeltaIOManager(root_uri=str(tmp_path))
    parquet = ParquetIOManager(root_uri=str(tmp_path))
    good = {**lake(partition_by="d"), "dagster/column_schema": SCHEMA}
    assert _violations(good, delta) == []
    assert _violations({**good, "write_mod": "merge"}, delta) == [
        "asset t: metadata key 'write_mod' is not a lake setting; 'write_mode'?"
    ]
    assert _violations({"dagster/column_schema": SCHEMA}, delta) == [
        "asset t: partitioned, but lake(partition_by=...) names no column"
    ]
    merge = {**lake(partition_by="d", write_mode="merge", merge_keys=["id"])}
    assert _violations(merge, parquet) == [
        "asset t: write_mode='merge' needs the Delta IO manager"
    ]
    typo = {**lake(partition_by="day"), "dagster/column_schema": SCHEMA}
    assert _violations(typo, delta) == [
        "asset t: lake columns ['day'] are not in its column schema"
    ]
    assert _violations({"write_mode": "merge"}, delta, partitioned=False) == [
        "asset t: lake configuration: write_mode='merge' needs merge_keys"
    ]
    # a load asset (no lake IO manager) only has its keys checked
    assert _violations({"target_table": "x"}, None) == []


def test_definitions_validate_fails_on_a_misspelt_key(tmp_path: Path) -> None:
    module = tmp_path / "bad_location.py"
    module.write_text(
        textwrap.dedent(
            """
            import dagster as dg
            import polars as pl

            from dag.conventions import assert_lake_config
            from dag_io import DeltaIOManager

            @dg.asset(metadata={"write_mod": "merge"})
            def cd_thing() -> pl.DataFrame:
                return pl.DataFrame({"a": [1]})

            defs = assert_lake_config(
                dg.Definitions(
                    assets=[cd_thing],
                    resources={"io_manager": DeltaIOManager(root_uri="lake")},
                )
            )
            """
        )
    )
    dagster = str(Path(sys.executable).with_name("dagster"))
    result = subprocess.run(
        [dagster, "definitions", "validate", "-f", str(module)],
        cwd=tmp_path,
        env={**os.environ, "DAG_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "metadata key 'write_mod' is not a lake setting; 'write_mode'?" in output
