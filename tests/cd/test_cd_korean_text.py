"""eng2kor and kor2eng_keyboard on real company names, as str helpers and Polars expressions."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dag.cd_display_processing import (
    FINAL_KEYS,
    INITIAL_KEYS,
    MEDIAL_KEYS,
    eng2kor,
    eng2kor_expr,
    kor2eng_keyboard,
    kor2eng_keyboard_expr,
    search_names,
)


@pytest.mark.parametrize(
    ("name", "reading"),
    [
        ("KT&G", "케이티앤지"),
        ("LG전자", "엘지전자"),
        ("SK하이닉스", "에스케이하이닉스"),
        ("NAVER", "엔에이브이이알"),
        ("삼성전자", "삼성전자"),
        ("CJ4우(전환)", "씨제이4우(전환)"),
        ("abc", "에이비씨"),
        ("", ""),
    ],
)
def test_eng2kor_reads_latin_letters_in_hangul(name: str, reading: str) -> None:
    assert eng2kor(name) == reading


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("삼성전자", "tkatjdwjswk"),
        ("LG전자", "LGwjswk"),
        ("SK하이닉스", "SKgkdlslrtm"),
        ("KT&G", "KT&G"),
        ("NAVER", "NAVER"),
        ("현대차2우B", "guseock2dnB"),
        ("과자", "rhkwk"),  # compound vowel ㅘ = two keys
        ("의원", "dmldnjs"),  # ㅢ, ㅝ
        ("왜", "dho"),  # ㅙ
        ("닭", "ekfr"),  # final cluster ㄺ = two keys
        ("값", "rkqt"),  # ㅄ
        ("없다", "djqtek"),
        ("까치", "Rkcl"),  # tense consonants are shifted keys
        ("빵떡", "QkdEjr"),
        ("쌍쯤", "TkdWma"),
        ("있다", "dlTek"),  # tense final ㅆ
        ("ㅋㅋㅘ", "zzhk"),  # standalone jamo
    ],
)
def test_kor2eng_keyboard_spells_two_set_keystrokes(name: str, keys: str) -> None:
    assert kor2eng_keyboard(name) == keys


def test_helpers_are_polars_expressions_over_a_column_with_nulls() -> None:
    frame = pl.DataFrame({"name": ["삼성전자", "KT&G", None, "LG전자"]})
    out = frame.select(
        reading=eng2kor_expr(pl.col("name")), keys=kor2eng_keyboard_expr(pl.col("name"))
    )
    assert out["reading"].to_list() == ["삼성전자", "케이티앤지", None, "엘지전자"]
    assert out["keys"].to_list() == ["tkatjdwjswk", "KT&G", None, "LGwjswk"]


def _reference_keys(text: str) -> str:
    """An independent per-character oracle from the Unicode composition formula."""
    out = []
    for char in text:
        offset = ord(char) - 0xAC00
        if 0 <= offset < 11172:
            initial, medial, final = offset // 588, offset % 588 // 28, offset % 28
            out.append(INITIAL_KEYS[initial] + MEDIAL_KEYS[medial] + FINAL_KEYS[final])
        else:
            out.append(char)
    return "".join(out)


@given(st.text(alphabet=st.one_of(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
                                  st.sampled_from("AZaz09 &()")), max_size=12))  # fmt: skip
def test_keyboard_expression_matches_the_composition_formula(text: str) -> None:
    assert kor2eng_keyboard(text) == _reference_keys(text)
    assert len(kor2eng_keyboard(text)) >= len(text)


def test_search_names_per_company_in_order_without_fund_only_companies() -> None:
    company = pl.LazyFrame(
        {
            "company_id": ["c1", "c2", "c3"],
            "company_name": ["LG전자", "삼성전자", "맥쿼리인프라"],
        }
    )
    security = pl.LazyFrame(
        {
            "company_id": ["c1", "c2", "c2", "c3", None],
            "security_type": ["보통주", "보통주", "우선주", "펀드", "스팩"],
        }
    )
    out = search_names(company, security).collect()
    assert out.to_dicts() == [
        {"company_id": "c1", "display_name": "LG전자", "value": "LG전자", "order": 1},
        {"company_id": "c1", "display_name": "LG전자", "value": "엘지전자", "order": 2},
        {"company_id": "c1", "display_name": "LG전자", "value": "LGwjswk", "order": 3},
        {"company_id": "c1", "display_name": "LG전자", "value": "dpfwlwjswk", "order": 4},
        {"company_id": "c2", "display_name": "삼성전자", "value": "삼성전자", "order": 1},
        {"company_id": "c2", "display_name": "삼성전자", "value": "tkatjdwjswk", "order": 2},
    ]  # 맥쿼리인프라 has only a 펀드 security: no display name
