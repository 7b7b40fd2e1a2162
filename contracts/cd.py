"""CD contracts: Korean stock market data (KOSPI, KOSDAQ, KONEX) from bronze to gold.

Bronze models hold the KRX daily series per (date, exchange) as the source delivered them, renamed
to English; silver models hold the cleaned series joined to `cd_security`, the securities and the
companies. Every model is the single source of truth for its asset's columns.
"""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

EXCHANGES = ("KOSPI", "KOSDAQ", "KONEX")
SECURITY_TYPES = ("보통주", "우선주", "전환우선주", "스팩", "리츠", "펀드")
NO_COMPANY_TYPES = ("스팩", "리츠", "펀드")
TICKER_PATTERN = r"^[0-9A-Z]{6}$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


# Field helpers return what `pa.Field` returns (typed `Any`, so that `col: pl.Int64 = ...`
# type-checks).
def _date(description: str) -> Any:
    return pa.Field(description=description)


def _exchange() -> Any:
    return pa.Field(isin=list(EXCHANGES), description="market: KOSPI, KOSDAQ or KONEX")


def _ticker() -> Any:
    return pa.Field(
        str_matches=TICKER_PATTERN,
        description="6-character KRX short code with leading zeros (005930; preferred 005935)",
    )


def _non_negative(description: str) -> Any:
    return pa.Field(ge=0, description=description)


class _CdKeyed(pa.DataFrameModel):
    """Columns shared by every daily CD series: the partition (date, exchange) and the ticker."""

    date: pl.Date = _date("trading date (Asia/Seoul); partition column")
    exchange: pl.String = _exchange()
    ticker: pl.String = _ticker()


class _PriceValues(pa.DataFrameModel):
    """OHLCV values in won (a suspended stock has only a close; the other values are 0)."""

    open: pl.Int64 = _non_negative("시가: opening price in won (0 when suspended)")
    high: pl.Int64 = _non_negative("고가: highest price in won (0 when suspended)")
    low: pl.Int64 = _non_negative("저가: lowest price in won (0 when suspended)")
    close: pl.Int64 = _non_negative("종가: closing price in won")
    volume: pl.Int64 = _non_negative("거래량: shares traded")
    transaction: pl.Int64 = _non_negative("거래대금: value traded in won")
    rate: pl.Float64 = pa.Field(
        description="등락률: change against the previous close, percent (listing days exceed 30)"
    )

    @pa.dataframe_check(description="high >= low, and low <= open, close <= high when traded")
    @classmethod
    def ohlc_consistent(cls, data: PolarsData) -> pl.LazyFrame:
        traded = pl.col("high") > 0
        return data.lazyframe.select(
            (pl.col("high") >= pl.col("low"))
            & (
                ~traded
                | (
                    (pl.col("low") <= pl.col("open"))
                    & (pl.col("open") <= pl.col("high"))
                    & (pl.col("low") <= pl.col("close"))
                    & (pl.col("close") <= pl.col("high"))
                )
            )
        )


class _MarketcapValues(pa.DataFrameModel):
    close: pl.Int64 = _non_negative("종가: closing price in won")
    market_cap: pl.Int64 = _non_negative("시가총액: market capitalisation in won (close x shares)")
    volume: pl.Int64 = _non_negative("거래량: shares traded")
    transaction: pl.Int64 = _non_negative("거래대금: value traded in won")
    shares: pl.Int64 = _non_negative("상장주식수: listed shares")


class _BppeddValues(pa.DataFrameModel):
    """Fundamentals as KRX publishes them (loss makers show PER 0 and EPS 0)."""

    bps: pl.Int64 = pa.Field(description="BPS: book value per share, won")
    per: pl.Float64 = _non_negative("PER: price / earnings (0 for loss makers)")
    pbr: pl.Float64 = _non_negative("PBR: price / book value")
    eps: pl.Int64 = pa.Field(description="EPS: earnings per share, won (0 for loss makers)")
    div: pl.Float64 = _non_negative("DIV: dividend yield, percent")
    dps: pl.Int64 = _non_negative("DPS: dividend per share, won")


