"""CD gold display names: what a company is called, and the strings users type to find it.

Users search company names the way they type them. `eng2kor` reads the Latin letters of a name
aloud in Hangul (`KT&G` -> `케이티앤지`), `kor2eng_keyboard` spells the keys a user presses on the
standard 2-set (두벌식) keyboard when the IME is left in English mode (`삼성전자` -> `tkatjdwjswk`).

Each rule exists once, as a Polars expression (`eng2kor_expr`, `kor2eng_keyboard_expr`); the
`str -> str` helpers evaluate that same expression on one value. Both are vectorised:
- eng2kor: one Aho-Corasick `str.replace_many` pass (ASCII case-insensitive).
- kor2eng_keyboard: each string is split into characters (`list.eval`, no Python per row); a
  precomposed syllable's code point is rebuilt with integer arithmetic from its three UTF-8 bytes
  (`str.encode("hex")` + `str.to_integer(base=16)`; Polars has no ord()), then decomposed as
  initial = (cp - 0xAC00) // 588, medial = (cp - 0xAC00) % 588 // 28, final = (cp - 0xAC00) % 28
  and each index is looked up in its key table. Other characters pass through unchanged.
"""

import time

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.cd import NO_COMPANY_TYPES, CdSearchNames
from dag.common import CD_GOLD_POOL, CD_TAGS, elapsed, tags

LETTER_READINGS: dict[str, str] = {
    "A": "에이", "B": "비", "C": "씨", "D": "디", "E": "이", "F": "에프", "G": "지",
    "H": "에이치", "I": "아이", "J": "제이", "K": "케이", "L": "엘", "M": "엠", "N": "엔",
    "O": "오", "P": "피", "Q": "큐", "R": "알", "S": "에스", "T": "티", "U": "유", "V": "브이",
    "W": "더블유", "X": "엑스", "Y": "와이", "Z": "제트", "&": "앤",
}  # fmt: skip

# 2-set keyboard keys by jamo index, in Unicode composition order. Tense consonants are the shifted
# (upper-case) key; compound vowels and final clusters are the two keys of their parts.
INITIAL_KEYS = ("r", "R", "s", "e", "E", "f", "a", "q", "Q", "t", "T", "d", "w", "W", "c", "z",
                "x", "v", "g")  # fmt: skip
MEDIAL_KEYS = ("k", "o", "i", "O", "j", "p", "u", "P", "h", "hk", "ho", "hl", "y", "n", "nj",
               "np", "nl", "b", "m", "ml", "l")  # fmt: skip
FINAL_KEYS = ("", "r", "R", "rt", "s", "sw", "sg", "e", "f", "fr", "fa", "fq", "ft", "fx", "fv",
              "fg", "a", "q", "qt", "t", "T", "d", "w", "c", "z", "x", "v", "g")  # fmt: skip
# Standalone compatibility jamo (ㄱ U+3131 ... ㅣ U+3163), as typed on their own.
COMPAT_JAMO_KEYS: dict[str, str] = dict(
    zip(
        [chr(cp) for cp in range(0x3131, 0x3164)],
        ["r", "R", "rt", "s", "sw", "sg", "e", "E", "f", "fr", "fa", "fq", "ft", "fx", "fv", "fg",
         "a", "q", "Q", "qt", "t", "T", "d", "w", "W", "c", "z", "x", "v", "g",
         *MEDIAL_KEYS],
        strict=True,
    )
)  # fmt: skip

HANGUL_BASE = 0xAC00
_SYLLABLE = "^[가-힣]$"



def eng2kor_expr(text: pl.Expr) -> pl.Expr:
    """Latin letters (either case) and `&` replaced by their Korean reading; the rest unchanged."""
    return text.str.replace_many(
        list(LETTER_READINGS), list(LETTER_READINGS.values()), ascii_case_insensitive=True
    )


