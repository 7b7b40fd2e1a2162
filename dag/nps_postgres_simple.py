"""NPS gold loads: lake tables into PostgreSQL serving tables, idempotently, and their contracts.

`nps_his_postgres_append` puts the month(s) of the pension register (`nps_his_digest`) into
`public.pension`, replacing those months (**Fix**: the old load appended, so a rerun duplicated
the month). The helpers here are shared by every NPS load asset (`nps_kyc_etl`,
`nps_index_optimization`): the frame is validated against the table's contract *before* loading
(so nothing that breaks the contract is ever visible), loaded in one transaction, and the
`<asset>_contract` check validates what PostgreSQL actually holds for the run's months afterwards.
"""

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import column_schema, contract_check, key_columns, polars_schema, validate_frame
from contracts.nps import NpsHisPostgresAppend
from dag.nps_company_matching import row_key
from dag.partitions import nps_monthly_partition
from dag_io import PostgresResource, lake
from dag_io.loaders import TableName

PENSION_TABLE = "public.pension"
PARTITION_COLUMN = "ym"


def run_months(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[dt.date]:
    """First days of the months a partitioned run covers (a single month or a backfill range);
    empty for an unpartitioned run."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return []
    keys = context.partition_keys
    return [nps_monthly_partition.time_window_for_partition_key(k).start.date() for k in keys]


def months_label(months: Sequence[dt.date]) -> str:
    if not months:
        return "all months"
    if len(months) == 1:
        return months[0].strftime("%Y-%m")
    return f"{months[0]:%Y-%m}...{months[-1]:%Y-%m}"


def check_contract(
    frame: pl.DataFrame, model: type[pa.DataFrameModel], *, asset: str, table: str, label: str
) -> None:
    """Raise, naming asset, months, table and failing rules, when `frame` breaks `model`."""
    passed, metadata = validate_frame(frame, model)
    if not passed:
        raise dg.Failure(
            description=(
                f"asset {asset} ({label}): the frame for {table} breaks contract "
                f"{model.__name__}: {metadata['failing_rows']} failing row(s), rules "
                f"{metadata['failing_rows_by_rule'].data}; nothing was loaded"
            ),
            metadata=metadata,
        )


def load_to_postgres(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    frame: pl.LazyFrame,
    *,
    table: str,
    model: type[pa.DataFrameModel],
    extra_metadata: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    """Validate `frame` with `model`, then load it: replace the run's months, or the whole table.

    A partitioned asset replaces exactly its months (`replace_partitions` on `ym`), so a rerun
    never duplicates; an unpartitioned one replaces the table (DELETE + COPY, one transaction). The
    contract also gives the DDL (types, NOT NULL, primary key = `Config.unique`).
    """
    started = time.perf_counter()
    asset = context.asset_key.to_user_string()
    # An unpartitioned load inside a partitioned run (nps_history_job) still replaces the table.
    partitioned = context.assets_def.partitions_def is not None
    months = run_months(context) if partitioned else []
    label = months_label(months)
    if partitioned and not months:
        raise dg.Failure(f"asset {asset}: partitioned load of {table} ran without partition keys")
    data = frame.collect()
    check_contract(data, model, asset=asset, table=table, label=label)
    if months:
        outside = data.filter(~pl.col(PARTITION_COLUMN).is_in(months))
        if outside.height:
            raise dg.Failure(
                description=(
                    f"asset {asset} ({label}): {outside.height} row(s) for {table} lie outside the "
                    f"run's months, e.g. ym={outside.item(0, PARTITION_COLUMN)}; nothing was loaded"
                )
            )
        # Every month of the run is replaced, also one that now has no rows (e.g. an empty
        # review queue loses its old rows), in the load's one transaction.
        result = postgres.load(
            table,
            data,
            mode="replace_partitions",
            partition_columns=(PARTITION_COLUMN,),
            keys=key_columns(model),
            contract=model,
            partitions=pl.DataFrame({PARTITION_COLUMN: months}),
        )
    else:
        result = postgres.load(table, data, mode="replace", keys=key_columns(model), contract=model)
    seconds = round(result.seconds, 3)
    return dg.MaterializeResult(
        metadata={
            "target_table": result.table,
            "rows_loaded": result.rows,
            "load_seconds": seconds,
            "rows_per_sec": round(result.rows / result.seconds) if result.seconds else None,
            "months": label,
            "contract": model.__name__,
            **(extra_metadata or {}),
            "execution_time_sec": round(time.perf_counter() - started, 3),
        }
    )


def query(postgres: PostgresResource, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
    """Run one read-only statement and return its rows as a Polars frame (ADBC, Arrow)."""
    conn = postgres.get_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(sql, tuple(params) or None)
        arrow = cursor.fetch_arrow_table()
        cursor.close()
    finally:
        conn.close()
    return pl.from_arrow(arrow)


def read_table(
    postgres: PostgresResource, table: str, months: Sequence[dt.date] = ()
) -> pl.DataFrame:
    """The table's rows (only `months` when given) as a Polars frame."""
    target = TableName.parse(table).sql
    if not months:
        return query(postgres, f"SELECT * FROM {target}")
    return query(
        postgres,
        f"SELECT * FROM {target} WHERE {PARTITION_COLUMN} BETWEEN $1 AND $2",
        (months[0], months[-1]),
    )


def postgres_contract_check(
    asset: dg.AssetsDefinition,
    model: type[pa.DataFrameModel],
    table: str,
    *,
    resource_key: str = "nps_postgres",
    require_rows: bool = True,
) -> dg.AssetChecksDefinition:
    """The load asset's blocking `<asset>_contract` (`contracts.contract_check`): `model` over
    what PostgreSQL holds now.

    A load asset persists no lake frame, so its contract is checked on the loaded table itself:
    the run's months for a partitioned load, the whole table otherwise (ERROR severity: gold).
    With `require_rows`, a partitioned run whose months hold no rows fails the check with an
    error naming the asset, table and months.
    """
    partitioned = asset.partitions_def is not None
    name = asset.key.path[-1]

    def read(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
        months = run_months(context) if partitioned else []
        data = read_table(getattr(context.resources, resource_key), table, months)
        if require_rows and months and data.height == 0:
            raise dg.Failure(f"{name}_contract: {table} holds no rows for {months_label(months)}")
        return data

    return contract_check(asset, model, read=read, required_resource_keys={resource_key})


def postgres_frame(frame: pl.LazyFrame, model: type[pa.DataFrameModel]) -> pl.LazyFrame:
    """`frame` shaped as the table `model` describes: its columns, in order, with its dtypes.

    The loaders have no array columns, so list columns become comma-joined text ('' if empty).
    """
    schema = polars_schema(model)
    lists = [
        pl.col(name).list.join(",")
        for name, dtype in frame.collect_schema().items()
        if isinstance(dtype, pl.List) and schema.get(name) == pl.String
    ]
    return frame.with_columns(lists).select(
        [pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()]
    )


def pension_rows(digest: pl.LazyFrame) -> pl.LazyFrame:
    """The digest as `public.pension` holds it: every column plus `row_key` (the table's key)."""
    return postgres_frame(digest.with_columns(row_key=row_key()), NpsHisPostgresAppend)


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags={"data_tier": "gold", "domain": "pension", "source": "national_pension"},
    metadata={
        **lake(partition_by=PARTITION_COLUMN),
        "target_table": PENSION_TABLE,
        "dagster/column_schema": column_schema(NpsHisPostgresAppend),
    },
)
def nps_his_postgres_append(
    context: dg.AssetExecutionContext, nps_postgres: PostgresResource, nps_his_digest: pl.LazyFrame
) -> dg.MaterializeResult:
    """The pension register in PostgreSQL (`public.pension`): one row per digest row and month.

    Each run replaces exactly its months in one transaction, so reruns never duplicate.
    """
    return load_to_postgres(
        context,
        nps_postgres,
        pension_rows(nps_his_digest),
        table=PENSION_TABLE,
        model=NpsHisPostgresAppend,
    )


nps_his_postgres_append_contract = postgres_contract_check(
    nps_his_postgres_append, NpsHisPostgresAppend, PENSION_TABLE
)
