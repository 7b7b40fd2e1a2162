"""NPS silver: business rules on literal frames, cleaning of bronze rows, and the assets end to end
(bronze + silver + checks) with the real Delta IO manager on a temporary lake."""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import polars_schema
from contracts.nps import NpsHisDigest
from dag import nps_data_processing as silver
from dag import nps_raw_ingestion as bronze
from dag.nps_csv import KOREAN_HEADER, parse_bytes
from dag.nps_data_processing import (
    cleaning_stats,
    company_types,
    contribution_rate,
    digest,
    normalize_company_name,
    typed,
)
from dag.nps_rules import avg_monthly_wage
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager

REAL_ROW = (
    "2021-03,우성기전(주),126811,1,12816,경기도 광주시 도척면,경기도 광주시 도척면 도척윗로,"
    "4161033025,4161033025,41,610,330,1,292201,동력식 수지 공구 제조업,1988-01-01,0001-01-01,"
    "0001-01-01,5,792720,0,0"
)


# --- rules -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("year", "rate"),
    [
        (2016, 0.09),
        (2025, 0.09),
        (2026, 0.095),
        (2027, 0.10),
        (2030, 0.115),
        (2033, 0.13),
        (2040, 0.13),
    ],
)
def test_contribution_rate_by_year(year: int, rate: float) -> None:
    frame = pl.DataFrame({"ym": [date(year, 6, 1)]})
    assert frame.select(contribution_rate(pl.col("ym"))).item() == pytest.approx(rate)


def test_wage_is_notice_over_subscribers_over_rate_and_null_without_subscribers() -> None:
    frame = pl.DataFrame(
        {
            "amount": [792_720, 950_000, 1_000, 500],
            "subs": [5, 10, 0, 1],
            "ym": [date(2021, 3, 1), date(2026, 1, 1), date(2021, 3, 1), date(2035, 1, 1)],
        }
    )
    wage = frame.select(avg_monthly_wage(pl.col("amount"), pl.col("subs"), pl.col("ym")))
    assert wage.to_series().to_list() == pytest.approx(
        [792_720 / 5 / 0.09, 950_000 / 10 / 0.095, None, 500 / 0.13]
    )


NAMES = [  # (delivered name, name_norm, company_types)
    ("주식회사 카카오 (Kakao Corp.)", "카카오", ["주식회사"]),
    ("카카오(주)", "카카오", ["주식회사"]),
    ("㈜카카오", "카카오", ["주식회사"]),
    ("（주）카카오", "카카오", ["주식회사"]),
    ("네이버 주식회사 (NAVER Corp.)", "네이버", ["주식회사"]),
    ("우성기전(주)", "우성기전", ["주식회사"]),
    ("대구중앙신협", "대구중앙신협", []),
    ("서울신용협동조합", "서울신용협동조합", []),
    ("역삼새마을금고", "역삼새마을금고", []),
    ("남원농업협동조합", "남원농업협동조합", []),
    ("보람건설(주식회사)", "보람건설", ["주식회사"]),
    ("(사)한국소프트웨어산업협회", "한국소프트웨어산업협회", ["사단법인"]),
    ("사단법인 한국협회", "한국협회", ["사단법인"]),
    ("재단법인 아름다운재단", "아름다운재단", ["재단법인"]),
    ('(유)케이비에프에스"전주밥상"', "케이비에프에스전주밥상", ["유한회사"]),
    ("유한책임회사 다온", "다온", ["유한책임회사"]),
    ("의료법인 성심의료재단", "성심의료재단", ["의료법인"]),
    ("농업회사법인 푸른들 주식회사", "푸른들", ["농업회사법인", "주식회사"]),
    ("㈜한빛(주)", "한빛", ["주식회사"]),
    ("( 주 )한빛 사단법인", "한빛", ["주식회사", "사단법인"]),
    ("법무법인 세종", "세종", ["법무법인"]),
    ("ABC 코리아 [본사]", "abc코리아", []),
    ("(주)", None, ["주식회사"]),
    ("홍길동약국", "홍길동약국", []),
]


def test_name_norm_and_company_types_on_real_names() -> None:
    frame = pl.DataFrame({"name": [n for n, _, _ in NAMES]}).select(
        norm=normalize_company_name(pl.col("name")), types=company_types(pl.col("name"))
    )
    assert frame["norm"].to_list() == [n for _, n, _ in NAMES]
    assert frame["types"].to_list() == [t for _, _, t in NAMES]


