"""CD gold rules as pure LazyFrame functions: latest metrics, company market caps, metric ranks.

Inputs are the silver tables (`cd_security` and the digested daily series, all partitions). The
functions take and return LazyFrames so tests call them on literal frames and the assets in
`cd_metrics_processing` only wire them to the lake.

- Latest metrics: per active security (no delisting date) the newest row of each series: price
  (close), market cap with listed shares, and each of the six fundamentals with its own date (the
  newest row where that ratio is not null); null when a series has none.
- Company market cap at a computation date d: the sum, over the company's securities active at d
  (listed on or before d and not delisted on or before d), of each one's newest market cap dated
  on or before d (**Fix**: delisted securities no longer count). Computation dates are the
  market-cap dates; the current one is the latest, R, the prior one the date before it. Rank: by
  market cap descending among listed companies (ties by company id); prior rank = rank at the
  prior date. The as-of read keeps an exchange whose day-R run has not happened yet in the
  ranking with its previous day's value (the schedule runs one exchange at a time).
- Security ranks: for R and each metric (marketcap, bps, per, pbr, eps, div, dps), securities
  with a value dated R are ranked descending, ties by ticker then exchange; prior rank = the
  rank at the previous market-cap date.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

RATIOS = ("bps", "per", "pbr", "eps", "div", "dps")
RANK_METRICS = ("marketcap", *RATIOS)
SECURITY_KEY = ("security_id", "ticker", "exchange")


def _latest(series: pl.LazyFrame, value: str, alias: str) -> pl.LazyFrame:
    """Newest non-null `value` per security, with its date as `<alias>_date`."""
    return (
        series.filter(pl.col(value).is_not_null() & pl.col("security_id").is_not_null())
        .group_by("security_id")
        .agg(
            pl.col(value).sort_by("date").last().alias(alias),
            pl.col("date").max().alias(f"{alias}_date"),
        )
    )


def latest_security_metrics(
    security: pl.LazyFrame, price: pl.LazyFrame, marketcap: pl.LazyFrame, bppedd: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per active security: latest price, shares and market cap, the six ratios."""
    active = security.filter(pl.col("delisting_date").is_null()).select(
        *SECURITY_KEY, "company_id"
    )
    latest_cap = (
        marketcap.filter(pl.col("market_cap").is_not_null() & pl.col("security_id").is_not_null())
        .group_by("security_id")
        .agg(
            pl.col("market_cap").sort_by("date").last(),
            pl.col("shares").sort_by("date").last(),
            pl.col("date").max().alias("market_cap_date"),
        )
    )
    out = active.join(_latest(price, "close", "price"), on="security_id", how="left").join(
        latest_cap, on="security_id", how="left"
    )
    for ratio in RATIOS:
        out = out.join(_latest(bppedd, ratio, ratio), on="security_id", how="left")
    return out.sort("security_id")


def computation_dates(marketcap: pl.LazyFrame) -> tuple[dt.date | None, dt.date | None]:
    """(R, prior): the latest market-cap date and the one before it (None when absent)."""
    dates = (
        marketcap.select(pl.col("date").unique())
        .sort("date", descending=True)
        .head(2)
        .collect()
        .get_column("date")
        .to_list()
    )
    return (dates[0] if dates else None, dates[1] if len(dates) > 1 else None)


