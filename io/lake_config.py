"""Typed lake configuration: how the IO managers persist one asset.

Assets declare it with `lake(...)`, which checks the combination when the module is imported and
returns the asset metadata the IO managers read (`partition_by`, `write_mode`, `merge_keys`,
`schema_mode`, `mask_columns`). `LakeConfig.from_metadata` parses metadata back into the typed
form (the IO managers at write time) and `lake_violations` checks assets against the rest of
their definition (partitions, IO manager, column schema) when the definitions load, so a
misspelt key or an impossible combination fails `dagster definitions validate`, not a run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

import dagster as dg

WriteMode = Literal["overwrite", "merge"]
SchemaMode = Literal["merge", "overwrite"]
PartitionBy = str | Mapping[str, str] | None


@dataclass(frozen=True)
class LakeConfig:
    """How one asset's table is written.

    - `partition_by`: the column of each partition dimension (a string, or a mapping
      dimension -> column for multi-partitions); required for partitioned assets.
    - `write_mode`: `overwrite` replaces exactly the run's partitions; `merge` upserts on
      `merge_keys` (Delta only).
    - `schema_mode`: `merge` adds new nullable columns and refuses changed types; `overwrite`
      replaces the table's schema.
    - `mask_columns`: columns shown as `***` in previews (PII).
    - `merge_delete_flag`: with `merge`, a Boolean output column (not stored) marking rows whose
      key is to be deleted from the table (e.g. an image that vanished from its post).

    A partitioned asset with `write_mode='merge'` and no `partition_by` keeps one keyed table:
    each partition's run upserts its rows into it (e.g. one run per crawl file).
    """

    partition_by: PartitionBy = None
    write_mode: WriteMode = "overwrite"
    merge_keys: tuple[str, ...] = ()
    schema_mode: SchemaMode = "merge"
    mask_columns: tuple[str, ...] = ()
    merge_delete_flag: str | None = None

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError("lake configuration: " + "; ".join(problems))

    def _problems(self) -> Iterable[str]:
        if self.write_mode not in get_args(WriteMode):
            yield f"write_mode must be one of {get_args(WriteMode)}, got {self.write_mode!r}"
        if self.schema_mode not in get_args(SchemaMode):
            yield f"schema_mode must be one of {get_args(SchemaMode)}, got {self.schema_mode!r}"
        if self.write_mode == "merge" and not self.merge_keys:
            yield "write_mode='merge' needs merge_keys"
        if self.merge_keys and self.write_mode != "merge":
            yield "merge_keys are only used with write_mode='merge'"
        if not all(isinstance(k, str) and k for k in self.merge_keys):
            yield f"merge_keys must be column names, got {self.merge_keys!r}"
        if self.merge_delete_flag is not None and (
            self.write_mode != "merge" or not self.merge_delete_flag
        ):
            yield "merge_delete_flag names a Boolean column and needs write_mode='merge'"
        by = self.partition_by
        if by is not None and not (
            (isinstance(by, str) and by)
            or (isinstance(by, Mapping) and by and all(isinstance(v, str) for v in by.values()))
        ):
            yield f"partition_by must be a column name or a dimension->column map, got {by!r}"

    @property
    def columns(self) -> list[str]:
        """Every column the configuration names (must exist in the asset's table)."""
        by = self.partition_by
        parts = [by] if isinstance(by, str) else list(by.values()) if by else []
        return [*parts, *self.merge_keys, *self.mask_columns]

    def metadata(self) -> dict[str, Any]:
        """The asset metadata of this configuration (defaults left out)."""
        out: dict[str, Any] = {}
        if self.partition_by is not None:
            out["partition_by"] = (
                self.partition_by if isinstance(self.partition_by, str) else dict(self.partition_by)
            )
        if self.write_mode != "overwrite":
            out["write_mode"] = self.write_mode
            out["merge_keys"] = list(self.merge_keys)
        if self.schema_mode != "merge":
            out["schema_mode"] = self.schema_mode
        if self.mask_columns:
            out["mask_columns"] = list(self.mask_columns)
        if self.merge_delete_flag is not None:
            out["merge_delete_flag"] = self.merge_delete_flag
        return out

    @property
    def keyed_table(self) -> bool:
        """True when the table is one keyed table whatever the asset's partitions (merge mode
        without partition_by): runs of any partition upsert into all of it."""
        return self.write_mode == "merge" and self.partition_by is None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> LakeConfig:
        """The configuration in asset metadata (other metadata keys are ignored)."""
        values = {f.name: metadata[f.name] for f in fields(cls) if f.name in metadata}
        for name in ("merge_keys", "mask_columns"):
            if name in values:
                values[name] = tuple(_plain(values[name]))
        if "partition_by" in values:
            values["partition_by"] = _plain(values["partition_by"])
        return cls(**values)


def _plain(value: Any) -> Any:
    """A metadata value as plain Python (Dagster may wrap JSON values)."""
    return getattr(value, "data", getattr(value, "value", value))


def lake(
    *,
    partition_by: PartitionBy = None,
    write_mode: WriteMode = "overwrite",
    merge_keys: Iterable[str] = (),
    schema_mode: SchemaMode = "merge",
    mask_columns: Iterable[str] = (),
    merge_delete_flag: str | None = None,
) -> dict[str, Any]:
    """Asset metadata for the lake IO managers, checked now (see `LakeConfig`)."""
    return LakeConfig(
        partition_by=partition_by,
        write_mode=write_mode,
        merge_keys=tuple(merge_keys),
        schema_mode=schema_mode,
        mask_columns=tuple(mask_columns),
        merge_delete_flag=merge_delete_flag,
    ).metadata()


LAKE_KEYS = tuple(f.name for f in fields(LakeConfig))


def lake_violations(
    name: str,
    partitions_def: dg.PartitionsDefinition | None,
    metadata: Mapping[str, Any],
    io_manager: object | None,
) -> list[str]:
    """What is wrong with one asset's lake configuration, given its partitions and the IO
    manager it is bound to (None: not persisted by a lake IO manager). Lines name the asset."""
    out = []
    for key in metadata:
        close = difflib.get_close_matches(key, LAKE_KEYS, n=1, cutoff=0.8)
        if close and key not in LAKE_KEYS:
            out.append(f"asset {name}: metadata key {key!r} is not a lake setting; {close[0]!r}?")
    try:
        config = LakeConfig.from_metadata(metadata)
    except (TypeError, ValueError) as error:
        return [*out, f"asset {name}: {error}"]
    if io_manager is None:
        return out
    if partitions_def is not None and config.partition_by is None and not config.keyed_table:
        out.append(f"asset {name}: partitioned, but lake(partition_by=...) names no column")
    if config.write_mode == "merge" and "Parquet" in type(io_manager).__name__:
        out.append(f"asset {name}: write_mode='merge' needs the Delta IO manager")
    schema = metadata.get("dagster/column_schema")
    if isinstance(schema, dg.TableSchema):
        known = {c.name for c in schema.columns}
        missing = [c for c in config.columns if c not in known]
        if missing:
            out.append(f"asset {name}: lake columns {missing} are not in its column schema")
    return out


def is_lake_io_manager(resource: object) -> bool:
    """True for the Delta and Parquet IO managers (anything with `refuse` and `list_tables`)."""
    return callable(getattr(resource, "refuse", None)) and callable(
        getattr(resource, "list_tables", None)
    )


__all__ = ["LakeConfig", "is_lake_io_manager", "lake", "lake_violations"]
