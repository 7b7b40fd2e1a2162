"""SS rules step: the phone-board posts of one crawl from bronze rows to deal candidates, two ways.

Input: `bronze_frame(posts)`, one crawl file of the project's phone-board sample crawler
(`dag.ss_sample.render`: prices as `N만` / `NNNN원`, 현완, 번이, 기변, 공시, 선약, two-scenario
posts, advertorials, questions, chat, cities and stores, the author answering in comments)
read by the IS reader (`dag.is_crawl_file.read_crawl_file`), exactly the frame `ss_crawl_files`
stores.

Cases, each from the same posts to the candidate scenarios and the dropped-post counts:
- `ours`: `dag.ss_crawl_ingestion.normalize_posts` (the author's comments, city, channel, move
  type, contract, payment, advertorial score, intent, deal score: `dag.ss_rules.cues`) then
  `dag.ss_rules.deal_candidates` (dictionary match, prefilter, scenario split, model, carrier,
  capacity, add-ons, flags): Polars expressions over the whole frame.
- `original`: the replaced engine's way, re-implemented here: a Python loop over the posts (as
  dicts, prepared outside the timing) applying the same rules with `json`, `str` methods,
  `unicodedata` and `re` (the dictionary match is one compiled alternation of the alias
  spellings, longest first, scanned left to right: the same leftmost-first rule as ours, so no
  short alias matches inside a longer word). Only the rules' constants and the dictionary's
  spellings are shared with ours; every rule is written again per row.

`compare(ours, original)` checks that both return the same rows (the rule columns, floats to
1e-9) and the same drop counts.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from polars.testing import assert_frame_equal

from dag import ss_rules as rules
from dag.is_crawl_file import read_crawl_file
from dag.ss_common import UNKNOWN_MODEL
from dag.ss_crawl_ingestion import normalize_posts
from dag.ss_dictionary import MARK, Lexicon, carriers, models
from dag.ss_sample import render

CRAWLED = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
KST = ZoneInfo("Asia/Seoul")
INPUT_COLUMNS = ("post_id", "url", "title", "content", "author", "comments_json",
                 "comment_count", "timestamp", "crawled_at", "crawl_file", "position")
COMPARED = ("post_id", "url", "scenario", "source_posted_at", "city", "channel", "move_type",
            "contract", "payment", "adv_score", "intent", "deal_candidate_score", "is_candidate",
            "has_price", "op_comments", "scenario_text", "model", "carrier", "capacity",
            "addons_count", "flags")


@dataclass(frozen=True)
class RulesSizes:
    """Posts per case in one benchmark mode (the per-row peer runs on fewer; gated per post)."""

    posts: int
    original_posts: int
    rounds: int
    slow_rounds: int


SIZES = {
    "quick": RulesSizes(posts=30_000, original_posts=3_000, rounds=5, slow_rounds=3),
    "full": RulesSizes(posts=100_000, original_posts=10_000, rounds=5, slow_rounds=3),
}


# --- input --------------------------------------------------------------------------------------
def bronze_frame(posts: int) -> pl.DataFrame:
    """One sample crawl of `posts` posts as `ss_crawl_files` rows (deterministic)."""
    name, data = render(0, CRAWLED, posts)
    with tempfile.TemporaryDirectory(prefix="bench-ss-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_crawl_file(path, max_bytes=len(data)).posts


def rows_of(bronze: pl.DataFrame) -> list[dict[str, Any]]:
    """The posts as the replaced engine held them: one dict per post."""
    return bronze.select(INPUT_COLUMNS).to_dicts()


# --- ours ---------------------------------------------------------------------------------------
def ours(bronze: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    return rules.deal_candidates(normalize_posts(bronze))


# --- the replaced engine's way ------------------------------------------------------------------
_PRICE = re.compile(rules.PRICE)
_SCENARIO = re.compile(rules.SCENARIO_MARK)
_CAPACITY = re.compile(rules.CAPACITY)
_ADDONS = re.compile(rules.ADDONS)
_DROP = re.compile(r"[^0-9a-z가-힣+ ]")
_SPACES = re.compile(r" +")
_LATIN_RUN = re.compile(r"[0-9a-z+]+")
_INT32_MAX = 2**31 - 1


class _Matcher:
    """Dictionary match of one lexicon: the spellings as one alternation, longest first."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.pattern = re.compile("|".join(re.escape(p) for p in lexicon.patterns))
        self.names = lexicon.names

    def names_in(self, prepared: str) -> list[str]:
        found: list[str] = []
        for match in self.pattern.finditer(prepared):
            name = self.names[match.group(0)]
            if name not in found:
                found.append(name)
        return found


