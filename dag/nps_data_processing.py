"""NPS silver tier: the pension register, one typed and cleaned row per workplace and month.

`nps_his_digest` turns the bronze file rows into typed columns (dates, integer counts, zero-padded
code text), rejects rows it cannot use (with the reason counted), removes exact duplicates on the
natural key, and derives `name_norm`, `company_types`, `addr_key` and `avg_monthly_wage`.
The business rules live in `dag.nps_rules` and are re-exported here.

Bounded work per row: a row whose company name or an address (after trimming) is longer than
NPS_MAX_FIELD_CHARS characters (default 200; the longest real names and addresses are well under
100) is rejected with reason `field_too_long` and counted per column in the metadata
(`rows_rejected_long_fields`, `rows_rejected_long_fields_by_column`, `long_field_examples` as
file:line, never the value), so no later step (name normalisation, matching, the PostgreSQL key
index) sees an unbounded text.
"""

import os
import time
from datetime import date
from typing import Any, cast

import dagster as dg
import polars as pl
import polars.selectors as cs

from contracts import column_schema, contract_check
from contracts.nps import DIGEST_KEY, NpsHisDigest
from dag.common import NPS_TAGS, elapsed, tags
from dag.nps_csv import CANONICAL_COLUMNS
from dag.nps_rules import (
    avg_monthly_wage,
    company_types,
    contribution_rate,
    normalize_company_name,
)
from dag.partitions import nps_monthly_partition
from dag.spill import SPILL_HOOKS, Spill

__all__ = [
    "company_types",
    "contribution_rate",
    "digest",
    "digest_with_stats",
    "normalize_company_name",
    "nps_his_digest",
    "nps_his_digest_contract",
]

# Code columns and their zero-padded width; a value that is not all digits (or too long) -> null.
CODE_WIDTHS: dict[str, int] = {
    "business_reg_num": 6,
    "zip_code": 5,
    "legal_dong_addr_code": 10,
    "admin_dong_addr_code": 10,
    "addr_sido_code": 2,
    "addr_sigungu_code": 3,
    "addr_emdong_code": 3,
    "industry_code": 6,
}
STATUS_CODES: dict[str, tuple[str, ...]] = {"join_status": ("1", "2"), "workplace_type": ("1", "2")}
DATE_COLUMNS = ("applied_at", "re_registered_at", "withdrawn_at")
COUNT_COLUMNS = ("subscriber_count", "monthly_notice_amount", "new_subscribers", "lost_subscribers")
NO_DATE = "0001-01-01"
REJECT = "reject_reason"
# Free-text columns whose length is bounded (characters, after trimming); NPS_MAX_FIELD_CHARS.
LONG_FIELD_COLUMNS = ("company_name", "lot_number_address", "road_name_address")
DEFAULT_MAX_FIELD_CHARS = 200
LONG_FIELD_EXAMPLES = 5
_LONG_FLAGS = tuple(f"long__{c}" for c in LONG_FIELD_COLUMNS)
_TYPED_COLUMNS = (*CODE_WIDTHS, *STATUS_CODES, *DATE_COLUMNS)
_INVALID_FLAGS = tuple(f"invalid__{c}" for c in _TYPED_COLUMNS)
# Why a row is not used (first that applies); counted per month in the metadata.
REJECT_REASONS = (
    "data_created_ym_not_partition_month",
    "data_created_ym_missing",
    "company_name_missing",
    "field_too_long",
    "count_missing_or_invalid",
)
DIGEST_COLUMNS: tuple[str, ...] = (
    *CANONICAL_COLUMNS,
    "ym",
    "name_norm",
    "company_types",
    "addr_key",
    "avg_monthly_wage",
)


def max_field_chars() -> int:
    """The longest company name / address silver accepts (NPS_MAX_FIELD_CHARS, default 200)."""
    value = os.environ.get("NPS_MAX_FIELD_CHARS", "").strip()
    if not value:
        return DEFAULT_MAX_FIELD_CHARS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"NPS_MAX_FIELD_CHARS must be a positive integer, got {value!r}")
    return int(value)


def _non_empty(name: str) -> pl.Expr:
    """An already trimmed text column with empty -> null (one pass, the strip is not repeated)."""
    return pl.when(pl.col(name).str.len_bytes() > 0).then(pl.col(name)).alias(name)


# The typing helpers below read columns that are already trimmed (empty -> null).
def _code(name: str, width: int) -> pl.Expr:
    """Digits-only code left-padded with zeros to `width`; anything else -> null."""
    value = pl.col(name)
    valid = value.str.contains(r"^\d+$") & (value.str.len_chars() <= width)
    return pl.when(valid).then(value.str.zfill(width)).otherwise(None)


def _status(name: str, allowed: tuple[str, ...]) -> pl.Expr:
    return pl.when(pl.col(name).is_in(list(allowed))).then(pl.col(name)).otherwise(None)


def _date(name: str) -> pl.Expr:
    """YYYY-MM-DD as a date; empty and 0001-01-01 (no date) -> null; unparseable -> null."""
    value = pl.col(name)
    parsed = value.str.to_date("%Y-%m-%d", strict=False)
    return pl.when(value == NO_DATE).then(None).otherwise(parsed)


