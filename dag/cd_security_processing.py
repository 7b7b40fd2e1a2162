"""CD silver: securities (one per ticker and exchange) and the companies that issue them.

A security is a ticker listed on an exchange; its type (보통주, 우선주, 전환우선주, 스팩, 리츠,
펀드) and issuer name come from its name and code through one rule table, available both as plain
functions (`parse_security_type`, `parse_company_name`) and as Polars expressions
(`security_type_expr`, `company_name_expr`). `cd_security` is rebuilt from every `cd_stockcode`
partition, so the result never depends on the order partitions were materialised (**Fix**).
`cd_company` groups securities by issuer name across exchanges (**Fix**: no duplicate company when
a ticker moves market); 스팩, 리츠 and 펀드 have no company.
"""

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from contracts import column_schema, contract_check
from contracts.cd import CdCompany, CdSecurity
from dag.common import CD_GOLD_POOL, CD_TAGS, elapsed, tags

COMMON_SHARE = "보통주"
# Preferred-share codes end in 5, 7, 9 or a letter (005935, 005387, 00104K); common ones in 0.
PREFERRED_TICKER = r"[579A-Z]$"
CD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "cd.dag-project")


@dataclass(frozen=True)
class SecurityRule:
    """One security-type rule: the name pattern, whether the code must be a preferred code, and
    how the issuer's name is derived (`company_suffix` stripped; `has_company` False: none)."""

    security_type: str
    name_pattern: str
    preferred_ticker_only: bool = False
    company_suffix: str | None = None
    has_company: bool = True


# First match wins; no match is a common share (보통주) whose company name is its own name.
SECURITY_RULES: tuple[SecurityRule, ...] = (
    SecurityRule("스팩", r"스팩(\d+호)?$", has_company=False),
    SecurityRule("리츠", r"리츠$", has_company=False),
    SecurityRule("펀드", r"(맥쿼리인프라|맵스리얼티1|유전)$", has_company=False),
    SecurityRule("전환우선주", r"\(전환\)$", company_suffix=r"([0-9]*우[A-Za-z]*)?\(전환\)$"),
    # Fix: only a preferred code makes a 우선주 (미래에셋대우, code 006800, is a common share).
    SecurityRule(
        "우선주",
        r"[0-9]*우[A-Za-z]*$",
        preferred_ticker_only=True,
        company_suffix=r"[0-9]*우[A-Za-z]*$",
    ),
)
SECURITY_TYPES = (*(rule.security_type for rule in SECURITY_RULES), COMMON_SHARE)
NO_COMPANY_TYPES = tuple(r.security_type for r in SECURITY_RULES if not r.has_company)
_RULES_BY_TYPE = {rule.security_type: rule for rule in SECURITY_RULES}


def parse_security_type(name: str, ticker: str) -> str:
    """Security type of a listed name and its 6-character code (first matching rule wins)."""
    preferred_code = re.search(PREFERRED_TICKER, ticker) is not None
    for rule in SECURITY_RULES:
        code_ok = preferred_code or not rule.preferred_ticker_only
        if code_ok and re.search(rule.name_pattern, name):
            return rule.security_type
    return COMMON_SHARE


def parse_company_name(name: str, security_type: str) -> str | None:
    """Issuer name: the name without a trailing preferred/conversion suffix (`현대차2우B` ->
    `현대차`); None for 스팩, 리츠 and 펀드, which belong to no company."""
    if security_type not in SECURITY_TYPES:
        raise ValueError(f"unknown security type {security_type!r} for {name!r}: {SECURITY_TYPES}")
    rule = _RULES_BY_TYPE.get(security_type)
    if rule is not None and not rule.has_company:
        return None
    if rule is not None and rule.company_suffix is not None:
        name = re.sub(rule.company_suffix, "", name)
    return name or None


def security_type_expr(name: pl.Expr | str, ticker: pl.Expr | str) -> pl.Expr:
    """`parse_security_type` over columns (the same rule table, vectorised)."""
    name = pl.col(name) if isinstance(name, str) else name
    ticker = pl.col(ticker) if isinstance(ticker, str) else ticker
    preferred_code = ticker.str.contains(PREFERRED_TICKER)
    chain: Then | ChainedThen | None = None
    for rule in SECURITY_RULES:
        condition = name.str.contains(rule.name_pattern)
        if rule.preferred_ticker_only:
            condition = condition & preferred_code
        then = pl.lit(rule.security_type)
        chain = pl.when(condition).then(then) if chain is None else chain.when(condition).then(then)
    assert chain is not None
    return pl.when(name.is_null()).then(None).otherwise(chain.otherwise(pl.lit(COMMON_SHARE)))


def company_name_expr(name: pl.Expr | str, security_type: pl.Expr | str) -> pl.Expr:
    """`parse_company_name` over columns (the same rule table, vectorised)."""
    name = pl.col(name) if isinstance(name, str) else name
    kind = pl.col(security_type) if isinstance(security_type, str) else security_type
    result = name
    for rule in reversed(SECURITY_RULES):
        if not rule.has_company:
            value = pl.lit(None, dtype=pl.String)
        elif rule.company_suffix is not None:
            value = name.str.replace(rule.company_suffix, "")
        else:
            continue
        result = pl.when(kind == rule.security_type).then(value).otherwise(result)
    return pl.when(result == "").then(None).otherwise(result)


