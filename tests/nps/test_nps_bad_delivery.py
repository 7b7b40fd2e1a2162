"""A bad NPS delivery never replaces a good month (issue: "contracts that really block").

Files mode, real CP949 month files on disk, the whole `nps_history_job` with the real Delta IO
manager and PostgreSQL: a re-delivered month cut at a row boundary (60%, 50%, 10% of its rows)
fails its run, names the file and both counts, and leaves the previous delivery's rows intact in
bronze, silver and `public.pension`; a later tier-by-tier run of silver reads the good month.
"""

import uuid
import warnings
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dag import nps_raw_ingestion
from dag.definitions import nps_modules
from dag.nps_sample import generate_month, sample_file_name
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager, PostgresResource
from tests.sql import query

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from dag.jobs import nps_history_job

MODULES = nps_modules
JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)
JAN_TO_FEB = {  # one single-run range, as `--partition-range` launches it
    "dagster/asset_partition_range_start": JAN.isoformat(),
    "dagster/asset_partition_range_end": FEB.isoformat(),
}
ROWS = 600


def _deliver(folder: Path, month: date, keep: float = 1.0) -> Path:
    """Write the month's real-format file; `keep` < 1 cuts it at a row boundary."""
    content = generate_month(month, rows=ROWS, seed=7)
    if keep < 1.0:
        lines = content.split(b"\r\n")
        header, body = lines[0], [line for line in lines[1:] if line]
        content = b"\r\n".join([header, *body[: int(len(body) * keep)]]) + b"\r\n"
    path = folder / sample_file_name(month)
    path.write_bytes(content)
    return path


@pytest.fixture
def nps_files_defs(
    data_dir: Path,
    tmp_path: Path,
    postgres_resource: PostgresResource,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dg.Definitions, Path]:
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "1000")  # the size floor is not what is tested
    from dag.resources import build_resources

    folder = tmp_path / "delivered"
    folder.mkdir()
    resources = build_resources()
    resources["nps_postgres"] = postgres_resource
    resources["nps_source"] = NpsSource(mode="files", source_dir=str(folder))
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules(MODULES),
        asset_checks=dg.load_asset_checks_from_modules(MODULES),
        jobs=[nps_history_job],
        resources=resources,
    )
    return defs, folder


def _month_rows(data_dir: Path, table: str, month: date) -> int:
    frame = pl.scan_delta(str(data_dir / "lake" / "delta" / table))
    return frame.filter(pl.col("ym") == month).select(pl.len()).collect().item()


def _pension_rows(pg: PostgresResource, month: date) -> int:
    frame = query(pg, "SELECT ym, count(*) AS n FROM public.pension GROUP BY ym")
    return dict(zip(frame["ym"].to_list(), frame["n"].to_list(), strict=True)).get(month, 0)


@pytest.mark.postgres
@pytest.mark.slow
def test_partial_redelivery_never_replaces_the_good_month(
    nps_files_defs: tuple[dg.Definitions, Path],
    data_dir: Path,
    postgres_resource: PostgresResource,
) -> None:
    defs, folder = nps_files_defs
    job = defs.resolve_job_def("nps_history_job")
    _deliver(folder, JAN)
    _deliver(folder, FEB)
    with dg.DagsterInstance.ephemeral() as instance:
        first = job.execute_in_process(
            instance=instance,
            tags=JAN_TO_FEB,
        )
        assert first.success
        good = {
            "bronze": _month_rows(data_dir, "nps_his_download", FEB),
            "silver": _month_rows(data_dir, "nps_his_digest", FEB),
            "pension": _pension_rows(postgres_resource, FEB),
        }
        assert good["bronze"] == ROWS and good["pension"] > 0

        for keep in (0.6, 0.5, 0.1):
            path = _deliver(folder, FEB, keep)
            bad = job.execute_in_process(
                instance=instance, partition_key=FEB.isoformat(), raise_on_error=False
            )
            assert not bad.success
            failed = {e.check_name: e for e in bad.get_asset_check_evaluations() if not e.passed}
            completeness = failed["nps_his_download_completeness"]
            assert completeness.severity == dg.AssetCheckSeverity.ERROR
            description = completeness.description or ""
            assert path.name in description
            assert f"{int(ROWS * keep)} rows" in description and f"{ROWS} rows" in description
            assert completeness.metadata["refused"].value is True
            assert {
                "bronze": _month_rows(data_dir, "nps_his_download", FEB),
                "silver": _month_rows(data_dir, "nps_his_digest", FEB),
                "pension": _pension_rows(postgres_resource, FEB),
            } == good, f"keep={keep}"

        # Tier by tier after the refusal: silver reads the accepted (previous) delivery.
        silver = dg.AssetSelection.tag("data_tier", "silver") & dg.AssetSelection.groups("NPS")
        keys = silver.resolve(defs.resolve_asset_graph())
        result = job.execute_in_process(
            instance=instance, partition_key=FEB.isoformat(), asset_selection=list(keys)
        )
        assert result.success
        assert _month_rows(data_dir, "nps_his_digest", FEB) == good["silver"]