def _prepared(text: str) -> str:
    """NFKC, casefold, only `[0-9a-z가-힣+ ]` (single spaces), Latin runs marked."""
    lowered = unicodedata.normalize("NFKC", text).lower()
    kept = _SPACES.sub(" ", _DROP.sub(" ", lowered)).strip(" ")
    return _LATIN_RUN.sub(lambda m: f"{MARK}{m.group(0)}{MARK}", kept)


def _first(text: str, words: Iterable[str]) -> str | None:
    """The word found first in `text` (leftmost; at a tie the earlier word)."""
    best, at = None, -1
    for word in words:
        position = text.find(word)
        if position >= 0 and (at < 0 or position < at):
            best, at = word, position
    return best


def _any(text: str, words: Iterable[str]) -> bool:
    return any(word in text for word in words)


def _op_comments(post: dict[str, Any]) -> str:
    author = post["author"]
    raw = post["comments_json"]
    comments = json.loads(raw) if raw else []
    if author is None:
        return ""
    top = [c["content"] for c in comments if c.get("author") == author and c.get("content")
           is not None]
    replies = [r["content"] for c in comments for r in c.get("replies") or []
               if r.get("author") == author and r.get("content") is not None]
    return "\n".join(top + replies)


def _cues(body: str, op: str) -> dict[str, Any]:
    text = f"{body}\n{op}".lower()
    body_city, op_city = _first(body, rules.PROVINCES), _first(op, rules.PROVINCES)
    adv = min(sum(w for w, words in rules.ADV_GROUPS if _any(text, words)), 10) / 10
    price = _PRICE.search(text) is not None
    question = _any(text, rules.QUESTION)
    pos = min(sum(1 for w in rules.POSITIVE if w in text), 3)
    neg = min(sum(1 for w in rules.NEGATIVE if w in text), 3)
    asks = question and not price
    if adv >= 0.7:
        intent = "advertorial"
    elif asks:
        intent = "question"
    elif price or pos >= 2:
        intent = "deal"
    else:
        intent = "unclear"
    if asks:
        score = 0.1 + 0.05 * pos - 0.2 * neg
    else:
        score = 0.5 * float(price) + (0.15 if price else 0.08) * pos - 0.2 * neg
    if body_city is not None:
        channel = "오프라인"
    elif _any(text, rules.ONLINE):
        channel = "온라인"
    elif _any(text, rules.OFFLINE) or op_city is not None:
        channel = "오프라인"
    else:
        channel = "unknown"
    move = ("번호이동" if _any(text, ("번이", "번호이동")) else "기기변경"
            if _any(text, ("기변", "기기변경")) else "자급" if "자급" in text else None)
    contract = ("공시지원" if "공시" in text else "선택약정" if _any(text, ("선약", "선택약정"))
                else "무약정" if "무약정" in text else None)
    payment = ("현금완납" if _any(text, ("현완", "현금완납")) else "할부" if "할부" in text
               else None)
    return {
        "city": body_city or op_city, "channel": channel, "move_type": move,
        "contract": contract, "payment": payment, "adv_score": adv, "intent": intent,
        "deal_candidate_score": min(max(score, 0.0), 1.0),
        "is_candidate": not asks and (price or pos > 0) and intent not in ("question",
                                                                           "advertorial"),
        "has_price": price,
    }


def _capacity(text: str) -> str | None:
    found = _CAPACITY.search(text.lower())
    if found is None:
        return None
    if found.group(1) is not None:
        gb = int(found.group(1))
        return "1TB" if gb == 1024 else f"{gb}GB"
    return "1TB" if found.group(2) is not None else None


