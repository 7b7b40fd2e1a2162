"""CD serving tables: each Gold serving table's rows, built from the lake.

A serving table is what the stock apps query (PostgreSQL and Turso hold the same tables). Each
function's parameters name the lake assets it reads; `dag.cd_serving_loads` loads the result
through the one serving path (`dag.serving`).
"""

import polars as pl


def security_table(cd_security: pl.LazyFrame, cd_security_metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Every security (listed or not) with its latest metrics; null metrics once delisted."""
    return cd_security.join(
        cd_security_metrics.drop("ticker", "exchange", "company_id"), on="security_id", how="left"
    )


def company_table(cd_company: pl.LazyFrame, cd_company_metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Every company with market cap, its date, rank and prior rank (null when not listed)."""
    return cd_company.join(
        cd_company_metrics.select(
            "company_id", "market_cap", "market_cap_date", "rank", "prior_rank"
        ),
        on="company_id",
        how="left",
    )


def display_name_table(cd_search_names: pl.LazyFrame) -> pl.LazyFrame:
    """One display name per company."""
    return cd_search_names.filter(pl.col("order") == 1).select(
        "company_id", value=pl.col("display_name")
    )


def search_name_table(cd_search_names: pl.LazyFrame) -> pl.LazyFrame:
    """Search strings per company with their order."""
    return cd_search_names.select("company_id", "value", "order")