def test_null_name_has_null_norm_and_no_types() -> None:
    frame = pl.DataFrame({"name": [None]}, schema={"name": pl.String}).select(
        norm=normalize_company_name(pl.col("name")), types=company_types(pl.col("name"))
    )
    assert frame.row(0) == (None, [])


_STEM = st.text(alphabet=st.sampled_from(list("가나다라마바카타파하신협금고abcXYZ019")), min_size=1)
_FORMS = st.sampled_from(
    ["주식회사 ", "(주)", "㈜", "（주）", "(유)", "유한회사 ", "사단법인 ", ""]
)


@settings(max_examples=60, deadline=None)
@given(stem=_STEM, form=_FORMS, english=st.sampled_from(["", " (Corp.)", " [HQ]"]))
def test_name_norm_ignores_legal_forms_and_brackets(stem: str, form: str, english: str) -> None:
    frame = pl.DataFrame({"a": [form + stem + english], "b": [stem]}).select(
        normalize_company_name(pl.col("a")), normalize_company_name(pl.col("b")).alias("ref")
    )
    norm, ref = frame.row(0)
    assert norm == ref
    assert norm is not None and norm == stem.lower()  # stems are already in [0-9a-z가-힣]


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=40))
def test_name_norm_output_alphabet(name: str) -> None:
    norm = pl.DataFrame({"a": [name]}).select(normalize_company_name(pl.col("a"))).item()
    assert norm is None or (
        norm != "" and all(c.isdigit() or "a" <= c <= "z" or "가" <= c <= "힣" for c in norm)
    )


# --- cleaning ----------------------------------------------------------------------------------
def _bronze(*rows: str, month: date = date(2021, 3, 1)) -> pl.LazyFrame:
    raw = ("\r\n".join([",".join(KOREAN_HEADER), *rows]) + "\r\n").encode("cp949")
    return parse_bytes(raw, "t.csv").frame.with_columns(ym=pl.lit(month)).lazy()


def _row(**changes: str) -> str:
    values = dict(zip(silver.CANONICAL_COLUMNS, REAL_ROW.split(","), strict=True))
    values.update(changes)
    return ",".join(values.values())


def test_typing_dates_codes_counts_and_derived_columns() -> None:
    rows = _bronze(
        _row(re_registered_at="", withdrawn_at="2020-02-30", zip_code="1234"),
        _row(
            company_name="주식회사 카카오 (Kakao Corp.)",
            addr_sigungu_code="61",
            subscriber_count="0",
            monthly_notice_amount="0",
            industry_code="99999X",
        ),
    )
    out = digest(typed(rows)).collect()
    assert out.schema == polars_schema(NpsHisDigest)
    first, second = out.rows(named=True)
    assert first["applied_at"] == date(1988, 1, 1)
    assert first["re_registered_at"] is None  # empty
    assert second["re_registered_at"] is None  # 0001-01-01
    assert first["withdrawn_at"] is None  # not a date
    assert first["zip_code"] == "01234"
    assert second["addr_sigungu_code"] == "061"
    assert second["industry_code"] is None
    assert first["ym"] == date(2021, 3, 1)
    assert first["subscriber_count"] == 5
    assert first["avg_monthly_wage"] == pytest.approx(792_720 / 5 / 0.09)
    assert second["avg_monthly_wage"] is None
    assert first["addr_key"] == "610-4161033025"
    assert first["name_norm"] == "우성기전"
    assert second["name_norm"] == "카카오"
    assert second["company_types"] == ["주식회사"]
    stats = cleaning_stats(typed(rows))
    assert stats.item(0, "invalid__withdrawn_at") == 1
    assert stats.item(0, "invalid__re_registered_at") == 0
    assert stats.item(0, "invalid__industry_code") == 1


