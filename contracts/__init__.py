"""Data contracts: pandera (polars backend) models per asset and the asset-check factory.

A contract is one ``pandera.polars.DataFrameModel`` per asset, named after the asset in CamelCase
and kept in ``contracts/<prefix>.py``. It is the single source of truth for the asset's columns:
the asset's ``dagster/column_schema`` metadata, its blocking ``<asset>_contract`` check and the
loaders' DDL (types, NOT NULL, primary key = ``Config.unique``) all come from it.

Writing a contract (``contracts/cd.py``)::

    import datetime as dt

    import pandera.polars as pa
    import polars as pl


    class CdDailyPrice(pa.DataFrameModel):
        \"\"\"One row per listed stock and trading day: the exchange's daily OHLCV quote.\"\"\"

        date: dt.date = pa.Field(description="Trading day (Asia/Seoul)")
        exchange: str = pa.Field(description="Exchange", isin=["KOSPI", "KOSDAQ", "KONEX"])
        ticker: str = pa.Field(description="6-digit KRX code", str_matches=r"^[0-9A-Z]{6}$")
        name: str = pa.Field(description="Listed name")
        high: pl.Int64 = pa.Field(description="Day high (KRW)", ge=0)
        low: pl.Int64 = pa.Field(description="Day low (KRW)", ge=0)
        volume: pl.Int64 = pa.Field(description="Shares traded", ge=0, nullable=True)
        holder: str = pa.Field(description="Contact person", nullable=True, metadata={"pii": True})

        class Config:
            unique = ("date", "exchange", "ticker")  # the key (a tuple: ruff RUF012); loader PK
            strict = True  # no undeclared columns

        @pa.dataframe_check
        def high_not_below_low(cls, data: pa.PolarsData) -> pl.LazyFrame:
            \"\"\"The day's high is never below its low.\"\"\"
            return data.lazyframe.select(pl.col("high") >= pl.col("low"))

Using it (``dag/cd_*.py``)::

    from contracts import column_schema, contract_check
    from contracts.cd import CdDailyPrice

    @dg.asset(
        ...,
        metadata={"partition_by": {...}, "dagster/column_schema": column_schema(CdDailyPrice)},
    )
    def cd_daily_price(...): ...

    cd_daily_price_contract = contract_check(cd_daily_price, CdDailyPrice)

A load asset whose rows live in a database (it returns ``MaterializeResult``) reads them back::

    cd_price_postgres_contract = contract_check(
        cd_price_postgres,
        CdPriceServing,
        read=read_price_back,  # (context) -> pl.LazyFrame of the run's partition(s)
        required_resource_keys={"cd_postgres"},
    )

Loaders: ``polars_schema(model)``, ``key_columns(model)`` (primary key) and
``contract_columns(model)`` (dtype, nullable, unique, pii per column) give the DDL facts.
Tests: ``contracts.testing.assert_column_schema_matches(asset, model)``, and
``contracts.strategies.frames(model, fix=...)`` (hypothesis) for property tests.

Fields are non-nullable unless ``nullable=True``; dtypes are explicit (Python ``str``/``int``/
``float``/``bool``/``dt.date`` or Polars dtypes such as ``pl.Int64``; a list column is
``Annotated[pl.List, pl.String]``, which mypy accepts where ``pl.List(pl.String)`` is not a type).
Keys include the partition column, since a check of a partition range validates the range.
"""

from contracts.checks import (
    PartitionAuditor,
    audit_resource_keys,
    conclude,
    contract_check,
    failure_summary,
    refuse_on_failure,
    refuse_partitions,
    severity_of,
    tier_of,
    validate_frame,
)
from contracts.schema import (
    ContractColumn,
    column_schema,
    contract_columns,
    frame_rules,
    key_columns,
    mask_columns,
    pii_columns,
    polars_schema,
)

__all__ = [
    "ContractColumn",
    "PartitionAuditor",
    "audit_resource_keys",
    "column_schema",
    "conclude",
    "contract_check",
    "contract_columns",
    "failure_summary",
    "frame_rules",
    "key_columns",
    "mask_columns",
    "pii_columns",
    "polars_schema",
    "refuse_on_failure",
    "refuse_partitions",
    "severity_of",
    "tier_of",
    "validate_frame",
]