def typed(bronze: pl.LazyFrame, max_chars: int | None = None) -> pl.LazyFrame:
    """Bronze rows with trimmed text, typed canonical columns, `ym`, lineage, a `reject_reason`
    (null for usable rows), `invalid__<column>` flags (a value was delivered but could not be
    typed, so it became null) and `long__<column>` flags (longer than `max_chars`, default
    `max_field_chars()`) for the cleaning statistics."""
    limit = max_field_chars() if max_chars is None else max_chars
    long_flags = [
        (pl.col(c).str.len_chars() > limit).fill_null(False).alias(f"long__{c}")
        for c in LONG_FIELD_COLUMNS
    ]
    counts_ok = pl.all_horizontal(
        [pl.col(c).is_not_null() & (pl.col(c) >= 0) for c in COUNT_COLUMNS]
    )
    typed_values = [
        *(_code(c, w).alias(f"__{c}") for c, w in CODE_WIDTHS.items()),
        *(_status(c, v).alias(f"__{c}") for c, v in STATUS_CODES.items()),
        *(_date(c).alias(f"__{c}") for c in DATE_COLUMNS),
        *(pl.col(c).cast(pl.Int64, strict=False) for c in COUNT_COLUMNS),
    ]
    invalid_flags = [
        (pl.col(c).is_not_null() & (pl.col(c) != NO_DATE) & pl.col(f"__{c}").is_null()).alias(
            f"invalid__{c}"
        )
        for c in _TYPED_COLUMNS
    ]
    reject_reason = (
        pl.when(pl.col("data_created_ym") != pl.col("ym").dt.strftime("%Y-%m"))
        .then(pl.lit("data_created_ym_not_partition_month"))
        .when(pl.col("data_created_ym").is_null())
        .then(pl.lit("data_created_ym_missing"))
        .when(pl.col("company_name").is_null())
        .then(pl.lit("company_name_missing"))
        .when(pl.any_horizontal(_LONG_FLAGS))
        .then(pl.lit("field_too_long"))
        .when(~counts_ok)
        .then(pl.lit("count_missing_or_invalid"))
        .otherwise(pl.lit(None, pl.String))
        .alias(REJECT)
    )
    return (
        bronze.select(
            "ym", "source_file", "line_number", pl.col(CANONICAL_COLUMNS).str.strip_chars()
        )
        .with_columns(map(_non_empty, CANONICAL_COLUMNS))
        .with_columns(*typed_values, *long_flags)
        .with_columns(*invalid_flags, reject_reason)
        .drop(*_TYPED_COLUMNS)
        .rename({f"__{c}": c for c in _TYPED_COLUMNS})
    )


def digest(typed_rows: pl.LazyFrame) -> pl.LazyFrame:
    """Accepted rows, de-duplicated on the natural key (first line kept), with derived columns,
    in the column order and types of the `NpsHisDigest` contract."""
    return (
        typed_rows.filter(pl.col(REJECT).is_null())
        .sort("ym", "source_file", "line_number")
        .unique(subset=list(DIGEST_KEY), keep="first", maintain_order=True)
        .with_columns(
            name_norm=normalize_company_name(pl.col("company_name")),
            company_types=company_types(pl.col("company_name")),
            addr_key=pl.concat_str(
                pl.col("addr_sigungu_code"), pl.lit("-"), pl.col("legal_dong_addr_code")
            ),
            avg_monthly_wage=avg_monthly_wage(
                pl.col("monthly_notice_amount"), pl.col("subscriber_count"), pl.col("ym")
            ),
        )
        .select(DIGEST_COLUMNS)
    )


def cleaning_stats(typed_rows: pl.LazyFrame) -> pl.DataFrame:
    """Per month: rows read, rejected per reason, duplicates, invalid values, wage spread."""
    return _stats_plan(typed_rows).collect()