def test_duplicates_removed_first_kept_and_rejections_counted() -> None:
    rows = _bronze(
        _row(lot_number_address="첫 줄"),
        _row(lot_number_address="둘째 줄"),  # same natural key: a duplicate
        _row(subscriber_count="6"),
        _row(data_created_ym="2021-02"),
        _row(company_name=" "),
        _row(subscriber_count="다섯"),
    )
    out = digest(typed(rows)).collect()
    assert out["lot_number_address"].to_list() == ["첫 줄", "경기도 광주시 도척면"]
    stats = cleaning_stats(typed(rows)).row(0, named=True)
    assert stats["rows_read"] == 6
    assert stats["rows_rejected"] == 3
    assert stats["duplicates_removed"] == 1
    assert stats["rejected__data_created_ym_not_partition_month"] == 1
    assert stats["rejected__company_name_missing"] == 1
    assert stats["rejected__count_missing_or_invalid"] == 1
    assert stats["wage_median"] == pytest.approx(792_720 / 5 / 0.09)


def test_stray_byte_and_embedded_quotes_reach_silver() -> None:
    raw = (
        "\r\n".join(
            [
                ",".join(KOREAN_HEADER),
                REAL_ROW.replace("우성기전(주)", '"(유)케이비에프에스""전주밥상"""'),
            ]
        )
        + "\r\n"
    ).encode("cp949")
    raw = raw.replace("전주".encode("cp949"), b"\x80" + "전주".encode("cp949"))
    parsed = parse_bytes(raw, "q.csv")
    out = digest(typed(parsed.frame.with_columns(ym=pl.lit(date(2021, 3, 1))).lazy())).collect()
    assert parsed.bytes_replaced == 1
    assert out.item(0, "company_name") == '(유)케이비에프에스"\ufffd전주밥상"'
    assert out.item(0, "name_norm") == "케이비에프에스전주밥상"


# --- assets end to end -------------------------------------------------------------------------
ASSETS = [
    bronze.nps_his_download,
    silver.nps_his_digest,
    bronze.nps_his_download_contract,
    bronze.nps_his_download_file_size,
    bronze.nps_his_download_header,
    bronze.nps_his_download_completeness,
    silver.nps_his_digest_contract,
]


def _run(lake: Path, source: NpsSource, **kwargs: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        resources={"delta_io_manager": DeltaIOManager(root_uri=str(lake)), "nps_source": source},
        **kwargs,
    )


def _table(lake: Path, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lake / name))


