"""Contracts as Dagster asset checks: one blocking ``<asset>_contract`` check per asset.

The check reads what the asset's own IO manager persisted for exactly the partition(s) of the
run, validates it against the asset's pandera contract with every failure collected, and reports
failing rows per rule and masked example rows. Bronze failures warn (raw data is kept as
delivered); silver and gold failures are errors that stop downstream assets in the same run.

Write, audit, publish: an ERROR failure of any blocking check (or a check that crashes) also
asks the asset's IO manager to *refuse* the partitions the run wrote (`refuse_on_failure`): they
go back to their previous contents, so no later run or load reads them either. The IO manager
only has to offer a ``refuse`` method (`PartitionAuditor`); this package imports no IO code.
"""

import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import dagster as dg
import pandera.polars as pa
import polars as pl

# Dagster 1.13 exports AssetCheckEvaluation but not its target-materialization pointer, which a
# per-partition evaluation needs to attach to the partition's materialization (see `conclude`).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from pandera.config import ValidationDepth, config_context

from contracts.schema import key_columns, mask_columns

TIERS = ("bronze", "silver", "gold")
MAX_EXAMPLES = 20
# Rows a per-partition check validates at once: whole partitions, grouped up to about this many
# (one pandera call per chunk; a call costs ~0.1 s whatever its size). pandera's checks hold a
# few copies of a chunk: 250,000-row chunks added ~180 MiB to a 240-month CD run's peak.
CHUNK_ROWS = 100_000
MASK = "***"
_ROW = "__contract_row__"


def tier_of(asset: dg.AssetsDefinition) -> str:
    """The asset's ``tags["data_tier"]`` (bronze, silver or gold); anything else is an error."""
    tier = asset.tags_by_key.get(asset.key, {}).get("data_tier")
    if tier not in TIERS:
        raise ValueError(
            f"asset {asset.key.to_user_string()}: tags['data_tier'] is {tier!r}, "
            f"expected one of {TIERS}"
        )
    return tier


def severity_of(asset: dg.AssetsDefinition) -> dg.AssetCheckSeverity:
    """WARN for bronze (raw data is kept as delivered), ERROR for silver and gold."""
    if tier_of(asset) == "bronze":
        return dg.AssetCheckSeverity.WARN
    return dg.AssetCheckSeverity.ERROR


def _rule_names(failures: pl.DataFrame) -> pl.Expr:
    """One readable rule name per failure case: ``column: check``, ``column_in_dataframe: name``
    for a missing column, or the frame-level check's name."""
    column_presence = pl.col("check").is_in(["column_in_dataframe", "column_in_schema"])
    return (
        pl.when(pl.col("schema_context") == "Column")
        .then(pl.col("column") + pl.lit(": ") + pl.col("check"))
        .when(column_presence)  # a missing or undeclared column: name it
        .then(pl.col("check") + pl.lit(": ") + pl.col("failure_case"))
        .otherwise(pl.col("check"))
        .alias("rule")
    )


def failure_summary(failures: pl.DataFrame, mask: Sequence[str] = ()) -> pl.DataFrame:
    """Failing rows per rule, with up to 3 failing values (none from PII columns or whole rows).

    Schema-level failures (missing column, wrong dtype) have no row; they count their cases.
    """
    shown = (pl.col("schema_context") == "Column") & ~pl.col("column").is_in(list(mask))
    return (
        failures.with_columns(_rule_names(failures))
        .group_by("rule", maintain_order=True)
        .agg(
            pl.when(pl.col("index").is_not_null().any())
            .then(pl.col("index").drop_nulls().n_unique())
            .otherwise(pl.len())
            .cast(pl.Int64)
            .alias("failing_rows"),
            pl.col("failure_case")
            .filter(shown | pl.col("index").is_null())
            .drop_nulls()
            .str.slice(0, 60)
            .unique(maintain_order=True)
            .head(3)
            .str.join(", ")
            .alias("example values"),
        )
        .sort("failing_rows", "rule", descending=[True, False])
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(_cell(name) for name in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body])


