"""CD serving tables: how each Gold table is shaped and loaded, and its read-back contract check.

A serving table is what the stock apps query (PostgreSQL and Turso hold the same tables). This
module holds the target-neutral parts used by `dag.cd_serving_loads`: the table specs (name, load
mode, partition columns), the frames built from the lake (security and company joined with their
metrics; display and search names split from `cd_search_names`), and the contract check that
reads a load's table back from its target and validates it against the serving contract.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import contract_check, key_columns, polars_schema
from dag_io.loaders import quote

TARGET_RESOURCES = {"postgres": "cd_postgres", "turso": "turso"}


@dataclass(frozen=True)
class ServingTable:
    """One serving table: its name and how a load replaces its rows."""

    name: str
    mode: Literal["replace", "replace_partitions", "upsert"]
    partition_columns: tuple[str, ...] = ()

    def conform(self, frame: pl.LazyFrame, contract: type[pa.DataFrameModel]) -> pl.LazyFrame:
        """The frame's contract columns, in contract order (extra lake columns dropped)."""
        return frame.select(list(polars_schema(contract)))

    def keys(self, contract: type[pa.DataFrameModel]) -> tuple[str, ...]:
        """Primary key (and upsert key) = the contract's `Config.unique`."""
        return key_columns(contract)


DAILY = ("date", "exchange")
SERVING: dict[str, ServingTable] = {
    "security": ServingTable("security", "replace"),
    "company": ServingTable("company", "replace"),
    "price": ServingTable("price", "replace_partitions", DAILY),
    "marketcap": ServingTable("marketcap", "replace_partitions", DAILY),
    "bppedd": ServingTable("bppedd", "replace_partitions", DAILY),
    "security_rank": ServingTable("security_rank", "upsert"),
    "display_name": ServingTable("display_name", "replace"),
    "search_name": ServingTable("search_name", "replace"),
}


def security_table(security: pl.LazyFrame, metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Every security (listed or not) with its latest metrics; null metrics once delisted."""
    return security.join(
        metrics.drop("ticker", "exchange", "company_id"), on="security_id", how="left"
    )


def company_table(company: pl.LazyFrame, metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Every company with market cap, its date, rank and prior rank (null when not listed)."""
    return company.join(
        metrics.select("company_id", "market_cap", "market_cap_date", "rank", "prior_rank"),
        on="company_id",
        how="left",
    )


def display_name_table(search_names: pl.LazyFrame) -> pl.LazyFrame:
    """One display name per company."""
    return search_names.filter(pl.col("order") == 1).select(
        "company_id", value=pl.col("display_name")
    )


def search_name_table(search_names: pl.LazyFrame) -> pl.LazyFrame:
    """Search strings per company with their order."""
    return search_names.select("company_id", "value", "order")


# --- read-back contract check --------------------------------------------------------------------


def _typed(frame: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """Database values as the contract's Polars types (SQLite keeps dates as ISO text)."""
    exprs = []
    for name, dtype in polars_schema(model).items():
        if name not in frame.columns:
            continue
        column = pl.col(name)
        if frame.schema[name] == pl.String and dtype == pl.Date:
            exprs.append(column.str.to_date("%Y-%m-%d"))
        elif frame.schema[name] != dtype:
            exprs.append(column.cast(dtype))
        else:
            exprs.append(column)
    return frame.select(exprs)


def _where(partitions: list[dg.MultiPartitionKey]) -> tuple[str, pl.DataFrame | None]:
    """A date-range WHERE clause (literal ISO dates, validated) and the exact keys to keep."""
    if not partitions:
        return "", None
    keys = pl.DataFrame(
        {
            "date": [dt.date.fromisoformat(k.keys_by_dimension["date"]) for k in partitions],
            "exchange": [k.keys_by_dimension["exchange"] for k in partitions],
        }
    )
    low, high = keys["date"].min(), keys["date"].max()
    return f" WHERE {quote('date')} BETWEEN '{low}' AND '{high}'", keys


def read_serving(connection: object, table: str, where: str = "") -> pl.DataFrame:
    """`SELECT *` of a serving table as a Polars frame (ADBC, Arrow all the way)."""
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"SELECT * FROM {quote(table)}{where}")
        return pl.from_arrow(cursor.fetch_arrow_table())  # type: ignore[return-value]


def serving_contract_check(
    asset: dg.AssetsDefinition, model: type[pa.DataFrameModel]
) -> dg.AssetChecksDefinition:
    """A blocking `<asset>_contract` check (`contracts.contract_check`): the target's table for
    the run's partitions, read back and validated with the serving contract (ERROR: gold)."""
    target = asset.tags_by_key[asset.key]["target"]
    resource_key = TARGET_RESOURCES[target]
    table = asset.key.path[-1].removeprefix("cd_").removesuffix(f"_{target}")
    partitions_def = asset.partitions_def

    def read(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
        partitions: list[dg.MultiPartitionKey] = []
        if partitions_def is not None:
            keys = partitions_def.get_partition_keys_in_range(context.partition_key_range)
            partitions = [partitions_def.get_partition_key_from_str(k) for k in keys]
        where, exact = _where(partitions)
        connection = getattr(context.resources, resource_key).get_connection()
        with connection:
            data = _typed(read_serving(connection, table, where), model)
        if exact is not None:
            data = data.join(exact, on=["date", "exchange"], how="semi")
        return data

    return contract_check(asset, model, read=read, required_resource_keys={resource_key})