def _company_ranks_at(
    security: pl.LazyFrame, marketcap: pl.LazyFrame, date: dt.date
) -> pl.LazyFrame:
    active = security.filter(
        pl.col("company_id").is_not_null()
        & (pl.col("listing_date") <= date)
        & (pl.col("delisting_date").is_null() | (pl.col("delisting_date") > date))
    ).select("security_id", "company_id")
    as_of = (
        marketcap.filter((pl.col("date") <= date) & pl.col("market_cap").is_not_null())
        .group_by("security_id")
        .agg(pl.col("market_cap").sort_by("date").last())
    )
    return (
        active.join(as_of, on="security_id", how="inner")
        .group_by("company_id")
        .agg(pl.col("market_cap").sum(), pl.len().cast(pl.Int64).alias("summed_securities"))
        .filter(pl.col("market_cap") > 0)
        .sort(["market_cap", "company_id"], descending=[True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    )


def company_metrics(
    security: pl.LazyFrame, company: pl.LazyFrame, marketcap: pl.LazyFrame
) -> pl.LazyFrame:
    """Per listed company: market cap at R, active security count, rank and prior rank."""
    current, prior = computation_dates(marketcap)
    if current is None:
        return pl.LazyFrame(
            schema={"company_id": pl.String, "name": pl.String, "market_cap": pl.Int64,
                    "market_cap_date": pl.Date, "summed_securities": pl.Int64, "rank": pl.Int64,
                    "prior_rank": pl.Int64}
        )  # fmt: skip
    out = _company_ranks_at(security, marketcap, current).with_columns(
        market_cap_date=pl.lit(current, dtype=pl.Date)
    )
    if prior is None:
        out = out.with_columns(prior_rank=pl.lit(None, dtype=pl.Int64))
    else:
        previous = _company_ranks_at(security, marketcap, prior).select(
            "company_id", prior_rank="rank"
        )
        out = out.join(previous, on="company_id", how="left")
    names = company.select("company_id", "company_name")
    return out.join(names, on="company_id", how="left").select(
        "company_id", "company_name", pl.col("market_cap").cast(pl.Int64), "market_cap_date",
        "summed_securities", "rank", "prior_rank",
    ).sort("rank")  # fmt: skip


def _metric_values(marketcap: pl.LazyFrame, bppedd: pl.LazyFrame, date: dt.date) -> pl.LazyFrame:
    """Long (security, metric_type, value) for every metric with a value dated `date`."""
    caps = marketcap.filter(pl.col("date") == date).select(
        *SECURITY_KEY,
        metric_type=pl.lit("marketcap"),
        value=pl.col("market_cap").cast(pl.Float64),
    )
    ratios = (
        bppedd.filter(pl.col("date") == date)
        .select(*SECURITY_KEY, *[pl.col(r).cast(pl.Float64) for r in RATIOS])
        .unpivot(index=list(SECURITY_KEY), on=list(RATIOS), variable_name="metric_type")
    )
    return pl.concat([caps, ratios]).filter(
        pl.col("value").is_not_null() & pl.col("security_id").is_not_null()
    )


def _ranked(values: pl.LazyFrame) -> pl.LazyFrame:
    return values.sort(
        ["metric_type", "value", "ticker", "exchange"], descending=[False, True, False, False]
    ).with_columns(
        rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("metric_type")
    )


def security_ranks(marketcap: pl.LazyFrame, bppedd: pl.LazyFrame) -> pl.LazyFrame:
    """Rank per (security, metric) at the latest market-cap date, with the prior date's rank."""
    current, prior = computation_dates(marketcap)
    schema = {"security_id": pl.String, "ticker": pl.String, "exchange": pl.String,
              "metric_type": pl.String, "rank_date": pl.Date, "current_rank": pl.Int64,
              "prior_rank": pl.Int64, "value": pl.Float64}  # fmt: skip
    if current is None:
        return pl.LazyFrame(schema=schema)
    out = _ranked(_metric_values(marketcap, bppedd, current)).rename({"rank": "current_rank"})
    if prior is None:
        out = out.with_columns(prior_rank=pl.lit(None, dtype=pl.Int64))
    else:
        previous = _ranked(_metric_values(marketcap, bppedd, prior)).select(
            "security_id", "metric_type", prior_rank="rank"
        )
        out = out.join(previous, on=["security_id", "metric_type"], how="left")
    return out.with_columns(rank_date=pl.lit(current, dtype=pl.Date)).select(
        [pl.col(name).cast(dtype) for name, dtype in schema.items()]
    ).sort(["metric_type", "current_rank"])  # fmt: skip
