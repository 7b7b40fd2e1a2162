"""Security type and company name rules on real KRX names, as functions and as expressions."""

import polars as pl
import pytest

from dag.cd_security_processing import (
    company_id,
    company_name_expr,
    parse_company_name,
    parse_security_type,
    security_id,
    security_type_expr,
)

# (name, ticker, type, company name)
REAL_NAMES = [
    ("삼성전자", "005930", "보통주", "삼성전자"),
    ("삼성전자우", "005935", "우선주", "삼성전자"),
    ("현대차2우B", "005387", "우선주", "현대차"),
    ("CJ4우(전환)", "00104K", "전환우선주", "CJ"),
    ("미래에셋대우", "006800", "보통주", "미래에셋대우"),  # Fix: ends in 우 but a common code
    ("미래에셋대우스팩5호", "415580", "스팩", None),
    ("SK리츠", "395400", "리츠", None),
    ("맥쿼리인프라", "088980", "펀드", None),
    ("맵스리얼티1", "094800", "펀드", None),
    ("KT&G", "033780", "보통주", "KT&G"),
    ("LG전자", "066570", "보통주", "LG전자"),
    ("NAVER", "035420", "보통주", "NAVER"),
    ("SK하이닉스", "000660", "보통주", "SK하이닉스"),
]


@pytest.mark.parametrize(("name", "ticker", "kind", "company"), REAL_NAMES)
def test_functions_on_real_names(name, ticker, kind, company):
    assert parse_security_type(name, ticker) == kind
    assert parse_company_name(name, kind) == company


def test_expressions_agree_with_functions_on_real_names():
    frame = pl.DataFrame(
        [row[:2] for row in REAL_NAMES], schema=["name", "ticker"], orient="row"
    ).with_columns(kind=security_type_expr("name", "ticker"))
    result = frame.with_columns(company=company_name_expr("name", "kind"))
    assert result.get_column("kind").to_list() == [row[2] for row in REAL_NAMES]
    assert result.get_column("company").to_list() == [row[3] for row in REAL_NAMES]


def test_rule_order_and_the_preferred_code_fix():
    assert parse_security_type("대우", "123450") == "보통주"
    assert parse_security_type("대우", "123455") == "우선주"
    assert parse_security_type("신한스팩", "123450") == "스팩"  # no 호 number
    assert parse_security_type("한국ANKOR유전", "152550") == "펀드"
    frame = pl.DataFrame({"name": ["대우", "대우", None], "ticker": ["123450", "123455", "1"]})
    kinds = frame.select(security_type_expr(pl.col("name"), pl.col("ticker"))).to_series()
    assert kinds.to_list() == ["보통주", "우선주", None]


def test_unknown_type_is_an_error():
    with pytest.raises(ValueError, match="unknown security type '주식'"):
        parse_company_name("삼성전자", "주식")


def test_ids_are_stable_uuid5():
    assert security_id("005930", "KOSPI") == security_id("005930", "KOSPI")
    assert security_id("005930", "KOSPI") != security_id("005930", "KOSDAQ")
    assert company_id("삼성전자") == company_id("삼성전자") != company_id("삼성물산")
    assert company_id("삼성전자")[14] == "5"  # uuid version 5
