"""Property: frames generated from a contract's own constraints pass that contract."""

import datetime as dt
import importlib

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import contract_columns, validate_frame
from contracts.strategies import column_values, frames

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _order_high_low(frame: pl.DataFrame) -> pl.DataFrame:
    """Satisfy the cross-column rule: high is the larger of the two generated prices."""
    return frame.with_columns(
        high=pl.max_horizontal("high", "low"), low=pl.min_horizontal("high", "low")
    )


class Listing(pa.DataFrameModel):
    """Every supported rule kind on one listing row."""

    listed_on: dt.date = pa.Field(
        description="listing day",
        in_range={"min_value": dt.date(2000, 1, 1), "max_value": dt.date(2030, 12, 31)},
    )
    code: str = pa.Field(description="ticker", str_matches=r"^[0-9]{5}[0-9A-Z]$", unique=True)
    name: str = pa.Field(description="name", str_length={"min_value": 1, "max_value": 40})
    kind: str = pa.Field(description="security type", isin=["보통주", "우선주", "스팩"])
    status: str = pa.Field(description="status", notin=["X"], nullable=True)
    shares: pl.Int64 = pa.Field(description="shares", gt=0)
    weight: pl.Float64 = pa.Field(description="index weight", ge=0.0, lt=1.0)
    suspended: bool = pa.Field(description="trading suspended")
    aliases: pl.List(pl.String) = pa.Field(description="other names", nullable=True)
    version: pl.Int32 = pa.Field(description="schema version", eq=2)


@given(data=st.data())
@SETTINGS
def test_generated_quotes_pass_their_contract(data, quote) -> None:
    frame = data.draw(frames(quote, max_size=15, fix=_order_high_low))
    assert frame.schema == pl.Schema(
        {
            "date": pl.Date,
            "exchange": pl.String,
            "ticker": pl.String,
            "high": pl.Int64,
            "low": pl.Int64,
            "rate": pl.Float64,
            "contact": pl.String,
        }
    )
    passed, metadata = validate_frame(frame, quote)
    assert passed, metadata
    assert metadata["rows_checked"] == frame.height


@given(frame=frames(Listing, max_size=15))
@SETTINGS
def test_every_supported_rule_kind_generates_passing_frames(frame) -> None:
    passed, metadata = validate_frame(frame, Listing)
    assert passed, metadata


@given(data=st.data())
@SETTINGS
def test_breaking_a_generated_frame_fails_its_contract(data, quote) -> None:
    """The generator is not vacuous: one corrupted key duplicate is caught."""
    frame = data.draw(frames(quote, min_size=1, max_size=10, fix=_order_high_low))
    broken = pl.concat([frame, frame.head(1)])
    passed, metadata = validate_frame(broken, quote)
    assert not passed
    assert metadata["failing_rows_by_rule"].data["unique (date, exchange, ticker)"] == 2


def test_a_rule_without_a_strategy_is_named() -> None:
    class Odd(pa.DataFrameModel):
        value: int = pa.Field(description="odd", check_name=True)

        @pa.check("value")
        @classmethod
        def is_odd(cls, data: pa.PolarsData) -> pl.LazyFrame:
            return data.lazyframe.select(pl.col("value") % 2 == 1)

    column = contract_columns(Odd)[0]
    with pytest.raises(NotImplementedError, match=r"Odd: column 'value' has checks \['is_odd'\]"):
        column_values(Odd, column)


def _domain_contracts() -> list[type[pa.DataFrameModel]]:
    """Every public domain contract whose rules are all column rules (derivable by strategy)."""
    found = []
    for module_name in ("contracts.cd", "contracts.nps"):
        module = importlib.import_module(module_name)
        for name, value in sorted(vars(module).items()):
            if (
                isinstance(value, type)
                and issubclass(value, pa.DataFrameModel)
                and value.__module__ == module_name
                and not name.startswith("_")
                and not value.to_schema().checks
            ):
                found.append(value)
    return found


@pytest.mark.parametrize("model", _domain_contracts(), ids=lambda model: model.__name__)
def test_domain_contracts_accept_frames_generated_from_their_rules(model) -> None:
    @given(frame=frames(model, max_size=8))
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    def check(frame: pl.DataFrame) -> None:
        passed, metadata = validate_frame(frame, model)
        assert passed, metadata

    check()