def security_id(ticker: str, exchange: str) -> str:
    """Stable security id: uuid5 of `security:<ticker>:<exchange>` (a rename keeps it)."""
    return str(uuid.uuid5(CD_NAMESPACE, f"security:{ticker}:{exchange}"))


def company_id(company_name: str) -> str:
    """Stable company id: uuid5 of `company:<name>` (the same issuer on any exchange)."""
    return str(uuid.uuid5(CD_NAMESPACE, f"company:{company_name}"))


def _uuid_column(values: pl.Series, make: Callable[[str], str]) -> pl.Series:
    # uuid5 needs SHA-1, for which Polars has no expression; this runs once per distinct
    # security or company (thousands of values), not per daily row.
    return pl.Series([make(v) if v is not None else None for v in values], dtype=pl.String)


def build_securities(stockcodes: pl.LazyFrame) -> pl.DataFrame:
    """One row per (ticker, exchange) from every stockcode row, independent of row order.

    listing_date is the first appearance, the name the latest one, and delisting_date the
    exchange's first trading date (a date with any listing) after the last appearance.
    """
    codes = stockcodes.select("date", "exchange", "ticker", "name")
    next_trading = (
        codes.select("exchange", "date")
        .unique()
        .sort("exchange", "date")
        .with_columns(delisting_date=pl.col("date").shift(-1).over("exchange"))
        .rename({"date": "last_listed_date"})
    )
    securities = (
        codes.group_by("ticker", "exchange")
        .agg(
            name=pl.col("name").sort_by("date").last(),
            listing_date=pl.col("date").min(),
            last_listed_date=pl.col("date").max(),
        )
        .join(next_trading, on=["exchange", "last_listed_date"], how="left")
        .with_columns(security_type=security_type_expr("name", "ticker"))
        .with_columns(company_name=company_name_expr("name", "security_type"))
        .with_columns(is_active=pl.col("delisting_date").is_null())
        .sort("exchange", "ticker")
        .collect()
    )
    return securities.with_columns(
        security_id=pl.Series(
            [
                security_id(t, e)
                for t, e in securities.select("ticker", "exchange").iter_rows()
            ],
            dtype=pl.String,
        ),
        company_id=_uuid_column(securities.get_column("company_name"), company_id),
    ).select(CdSecurity.to_schema().columns.keys())


def build_companies(securities: pl.LazyFrame) -> pl.LazyFrame:
    """Issuers: securities grouped by company name across exchanges (스팩/리츠/펀드 excluded)."""
    return (
        securities.filter(pl.col("company_id").is_not_null())
        .group_by("company_id", "company_name")
        .agg(
            security_count=pl.len().cast(pl.Int64),
            active_security_count=pl.col("is_active").sum().cast(pl.Int64),
            listing_date=pl.col("listing_date").min(),
        )
        .with_columns(is_active=pl.col("active_security_count") > 0)
        .sort("company_name")
        .select(CdCompany.to_schema().columns.keys())
    )


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),  # lets a silver tier range run include it
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", CD_TAGS),
    metadata={"dagster/column_schema": column_schema(CdSecurity)},
)
def cd_security(cd_stockcode: pl.LazyFrame) -> dg.Output[pl.LazyFrame]:
    """Listed securities, one per (ticker, exchange): latest name, type, issuer, listing and
    delisting dates; rebuilt from all cd_stockcode partitions (independent of run order)."""
    started = time.perf_counter()
    securities = build_securities(cd_stockcode)
    renamed = (
        cd_stockcode.group_by("ticker", "exchange")
        .agg(pl.col("name").n_unique().alias("names"))
        .filter(pl.col("names") > 1)
        .select(pl.len())
        .collect()
        .item()
    )
    by_type = securities.group_by("security_type").len().sort("security_type")
    return dg.Output(
        securities.lazy(),
        metadata={
            "securities": securities.height,
            "active": int(securities.get_column("is_active").sum()),
            "delisted": int((~securities.get_column("is_active")).sum()),
            "renamed": int(renamed),
            "by_type": dg.MetadataValue.json(dict(by_type.iter_rows())),
            "execution_time_sec": elapsed(started),
        },
    )


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),  # lets a silver tier range run include it
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "pandera"},
    tags=tags("silver", CD_TAGS),
    metadata={"dagster/column_schema": column_schema(CdCompany)},
)
def cd_company(cd_security: pl.LazyFrame) -> dg.Output[pl.LazyFrame]:
    """Issuing companies with stable ids (uuid5 of the name), matched by name across exchanges;
    스팩, 리츠 and 펀드 securities have none."""
    started = time.perf_counter()
    companies = build_companies(cd_security).collect()
    multi_exchange = (
        cd_security.filter(pl.col("company_id").is_not_null())
        .group_by("company_id")
        .agg(pl.col("exchange").n_unique().alias("exchanges"))
        .filter(pl.col("exchanges") > 1)
        .select(pl.len())
        .collect()
        .item()
    )
    return dg.Output(
        companies.lazy(),
        metadata={
            "companies": companies.height,
            "active": int(companies.get_column("is_active").sum()),
            "listed_on_several_exchanges": int(multi_exchange),
            "execution_time_sec": elapsed(started),
        },
    )


cd_security_contract = contract_check(cd_security, CdSecurity)
cd_company_contract = contract_check(cd_company, CdCompany)