def _addons(text: str) -> int | None:
    found = _ADDONS.search(text)
    if found is None:
        return None
    digits = found.group(1)
    if not digits.isascii() or int(digits) > _INT32_MAX:
        return -1  # found but not a count: Polars' non-strict cast gives null (no fallback)
    return int(digits)


def _scenarios(content: str) -> list[str]:
    found = _SCENARIO.search(content)
    return [content] if found is None else [content[: found.start()], content[found.start():]]


def original(posts: list[dict[str, Any]], advertorial_high: float = 0.7,
             deal_low: float = 0.5) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rules step per post, in Python: (candidate scenarios, dropped posts by reason)."""
    carrier_match, model_match = _Matcher(carriers()), _Matcher(models())
    ordered = sorted(posts, key=lambda p: (p["crawled_at"], p["crawl_file"], p["position"]))
    latest = {(p["post_id"], p["url"]): p for p in ordered}
    drops = {"no_comments": 0, "no_carrier": 0, "no_model": 0}
    out: list[dict[str, Any]] = []
    for post in latest.values():
        title, content = post["title"], post["content"]
        op = _op_comments(post)
        cue = _cues(f"{title or ''}\n{content or ''}", op)
        if not post["comment_count"]:
            drops["no_comments"] += 1
            continue
        whole = f"{title or ''}\n{content or ''}\n{op}"
        prepared = _prepared(whole)
        post_carriers, post_models = carrier_match.names_in(prepared), model_match.names_in(
            prepared)
        post_carrier = post_carriers[0] if post_carriers else (
            "SKT" if post_models and "퀀텀" in post_models[0] else None)
        if post_carrier is None:
            drops["no_carrier"] += 1
            continue
        if not post_models:
            drops["no_model"] += 1
            continue
        posted = post["timestamp"]
        for number, part in enumerate(_scenarios(content or ""), start=1):
            text = f"{title or ''}\n{part}" if number == 1 else part
            prepared_part = _prepared(text)
            own_models = model_match.names_in(prepared_part)
            own_carriers = carrier_match.names_in(prepared_part)
            addons = _addons(text)
            if addons is None:
                addons = _addons(whole)
            addons = None if addons == -1 else addons
            carrier = own_carriers[0] if own_carriers else post_carrier
            strong = cue["adv_score"] >= advertorial_high
            flags = [
                "non_deal" if not cue["is_candidate"] or cue["intent"] != "deal" else None,
                f"intent_{cue['intent']}",
                "advertorial_high" if strong else None,
                "preblock_advertorial_low_deal_score"
                if strong and cue["deal_candidate_score"] < deal_low else None,
                "addons_count_suspicious"
                if carrier in ("KT", "LGU+") and addons is not None and addons > 3 else None,
                "dict_conflict_model" if len(own_models) > 1 else None,
                "dict_conflict_carrier" if len(post_carriers) > 1 else None,
            ]
            out.append({
                "post_id": post["post_id"], "url": post["url"], "scenario": number,
                "source_posted_at": None if posted is None else posted.astimezone(KST).date(),
                **cue, "op_comments": op, "scenario_text": text,
                "model": (own_models or post_models or [UNKNOWN_MODEL])[0],
                "carrier": carrier,
                "capacity": _capacity(text) or _capacity(whole),
                "addons_count": addons,
                "flags": [f for f in flags if f is not None],
            })
    return out, drops


# --- same output ----------------------------------------------------------------------------------
def compare(ours_out: tuple[pl.DataFrame, dict[str, int]],
            original_out: tuple[list[dict[str, Any]], dict[str, int]]) -> int:
    """Assert both cases returned the same candidate rows and drop counts; the rows compared."""
    frame, drops = ours_out
    rows, original_drops = original_out
    assert drops == original_drops, f"dropped posts differ: ours {drops}, original {original_drops}"
    mine = frame.select(COMPARED).with_columns(pl.col("scenario").cast(pl.Int64)).sort(
        "post_id", "url", "scenario")
    schema = mine.schema
    theirs = pl.DataFrame(rows, schema=schema).sort(
        "post_id", "url", "scenario")
    assert_frame_equal(mine, theirs, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    return mine.height
