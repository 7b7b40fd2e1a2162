"""Test helpers for contracts, shared by the contract tests and the conventions tests."""

import importlib
import keyword

import dagster as dg
import pandera.polars as pa

from contracts.schema import column_schema

COLUMN_SCHEMA_KEY = "dagster/column_schema"
SERVING_TARGETS = ("postgres", "turso")


def contract_name(asset_name: str) -> str:
    """The contract class named after an asset: ``nps_his_digest`` -> ``NpsHisDigest``."""
    return "".join(part[:1].upper() + part[1:] for part in asset_name.split("_"))


def find_contract(asset_name: str) -> type[pa.DataFrameModel]:
    """The asset's contract, ``contracts.<prefix>.<CamelCase name>``; a serving load
    ``<table>_<postgres|turso>`` may use the target-neutral ``<CamelCase table>Serving``
    (AssertionError if none)."""
    prefix = asset_name.split("_", 1)[0]
    # `is` is a keyword: its module is contracts.is_
    module_name = f"contracts.{prefix}_" if keyword.iskeyword(prefix) else f"contracts.{prefix}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        raise AssertionError(
            f"asset {asset_name}: no contracts module {module_name!r} for prefix {prefix!r}"
        ) from missing
    model = getattr(module, contract_name(asset_name), None)
    stem, _, target = asset_name.rpartition("_")
    if model is None and target in SERVING_TARGETS:  # one target-neutral serving contract
        model = getattr(module, contract_name(stem) + "Serving", None)
    if not (isinstance(model, type) and issubclass(model, pa.DataFrameModel)):
        raise AssertionError(
            f"asset {asset_name}: {module_name} has no DataFrameModel {contract_name(asset_name)!r}"
        )
    return model


def declared_column_schema(asset: dg.AssetsDefinition) -> dg.TableSchema:
    """The ``dagster/column_schema`` an asset declares at definition time (error if none)."""
    metadata = asset.metadata_by_key.get(asset.key, {})
    if COLUMN_SCHEMA_KEY not in metadata:
        raise AssertionError(
            f"asset {asset.key.to_user_string()} declares no metadata {COLUMN_SCHEMA_KEY!r}"
        )
    value = metadata[COLUMN_SCHEMA_KEY]
    if isinstance(value, dg.TableSchemaMetadataValue):
        return value.schema
    if isinstance(value, dg.TableSchema):
        return value
    raise AssertionError(
        f"asset {asset.key.to_user_string()}: {COLUMN_SCHEMA_KEY} is a {type(value).__name__}, "
        "not a TableSchema"
    )


def assert_column_schema_matches(
    asset: dg.AssetsDefinition, model: type[pa.DataFrameModel]
) -> None:
    """Assert the asset's declared ``dagster/column_schema`` is exactly ``column_schema(model)``.

    On mismatch the message names the asset and each differing column (missing, extra, or which
    of type/description/constraints/tags differ).
    """
    name = asset.key.to_user_string()
    declared = declared_column_schema(asset)
    expected = column_schema(model)
    if declared == expected:
        return
    declared_by_name = {column.name: column for column in declared.columns}
    expected_by_name = {column.name: column for column in expected.columns}
    problems = []
    missing = [n for n in expected_by_name if n not in declared_by_name]
    extra = [n for n in declared_by_name if n not in expected_by_name]
    if missing:
        problems.append(f"columns missing from the asset's schema: {missing}")
    if extra:
        problems.append(f"columns not in {model.__name__}: {extra}")
    for column_name, want in expected_by_name.items():
        have = declared_by_name.get(column_name)
        if have is None:
            continue
        for field in ("type", "description", "constraints", "tags"):
            if getattr(have, field) != getattr(want, field):
                problems.append(
                    f"column {column_name!r} {field}: asset has {getattr(have, field)!r}, "
                    f"contract has {getattr(want, field)!r}"
                )
    if [c.name for c in declared.columns] != [c.name for c in expected.columns] and not (
        missing or extra
    ):
        problems.append("column order differs from the contract")
    if declared.constraints != expected.constraints:
        problems.append(
            f"table constraints: asset has {declared.constraints!r}, "
            f"contract has {expected.constraints!r}"
        )
    raise AssertionError(
        f"asset {name}: dagster/column_schema does not match contract {model.__name__}: "
        + "; ".join(problems)
    )