def digest_with_stats(typed_rows: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`digest` rows and `cleaning_stats` from ONE pass over the typed rows: (digest, stats).

    Calling both separately types every row twice (each collect re-runs the plan); here the
    typed rows are materialised once and both results derived from them."""
    rows = typed_rows.collect().lazy()
    out, stats = pl.collect_all([digest(rows), _stats_plan(rows)])  # the two run in parallel
    return out, stats


def _stats_plan(typed_rows: pl.LazyFrame) -> pl.LazyFrame:
    accepted = pl.col(REJECT).is_null()
    key_count = pl.struct(list(DIGEST_KEY)).filter(accepted).n_unique()
    wage = avg_monthly_wage(
        pl.col("monthly_notice_amount"), pl.col("subscriber_count"), pl.col("ym")
    ).filter(accepted)
    too_long = pl.col(REJECT) == "field_too_long"
    return (
        typed_rows.group_by("ym")
        .agg(
            pl.len().alias("rows_read"),
            (~accepted).sum().alias("rows_rejected"),
            (accepted.sum() - key_count).alias("duplicates_removed"),
            *(
                (pl.col(REJECT) == reason).sum().alias(f"rejected__{reason}")
                for reason in REJECT_REASONS
            ),
            *(pl.col(c).sum().alias(c) for c in _INVALID_FLAGS),
            *(pl.col(c).filter(too_long).sum().alias(c) for c in _LONG_FLAGS),
            pl.concat_str(pl.col("source_file"), pl.lit(":"), pl.col("line_number"))
            .filter(too_long)
            .sort()
            .head(LONG_FIELD_EXAMPLES)
            .alias("long_field_examples"),
            pl.col("company_name")
            .str.contains("\ufffd", literal=True)
            .sum()
            .alias("names_with_replacement_char"),
            wage.min().alias("wage_min"),
            wage.median().alias("wage_median"),
            wage.max().alias("wage_max"),
        )
        .sort("ym")
    )


def _metadata(stats: pl.DataFrame, max_chars: int) -> dict[str, Any]:
    total = stats.drop("ym", "long_field_examples").sum()
    reasons = {r: int(total.item(0, f"rejected__{r}")) for r in REJECT_REASONS}
    invalid = {c.removeprefix("invalid__"): int(total.item(0, c)) for c in _INVALID_FLAGS}
    long_by_column = {c.removeprefix("long__"): int(total.item(0, c)) for c in _LONG_FLAGS}
    examples = [e for month in stats["long_field_examples"] for e in month]
    per_month = {
        f"{row['ym']:%Y-%m}": {k: v for k, v in row.items() if k != "ym"}
        for row in stats.with_columns(cs.float().round(0)).to_dicts()
    }
    return {
        "rows_read": int(total.item(0, "rows_read")),
        "rows_rejected": int(total.item(0, "rows_rejected")),
        "rows_rejected_by_reason": dg.MetadataValue.json(reasons),
        "max_field_chars": max_chars,
        "rows_rejected_long_fields": reasons["field_too_long"],
        "rows_rejected_long_fields_by_column": dg.MetadataValue.json(long_by_column),
        "long_field_examples": dg.MetadataValue.json(examples[:LONG_FIELD_EXAMPLES]),
        "duplicates_removed": int(total.item(0, "duplicates_removed")),
        "values_invalid_set_null": dg.MetadataValue.json(invalid),
        "names_with_replacement_char": int(total.item(0, "names_with_replacement_char")),
        "wage_min": float(cast(float | None, stats["wage_min"].min()) or 0.0),
        "wage_median": float(cast(float | None, stats["wage_median"].median()) or 0.0),
        "wage_max": float(cast(float | None, stats["wage_max"].max()) or 0.0),
        "per_month": dg.MetadataValue.json(per_month),
    }


def _digest_months(
    context: dg.AssetExecutionContext, bronze: pl.LazyFrame, keys: list[str], max_chars: int
) -> tuple[dict[str, pl.LazyFrame], pl.DataFrame]:
    """A range, one month at a time (the dedup key holds `ym`, so the rows are the range's):
    each month's digest spilled, its statistics kept; (spilled months by key, stats by month)."""
    stats: list[pl.DataFrame] = []
    with Spill(context) as spill:
        for key in keys:
            month = bronze.filter(pl.col("ym") == pl.lit(date.fromisoformat(key[:10]), pl.Date))
            out, month_stats = digest_with_stats(typed(month, max_chars))
            spill.write(out, key)
            del out  # before the next month is typed: never two months at once
            stats.append(month_stats)
        return spill.frames(), pl.concat(stats, how="vertical")


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", NPS_TAGS),
    metadata={"partition_by": "ym", "dagster/column_schema": column_schema(NpsHisDigest)},
    hooks=SPILL_HOOKS,
)
def nps_his_digest(
    context: dg.AssetExecutionContext, nps_his_download: pl.LazyFrame
) -> dg.Output[dict[str, pl.LazyFrame]]:
    """The pension register: one row per enrolled workplace and month, typed, cleaned and
    de-duplicated on (ym, company_name, business_reg_num, zip_code, subscriber_count,
    monthly_notice_amount); with normalised name, legal forms, address key and estimated wage."""
    started = time.perf_counter()
    max_chars = max_field_chars()
    keys = list(context.partition_keys)
    if len(keys) == 1:  # one month: no spill, the digest is handed over as it is
        out, stats = digest_with_stats(typed(nps_his_download, max_chars))
        output = {keys[0]: out.lazy()}
    else:
        output, stats = _digest_months(context, nps_his_download, keys, max_chars)
    months = {f"{m:%Y-%m}" for m in stats["ym"]}
    expected = {key[:7] for key in keys}
    if months != expected:
        raise ValueError(
            f"nps_his_digest partitions {sorted(expected)}: bronze nps_his_download holds months "
            f"{sorted(months)}"
        )
    metadata = _metadata(stats, max_chars)
    metadata["execution_time_sec"] = elapsed(started)
    return dg.Output(output, metadata=metadata)


# A range is validated month by month (the key holds `ym`): memory stays one month's.
nps_his_digest_contract = contract_check(nps_his_digest, NpsHisDigest, per_partition=True)