def _index_keys(index: pl.Expr, keys: tuple[str, ...]) -> pl.Expr:
    return index.replace_strict(dict(enumerate(keys)), default="", return_dtype=pl.String)


def _char_keys(char: pl.Expr) -> pl.Expr:
    """Keystrokes of one character: a syllable decomposed, a jamo mapped, anything else as is."""
    utf8 = char.str.encode("hex").str.to_integer(base=16, strict=False)
    code_point = (
        (utf8 // 65536 % 16) * 4096 + (utf8 // 256 % 64) * 64 + (utf8 % 64)
    )  # 3-byte UTF-8: 1110xxxx 10yyyyyy 10zzzzzz -> xxxxyyyyyyzzzzzz
    offset = code_point - HANGUL_BASE
    syllable = pl.concat_str(
        _index_keys(offset // 588, INITIAL_KEYS),
        _index_keys(offset % 588 // 28, MEDIAL_KEYS),
        _index_keys(offset % 28, FINAL_KEYS),
    )
    other = char.replace(COMPAT_JAMO_KEYS)
    return pl.when(char.str.contains(_SYLLABLE)).then(syllable).otherwise(other)


def kor2eng_keyboard_expr(text: pl.Expr) -> pl.Expr:
    """The 2-set keyboard keystrokes of the Hangul in `text`; other characters unchanged."""
    return text.str.split("").list.eval(_char_keys(pl.element())).list.join("")


def eng2kor(text: str) -> str:
    """`KT&G` -> `케이티앤지`, `LG전자` -> `엘지전자` (the same rule as `eng2kor_expr`)."""
    return pl.select(eng2kor_expr(pl.lit(text, dtype=pl.String))).item()


def kor2eng_keyboard(text: str) -> str:
    """`삼성전자` -> `tkatjdwjswk`, `LG전자` -> `LGwjswk` (the same rule as the expression)."""
    return pl.select(kor2eng_keyboard_expr(pl.lit(text, dtype=pl.String))).item()


# --- gold: display and search names ------------------------------------------------------------

def search_names(company: pl.LazyFrame, security: pl.LazyFrame) -> pl.LazyFrame:
    """Per company: display name and its search strings (name, reading, keystrokes), in order.

    The display name is the company's Korean name; a company whose securities are all 스팩/리츠/
    펀드 gets none. Search strings, duplicates removed keeping the first: 1 the name, 2 its Hangul
    reading of Latin letters, 3 the 2-set keystrokes of the name, 4 those of the reading.
    """
    named = (
        security.filter(~pl.col("security_type").is_in(NO_COMPANY_TYPES))
        .select("company_id")
        .drop_nulls()
        .unique()
    )
    name = pl.col("display_name")
    return (
        company.join(named, on="company_id", how="semi")
        .select("company_id", display_name=pl.col("company_name"))
        .with_columns(
            value=pl.concat_list(
                name,
                eng2kor_expr(name),
                kor2eng_keyboard_expr(name),
                kor2eng_keyboard_expr(eng2kor_expr(name)),
            ).list.eval(pl.element().unique(maintain_order=True))
        )
        .explode("value")
        .with_columns(order=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("company_id"))
        .sort("company_id", "order")
    )


@dg.asset(
    pool=CD_GOLD_POOL,
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=tags("gold", CD_TAGS),
    metadata={"dagster/column_schema": column_schema(CdSearchNames)},
)
def cd_search_names(
    context: dg.AssetExecutionContext, cd_company: pl.LazyFrame, cd_security: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Display name and search strings per company (what users type to find a stock)."""
    started = time.perf_counter()
    names = search_names(cd_company, cd_security).collect()
    companies = names.get_column("company_id").n_unique()
    return dg.Output(
        names.lazy(),
        metadata={
            "execution_time_sec": elapsed(started),
            "companies_named": companies,
            "search_names_per_company": round(names.height / companies, 2) if companies else 0.0,
        },
    )


cd_search_names_contract = contract_check(cd_search_names, CdSearchNames)
