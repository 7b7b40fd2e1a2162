"""SS dictionary: carriers and phone models with their aliases (seed data), and matching text
against them.

The seed `dag/seed/ss_dictionary.json` is edited by hand and loaded as the gold table
`ss_dictionary`. Matching is vectorised (Aho-Corasick through `str.extract_many`):

- key-B normalisation (`key_b`): NFKC, casefold, keep `[0-9a-zA-Z가-힣+ ]`, strip spaces: the
  dictionary's `aliases_keyb`;
- match text (`match_text`): the same normalisation keeping single spaces, with every run of
  `[0-9a-z+]` wrapped in `\\x01` marks. Aliases are wrapped the same way, so a Latin alias only
  matches a whole Latin run: `sk` never matches inside `skt`, `lg` inside `lgu+`, `kt` inside
  `market`, while Hangul aliases still match with particles attached (`케이티에서`);
- longest match first: the patterns are ordered longest first and the matcher is leftmost-first.

The rules step matches faster with the same result (`raw_match_text`, `Lexicon.matches`): instead
of rewriting every text (three regex replacements per text), one regex of the spellings scans the
text as posted, a space of a spelling matching any run of dropped characters and a mark matching
an ASCII word boundary (`+` is swapped for `_`, a word character, and `_` for a space first, so
the boundaries are those of `[0-9a-z+]` runs); only texts with characters outside ASCII and
Hangul syllables are NFKC-normalised and lowercased first (for the others both are no-ops, as
the regex ignores ASCII case). Alternation is leftmost-first in the same order, so the matches
are those `match_text` + `all_names` find; each is mapped back through its spelling without marks.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.ss import SsDictionary
from dag.common import elapsed
from dag.ss_common import CARRIERS, LAKE, ss_tags

SEED = Path(__file__).resolve().parent / "seed" / "ss_dictionary.json"
MARK = "\x01"
_DROP = r"[^0-9a-z가-힣+ ]"
_LATIN_RUN = r"[0-9a-z+]+"
_UNUSUAL = r"[^\x00-\x7f\uac00-\ud7a3]"  # characters NFKC or lowercasing may change
_SEPARATORS = r"[^0-9A-Za-z_\uac00-\ud7a3]+"  # dropped characters in `raw_match_text`
_BOUNDARY = r"(?-u:\b)"  # between `[0-9A-Za-z_]` and anything else (Hangul included)
_SCRIPT_CHANGE = re.compile(r"(?<=[가-힣])(?=[0-9a-z+])|(?<=[0-9a-z+])(?=[가-힣])")


def key_b(text: pl.Expr) -> pl.Expr:
    """Key-B: NFKC, casefold, only `[0-9a-zA-Z가-힣+]` kept (spaces stripped)."""
    return (
        text.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(_DROP, "")
        .str.replace_all(" ", "", literal=True)
    )


def match_text(text: pl.Expr) -> pl.Expr:
    """Text prepared for matching: key-B letters with single spaces, Latin runs wrapped."""
    return (
        text.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(_DROP, " ")
        .str.replace_all(r" +", " ")
        .str.strip_chars(" ")
        .str.replace_all(_LATIN_RUN, f"{MARK}${{0}}{MARK}")
    )


def is_plain(text: pl.Expr) -> pl.Expr:
    """Whether `text` has only ASCII and Hangul syllables: NFKC leaves it as it is, and
    lowercasing changes only ASCII letters."""
    return ~text.str.contains(_UNUSUAL)


def raw_match_text(text: pl.Expr, *, plain: bool = False) -> pl.Expr:
    """Text prepared for `Lexicon.matches`: as posted when `is_plain`, else NFKC, lowercased
    and dropped characters spaced; then `_` spaced and `+` made `_`. `plain=True`: the caller
    has checked that every text `is_plain` (no per-text check).

    `raw_match_text(a + "\\n" + b)` is `raw_match_text(a) + "\\n" + raw_match_text(b)` as far
    as matching goes (a newline is a normalisation boundary and a dropped character)."""
    if not plain:
        folded = pl.when(~is_plain(text)).then(text).str.normalize("NFKC").str.to_lowercase()
        text = pl.coalesce(folded.str.replace_all(_DROP, " "), text)
    return text.str.replace_many({"_": " ", "+": "_"})


def _raw_regex(spelling: str) -> str:
    """The regex of one `match_text` spelling over `raw_match_text` (see the module doc)."""
    parts: list[str] = []
    for char in spelling:
        if char == MARK:
            parts.append(_BOUNDARY)
        elif char == " ":
            parts.append(_SEPARATORS)
        elif char == "+":
            parts.append("_")
        elif re.fullmatch(r"[0-9a-z가-힣]", char):
            parts.append(char)
        else:
            raise ValueError(f"unexpected character {char!r} in spelling {spelling!r}")
    return "".join(parts)


RAW_SEPARATOR_CHARS = "".join(  # the separators of `raw_match_text`: ASCII only (see there)
    chr(c) for c in range(128) if not re.fullmatch(r"[0-9A-Za-z_]", chr(c))
)


def _char_class(chars: str | frozenset[str]) -> str:
    """A regex class of exactly `chars` (an empty one matches nothing)."""
    if not chars:
        return r"[^\s\S]"
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars)) + "]"


_RAW_SEPARATOR = _char_class(RAW_SEPARATOR_CHARS)


def _around_spaces(spelling: str) -> tuple[set[str], set[str]]:
    """The characters right before and right after a space of a spelling, as
    `raw_match_text` has them (either ASCII case)."""
    chars = [c for c in spelling.replace("+", "_") if c != MARK]
    before = {chars[i - 1] for i, c in enumerate(chars) if c == " "}
    after = {chars[i + 1] for i, c in enumerate(chars) if c == " "}
    return ({v for c in before for v in (c, c.upper())},
            {v for c in after for v in (c, c.upper())})


def _raw_key(spelling: str) -> str:
    """A match's text lowercased with separators as one space (see `Lexicon.named`)."""
    return spelling.replace(MARK, "").replace("+", "_")


