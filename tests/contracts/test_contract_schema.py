"""A contract's column facts: Dagster column schema, key, PII columns, Polars schema."""

import importlib
import re

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from contracts import column_schema, contract_columns, key_columns, pii_columns, polars_schema
from contracts.schema import frame_rules, mask_columns
from contracts.testing import assert_column_schema_matches, contract_name, find_contract


def test_column_schema_carries_names_types_descriptions_and_constraints(quote) -> None:
    schema = column_schema(quote)
    by_name = {column.name: column for column in schema.columns}
    assert list(by_name) == ["date", "exchange", "ticker", "high", "low", "rate", "contact"]
    assert by_name["date"].type == "Date"
    assert by_name["high"].type == "Int64"
    assert by_name["rate"].type == "Float64"
    assert by_name["ticker"].description == "6-character KRX code"
    assert by_name["high"].constraints.nullable is False
    assert by_name["rate"].constraints.nullable is True
    assert by_name["rate"].constraints.other == [
        "greater_than_or_equal_to(-30.0)",
        "less_than_or_equal_to(30.0)",
    ]
    assert "isin(['KOSPI', 'KOSDAQ', 'KONEX'])" in by_name["exchange"].constraints.other
    # composite key: not unique column by column, but marked as part of the key
    assert by_name["ticker"].constraints.unique is False
    assert "key (date, exchange, ticker)" in by_name["ticker"].constraints.other
    assert by_name["contact"].tags == {"pii": "true"}
    assert by_name["high"].tags == {}
    assert schema.constraints.other == [
        "unique (date, exchange, ticker)",
        "high_not_below_low: the day's high is never below its low",
    ]


def test_single_column_key_and_field_unique_are_unique_constraints() -> None:
    class Company(pa.DataFrameModel):
        """One listed company."""

        company_id: str = pa.Field(description="company uuid")
        corp_code: str = pa.Field(description="DART code", unique=True, nullable=True)
        name: str = pa.Field(description="registered name")

        class Config:
            unique = ("company_id",)

    by_name = {c.name: c for c in column_schema(Company).columns}
    assert by_name["company_id"].constraints.unique is True
    assert by_name["corp_code"].constraints.unique is True
    assert by_name["name"].constraints.unique is False
    assert key_columns(Company) == ("company_id",)
    assert column_schema(Company).constraints.other == []


def test_loader_facts(quote) -> None:
    assert key_columns(quote) == ("date", "exchange", "ticker")
    assert pii_columns(quote) == ("contact",)
    assert polars_schema(quote) == pl.Schema(
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
    nullable = {c.name: c.nullable for c in contract_columns(quote)}
    assert nullable == {
        "date": False,
        "exchange": False,
        "ticker": False,
        "high": False,
        "low": False,
        "rate": True,
        "contact": True,
    }
    assert frame_rules(quote) == ["high_not_below_low: the day's high is never below its low"]


def test_mask_columns_adds_extra_and_rejects_unknown(quote) -> None:
    assert mask_columns(quote, ["ticker"]) == ("contact", "ticker")
    with pytest.raises(ValueError, match=r"Quote: pii_columns \['phone'\] are not its columns"):
        mask_columns(quote, ["phone"])


def test_non_model_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"pandera\.polars DataFrameModel"):
        column_schema(pl.DataFrame)  # type: ignore[arg-type]


def _asset_with_schema(schema: dg.TableSchema | None) -> dg.AssetsDefinition:
    metadata = {"dagster/column_schema": schema} if schema is not None else {}

    @dg.asset(group_name="CD", tags={"data_tier": "silver"}, metadata=metadata)
    def cd_quote() -> None:
        """Quotes."""

    return cd_quote


def test_assert_column_schema_matches_passes_for_the_contract_schema(quote) -> None:
    assert_column_schema_matches(_asset_with_schema(column_schema(quote)), quote)


def test_assert_column_schema_matches_names_the_difference(quote, quote_raw) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_column_schema_matches(_asset_with_schema(column_schema(quote_raw)), quote)
    message = str(failure.value)
    assert "asset cd_quote: dagster/column_schema does not match contract Quote" in message
    assert "columns missing from the asset's schema: ['exchange', 'high', 'low', 'rate'" in message
    assert "column 'close'" not in message and "columns not in Quote: ['close']" in message
    assert "column 'ticker' constraints" in message


def test_assert_column_schema_matches_requires_the_metadata(quote) -> None:
    with pytest.raises(
        AssertionError, match="cd_quote declares no metadata 'dagster/column_schema'"
    ):
        assert_column_schema_matches(_asset_with_schema(None), quote)


def test_contract_name_and_lookup_follow_the_naming_rule() -> None:
    assert contract_name("nps_his_digest") == "NpsHisDigest"
    assert contract_name("cd_top10_ranks") == "CdTop10Ranks"
    with pytest.raises(AssertionError, match=r"no contracts module 'contracts\.zz'"):
        find_contract("zz_unknown")
    with pytest.raises(
        AssertionError, match=r"contracts\.cd has no DataFrameModel 'CdNoSuchAsset'"
    ):
        find_contract("cd_no_such_asset")


def test_every_domain_contract_is_found_from_its_asset_name() -> None:
    for module_name in ("contracts.cd", "contracts.nps"):
        module = importlib.import_module(module_name)
        models = [
            value
            for name, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, pa.DataFrameModel)
            and value.__module__ == module_name
            and not name.startswith("_")
        ]
        assert models, module_name
        for model in models:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()
            assert find_contract(snake) is model
            column_schema(model)  # every domain contract yields a column schema
