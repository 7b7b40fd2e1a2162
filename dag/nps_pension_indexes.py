"""NPS serving indexes on `public.pension`: btree on the registration number and on
(sigungu, industry), BRIN on the month, and a trigram GIN index on `name_norm` only when
`pg_trgm` is installed or can be created by this login; the metadata says which.

The SQL lives in the PostgreSQL resource (`PostgresResource.ensure_indexes`, `indexes`); this
module declares the indexes and the asset.
"""

import time
from dataclasses import dataclass, replace

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, validate_frame
from contracts.nps import NpsPensionIndexes
from dag.common import NPS_GOLD_POOL, NPS_TAGS, elapsed, tags
from dag.nps_serving_loads import PENSION_TABLE
from dag_io import ExtensionStatus, IndexSpec, PostgresResource

POSTGRES_TAGS = tags("gold", NPS_TAGS, target="postgres")
TRGM_INDEX = "pension_name_norm_trgm"


# --- serving indexes ----------------------------------------------------------------------------
SERVING_INDEXES = (
    IndexSpec("pension_business_reg_num_idx", ("business_reg_num",)),
    IndexSpec("pension_sigungu_industry_idx", ("addr_sigungu_code", "industry_code")),
    IndexSpec("pension_ym_brin", ("ym",), method="brin"),
)
TRGM_SPEC = IndexSpec(
    TRGM_INDEX, ("name_norm",), method="gin", opclass="gin_trgm_ops", extension="pg_trgm"
)
INDEXES = {spec.name: spec.using for spec in SERVING_INDEXES}
"""The always-built indexes: name -> `USING method (columns)` clause."""


@dataclass(frozen=True)
class TrigramSupport:
    """What the server says about a trigram extension (pg_trgm)."""

    installed: bool
    available: bool
    creatable: bool

    @classmethod
    def of(cls, status: ExtensionStatus) -> "TrigramSupport":
        return cls(status.installed, status.available, status.creatable)

    @property
    def decision(self) -> str:
        if self.installed:
            return "created (pg_trgm installed)"
        if self.available and self.creatable:
            return "created (pg_trgm created by this run)"
        if self.available:
            return "skipped: pg_trgm available but this login may not create it"
        return "skipped: pg_trgm not available on this server"

    @property
    def use(self) -> bool:
        return self.installed or (self.available and self.creatable)


def trigram_support(postgres: PostgresResource, extension: str = "pg_trgm") -> TrigramSupport:
    """Whether `extension` is installed, available, and creatable by the current login."""
    return TrigramSupport.of(postgres.extension_status(extension))


def index_manifest(postgres: PostgresResource, table: str = PENSION_TABLE) -> pl.DataFrame:
    """The table's indexes but the primary key: name, access method and definition."""
    return postgres.indexes(table)


def ensure_indexes(
    postgres: PostgresResource, table: str = PENSION_TABLE, extension: str = "pg_trgm"
) -> tuple[TrigramSupport, list[str]]:
    """Create the serving indexes that are missing (idempotent); list the statements run.

    The trigram index needs `extension`: it is created only when the extension is installed or
    creatable by this login (the returned support says which).
    """
    specs = [*SERVING_INDEXES, replace(TRGM_SPEC, extension=extension)]
    report = postgres.ensure_indexes(table, specs)
    return TrigramSupport.of(report.extensions[extension]), list(report.statements)


@dg.asset(
    pool=NPS_GOLD_POOL,
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["nps_his_postgres_append"],
    kinds={"postgres", "python"},
    tags=POSTGRES_TAGS,
    metadata={
        "target_table": PENSION_TABLE,
        "dagster/column_schema": column_schema(NpsPensionIndexes),
    },
)
def nps_pension_indexes(
    context: dg.AssetExecutionContext, nps_postgres: PostgresResource
) -> dg.MaterializeResult:
    """Serving indexes of `public.pension` (registration number, sigungu+industry, month, name).

    The trigram index on `name_norm` (fuzzy company search) is built only when pg_trgm is
    installed or creatable here; `trigram_index` in the metadata says which branch ran.
    """
    started = time.perf_counter()
    support, statements = ensure_indexes(nps_postgres)
    manifest = index_manifest(nps_postgres)
    passed, checked = validate_frame(manifest, NpsPensionIndexes)
    if not passed:
        raise dg.Failure(
            description=f"asset nps_pension_indexes: {PENSION_TABLE} indexes break "
            f"NpsPensionIndexes: {checked['rules_failed'].data}",
            metadata=checked,
        )
    return dg.MaterializeResult(
        metadata={
            "target_table": PENSION_TABLE,
            "trigram_index": support.decision,
            "pg_trgm_available": support.available,
            "indexes": dg.MetadataValue.json(manifest["index_name"].to_list()),
            "statements": dg.MetadataValue.md(
                "\n".join(f"- `{s}`" for s in statements) or "- none: no index was missing"
            ),
            "execution_time_sec": elapsed(started),
        }
    )


def _read_index_manifest(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    """The index manifest of `public.pension`, read back from PostgreSQL."""
    return index_manifest(context.resources.nps_postgres)


nps_pension_indexes_contract = contract_check(
    nps_pension_indexes,
    NpsPensionIndexes,
    read=_read_index_manifest,
    required_resource_keys={"nps_postgres"},
)


