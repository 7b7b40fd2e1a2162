"""Bounded work per row (issue #13): silver rejects over-long names and addresses and counts them;
the matching steps do work linear in the length of the names, whatever their length.

Bounds are asserted on the work itself (rows produced by the trigram explosion, pairs produced by
the candidate join, rows out), never on wall-clock time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import validate_frame
from contracts.nps import NpsHisDigest, NpsMatchAudit
from dag import nps_company_tables as gold
from dag import nps_data_processing as silver
from dag import nps_raw_ingestion as bronze
from dag.nps_company_matching import (
    TRIGRAM_NAME_CHARS,
    explode_trigrams,
    match_rows,
    month_names,
    prepare_rows,
    trigram_pairs,
)
from dag.nps_csv import CANONICAL_COLUMNS, KOREAN_HEADER
from dag.nps_data_processing import (
    DEFAULT_MAX_FIELD_CHARS,
    LONG_FIELD_COLUMNS,
    cleaning_stats,
    digest,
    digest_with_stats,
    max_field_chars,
    typed,
)
from dag.nps_sample import generate_month, sample_file_name
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager

JAN = dt.date(2024, 1, 1)
REAL_ROW = (
    "2024-01,우성기전(주),126811,1,12816,경기도 광주시 도척면,경기도 광주시 도척면 도척윗로,"
    "4161033025,4161033025,41,610,330,1,292201,동력식 수지 공구 제조업,1988-01-01,0001-01-01,"
    "0001-01-01,5,792720,0,0"
)
REAL = dict(zip(CANONICAL_COLUMNS, REAL_ROW.split(","), strict=True))


def bronze_frame(rows: list[dict[str, str]]) -> pl.LazyFrame:
    """Bronze rows (all strings, as parsed) of January, with lineage."""
    return (
        pl.DataFrame(
            [{**REAL, **row} for row in rows], schema=dict.fromkeys(CANONICAL_COLUMNS, pl.String)
        )
        .with_columns(
            ym=pl.lit(JAN),
            source_file=pl.lit("jan.csv"),
            line_number=pl.int_range(2, pl.len() + 2, dtype=pl.Int64),
        )
        .lazy()
    )


# --- silver ------------------------------------------------------------------------------------
def test_rows_with_long_names_or_addresses_are_rejected_and_counted() -> None:
    limit = DEFAULT_MAX_FIELD_CHARS
    rows = [
        {"company_name": "가" * limit},  # at the limit: kept
        {"company_name": "나" * (limit + 1)},
        {"road_name_address": "서울 " * 1_000, "company_name": "긴주소"},
        {"company_name": "다" * 5_000, "lot_number_address": "x" * 300},
        {"company_name": f"  {'라' * limit}  "},  # trimmed first: kept
        {"company_name": "마" * 300, "data_created_ym": "2023-12"},  # an earlier reason wins
    ]
    typed_rows = typed(bronze_frame(rows))
    out, stats = digest_with_stats(typed_rows)
    assert out["company_name"].to_list() == ["가" * limit, "라" * limit]
    row = stats.row(0, named=True)
    assert row["rows_rejected"] == 4
    assert row["rejected__field_too_long"] == 3
    assert (row["long__company_name"], row["long__road_name_address"]) == (2, 1)
    assert row["long__lot_number_address"] == 1
    assert row["long_field_examples"] == ["jan.csv:3", "jan.csv:4", "jan.csv:5"]
    assert stats.equals(cleaning_stats(typed_rows))


def test_the_limit_comes_from_nps_max_field_chars(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_field_chars() == DEFAULT_MAX_FIELD_CHARS
    monkeypatch.setenv("NPS_MAX_FIELD_CHARS", "5")
    assert max_field_chars() == 5
    short = {"lot_number_address": "서울", "road_name_address": "서울"}
    rows = bronze_frame(
        [{**short, "company_name": "우성기전"}, {**short, "company_name": "우성기전(주)"}]
    )
    assert digest(typed(rows)).collect()["company_name"].to_list() == ["우성기전"]
    assert digest(typed(rows, max_chars=100)).collect().height == 2
    monkeypatch.setenv("NPS_MAX_FIELD_CHARS", "many")
    with pytest.raises(ValueError, match="NPS_MAX_FIELD_CHARS must be a positive integer"):
        max_field_chars()


def test_silver_asset_reports_long_field_rejections_without_the_values(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "1000")
    folder = tmp_path / "delivered"
    folder.mkdir()
    long_name = "초장문상호" * 400_000  # 2,000,000 characters
    lines = generate_month(JAN, rows=300, seed=5).split(b"\r\n")
    header = lines[0].decode("cp949").split(",")
    assert header == list(KOREAN_HEADER)
    for number, column, value in ((7, 1, long_name), (40, 6, "긴도로명" * 100)):
        fields = lines[number - 1].decode("cp949").split(",")
        fields[column] = value
        lines[number - 1] = ",".join(fields).encode("cp949")
    (folder / sample_file_name(JAN)).write_bytes(b"\r\n".join(lines))
    result = dg.materialize(
        [bronze.nps_his_download, silver.nps_his_digest, silver.nps_his_digest_contract],
        partition_key=JAN.isoformat(),
        resources={
            "delta_io_manager": DeltaIOManager(root_uri=str(tmp_path / "lake")),
            "nps_source": NpsSource(mode="files", source_dir=str(folder)),
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("nps_his_digest")[0].metadata
    assert metadata["max_field_chars"].value == DEFAULT_MAX_FIELD_CHARS
    assert metadata["rows_rejected_long_fields"].value == 2
    assert metadata["rows_rejected_long_fields_by_column"].value == {
        "company_name": 1,
        "lot_number_address": 0,
        "road_name_address": 1,
    }
    file = sample_file_name(JAN)
    assert metadata["long_field_examples"].value == [f"{file}:40", f"{file}:7"]
    assert metadata["rows_rejected_by_reason"].value["field_too_long"] == 2
    assert "초장문" not in str({k: v.value for k, v in metadata.items()})
    lake = pl.read_delta(str(tmp_path / "lake" / "nps_his_digest"))
    assert lake["company_name"].str.len_chars().max() <= DEFAULT_MAX_FIELD_CHARS
    assert validate_frame(lake, NpsHisDigest)[0]


# --- matching ----------------------------------------------------------------------------------
def digest_row(name: str, reg: str | None, *, sigungu: str = "610") -> dict[str, object]:
    return {
        "ym": JAN,
        "company_name": name,
        "business_reg_num": reg,
        "zip_code": "12816",
        "addr_sido_code": "41",
        "addr_sigungu_code": sigungu,
        "addr_key": f"{sigungu}-4161033025",
        "industry_code": "292201",
        "name_norm": name,
        "company_types": [],
        "subscriber_count": 5,
        "monthly_notice_amount": 1_000_000,
        "new_subscribers": 1,
        "lost_subscribers": 0,
    }


def digest_frame(rows: list[dict[str, object]]) -> pl.LazyFrame:
    return pl.DataFrame(
        rows,
        schema_overrides={
            "company_types": pl.List(pl.String),
            "business_reg_num": pl.String,
            "name_norm": pl.String,
        },
    ).lazy()


def test_a_2_mb_name_is_matched_with_bounded_work() -> None:
    huge = "".join(chr(0xAC00 + (i * 7919) % 11172) for i in range(2_000_000))  # 2M syllables
    rows = [
        digest_row(huge, "100001"),
        digest_row(huge[::-1], None),
        digest_row("카카오뱅크", "100002"),
        digest_row("카카오뱅크본점", None),
    ]
    audit = match_rows(digest_frame(rows)).collect()
    assert audit.height == 4
    assert validate_frame(audit, NpsMatchAudit)[0]
    assert audit.filter(pl.col("company_name") == "카카오뱅크본점")["method"].to_list() == [
        "trigram"
    ]
    trigrams = explode_trigrams(digest_frame(rows), "name_norm", ["business_reg_num"]).collect()
    assert trigrams.height <= 4 * (TRIGRAM_NAME_CHARS + 1)


def test_normal_names_keep_their_exact_similarity() -> None:
    rows = [digest_row("우성기전", "126811"), digest_row("우성기전산업", None)]
    audit = match_rows(digest_frame(rows)).collect()
    got = audit.filter(pl.col("business_reg_num").is_null()).row(0, named=True)
    assert got["similarity"] == pytest.approx(0.5)  # 5 shared of 10 distinct trigrams


def test_a_trigram_shared_by_too_many_names_finds_no_candidates_alone() -> None:
    names = [digest_row(f"한{i:03d}", f"{100000 + i}") for i in range(50)]
    rows = prepare_rows(digest_frame([*names, digest_row("한빛", None)]))
    query = rows.filter(pl.col("business_reg_num").is_null()).select(
        "row_key", "ym", "district", "name_norm"
    )
    pool = month_names(rows)
    everything = trigram_pairs(query, pool, block=["ym", "district"]).collect()
    bounded = trigram_pairs(query, pool, block=["ym", "district"], max_fanout=10).collect()
    assert everything.height == 50  # "  한" is shared with every name
    assert bounded.height == 0  # above the fan-out it is not used to find candidates


_SYLLABLES = st.text(alphabet=st.sampled_from(list("가나다라마바사아자차카타abc0123")), min_size=1)


@st.composite
def long_names(draw: st.DrawFn) -> str:
    """A name of any length up to ~400,000 characters: a random stem, repeated."""
    stem = draw(_SYLLABLES.filter(lambda s: len(s) <= 40))
    return stem * draw(st.sampled_from([1, 1, 2, 5, 50, 1_000, 10_000]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(
        st.tuples(long_names(), st.booleans(), st.sampled_from(["610", "620"])),
        min_size=1,
        max_size=8,
    ),
    fanout=st.integers(1, 6),
)
def test_matching_work_is_linear_in_the_names_length(
    names: list[tuple[str, bool, str]], fanout: int
) -> None:
    data = [
        digest_row(name, f"{200000 + i}" if registered else None, sigungu=sigungu)
        | {"subscriber_count": i}
        for i, (name, registered, sigungu) in enumerate(names)
    ]
    frame = digest_frame(data)
    capped = sum(min(len(name), TRIGRAM_NAME_CHARS) + 1 for name, _, _ in names)
    # the explosion: at most (capped length + 1) distinct trigrams per name
    trigrams = explode_trigrams(frame, "name_norm", ["subscriber_count"]).collect()
    assert trigrams.height <= capped
    assert (trigrams.group_by("subscriber_count").len()["len"] <= TRIGRAM_NAME_CHARS + 1).all()
    # the candidate join: each row trigram meets at most `fanout` names
    rows = prepare_rows(frame)
    query = rows.filter(pl.col("own_id").is_null()).select("row_key", "ym", "district", "name_norm")
    left = explode_trigrams(query, "name_norm", ["row_key", "ym", "district"]).collect()
    pairs = trigram_pairs(query, month_names(rows), block=["ym", "district"], max_fanout=fanout)
    assert pairs.select(pl.len()).collect().item() <= fanout * left.height <= fanout * capped
    # every row gets exactly one decision
    audit = match_rows(frame).collect()
    assert audit.height == len(data)
    assert validate_frame(audit, NpsMatchAudit)[0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(
        st.fixed_dictionaries({c: long_names() for c in LONG_FIELD_COLUMNS}),
        min_size=1,
        max_size=6,
    ),
    limit=st.sampled_from([5, 40, 200, 1_000]),
)
def test_silver_bounds_every_kept_text_and_counts_every_rejection(
    fields: list[dict[str, str]], limit: int
) -> None:
    rows = [{**f, "subscriber_count": str(i)} for i, f in enumerate(fields)]  # no duplicates
    out, stats = digest_with_stats(typed(bronze_frame(rows), max_chars=limit))
    too_long = [any(len(v.strip()) > limit for v in f.values()) for f in fields]
    assert out.height == len(rows) - sum(too_long)
    row = stats.row(0, named=True)
    assert row["rejected__field_too_long"] == row["rows_rejected"] == sum(too_long)
    for column in LONG_FIELD_COLUMNS:
        assert row[f"long__{column}"] == sum(len(f[column].strip()) > limit for f in fields)
        assert (out[column].str.len_chars() <= limit).all()
    # what silver keeps, matching handles: rows out = rows in
    assert match_rows(out.lazy(), max_name_chars=limit).collect().height == out.height


def test_match_audit_asset_uses_the_silver_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_MAX_FIELD_CHARS", "150")
    rows = digest_frame([digest_row("우성기전", "126811"), digest_row("우성기전산업", None)])
    context = dg.build_asset_context(partition_key=JAN.isoformat())
    output = gold.nps_match_audit(context, rows)
    assert output.metadata["trigram_name_chars"].value == 150
    assert output.value.height == 2
