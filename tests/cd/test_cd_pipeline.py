"""CD bronze + silver through Dagster with the real Delta IO manager on a temporary lake."""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from contracts.cd import CdSecurity
from dag import (
    cd_bppedd_processing,
    cd_marketcap_processing,
    cd_price_processing,
    cd_raw_ingestion,
    cd_security_processing,
)
from dag.cd_sample import EXCHANGES, is_trading_day
from dag.cd_security_processing import build_securities
from dag.cd_source import KrxSource
from dag_io import DeltaIOManager

MODULES = [
    cd_raw_ingestion,
    cd_security_processing,
    cd_price_processing,
    cd_marketcap_processing,
    cd_bppedd_processing,
]
ASSETS = dg.load_assets_from_modules(MODULES)
CHECKS = dg.load_asset_checks_from_modules(MODULES)
SCALE = 0.03


def _resources(root: Path) -> dict[str, object]:
    io = DeltaIOManager(root_uri=str(root))
    return {"delta_io_manager": io, "io_manager": io, "krx_source": KrxSource(sample_scale=SCALE)}


def _run(
    root: Path, start: str, end: str, selection: list | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        selection or [*ASSETS, *CHECKS],
        resources=_resources(root),
        tags={
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        },
    )


def _table(root: Path, name: str) -> pl.DataFrame:
    return pl.read_delta(str(root / name))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dg.ExecuteInProcessResult]:
    """Fri 2024-01-05 .. Thu 2024-01-11: 5 trading days and a weekend, all exchanges, one run."""
    root = tmp_path_factory.mktemp("cd_lake")
    return root, _run(root, "2024-01-05|KOSPI", "2024-01-11|KONEX")


def test_range_runs_once_and_every_contract_passes(lake):
    root, result = lake
    assert result.success
    runs = {e.step_key for e in result.get_step_success_events()}
    assert {"cd_stockcode", "cd_security", "cd_digest_price"} <= runs
    evaluations = result.get_asset_check_evaluations()
    # every check ran; a partitioned check of the range recorded each of its partitions
    assert {e.check_name for e in evaluations} == {
        spec.name for check in CHECKS for spec in check.check_specs
    }
    assert [e.check_name for e in evaluations if not e.passed] == []
    per_check = {}
    for e in evaluations:
        per_check.setdefault(e.check_name, []).append(e.partition)
    assert len(per_check["cd_prices_contract"]) == 7 * len(EXCHANGES)  # 2024-01-05...11
    dates = _table(root, "cd_digest_price").get_column("date").unique().sort().to_list()
    expected = [dt.date(2024, 1, d) for d in (5, 8, 9, 10, 11)]
    assert dates == expected and all(is_trading_day(d) for d in expected)


def test_weekend_partitions_are_empty_holidays(lake):
    root, result = lake
    prices = _table(root, "cd_prices")
    assert prices.filter(pl.col("date").dt.weekday() >= 6).is_empty()
    materialization = next(
        m for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("cd_digest_price")
    ).materialization
    holidays = materialization.metadata["holiday_partitions"].value
    assert sorted(holidays) == sorted(f"2024-01-0{d}|{ex}" for d in (6, 7) for ex in EXCHANGES)
    assert materialization.metadata["trading_partitions"].value == 15
    bronze = {
        m.asset_key.path[-1]: m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] in ("cd_prices", "cd_bppedds")
    }
    assert sorted(bronze["cd_prices"]["holiday_partitions"].value) == sorted(holidays)
    assert bronze["cd_prices"]["holiday"].value is False
    konex_free = [k for k in holidays if not k.endswith("KONEX")]
    assert sorted(bronze["cd_bppedds"]["holiday_partitions"].value) == sorted(konex_free)