def test_refusal_reaches_a_later_read_of_a_new_month(tmp_path: Path) -> None:
    """A month whose first delivery was refused is missing to every later read, with the
    check and run named (the tier-by-tier `--select` of silver fails instead of loading it)."""
    lake = DeltaIOManager(root_uri=str(tmp_path / "lake"))
    bronze = nps_raw_ingestion.nps_his_download
    frame = pl.DataFrame({"ym": [FEB], "source_file": ["x.csv"]})
    ctx = dg.build_output_context(
        asset_key=bronze.key,
        run_id="run-bad",
        partition_key=FEB.isoformat(),
        asset_partitions_def=bronze.partitions_def,
        definition_metadata=bronze.metadata_by_key[bronze.key],
    )
    lake.handle_output(ctx, frame)
    lake.refuse(
        bronze.key,
        bronze.partitions_def,
        bronze.metadata_by_key[bronze.key],
        [FEB.isoformat()],
        run_id="run-bad",
        check="nps_his_download_completeness",
        reason="60 rows against 600",
    )
    with pytest.raises(FileNotFoundError, match="refused by check nps_his_download_completeness"):
        lake.read(
            bronze.key,
            bronze.partitions_def,
            bronze.metadata_by_key[bronze.key],
            [FEB.isoformat()],
        ).collect()


BRONZE_ASSETS = [
    nps_raw_ingestion.nps_his_download,
    nps_raw_ingestion.nps_his_download_contract,
    nps_raw_ingestion.nps_his_download_file_size,
    nps_raw_ingestion.nps_his_download_header,
    nps_raw_ingestion.nps_his_download_completeness,
]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example runs Dagster twice
)
@given(cut=st.floats(0.0, 0.94), row_boundary=st.booleans())
def test_any_truncation_keeps_the_good_month(
    cut: float, row_boundary: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut anywhere (mid-row, mid-character, or at a row boundary): the run fails or the month is
    refused, and bronze keeps the good delivery's rows."""
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "1000")
    monkeypatch.setenv("DAG_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / uuid.uuid4().hex[:8]
    folder = root / "delivered"
    folder.mkdir(parents=True)
    lake = DeltaIOManager(root_uri=str(root / "lake"))
    resources = {
        "delta_io_manager": lake,
        "nps_source": NpsSource(mode="files", source_dir=str(folder)),
    }
    _deliver(folder, JAN)
    good = _deliver(folder, FEB).read_bytes()
    with dg.DagsterInstance.ephemeral() as instance:
        for month in (JAN, FEB):
            ok = dg.materialize(
                BRONZE_ASSETS, partition_key=month.isoformat(), resources=resources,
                instance=instance,
            )
            assert ok.success
        if row_boundary:
            _deliver(folder, FEB, keep=cut)
        else:
            (folder / sample_file_name(FEB)).write_bytes(good[: int(len(good) * cut)])
        bad = dg.materialize(
            BRONZE_ASSETS,
            partition_key=FEB.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    assert not bad.success
    rows = pl.scan_delta(str(root / "lake" / "nps_his_download"))
    assert rows.filter(pl.col("ym") == FEB).select(pl.len()).collect().item() == ROWS


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_2_mb_company_name_is_rejected_in_silver_and_never_reaches_postgres(
    nps_files_defs: tuple[dg.Definitions, Path],
    data_dir: Path,
    postgres_resource: PostgresResource,
) -> None:
    """One field of 2 MB used to fail the PostgreSQL load (index row too large) after bronze and
    silver were replaced, and made the company matching run for minutes at 8.5 GB. Now silver
    rejects and counts the row, the month loads, and the matching stays bounded."""
    defs, folder = nps_files_defs
    content = generate_month(FEB, rows=ROWS, seed=7)
    lines = content.split(b"\r\n")
    huge = ("가" * 1_000_000).encode("cp949")  # 2,000,000 bytes in CP949
    fields = lines[5].split(b",")
    fields[1] = huge
    lines[5] = b",".join(fields)
    (folder / sample_file_name(FEB)).write_bytes(b"\r\n".join(lines))
    _deliver(folder, JAN)
    job = defs.resolve_job_def("nps_history_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=JAN_TO_FEB,
        )
    assert result.success
    silver = result.asset_materializations_for_node("nps_his_digest")[0].metadata
    assert silver["rows_rejected_long_fields"].value == 1
    assert _month_rows(data_dir, "nps_his_download", FEB) == ROWS  # bronze keeps the delivery
    digest = pl.scan_delta(str(data_dir / "lake" / "delta" / "nps_his_digest"))
    longest = digest.select(pl.col("company_name").str.len_chars().max()).collect().item()
    assert longest <= 200
    assert 0 < _pension_rows(postgres_resource, FEB) < ROWS