# Bases are listed last-columns-first: pandera orders fields from the last base.

# --- bronze ---------------------------------------------------------------------------------


class CdStockcode(_CdKeyed):
    """Bronze: tickers and names listed on a date and exchange (pykrx ticker list + names)."""

    name: pl.String = pa.Field(str_length={"min_value": 1}, description="종목명: security name")

    class Config:
        unique = ("date", "exchange", "ticker")


class CdPrices(_PriceValues, _CdKeyed):
    """Bronze: daily OHLCV per ticker as KRX published it (시가 ... 등락률)."""

    class Config:
        unique = ("date", "exchange", "ticker")


class CdMarketcaps(_MarketcapValues, _CdKeyed):
    """Bronze: daily market cap, volume and listed shares per ticker."""

    class Config:
        unique = ("date", "exchange", "ticker")


class CdBppedds(_BppeddValues, _CdKeyed):
    """Bronze: daily fundamentals (BPS, PER, PBR, EPS, DIV, DPS); KONEX publishes none."""

    class Config:
        unique = ("date", "exchange", "ticker")

    @pa.dataframe_check(description="KRX publishes no fundamentals for KONEX")
    @classmethod
    def no_konex(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("exchange") != "KONEX")


# --- silver ---------------------------------------------------------------------------------


class CdSecurity(pa.DataFrameModel):
    """Silver: one row per listed security (ticker, exchange) over every cd_stockcode partition."""

    security_id: pl.String = pa.Field(
        str_matches=UUID_PATTERN,
        unique=True,
        description="stable id: uuid5 of 'ticker:exchange' (a renamed ticker keeps it)",
    )
    ticker: pl.String = _ticker()
    exchange: pl.String = _exchange()
    name: pl.String = pa.Field(description="latest name (the name at the last appearance)")
    security_type: pl.String = pa.Field(
        isin=list(SECURITY_TYPES), description="보통주, 우선주, 전환우선주, 스팩, 리츠 or 펀드"
    )
    company_name: pl.String = pa.Field(
        nullable=True, description="issuer name (preferred suffix removed); null for 스팩/리츠/펀드"
    )
    company_id: pl.String = pa.Field(
        nullable=True,
        str_matches=UUID_PATTERN,
        description="cd_company.company_id (uuid5 of company_name); null for 스팩/리츠/펀드",
    )
    listing_date: pl.Date = _date("first date the ticker appears on this exchange")
    last_listed_date: pl.Date = _date("last date the ticker appears on this exchange")
    delisting_date: pl.Date = pa.Field(
        nullable=True,
        description="first trading date of the exchange after the last appearance; null if listed",
    )
    is_active: pl.Boolean = pa.Field(description="still listed (delisting_date is null)")

    class Config:
        unique = ("ticker", "exchange")

    @pa.dataframe_check(description="listing_date <= last_listed_date < delisting_date")
    @classmethod
    def listing_order(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("listing_date") <= pl.col("last_listed_date"))
            & (
                pl.col("delisting_date").is_null()
                | (pl.col("delisting_date") > pl.col("last_listed_date"))
            )
            & (pl.col("is_active") == pl.col("delisting_date").is_null())
        )

    @pa.dataframe_check(description="company only for 보통주/우선주/전환우선주")
    @classmethod
    def company_by_type(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("security_type").is_in(list(NO_COMPANY_TYPES)) == pl.col("company_id").is_null()
        )