def test_silver_tables_match_bronze(lake):
    root, _ = lake
    stockcode, security = _table(root, "cd_stockcode"), _table(root, "cd_security")
    CdSecurity.validate(security)
    assert security.height == stockcode.select("ticker", "exchange").n_unique()
    for bronze, silver in (("cd_prices", "cd_digest_price"), ("cd_marketcaps",
                                                                "cd_digest_marketcaps")):
        assert _table(root, silver).height == _table(root, bronze).height
        assert _table(root, silver).get_column("security_id").null_count() == 0
    bppedds = _table(root, "cd_digest_bppedds")
    assert bppedds.filter(pl.col("exchange") == "KONEX").is_empty()
    assert 0 < bppedds.height <= _table(root, "cd_bppedds").height
    company = _table(root, "cd_company")
    samsung = security.filter(pl.col("ticker").is_in(["005930", "005935"]))
    assert samsung.get_column("company_id").n_unique() == 1
    assert company.filter(pl.col("company_name") == "삼성전자").get_column("security_count")[0] == 2
    assert security.filter(pl.col("security_type").is_in(["스팩", "리츠", "펀드"])).get_column(
        "company_id").null_count() > 0


def test_rerunning_a_partition_is_idempotent(lake):
    root, _ = lake
    before = {name: _table(root, name).sort(pl.all()) for name in ("cd_prices", "cd_digest_price")}
    result = _run(root, "2024-01-09|KOSDAQ", "2024-01-09|KOSDAQ")
    assert result.success
    for name, frame in before.items():
        assert _table(root, name).sort(pl.all()).equals(frame), name


DATES = ("2024-01-02", "2024-07-01", "2025-01-02", "2025-07-01")


def test_cd_security_is_independent_of_partition_order(tmp_path):
    """Dates run one by one forward and in reverse give the same securities (listings,
    delistings and renames included)."""
    selection = [a for a in ASSETS if a.key.path[-1] in ("cd_stockcode", "cd_security")]
    tables = []
    for order, dates in (("forward", DATES), ("reverse", DATES[::-1])):
        root = tmp_path / order
        for day in dates:
            assert _run(root, f"{day}|KOSPI", f"{day}|KONEX", selection).success
        tables.append(_table(root, "cd_security").sort("exchange", "ticker"))
    forward, reverse = tables
    assert forward.equals(reverse)
    assert forward.filter(pl.col("delisting_date").is_not_null()).height > 0
    assert forward.filter(pl.col("listing_date") > dt.date(2024, 1, 2)).height > 0
    stockcode = _table(tmp_path / "reverse", "cd_stockcode")
    renamed = stockcode.group_by("ticker", "exchange").agg(pl.col("name").n_unique() > 1)
    assert renamed.get_column("name").sum() > 0


def test_build_securities_rules_on_literal_rows():
    d = [dt.date(2024, 1, day) for day in (2, 3, 4, 5)]
    rows = [
        (d[0], "KONEX", "111110", "가나바이오"), (d[1], "KONEX", "111110", "가나바이오"),
        (d[2], "KOSDAQ", "111110", "가나바이오"), (d[3], "KOSDAQ", "111110", "가나바이오"),
        (d[0], "KOSPI", "005930", "삼성전자"), (d[3], "KOSPI", "005930", "삼성전자"),
        (d[0], "KOSPI", "222220", "옛이름"), (d[1], "KOSPI", "222220", "새이름"),
        (d[3], "KOSPI", "222220", "새이름"),
        (d[0], "KOSPI", "333330", "곧상폐"),
        *((day, "KONEX", "444440", "다라테크") for day in d),  # KONEX keeps trading
    ]
    frame = pl.DataFrame(rows, schema=["date", "exchange", "ticker", "name"], orient="row")
    securities = build_securities(frame.lazy())
    shuffled = build_securities(frame.sample(fraction=1.0, shuffle=True, seed=3).lazy())
    assert securities.equals(shuffled)
    by_key = {(r["ticker"], r["exchange"]): r for r in securities.iter_rows(named=True)}
    moved_from = by_key[("111110", "KONEX")]
    assert moved_from["delisting_date"] == d[2] and not moved_from["is_active"]
    moved_to = by_key[("111110", "KOSDAQ")]
    assert moved_to["listing_date"] == d[2] and moved_to["is_active"]
    assert moved_from["company_id"] == moved_to["company_id"]  # one company across exchanges
    assert by_key[("222220", "KOSPI")]["name"] == "새이름"
    assert by_key[("333330", "KOSPI")]["delisting_date"] == d[1]  # next KOSPI trading date
    assert by_key[("005930", "KOSPI")]["delisting_date"] is None
