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
    return Lexicon(sorted(names, key=lambda v: (-len(v), v)), names)


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