class CdCompany(pa.DataFrameModel):
    """Silver: issuers derived from securities, matched by name across exchanges."""

    company_id: pl.String = pa.Field(
        str_matches=UUID_PATTERN, unique=True, description="stable id: uuid5 of company_name"
    )
    company_name: pl.String = pa.Field(unique=True, description="issuer name (Korean)")
    security_count: pl.Int64 = pa.Field(ge=1, description="securities ever listed")
    active_security_count: pl.Int64 = _non_negative("securities listed now")
    listing_date: pl.Date = _date("earliest listing date of its securities")
    is_active: pl.Boolean = pa.Field(description="has at least one listed security")

    class Config:
        unique = ("company_id",)


class _Digest(pa.DataFrameModel):
    security_id: pl.String = pa.Field(
        str_matches=UUID_PATTERN, description="cd_security.security_id"
    )


class _YearMonth(pa.DataFrameModel):
    year: pl.Int32 = pa.Field(ge=1990, le=2100, description="year of date")
    month: pl.Int32 = pa.Field(ge=1, le=12, description="month of date")


class CdDigestPrice(_YearMonth, _PriceValues, _Digest, _CdKeyed):
    """Silver: daily OHLCV per security; holidays are empty partitions, no all-zero rows."""

    class Config:
        unique = ("date", "exchange", "ticker")


class CdDigestMarketcaps(_YearMonth, _MarketcapValues, _Digest, _CdKeyed):
    """Silver: daily market cap and shares per security; holidays are empty partitions."""

    class Config:
        unique = ("date", "exchange", "ticker")

    @pa.dataframe_check(description="market_cap = close x shares")
    @classmethod
    def cap_is_close_times_shares(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("market_cap") == pl.col("close") * pl.col("shares")) | (pl.col("shares") == 0)
        )


class CdDigestBppedds(_YearMonth, _BppeddValues, _Digest, _CdKeyed):
    """Silver: daily fundamentals per security; rows with bps, pbr, eps, div, dps all 0 dropped."""

    class Config:
        unique = ("date", "exchange", "ticker")

    @pa.dataframe_check(description="not all of bps, pbr, eps, div, dps are 0; no KONEX")
    @classmethod
    def not_all_zero(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.any_horizontal(pl.col("bps", "pbr", "eps", "div", "dps") != 0)
            & (pl.col("exchange") != "KONEX")
        )


# --- gold (metrics, ranks, names, loads) ---

RANK_METRICS = ("marketcap", "bps", "per", "pbr", "eps", "div", "dps")


class _LatestMetrics(pa.DataFrameModel):
    """The newest value of each series for a security, each with its own date (null: none)."""

    price: pl.Int64 = pa.Field(nullable=True, ge=0, description="newest close in won")
    price_date: pl.Date = pa.Field(nullable=True, description="date of price")
    market_cap: pl.Int64 = pa.Field(nullable=True, ge=0, description="newest market cap, won")
    shares: pl.Int64 = pa.Field(nullable=True, ge=0, description="listed shares on that date")
    market_cap_date: pl.Date = pa.Field(nullable=True, description="date of market_cap, shares")
    bps: pl.Int64 = pa.Field(nullable=True, description="newest BPS, won")
    bps_date: pl.Date = pa.Field(nullable=True, description="date of bps")
    per: pl.Float64 = pa.Field(nullable=True, description="newest PER (0: loss maker)")
    per_date: pl.Date = pa.Field(nullable=True, description="date of per")
    pbr: pl.Float64 = pa.Field(nullable=True, description="newest PBR")
    pbr_date: pl.Date = pa.Field(nullable=True, description="date of pbr")
    eps: pl.Int64 = pa.Field(nullable=True, description="newest EPS, won (0: loss maker)")
    eps_date: pl.Date = pa.Field(nullable=True, description="date of eps")
    div: pl.Float64 = pa.Field(nullable=True, description="newest dividend yield, percent")
    div_date: pl.Date = pa.Field(nullable=True, description="date of div")
    dps: pl.Int64 = pa.Field(nullable=True, description="newest dividend per share, won")
    dps_date: pl.Date = pa.Field(nullable=True, description="date of dps")