def _python_match_text(text: str) -> str:
    """`match_text` of one alias (dictionary side, a few hundred strings)."""
    lowered = unicodedata.normalize("NFKC", text).lower()
    kept = re.sub(r" +", " ", re.sub(_DROP, " ", lowered)).strip(" ")
    return re.sub(_LATIN_RUN, lambda m: f"{MARK}{m[0]}{MARK}", kept)


def alias_variants(alias: str) -> set[str]:
    """The spellings of an alias matched in text: as given, without spaces, and with a space
    where Hangul meets Latin letters or digits (`S25울트라`, `S25 울트라`)."""
    lowered = unicodedata.normalize("NFKC", alias).lower()
    bare = re.sub(r"\s+", "", lowered)
    spaced = _SCRIPT_CHANGE.sub(" ", bare)
    return {_python_match_text(v) for v in (lowered, bare, spaced)} - {""}


@dataclass(frozen=True)
class Lexicon:
    """One kind of dictionary entry (carriers or models) ready for matching."""

    patterns: list[str]  # alias spellings, longest first
    names: dict[str, str]  # spelling -> canonical name
    regex: str  # the spellings over `raw_match_text`, in the same order (leftmost-first)
    keys: dict[str, str]  # spelling without marks, `+` as `_` -> canonical name
    cased: dict[str, str]  # `keys` and their uppercase and titled forms -> canonical name
    before_space: frozenset[str]  # characters right before a space of a spelling
    after_space: frozenset[str]  # characters right after one

    def matches(self, raw: pl.Expr) -> pl.Expr:
        """The matches (as found) in text prepared by `raw_match_text`."""
        return raw.str.extract_all(self.regex)

    def named(self, found: pl.Expr, *, exact: bool = True) -> pl.Expr:
        """The distinct canonical names of `found` matches, in order of appearance.

        `exact=False` looks each match up as found (a spelling lowercase, uppercase or titled),
        null for any other (mixed case, other separators): for callers that check for nulls and
        take the exact way (lowercased, separators as one space) only when there are some."""
        if exact:
            key = pl.element().str.to_lowercase().str.replace_all(_SEPARATORS, " ")
            named = found.list.eval(key.replace_strict(self.keys))
        else:
            named = found.list.eval(pl.element().replace_strict(self.cased, default=None))
        return named.list.unique(maintain_order=True)

    def names_of(self, raw: pl.Expr) -> pl.Expr:
        """`all_names` of the text `raw` was prepared from by `raw_match_text`."""
        return self.named(self.matches(raw))

    def may_span(self, left: pl.Expr, right: pl.Expr) -> pl.Expr:
        """Whether a match in `left + "\\n" + right` (both from `raw_match_text`) could cross
        the newline: only a spelling with a space there, so `left` must end (separators aside)
        with a character found before a space of a spelling and `right` start with one found
        after a space. Where not, the matches of the joined text are `left`'s then `right`'s
        (the leftmost-first scan of one part never sees the other)."""
        return self.ends_before_space(left) & self.starts_after_space(right)

    def ends_before_space(self, text: pl.Expr) -> pl.Expr:
        """Whether `text` (from `raw_match_text`) ends, trailing separators aside, with a
        character found before a space of a spelling (false for null): the left side of
        `may_span`, one end-anchored regex (scanned from the end, no strings built)."""
        pattern = f"{_char_class(self.before_space)}{_RAW_SEPARATOR}*\\z"
        return text.str.contains(pattern).fill_null(False)

    def starts_after_space(self, text: pl.Expr) -> pl.Expr:
        """Whether `text` starts, leading separators aside, with a character found after a
        space of a spelling (false for null): the right side of `may_span`."""
        pattern = f"\\A{_RAW_SEPARATOR}*{_char_class(self.after_space)}"
        return text.str.contains(pattern).fill_null(False)

    def all_names(self, text: pl.Expr) -> pl.Expr:
        """The distinct canonical names found in prepared text, in order of appearance."""
        found = text.str.extract_many(self.patterns, leftmost=True)
        return found.list.eval(pl.element().replace_strict(self.names)).list.unique(
            maintain_order=True
        )

    def first(self, text: pl.Expr) -> pl.Expr:
        """The canonical name of the first (longest at its position) match, null when none."""
        return self.all_names(text).list.first()