def failing_examples(
    data: pl.DataFrame, failures: pl.DataFrame, mask: Sequence[str], n: int = MAX_EXAMPLES
) -> pl.DataFrame:
    """Up to ``n`` failing rows joined back to their data, with the rules each broke, PII masked."""
    by_row = (
        failures.filter(pl.col("index").is_not_null())
        .with_columns(_rule_names(failures))
        .group_by("index")
        .agg(pl.col("rule").unique(maintain_order=True).str.join("; ").alias("rules_failed"))
        .sort("index")
        .head(n)
        .select(pl.col("index").cast(pl.UInt32).alias(_ROW), "rules_failed")
    )
    rows = data.with_row_index(_ROW).join(by_row, on=_ROW, how="inner").sort(_ROW)
    masked = [
        pl.when(pl.col(name).is_null()).then(None).otherwise(pl.lit(MASK)).alias(name)
        for name in mask
        if name in data.columns
    ]
    return rows.with_columns(masked).select(
        pl.col(_ROW).alias("row"), "rules_failed", *data.columns
    )


def _named_key_rule(failures: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Name the composite-key rule after its columns: ``unique (date, exchange, ticker)``."""
    key_rule = f"unique ({', '.join(keys)})"
    return failures.with_columns(
        pl.when(pl.col("check") == "multiple_fields_uniqueness")
        .then(pl.lit(key_rule))
        .otherwise(pl.col("check"))
        .alias("check")
    )


def _failure_cases(data: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.DataFrame | None:
    """Every failure of ``data`` against ``model`` (pandera's failure cases), None when valid."""
    try:
        # Full depth always: the check exists to run the data rules, whatever PANDERA_* says.
        with config_context(
            validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA
        ):
            model.validate(data, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _named_key_rule(errors.failure_cases, key_columns(model))
    return None


def _report(
    rows: int,
    failures: pl.DataFrame | None,
    examples: pl.DataFrame | None,
    mask: Sequence[str],
    started: float,
) -> tuple[bool, dict[str, Any]]:
    """(passed, metadata) of a validation: rows checked, failing rows per rule, examples."""
    metadata: dict[str, Any] = {"rows_checked": rows}
    if failures is None:
        metadata["failing_rows"] = 0
        metadata["validation_sec"] = round(time.perf_counter() - started, 3)
        return True, metadata
    summary = failure_summary(failures, mask)
    metadata["failing_rows"] = failures.get_column("index").drop_nulls().n_unique()
    metadata["rules_failed"] = dg.MetadataValue.json(summary.get_column("rule").to_list())
    metadata["failing_rows_by_rule"] = dg.MetadataValue.json(
        dict(zip(summary.get_column("rule"), summary.get_column("failing_rows"), strict=True))
    )
    metadata["failures"] = dg.MetadataValue.md(_markdown(summary))
    if examples is not None and examples.height:
        metadata["failing_examples"] = dg.MetadataValue.md(_markdown(examples))
    metadata["validation_sec"] = round(time.perf_counter() - started, 3)
    return False, metadata


def validate_frame(
    data: pl.DataFrame, model: type[pa.DataFrameModel], mask: Sequence[str] = ()
) -> tuple[bool, dict[str, Any]]:
    """Validate ``data`` with ``model``, all failures collected; return (passed, metadata)."""
    started = time.perf_counter()
    failures = _failure_cases(data, model)
    examples = None if failures is None else failing_examples(data, failures, mask)
    return _report(data.height, failures, examples, mask, started)


def _chunks(frame: pl.LazyFrame, column: str, max_rows: int) -> list[pl.Series]:
    """The values of ``column``, sorted, in consecutive groups of about ``max_rows`` rows: a
    group closes with the value whose rows pass the next multiple of ``max_rows``, so it holds
    fewer than ``max_rows`` plus its largest value's rows."""
    counts = frame.group_by(column).agg(pl.len().alias("rows")).sort(column).collect()
    groups = counts.with_columns(
        # a new group where the running total passes a multiple of max_rows
        (pl.col("rows").cum_sum() - pl.col("rows")).floordiv(max_rows).alias("group")
    ).with_columns(pl.col("group").rle_id())
    return [part.get_column(column) for part in groups.partition_by("group", maintain_order=True)]


def validate_partitions(
    frame: pl.LazyFrame,
    column: str,
    model: type[pa.DataFrameModel],
    mask: Sequence[str] = (),
    max_rows: int = CHUNK_ROWS,
) -> tuple[bool, dict[str, Any]]:
    """`validate_frame` of ``frame``, collected a few values of ``column`` (partitions) at a
    time, about ``max_rows`` rows, so memory holds a bounded chunk of the range, not all of it.

    The same verdict and counts as one validation of the whole frame when every rule of the
    model is row-wise or keyed on ``column`` (`contract_check(per_partition=True)` checks the
    key). Example rows are numbered in chunk order; a schema-level failure (no row) found in
    every chunk is reported once."""
    started = time.perf_counter()
    chunks = _chunks(frame, column, max_rows)
    if len(chunks) <= 1:
        return validate_frame(frame.collect(), model, mask)
    rows = 0
    found: list[pl.DataFrame] = []
    examples: list[pl.DataFrame] = []
    shown = 0
    for values in chunks:
        data = frame.filter(pl.col(column).is_in(values.implode(), nulls_equal=True)).collect()
        failures = _failure_cases(data, model)
        if failures is not None:
            if shown < MAX_EXAMPLES:
                part = failing_examples(data, failures, mask, MAX_EXAMPLES - shown)
                examples.append(part.with_columns(pl.col("row") + rows))
                shown += part.height
            found.append(failures.with_columns(pl.col("index") + rows))
        rows += data.height
        del data  # before the next chunk is read
    if not found:
        return _report(rows, None, None, mask, started)
    failures = pl.concat(found, how="vertical_relaxed")
    per_row = pl.col("index").is_not_null()
    failures = pl.concat(
        [failures.filter(per_row), failures.filter(~per_row).unique(maintain_order=True)]
    )
    example_rows = pl.concat(examples, how="vertical_relaxed") if examples else None
    return _report(rows, failures, example_rows, mask, started)


def partition_column(
    asset: dg.AssetsDefinition, model: type[pa.DataFrameModel], partition_from: str | None = None
) -> str:
    """The column a per-partition contract check splits the range on (asset metadata
    ``partition_by``); refused unless splitting cannot hide a duplicate: one partition column,
    held by the model's key (or no key), or derived from the key column ``partition_from`` (a
    value of it lies in one partition), and no column unique on its own."""
    name = asset.key.to_user_string()
    column = asset.metadata_by_key.get(asset.key, {}).get("partition_by")
    if asset.partitions_def is None or not isinstance(column, str):
        raise ValueError(
            f"contract_check({name}, per_partition=True): the asset needs one partition column "
            f"(metadata partition_by as a string), got {column!r}"
        )
    keys = key_columns(model)
    keyed_by = column if partition_from is None else partition_from
    unique = [c for c, spec in model.to_schema().columns.items() if spec.unique]
    if (keys and keyed_by not in keys) or unique:
        raise ValueError(
            f"contract_check({name}, per_partition=True): {model.__name__}'s key {keys} must "
            f"hold {keyed_by!r} and no column may be unique on its own (got {unique}), or a "
            "duplicate across partitions would go unseen"
        )
    return column


@runtime_checkable
class PartitionAuditor(Protocol):
    """An IO manager that can refuse what a run wrote to an asset's partitions."""

    def refuse(
        self,
        asset_key: dg.AssetKey,
        partitions_def: dg.PartitionsDefinition | None,
        definition_metadata: Mapping[str, Any],
        partition_keys: list[str],
        *,
        run_id: str,
        check: str,
        reason: str,
    ) -> Mapping[str, Any]: ...


def audit_resource_keys(asset: dg.AssetsDefinition) -> set[str]:
    """What a blocking check of ``asset`` needs to refuse its partitions: the IO manager."""
    return {asset.get_io_manager_key_for_asset_key(asset.key)}


def refuse_partitions(
    context: dg.AssetCheckExecutionContext, asset: dg.AssetsDefinition, check: str, reason: str
) -> Mapping[str, Any]:
    """Refuse the run's writes of ``asset`` through its IO manager; the refusal's metadata.

    An IO manager that cannot refuse (not a `PartitionAuditor`) is reported, not ignored."""
    key = asset.get_io_manager_key_for_asset_key(asset.key)
    auditor = getattr(context.resources, key, None)
    if not isinstance(auditor, PartitionAuditor):
        return {"refused": False, "refusal": f"IO manager {key!r} cannot refuse partitions"}
    partition_keys = list(context.partition_keys) if asset.partitions_def is not None else []
    return auditor.refuse(
        asset.key,
        asset.partitions_def,
        asset.metadata_by_key.get(asset.key, {}),
        partition_keys,
        run_id=context.run.run_id,
        check=check,
        reason=reason,
    )


def refuse_on_failure(
    context: dg.AssetCheckExecutionContext,
    asset: dg.AssetsDefinition,
    result: dg.AssetCheckResult,
    check: str,
) -> dg.AssetCheckResult:
    """``result``, after refusing the run's partitions when it failed with ERROR severity.

    Blocking checks of IO-managed assets route their result through this (and declare
    `audit_resource_keys`), so a partition that failed one is never read afterwards."""
    if result.passed or result.severity != dg.AssetCheckSeverity.ERROR:
        return result
    reason = result.description or _reason(result.metadata or {})
    refusal = refuse_partitions(context, asset, check, reason)
    context.log.error(f"{check}: refused {asset.key.to_user_string()} ({reason}); {refusal}")
    return dg.AssetCheckResult(
        passed=False,
        severity=result.severity,
        metadata={**(result.metadata or {}), **refusal},
        description=result.description,
    )


def conclude(
    context: dg.AssetCheckExecutionContext,
    asset: dg.AssetsDefinition,
    result: dg.AssetCheckResult,
    check: str,
    *,
    refuse: bool = True,
) -> dg.AssetCheckResult | None:
    """The last step of every check: refuse on an ERROR failure (`refuse_on_failure`, for
    checks of lake assets; `refuse=False` for read-back checks of loads), then record the
    outcome per partition.

    A check of a single-run range records one evaluation *per partition key* (Dagster records a
    range run's result once, without a partition, and the UI then shows every partition's check
    as skipped). The range result itself is returned only when it failed with ERROR severity,
    since that returned result is what makes Dagster block downstream assets in the run.
    """
    if refuse:
        result = refuse_on_failure(context, asset, result, check)
    if asset.partitions_def is None or context.has_partition_key:
        return result
    keys = list(context.partition_keys)
    targets = _latest_materializations(context, asset.key, keys)
    for key in keys:
        # log_event handles an AssetCheckEvaluation; its annotation (UserEvent) omits it.
        context.op_execution_context.log_event(
            dg.AssetCheckEvaluation(  # type: ignore[arg-type]
                asset_key=asset.key,
                check_name=check,
                passed=result.passed,
                metadata={"partitions": f"{keys[0]}...{keys[-1]}", **(result.metadata or {})},
                target_materialization_data=targets.get(key),
                severity=result.severity,
                description=result.description,
                blocking=True,
                partition=key,
            )
        )
    blocks = not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    return result if blocks else None


def _latest_materializations(
    context: dg.AssetCheckExecutionContext, key: dg.AssetKey, partitions: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each partition (one event-log query)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=len(partitions)
    ).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        if record.partition_key is not None and record.partition_key not in latest:
            latest[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return latest


def _reason(metadata: Mapping[str, Any]) -> str:
    def plain(key: str) -> Any:
        value = metadata.get(key)
        return getattr(value, "value", value)

    if plain("rules_failed") is not None:
        return f"{plain('failing_rows')} failing rows; rules {plain('rules_failed')}"
    return "the check failed"


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _partitions_label(context: dg.AssetCheckExecutionContext) -> str:
    """The partition key, or ``start...end`` for a single-run range backfill."""
    if context.has_partition_key:
        key: str = context.partition_key  # a decorated property dagster leaves untyped
        return key
    key_range = context.partition_key_range
    return f"{key_range.start}...{key_range.end}"


def contract_check(
    asset: dg.AssetsDefinition,
    model: type[pa.DataFrameModel],
    *,
    pii_columns: Sequence[str] = (),
    read: Callable[[dg.AssetCheckExecutionContext], pl.LazyFrame | pl.DataFrame] | None = None,
    required_resource_keys: Iterable[str] = (),
    per_partition: bool = False,
    partition_from: str | None = None,
) -> dg.AssetChecksDefinition:
    """A blocking ``<asset>_contract`` check validating the persisted partition(s) with ``model``.

    The check is partitioned like the asset and loads the data through the asset's own IO manager
    (as a ``pl.LazyFrame`` restricted to the run's partition or partition range), validates it
    with ``lazy=True`` and reports ``rows_checked``, ``failing_rows``, ``rules_failed``,
    ``failing_rows_by_rule``, a ``failures`` table and up to 20 ``failing_examples`` (columns
    marked ``pii`` in the model, plus ``pii_columns``, masked). Severity is WARN for bronze and
    ERROR for silver/gold, so a failing silver/gold check stops downstream assets in the run.

    For assets whose data is not kept by an IO manager (database loads returning
    ``MaterializeResult``), pass ``read``: a function of the check context returning the persisted
    rows for the run's partition(s) (e.g. read back from the table), plus the resource keys it
    uses in ``required_resource_keys``.

    ``per_partition=True`` validates a range run one partition at a time (`validate_partitions`),
    so the check's memory does not grow with the range; the asset's key must hold its partition
    column, or ``partition_from``, the key column it derives from (`partition_column`).
    Opt-in: a rule comparing rows of different partitions would pass unseen, so only assets
    whose rules are row-wise or keyed by partition ask for it.
    """
    if not isinstance(asset, dg.AssetsDefinition) or len(asset.keys) != 1:
        raise TypeError(f"contract_check needs a single-asset AssetsDefinition, got {asset!r}")
    asset_name = asset.key.path[-1]
    check_name = f"{asset_name}_contract"
    severity = severity_of(asset)
    mask = mask_columns(model, pii_columns)
    partitioned = asset.partitions_def is not None
    audited = read is None and severity == dg.AssetCheckSeverity.ERROR
    split_on = partition_column(asset, model, partition_from) if per_partition else None

    def _result(
        context: dg.AssetCheckExecutionContext, validated: tuple[bool, dict[str, Any]]
    ) -> dg.AssetCheckResult | None:
        passed, metadata = validated
        if partitioned:
            metadata["partitions"] = _partitions_label(context)
        result = dg.AssetCheckResult(passed=passed, severity=severity, metadata=metadata)
        return conclude(context, asset, result, check_name, refuse=audited)

    contract: Callable[..., dg.AssetCheckResult | None]
    if read is not None:

        def _contract_read_back(
            context: dg.AssetCheckExecutionContext,
        ) -> dg.AssetCheckResult | None:
            data = read(context)
            if isinstance(data, pl.LazyFrame):
                data = data.collect()
            if not isinstance(data, pl.DataFrame):
                raise TypeError(
                    f"{asset_name}_contract: read() returned {type(data).__name__}, "
                    "expected a Polars LazyFrame or DataFrame"
                )
            return _result(context, validate_frame(data, model, mask))

        contract = _contract_read_back
    else:

        def _contract(
            context: dg.AssetCheckExecutionContext, **persisted: pl.LazyFrame
        ) -> dg.AssetCheckResult | None:
            frame = persisted[asset_name]
            split = split_on if split_on and len(context.partition_keys) > 1 else None
            try:
                # split by partition, reads interleave with validation: either failing is
                # "could not be checked"
                split_result = validate_partitions(frame, split, model, mask) if split else None
                data = None if split else frame.collect()
            except Exception as error:  # fail closed: data that cannot be checked is refused
                if audited and not isinstance(error, FileNotFoundError):  # else nothing to refuse
                    refuse_partitions(context, asset, check_name, f"could not be read: {error}")
                raise
            if split_result is not None:
                return _result(context, split_result)
            assert data is not None
            return _result(context, validate_frame(data, model, mask))

        # The input is named after the asset (logs read "Loaded input 'nps_his_digest'"), typed
        # pl.LazyFrame so the asset's IO manager hands over a lazy scan of the run's partition(s).
        _contract.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    "context",
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    annotation=dg.AssetCheckExecutionContext,
                ),
                inspect.Parameter(
                    asset_name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=pl.LazyFrame
                ),
            ],
            return_annotation=dg.AssetCheckResult,
        )
        _contract.__annotations__ = {
            "context": dg.AssetCheckExecutionContext,
            asset_name: pl.LazyFrame,
            "return": dg.AssetCheckResult,
        }
        contract = _contract
    resource_keys = set(required_resource_keys) | (audit_resource_keys(asset) if audited else set())
    decorate = dg.asset_check(
        asset=asset,
        name=check_name,
        description=(
            f"{model.__name__} contract on {asset_name} ({tier_of(asset)}, "
            f"{severity.value} on failure). {_first_line(model.__doc__)}"
        ).strip(),
        blocking=True,
        required_resource_keys=resource_keys or None,
        metadata={"contract": model.__name__, "severity": severity.value},
        partitions_def=asset.partitions_def,
    )
    # Dagster types a check's return as AssetCheckResult; it also takes None, which `conclude`
    # returns for a range run once it has logged the evaluation of every partition.
    return decorate(contract)  # type: ignore[arg-type]
