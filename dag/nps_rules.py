"""NPS business rules as Polars expressions: company-name normalisation, legal forms, wage rate.

Pure helpers shared by the silver asset, the company layer and tests. Each takes and returns
expressions, so they run vectorised on any frame (no Python loops over rows).
"""

from __future__ import annotations

import polars as pl

# Full-width ASCII (U+FF01-U+FF5E), the ideographic space and CJK brackets -> ASCII.
_WIDTH_FROM = [chr(0xFF01 + i) for i in range(94)] + ["\u3000", *"【】「」『』〔〕〈〉《》"]
_WIDTH_TO = [chr(0x21 + i) for i in range(94)] + [" ", *"[][][]()()()"]

# (legal form, regex matching it in a width-normalised name), removed by normalize_company_name.
# **Fix**: the short forms are matched only as a whole bracket, so "(주식회사)" is never read as
# "(사)" = 사단법인. 신협 / 신용협동조합 / 새마을금고 / 농협 are names, not legal forms.
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("주식회사", r"주식회사|㈜|\(\s*주\s*\)"),
    ("유한책임회사", r"유한책임회사"),
    ("유한회사", r"유한회사|\(\s*유\s*\)"),
    ("합자회사", r"합자회사"),
    ("합명회사", r"합명회사"),
    ("사단법인", r"사단법인|\(\s*사\s*\)"),
    ("재단법인", r"재단법인|\(\s*재\s*\)"),
    ("학교법인", r"학교법인"),
    ("사회복지법인", r"사회복지법인"),
    ("의료법인", r"의료법인"),
    ("법무법인", r"법무법인"),
    ("세무법인", r"세무법인"),
    ("회계법인", r"회계법인"),
    ("특허법인", r"특허법인"),
    ("영농조합법인", r"영농조합법인"),
    ("농업회사법인", r"농업회사법인"),
    ("어업회사법인", r"어업회사법인"),
)
_ANY_LEGAL_FORM = "|".join(f"(?:{pattern})" for _, pattern in LEGAL_FORMS)
_SHORT_FORMS = {
    "㈜": "주식회사",
    "(주)": "주식회사",
    "(유)": "유한회사",
    "(사)": "사단법인",
    "(재)": "재단법인",
}
_FORM_NAMES = [form for form, _ in LEGAL_FORMS]
_BRACKETED = r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}"

# Contribution rate: 9% through 2025, +0.5 point per year from 2026, at most 13% (2033 on).
BASE_RATE = 0.09
RATE_STEP = 0.005
MAX_RATE = 0.13
LAST_BASE_YEAR = 2025


def ascii_width(name: pl.Expr) -> pl.Expr:
    """Full-width letters, digits, brackets and punctuation mapped to their ASCII forms."""
    return name.str.replace_many(_WIDTH_FROM, _WIDTH_TO)


def normalize_company_name(name: pl.Expr) -> pl.Expr:
    """Company name reduced to the letters that identify it (`name_norm`).

    Full-width to ASCII, lower case, legal-form markers removed (주식회사, ㈜, (주), 유한회사, (유),
    사단법인, (사), 재단법인, ... see LEGAL_FORMS), other bracketed groups removed, then only
    [0-9a-z가-힣] kept; null when nothing is left. 새마을금고, 신용협동조합, 농업협동조합, 농협 and
    신협 stay part of the name (**Fix**: the old code lost 신협).
    `주식회사 카카오 (Kakao Corp.)` -> `카카오`.
    """
    normalised = (
        ascii_width(name)
        .str.to_lowercase()
        .str.replace_all(_ANY_LEGAL_FORM, " ")
        .str.replace_all(_BRACKETED, " ")
        .str.replace_all(r"[^0-9a-z가-힣]", "")
    )
    return pl.when(normalised.str.len_chars() > 0).then(normalised).otherwise(None)


def company_types(name: pl.Expr) -> pl.Expr:
    """The distinct legal forms a name carries, in order of appearance (empty list when none).

    Short forms count as their full form: ㈜ and (주) are 주식회사, (유) 유한회사, (사) 사단법인,
    (재) 재단법인, only as a whole bracket: `(주식회사)` is 주식회사, never 사단법인 (**Fix**).
    One pass over the text (Aho-Corasick), so it is fast even without common-subexpression
    elimination (eager `select`).
    """
    full = (
        ascii_width(name)
        .fill_null("")
        .str.replace_all(r"\(\s*(주|유|사|재)\s*\)", "($1)")
        .str.replace_many(_SHORT_FORMS)
    )
    return full.str.extract_many(_FORM_NAMES).list.unique(maintain_order=True)


def contribution_rate(ym: pl.Expr) -> pl.Expr:
    """Total pension contribution rate of a month (Float64), from a `pl.Date` expression.

    9% through 2025, 9.5% in 2026, then +0.5 point each year up to 13% (reached in 2033).
    """
    year = ym.dt.year().cast(pl.Int32)
    stepped = pl.lit(BASE_RATE) + pl.lit(RATE_STEP) * (year - LAST_BASE_YEAR).cast(pl.Float64)
    return (
        pl.when(year <= LAST_BASE_YEAR)
        .then(pl.lit(BASE_RATE))
        .otherwise(pl.min_horizontal(stepped, pl.lit(MAX_RATE)))
        .cast(pl.Float64)
    )


def avg_monthly_wage(notice_amount: pl.Expr, subscriber_count: pl.Expr, ym: pl.Expr) -> pl.Expr:
    """Estimated average monthly wage (KRW): notice amount / subscribers / contribution rate;
    null when there are no subscribers."""
    return (
        pl.when(subscriber_count > 0)
        .then(notice_amount.cast(pl.Float64) / subscriber_count / contribution_rate(ym))
        .otherwise(pl.lit(None, pl.Float64))
    )
