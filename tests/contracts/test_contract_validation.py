"""Validating a frame with a contract: counts per rule, masked examples; the check definition."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from contracts import contract_check, severity_of, tier_of, validate_frame
from contracts.schema import mask_columns

DAY = dt.date(2024, 3, 4)


def _bad_quotes(make_quotes) -> pl.DataFrame:
    """Six rows: 0 valid; 1 bad exchange and bad ticker; 2 high < low; 3 duplicate key of 4;
    5 rate out of range and negative low."""
    good = make_quotes(DAY, n=6)
    return good.with_columns(
        exchange=pl.Series(["KOSPI", "NYSE", "KOSPI", "KOSPI", "KOSPI", "KOSPI"]),
        ticker=pl.Series(["000001", "abc", "000003", "000004", "000004", "000006"]),
        high=pl.Series([100, 100, 50, 100, 100, 100], dtype=pl.Int64),
        low=pl.Series([90, 90, 60, 90, 90, -1], dtype=pl.Int64),
        rate=pl.Series([0.0, 0.0, 0.0, 0.0, 0.0, 99.0]),
    )


def test_valid_frame_passes(quote, make_quotes) -> None:
    passed, metadata = validate_frame(make_quotes(DAY, n=5), quote)
    assert passed is True
    assert metadata["rows_checked"] == 5
    assert metadata["failing_rows"] == 0


def test_empty_frame_with_the_schema_passes(quote, make_quotes) -> None:
    passed, metadata = validate_frame(make_quotes(DAY, n=0), quote)
    assert (passed, metadata["rows_checked"]) == (True, 0)


def test_bad_rows_are_counted_per_rule_with_masked_examples(quote, make_quotes) -> None:
    data = _bad_quotes(make_quotes)
    passed, metadata = validate_frame(data, quote, mask_columns(quote))
    assert passed is False
    assert metadata["rows_checked"] == 6
    assert metadata["failing_rows"] == 5
    assert metadata["failing_rows_by_rule"].data == {
        "exchange: isin(['KOSPI', 'KOSDAQ', 'KONEX'])": 1,
        "ticker: str_matches('^[0-9A-Z]{6}$')": 1,
        "high_not_below_low": 1,
        "unique (date, exchange, ticker)": 2,
        "low: greater_than_or_equal_to(0)": 1,
        "rate: less_than_or_equal_to(30.0)": 1,
    }
    assert set(metadata["rules_failed"].data) == set(metadata["failing_rows_by_rule"].data)
    failures = metadata["failures"].md_str
    assert "| rule | failing_rows | example values |" in failures
    assert "| exchange: isin(['KOSPI', 'KOSDAQ', 'KONEX']) | 1 | NYSE |" in failures
    examples = metadata["failing_examples"].md_str.splitlines()
    assert examples[0] == (
        "| row | rules_failed | date | exchange | ticker | high | low | rate | contact |"
    )
    assert len(examples) == 2 + 5  # header, rule, five failing rows (row 0 is valid)
    assert examples[2].startswith("| 1 | ")
    assert "exchange: isin" in examples[2] and "ticker: str_matches" in examples[2]
    assert "| NYSE | abc | 100 | 90 |" in examples[2]
    assert "high_not_below_low" in examples[3] and "| 50 | 60 |" in examples[3]
    # the PII column is masked in the examples and never shown as a failing value
    assert all("| *** |" in line for line in examples[2:])
    assert "example.com" not in metadata["failing_examples"].md_str
    assert "example.com" not in failures


def test_examples_are_capped_at_twenty_rows(quote, make_quotes) -> None:
    data = make_quotes(DAY, n=50).with_columns(exchange=pl.lit("NYSE"))
    passed, metadata = validate_frame(data, quote)
    assert passed is False
    assert metadata["failing_rows"] == 50
    assert len(metadata["failing_examples"].md_str.splitlines()) == 2 + 20


def test_schema_failures_are_reported_without_rows(quote, make_quotes) -> None:
    data = make_quotes(DAY).drop("rate").with_columns(pl.col("high").cast(pl.String))
    passed, metadata = validate_frame(data, quote)
    assert passed is False
    by_rule = metadata["failing_rows_by_rule"].data
    assert by_rule["column_in_dataframe: rate"] == 1
    assert by_rule["high: dtype('Int64')"] == 1
    assert "| high: dtype('Int64') | 1 | String |" in metadata["failures"].md_str


def test_extra_pii_column_is_masked(quote, make_quotes) -> None:
    data = make_quotes(DAY).with_columns(exchange=pl.lit("NYSE"))
    _, metadata = validate_frame(data, quote, mask_columns(quote, ["ticker"]))
    assert "000001" not in metadata["failing_examples"].md_str
    assert "NYSE" in metadata["failing_examples"].md_str


def _asset(tier: str | None, partitions_def: dg.PartitionsDefinition | None = None):
    tags = {"data_tier": tier, "domain": "market", "source": "krx"} if tier else {}

    @dg.asset(group_name="CD", partitions_def=partitions_def, tags=tags)
    def cd_quote() -> None:
        """Quotes."""

    return cd_quote


def test_check_is_named_blocking_and_partitioned_like_the_asset(quote) -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    check = contract_check(_asset("silver", daily), quote)
    spec = next(iter(check.check_specs))
    assert spec.name == "cd_quote_contract"
    assert spec.asset_key == dg.AssetKey("cd_quote")
    assert spec.blocking is True
    assert spec.partitions_def == daily
    assert spec.metadata["contract"] == "Quote"
    assert "Quote contract on cd_quote (silver, ERROR on failure)" in spec.description
    assert "Silver: one quote per ticker and day" in spec.description


def test_severity_follows_the_tier() -> None:
    assert severity_of(_asset("bronze")) == dg.AssetCheckSeverity.WARN
    assert severity_of(_asset("silver")) == dg.AssetCheckSeverity.ERROR
    assert severity_of(_asset("gold")) == dg.AssetCheckSeverity.ERROR
    assert tier_of(_asset("gold")) == "gold"


@pytest.mark.parametrize("tier", [None, "mixed"])
def test_missing_or_unknown_tier_is_an_error(tier, quote) -> None:
    with pytest.raises(ValueError, match=r"asset cd_quote: tags\['data_tier'\] is"):
        contract_check(_asset(tier), quote)


def test_unknown_pii_column_is_an_error_at_definition(quote) -> None:
    with pytest.raises(ValueError, match="pii_columns"):
        contract_check(_asset("silver"), quote, pii_columns=["phone"])