def test_two_months_end_to_end_and_rerun_is_idempotent(data_dir: Path) -> None:
    lake = data_dir / "lake" / "delta"
    source = NpsSource(sample_rows=800)
    for key in ("2024-01-01", "2024-02-01"):
        result = _run(lake, source, partition_key=key)
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        # a 800-row sample is ~160 KB, above the 100 KiB floor
        assert checks == dict.fromkeys(
            [
                "nps_his_download_contract",
                "nps_his_download_file_size",
                "nps_his_download_header",
                "nps_his_download_completeness",
                "nps_his_digest_contract",
            ],
            True,
        )
    download = _table(lake, "nps_his_download")
    digest_table = _table(lake, "nps_his_digest")
    assert download.group_by("ym").len().sort("ym")["len"].to_list() == [800, 800]
    assert digest_table.schema == polars_schema(NpsHisDigest)
    assert digest_table["ym"].unique().sort().to_list() == [date(2024, 1, 1), date(2024, 2, 1)]
    assert digest_table.height == 1600 - 2 * (800 // 400)  # the sample's duplicates removed
    snapshots = sorted((data_dir / "raw" / "nps").rglob("*.csv"))
    assert [p.parent.name for p in snapshots] == ["ym=2024-01", "ym=2024-02"]
    assert snapshots[0].read_bytes() == source.fetch_month(date(2024, 1, 1)).content

    materializations = result.asset_materializations_for_node("nps_his_digest")
    metadata = materializations[0].metadata
    assert metadata["rows_read"].value == 800
    assert metadata["duplicates_removed"].value == 2
    assert metadata["rows_rejected"].value == 0
    assert 1_000_000 < metadata["wage_median"].value < 10_000_000

    version = DeltaTable(str(lake / "nps_his_digest")).version()
    rerun = _run(lake, source, partition_key="2024-01-01")
    assert rerun.success
    assert DeltaTable(str(lake / "nps_his_digest")).version() > version
    again = _table(lake, "nps_his_digest")
    assert again.height == digest_table.height
    assert again.sort(list(again.columns[:22])).equals(
        digest_table.sort(list(digest_table.columns[:22]))
    )


def test_single_run_range_backfill(data_dir: Path) -> None:
    lake = data_dir / "lake" / "delta"
    result = _run(
        lake,
        NpsSource(sample_rows=600),
        tags={
            "dagster/asset_partition_range_start": "2023-12-01",
            "dagster/asset_partition_range_end": "2024-02-01",
        },
    )
    assert result.success
    counts = _table(lake, "nps_his_digest").group_by("ym").len().sort("ym")
    assert counts["ym"].to_list() == [date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]
    metadata = result.asset_materializations_for_node("nps_his_download")[0].metadata
    assert metadata["rows_read"].value == 1800
    assert set(metadata["rows_by_month"].value) == {"2023-12", "2024-01", "2024-02"}


def test_small_file_fails_the_blocking_size_check_and_stops_silver(data_dir: Path) -> None:
    lake = data_dir / "lake" / "delta"
    result = _run(
        lake, NpsSource(sample_rows=100), partition_key="2024-01-01", raise_on_error=False
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["nps_his_download_file_size"].passed is False
    assert checks["nps_his_download_file_size"].metadata["min_file_bytes"].value == 100 * 1024
    assert not (lake / "nps_his_digest").exists()


def test_bad_file_fails_bronze_naming_partition_and_file(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    header = ",".join(KOREAN_HEADER[:-1])
    (folder / "x.csv").write_bytes(f"{header}\r\n{REAL_ROW}\r\n".encode("cp949"))
    source = NpsSource(mode="files", source_dir=str(folder))
    with pytest.raises(bronze.NpsIngestionError) as failure:
        _run(data_dir / "lake", source, partition_key="2021-03-01")
    message = str(failure.value)
    assert message.startswith("nps_his_download partition 2021-03-01: nps_source files mode")
    assert "x.csv: unrecognised NPS header: header has 21 columns" in message
    assert not (data_dir / "lake" / "nps_his_download").exists()


def test_completeness_refuses_a_month_that_shrank(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "1000")  # documented override for tiny samples
    lake = data_dir / "lake" / "delta"
    with dg.DagsterInstance.ephemeral() as instance:
        first = _run(
            lake, NpsSource(sample_rows=800), partition_key="2024-01-01", instance=instance
        )
        second = _run(
            lake,
            NpsSource(sample_rows=300),
            partition_key="2024-02-01",
            instance=instance,
            raise_on_error=False,
        )
        accepted = _run(
            lake,
            NpsSource(sample_rows=300),
            partition_key="2024-02-01",
            instance=instance,
            run_config={
                "ops": {
                    "nps_his_download": {
                        "config": {"accept_row_drop": True, "reason": "closed workplaces purged"}
                    }
                }
            },
        )
    assert first.success and not second.success
    checks = {e.check_name: e for e in second.get_asset_check_evaluations()}
    completeness = checks["nps_his_download_completeness"]
    assert completeness.passed is False
    assert completeness.severity == dg.AssetCheckSeverity.ERROR
    compared = completeness.metadata["comparisons"].value["2024-02"]
    assert (compared["rows"], compared["previous_rows"]) == (300, 800)
    assert "300 rows" in (completeness.description or "")
    assert completeness.metadata["refused"].value is True
    assert accepted.success
    checks = {e.check_name: e for e in accepted.get_asset_check_evaluations()}
    reason = checks["nps_his_download_completeness"].metadata["accepted_drop_reason"]
    assert reason.value == "closed workplaces purged"
    assert _table(lake, "nps_his_digest").filter(pl.col("ym") == date(2024, 2, 1)).height > 0


_FORM_OF = {
    "주식회사 ": ["주식회사"],
    "(주)": ["주식회사"],
    "㈜": ["주식회사"],
    "（주）": ["주식회사"],
    "(유)": ["유한회사"],
    "유한회사 ": ["유한회사"],
    "사단법인 ": ["사단법인"],
    "": [],
}


@settings(max_examples=60, deadline=None)
@given(stem=_STEM, form=_FORMS, suffix=st.sampled_from(["", "(주식회사)", " 주식회사"]))
def test_company_types_detects_the_form_wherever_it_is(stem: str, form: str, suffix: str) -> None:
    types = pl.DataFrame({"a": [form + stem + suffix]}).select(company_types(pl.col("a"))).item()
    expected = list(dict.fromkeys(_FORM_OF[form] + (["주식회사"] if suffix else [])))
    assert types.to_list() == expected
    assert "사단법인" not in types.to_list() or form.startswith("사단")