def lexicon(entries: list[dict[str, Any]]) -> Lexicon:
    names: dict[str, str] = {}
    for entry in entries:
        for alias in [entry["name"], *entry["aliases"]]:
            for variant in alias_variants(alias):
                known = names.setdefault(variant, entry["name"])
                if known != entry["name"]:
                    raise ValueError(
                        f"{SEED.name}: alias {alias!r} of {entry['name']!r} is also an alias of "
                        f"{known!r}"
                    )
    patterns = sorted(names, key=lambda v: (-len(v), v))
    regex = "(?i)(?:" + "|".join(_raw_regex(p) for p in patterns) + ")"
    keys = {_raw_key(p): n for p, n in names.items()}
    # upper() / title() of distinct lowercase keys are distinct: no key maps to two names
    cased = keys | {f(k): n for k, n in keys.items() for f in (str.upper, str.title)}
    around = [_around_spaces(p) for p in patterns]
    return Lexicon(patterns, names, regex, keys, cased,
                   frozenset(c for b, _ in around for c in b),
                   frozenset(c for _, a in around for c in a))


@cache
def seed() -> dict[str, Any]:
    """The committed dictionary (carriers, models), checked: every carrier is allowed."""
    doc = json.loads(SEED.read_text(encoding="utf-8"))
    unknown = [c["name"] for c in doc["carriers"] if c["name"] not in CARRIERS]
    if unknown:
        raise ValueError(f"{SEED}: carriers {unknown} are not among {CARRIERS}")
    return doc


@cache
def carriers() -> Lexicon:
    return lexicon(seed()["carriers"])


@cache
def models() -> Lexicon:
    return lexicon(seed()["models"])


def model_capacities() -> dict[str, list[int]]:
    """Capacities (GB) of each model, smallest first."""
    return {m["name"]: sorted(m["capacities"]) for m in seed()["models"]}


def dictionary_frame() -> pl.DataFrame:
    """The dictionary as rows of `SsDictionary`."""
    rows = [
        {"kind": kind, "name": e["name"], "aliases": e["aliases"],
         "capacities": sorted(e.get("capacities", []))}
        for kind, entries in (("carrier", seed()["carriers"]), ("model", seed()["models"]))
        for e in entries
    ]
    schema = polars_schema(SsDictionary)
    frame = pl.DataFrame(rows, schema={k: schema[k] for k in ("kind", "name", "aliases",
                                                              "capacities")})
    return frame.with_columns(
        aliases_keyb=pl.col("aliases").list.eval(key_b(pl.element())).list.unique(
            maintain_order=True
        )
    ).select(list(schema))


@dg.asset(
    group_name="SS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake", "json"},
    tags=ss_tags("gold"),
    metadata={"dagster/column_schema": column_schema(SsDictionary), "seed": str(SEED.name)},
)
def ss_dictionary() -> dg.Output[pl.LazyFrame]:
    """Carriers (SKT, KT, LGU+, MVNO) and about 40 phone models with the aliases posters use and
    the models' capacities, from the seed committed in the repository."""
    started = time.perf_counter()
    frame = dictionary_frame()
    return dg.Output(
        frame.lazy(),
        metadata={
            "carriers": int((frame["kind"] == "carrier").sum()),
            "models": int((frame["kind"] == "model").sum()),
            "aliases": int(frame["aliases"].list.len().sum()),
            "dagster/row_count": frame.height,
            "execution_time_sec": elapsed(started),
        },
    )


ss_dictionary_contract = contract_check(ss_dictionary, SsDictionary)