class _MetricsKey(pa.DataFrameModel):
    security_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_security id")
    ticker: pl.String = _ticker()
    exchange: pl.String = _exchange()
    company_id: pl.String = pa.Field(nullable=True, description="cd_company id (null: 스팩 etc.)")


class CdSecurityMetrics(_LatestMetrics, _MetricsKey):
    """Gold: per active security the newest price, market cap with shares, and six ratios."""

    class Config:
        unique = ("security_id",)


class CdCompanyMetrics(pa.DataFrameModel):
    """Gold: listed companies' market cap (active securities only), rank and prior rank."""

    company_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_company id")
    company_name: pl.String = pa.Field(description="issuer name (Korean)")
    market_cap: pl.Int64 = pa.Field(gt=0, description="sum over active securities, won")
    market_cap_date: pl.Date = pa.Field(description="computation date: latest market-cap date")
    summed_securities: pl.Int64 = pa.Field(ge=1, description="active securities in the sum")
    rank: pl.Int64 = pa.Field(ge=1, unique=True, description="1 = largest market cap")
    prior_rank: pl.Int64 = pa.Field(
        nullable=True, ge=1, description="rank at the previous computation date"
    )

    class Config:
        unique = ("company_id",)


class CdSecurityRanks(pa.DataFrameModel):
    """Gold: per metric, rank of securities with a value dated the latest market-cap date."""

    security_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_security id")
    ticker: pl.String = _ticker()
    exchange: pl.String = _exchange()
    metric_type: pl.String = pa.Field(isin=list(RANK_METRICS), description="ranked metric")
    rank_date: pl.Date = pa.Field(description="latest market-cap date R")
    current_rank: pl.Int64 = pa.Field(ge=1, description="rank at R, descending, ties by ticker")
    prior_rank: pl.Int64 = pa.Field(nullable=True, ge=1, description="rank at the prior date")
    value: pl.Float64 = pa.Field(description="the metric's value at R")

    class Config:
        unique = ("security_id", "metric_type", "rank_date")


class CdSearchNames(pa.DataFrameModel):
    """Gold: per company its display name and the search strings users type for it."""

    company_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_company id")
    display_name: pl.String = pa.Field(description="the company's Korean name")
    value: pl.String = pa.Field(
        str_length={"min_value": 1}, description="search string: name, reading, keystrokes"
    )
    order: pl.Int64 = pa.Field(ge=1, description="1 = the display name itself")

    class Config:
        unique = ("company_id", "order")


# Month-end history: the digested series of the last trading day of each month.


class _HistoryMonth(pa.DataFrameModel):
    history_month: pl.Date = pa.Field(
        description="first day of the month (the monthly partition); date is its last trading day"
    )


class CdHistoricalPrices(_HistoryMonth, CdDigestPrice):
    """Silver: month-end daily OHLCV per security (20-year history)."""


class CdHistoricalMarketcaps(_HistoryMonth, CdDigestMarketcaps):
    """Silver: month-end market cap and shares per security (20-year history)."""


class CdHistoricalBppedds(_HistoryMonth, CdDigestBppedds):
    """Silver: month-end fundamentals per security (20-year history)."""


# Serving tables: one target-neutral model per table (PostgreSQL and Turso hold the same).


class CdSecurityServing(_LatestMetrics, CdSecurity):
    """Serving `security`: every security, with its latest metrics while it is listed."""

    class Config:
        unique = ("security_id",)


class CdCompanyServing(CdCompany):
    """Serving `company`: every company with market cap, rank and prior rank when listed."""

    market_cap: pl.Int64 = pa.Field(nullable=True, description="sum over active securities")
    market_cap_date: pl.Date = pa.Field(nullable=True, description="computation date")
    rank: pl.Int64 = pa.Field(nullable=True, ge=1, description="market-cap rank")
    prior_rank: pl.Int64 = pa.Field(nullable=True, ge=1, description="rank the date before")

    class Config:
        unique = ("company_id",)


