"""What a contract says about its columns: Dagster column schemas and loader-facing column facts.

A contract is a pandera (polars backend) ``DataFrameModel``. This module reads it once and
exposes what the UI (``dagster/column_schema``) and the loaders (DDL: types, NOT NULL, primary key)
need, so the model stays the single source of truth for an asset's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import pandera.polars as pa
import polars as pl

PII_KEY = "pii"


@dataclass(frozen=True)
class ContractColumn:
    """One column of a contract: name, Polars dtype and the constraints a table needs."""

    name: str
    dtype: pl.DataType
    nullable: bool
    unique: bool
    description: str
    pii: bool
    rules: tuple[str, ...]


def _schema(model: type[pa.DataFrameModel]) -> pa.DataFrameSchema:
    if not (isinstance(model, type) and issubclass(model, pa.DataFrameModel)):
        raise TypeError(f"contract must be a pandera.polars DataFrameModel class, got {model!r}")
    return model.to_schema()


def _polars_dtype(model: type[pa.DataFrameModel], name: str, dtype: object) -> pl.DataType:
    polars_type = getattr(dtype, "type", None)
    if polars_type is None:
        raise TypeError(
            f"contract {model.__name__}: column {name!r} has no explicit dtype; annotate it with a "
            "Polars dtype or a Python type pandera maps to one"
        )
    return polars_type if isinstance(polars_type, pl.DataType) else polars_type()


def key_columns(model: type[pa.DataFrameModel]) -> tuple[str, ...]:
    """The contract's key (``Config.unique``): unique together, the loaders' primary key."""
    unique = _schema(model).unique
    if unique is None:
        return ()
    return (unique,) if isinstance(unique, str) else tuple(unique)


def contract_columns(model: type[pa.DataFrameModel]) -> list[ContractColumn]:
    """Every column of the contract in declaration order, with dtype, nullability and rules."""
    schema = _schema(model)
    keys = key_columns(model)
    columns = []
    for name, column in schema.columns.items():
        metadata = column.metadata or {}
        columns.append(
            ContractColumn(
                name=name,
                dtype=_polars_dtype(model, name, column.dtype),
                nullable=bool(column.nullable),
                unique=bool(column.unique) or keys == (name,),
                description=column.description or "",
                pii=bool(metadata.get(PII_KEY, False)),
                rules=tuple(str(check) for check in column.checks),
            )
        )
    return columns


def polars_schema(model: type[pa.DataFrameModel]) -> pl.Schema:
    """The contract's columns as a Polars schema (names and explicit dtypes, in order)."""
    return pl.Schema({column.name: column.dtype for column in contract_columns(model)})


def pii_columns(model: type[pa.DataFrameModel]) -> tuple[str, ...]:
    """Columns marked personal data with ``pa.Field(metadata={"pii": True})``."""
    return tuple(column.name for column in contract_columns(model) if column.pii)


def _rule_text(rule: str) -> str:
    # pandera prints checks as "<Check greater_than_or_equal_to: greater_than_or_equal_to(0)>".
    if rule.startswith("<Check ") and ": " in rule:
        return rule.rstrip(">").split(": ", 1)[1]
    return rule


def column_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    """The contract as a Dagster ``TableSchema`` for asset metadata ``dagster/column_schema``.

    Names, Polars types, descriptions, nullability and uniqueness (``unique=True`` for a single-
    column key), plus the column's rules and its membership in a composite key as ``other``
    constraints; PII columns carry the tag ``pii: true``.
    """
    keys = key_columns(model)
    table_columns = []
    for column in contract_columns(model):
        other = [_rule_text(rule) for rule in column.rules]
        if len(keys) > 1 and column.name in keys:
            other.append(f"key ({', '.join(keys)})")
        table_columns.append(
            dg.TableColumn(
                name=column.name,
                type=str(column.dtype),
                description=column.description or None,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique, other=other or None
                ),
                tags={"pii": "true"} if column.pii else None,
            )
        )
    table_rules = [f"unique ({', '.join(keys)})"] if len(keys) > 1 else []
    table_rules.extend(frame_rules(model))
    table_constraints = dg.TableConstraints(other=table_rules) if table_rules else None
    return dg.TableSchema(columns=table_columns, constraints=table_constraints)


def frame_rules(model: type[pa.DataFrameModel]) -> list[str]:
    """The contract's cross-column rules (``@pa.dataframe_check``): ``name: description``."""
    rules = []
    for check in _schema(model).checks:
        description = getattr(check, "description", None)
        rules.append(f"{check.name}: {description}" if description else str(check.name))
    return rules


def mask_columns(model: type[pa.DataFrameModel], extra: Sequence[str] = ()) -> tuple[str, ...]:
    """PII columns to mask: the contract's own plus ``extra``; unknown extra names are an error."""
    names = {column.name for column in contract_columns(model)}
    unknown = sorted(set(extra) - names)
    if unknown:
        raise ValueError(f"contract {model.__name__}: pii_columns {unknown} are not its columns")
    return tuple(dict.fromkeys([*pii_columns(model), *extra]))
