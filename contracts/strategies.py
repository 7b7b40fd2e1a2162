"""Hypothesis strategies that generate frames from a contract's own column constraints.

pandera's data synthesis does not support polars schemas, so this maps the contract's column
checks (ge/gt/le/lt/in_range/eq, isin/notin, str_matches/str_length/str_startswith), dtypes,
nullability, unique columns and the ``Config.unique`` key to hypothesis strategies. Cross-column
rules (``@pa.dataframe_check``) cannot be derived generically: pass ``fix``, a function that
makes a generated frame satisfy them (for example ordering low/high). Test-only: needs hypothesis.
"""

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandera.polars as pa
import polars as pl
from hypothesis import strategies as st

from contracts.schema import ContractColumn, contract_columns, key_columns

_INT_BOUNDS: dict[type[pl.DataType], tuple[int, int]] = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
    pl.UInt8: (0, 2**8 - 1),
    pl.UInt16: (0, 2**16 - 1),
    pl.UInt32: (0, 2**32 - 1),
    pl.UInt64: (0, 2**64 - 1),
}


def _bounds(column: ContractColumn, checks: list[Any]) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for check in checks:
        stats = check.statistics
        if check.name == "greater_than_or_equal_to":
            bounds["min"] = stats["min_value"]
        elif check.name == "greater_than":
            bounds["min"], bounds["exclude_min"] = stats["min_value"], True
        elif check.name == "less_than_or_equal_to":
            bounds["max"] = stats["max_value"]
        elif check.name == "less_than":
            bounds["max"], bounds["exclude_max"] = stats["max_value"], True
        elif check.name == "in_range":
            bounds["min"], bounds["max"] = stats["min_value"], stats["max_value"]
            bounds["exclude_min"] = not stats.get("include_min", True)
            bounds["exclude_max"] = not stats.get("include_max", True)
    return bounds


def _numeric(column: ContractColumn, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    dtype = column.dtype
    if dtype.is_integer():
        low, high = _INT_BOUNDS[dtype.base_type()]
        if "min" in bounds:
            low = max(low, int(bounds["min"]) + (1 if bounds.get("exclude_min") else 0))
        if "max" in bounds:
            high = min(high, int(bounds["max"]) - (1 if bounds.get("exclude_max") else 0))
        return st.integers(low, high)
    width: Literal[32, 64] = 32 if dtype == pl.Float32 else 64
    return st.floats(
        min_value=bounds.get("min"),
        max_value=bounds.get("max"),
        exclude_min=bool(bounds.get("exclude_min")) and "min" in bounds,
        exclude_max=bool(bounds.get("exclude_max")) and "max" in bounds,
        allow_nan=False,
        allow_infinity=False,
        width=width,
    )


def _temporal(column: ContractColumn, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    day = dt.timedelta(days=1)
    if column.dtype == pl.Date:
        low = bounds.get("min", dt.date(1970, 1, 1))
        high = bounds.get("max", dt.date(2099, 12, 31))
        low, high = _as_date(low), _as_date(high)
        low = low + day if bounds.get("exclude_min") else low
        high = high - day if bounds.get("exclude_max") else high
        return st.dates(low, high)
    second = dt.timedelta(seconds=1)
    low = bounds.get("min", dt.datetime(1970, 1, 1))
    high = bounds.get("max", dt.datetime(2099, 12, 31))
    low = low + second if bounds.get("exclude_min") else low
    high = high - second if bounds.get("exclude_max") else high
    strategy = st.datetimes(low.replace(tzinfo=None), high.replace(tzinfo=None))
    time_zone = getattr(column.dtype, "time_zone", None)
    if time_zone:
        return strategy.map(lambda value: value.replace(tzinfo=dt.UTC))
    return strategy


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _string(column: ContractColumn, checks: list[Any]) -> st.SearchStrategy[str]:
    by_name = {check.name: check.statistics for check in checks}
    if "str_matches" in by_name:
        return st.from_regex(by_name["str_matches"]["pattern"], fullmatch=True)
    if "str_length" in by_name:
        stats = by_name["str_length"]
        exact = stats.get("exact_value")
        low = exact if exact is not None else stats.get("min_value") or 0
        high = exact if exact is not None else stats.get("max_value")
        return st.text(min_size=low, max_size=high if high is not None else low + 12)
    prefix = by_name.get("str_startswith", {}).get("string", "")
    return st.text(max_size=12).map(lambda text: prefix + text)


_HANDLED = {
    "greater_than_or_equal_to",
    "greater_than",
    "less_than_or_equal_to",
    "less_than",
    "in_range",
    "isin",
    "notin",
    "equal_to",
    "str_matches",
    "str_length",
    "str_startswith",
}


def column_values(model: type[pa.DataFrameModel], column: ContractColumn) -> st.SearchStrategy[Any]:
    """Values satisfying one column's dtype and checks (None too when nullable)."""
    checks = list(model.to_schema().columns[column.name].checks)
    unknown = [check.name for check in checks if check.name not in _HANDLED]
    if unknown:
        raise NotImplementedError(
            f"contract {model.__name__}: column {column.name!r} has checks {unknown} that no "
            "strategy is derived for; pass an override for this column"
        )
    by_name = {check.name: check.statistics for check in checks}
    dtype = column.dtype
    if "isin" in by_name:
        values: st.SearchStrategy[Any] = st.sampled_from(list(by_name["isin"]["allowed_values"]))
    elif "equal_to" in by_name:
        values = st.just(by_name["equal_to"]["value"])
    elif dtype.is_numeric():
        values = _numeric(column, _bounds(column, checks))
    elif dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        values = _temporal(column, _bounds(column, checks))
    elif dtype == pl.String:
        values = _string(column, checks)
    elif dtype == pl.Boolean:
        values = st.booleans()
    elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
        values = st.lists(st.text(max_size=6), max_size=3)
    else:
        raise NotImplementedError(
            f"contract {model.__name__}: no strategy for column {column.name!r} of type {dtype}"
        )
    if "notin" in by_name:
        forbidden = set(by_name["notin"]["forbidden_values"])
        values = values.filter(lambda value: value not in forbidden)
    return st.none() | values if column.nullable else values


def _value_of(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record[name]


def frames(
    model: type[pa.DataFrameModel],
    *,
    min_size: int = 0,
    max_size: int = 20,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
    fix: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> st.SearchStrategy[pl.DataFrame]:
    """Frames with the contract's exact schema whose rows satisfy its column rules and key."""
    columns = contract_columns(model)
    overrides = dict(overrides or {})
    row = st.fixed_dictionaries(
        {
            column.name: overrides.get(column.name) or column_values(model, column)
            for column in columns
        }
    )
    keys = key_columns(model)
    unique_by = [_value_of(column.name) for column in columns if column.unique]
    if len(keys) > 1:
        unique_by.append(lambda record: tuple(record[key] for key in keys))
    rows = st.lists(row, min_size=min_size, max_size=max_size, unique_by=tuple(unique_by) or None)
    schema = pl.Schema({column.name: column.dtype for column in columns})

    def build(records: list[dict[str, Any]]) -> pl.DataFrame:
        frame = pl.DataFrame(records, schema=schema)
        return fix(frame) if fix is not None else frame

    return rows.map(build)