class CdPriceServing(CdDigestPrice):
    """Serving `price`: daily OHLCV, replaced per (date, exchange)."""


class CdMarketcapServing(CdDigestMarketcaps):
    """Serving `marketcap`: daily market cap and shares, replaced per (date, exchange)."""


class CdBppeddServing(CdDigestBppedds):
    """Serving `bppedd`: daily fundamentals, replaced per (date, exchange)."""


class CdSecurityRankServing(pa.DataFrameModel):
    """Serving `security_rank`: ranks per metric and date (history accumulates by upsert)."""

    security_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_security id")
    metric_type: pl.String = pa.Field(isin=list(RANK_METRICS), description="ranked metric")
    rank_date: pl.Date = pa.Field(description="date the rank is for")
    current_rank: pl.Int64 = pa.Field(ge=1, description="rank at rank_date")
    prior_rank: pl.Int64 = pa.Field(nullable=True, ge=1, description="rank the date before")
    value: pl.Float64 = pa.Field(description="the metric's value at rank_date")

    class Config:
        unique = ("security_id", "metric_type", "rank_date")


class CdDisplayNameServing(pa.DataFrameModel):
    """Serving `display_name`: the name shown for a company."""

    company_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_company id")
    value: pl.String = pa.Field(description="display name (Korean)")

    class Config:
        unique = ("company_id",)


class CdSearchNameServing(pa.DataFrameModel):
    """Serving `search_name`: search strings per company, in order."""

    company_id: pl.String = pa.Field(str_matches=UUID_PATTERN, description="cd_company id")
    value: pl.String = pa.Field(description="search string")
    order: pl.Int64 = pa.Field(ge=1, description="1 = display name")

    class Config:
        unique = ("company_id", "order")


# -- logos (the DS image pipeline's CD variant; same columns as contracts.ds) ---------------------
from contracts.ds import UTC as LOGO_UTC  # noqa: E402
from contracts.ds import (  # noqa: E402  (appended section: the logo contracts of issue 18)
    DsBucketCleanup,
    DsLogoCrawler,
    DsLogoFiles,
    DsLogoSources,
    DsLogoWebp,
)


class CdLogoCrawler(DsLogoCrawler):
    """One logo a CD crawler run reported uploading to the CD source bucket."""

    class Config:
        strict = True


class CdLogoSources(DsLogoSources):
    """One `clogo-<company_id>.png` object of the CD source bucket, as listed."""

    class Config:
        strict = True


class CdLogoFiles(DsLogoFiles):
    """The CD logo manifest: one row per logo and what the last run made of it."""

    class Config:
        strict = True
        unique = ("key",)


class CdLogoWebp(DsLogoWebp):
    """One CD logo published to the CD target bucket."""

    class Config:
        strict = True
        unique = ("key",)


class CdCompanyLogos(pa.DataFrameModel):
    """Serving `company_logo` (CD PostgreSQL): `company.logo` of each published logo,
    `<CD_PUBLIC_URL>/clogo-<company_id>.png`, keyed by `company_id` (a table of its own: the
    loaders replace whole rows, and CD's `company` is owned by `cd_company_postgres`)."""

    company_id: pl.String = pa.Field(unique=True, description="company.company_id")
    logo: pl.String = pa.Field(
        str_matches=r"^\S+\.png$", description="public URL of the PNG"
    )
    webp_url: pl.String = pa.Field(
        str_matches=r"^\S+\.webp$", description="public URL of the WebP"
    )
    png_sha256: pl.String = pa.Field(str_matches=r"^[0-9a-f]{64}$", description="checksum")
    updated_at: LOGO_UTC = pa.Field(description="when published")

    class Config:
        strict = True
        unique = ("company_id",)


class CdBucketCleanup(DsBucketCleanup):
    """One object a confirmed CD clean-up deleted."""

    class Config:
        strict = True
        unique = ("bucket", "key")
