"""SS rules on hand-written posts: dictionary matching, cues, scores, scenarios, drops."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dag.ss_crawl_ingestion import normalize_posts
from dag.ss_dictionary import (
    RAW_SEPARATOR_CHARS,
    carriers,
    dictionary_frame,
    is_plain,
    key_b,
    match_text,
    models,
    raw_match_text,
)
from dag.ss_rules import (
    ADV_GROUPS,
    CAPACITY,
    NEGATIVE,
    OFFLINE,
    ONLINE,
    POSITIVE,
    PRICE,
    PROVINCES,
    QUESTION,
    capacity,
    cues,
    deal_candidates,
)


def names(lex, texts: list[str]) -> list[list[str]]:
    frame = pl.DataFrame({"t": texts})
    return frame.select(lex.all_names(match_text(pl.col("t")))).to_series().to_list()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SKT로 번이 했어요", ["SKT"]),
        ("skt 갤럭시", ["SKT"]),  # `sk` must not match inside `skt`
        ("lgu+ 기변", ["LGU+"]),  # `lg` must not match inside `lgu+`
        ("LG U+ 유플러스 매장", ["LGU+"]),
        ("market 가격 조사", []),  # `kt` inside a Latin word
        ("kt에서 개통", ["KT"]),  # Hangul particle attached is fine
        ("케이티 공시", ["KT"]),
        ("알뜰폰 요금제", ["MVNO"]),
        ("자급제로 샀어요", ["MVNO"]),
        ("sk텔레콤 성지", ["SKT"]),
        ("ask me", []),
    ],
)
def test_carriers_match_without_over_matching(text: str, expected: list[str]) -> None:
    assert names(carriers(), [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("갤럭시S25울트라 256", ["갤럭시 S25 울트라"]),  # longest first, not S25
        ("s25 울트라 현완", ["갤럭시 S25 울트라"]),
        ("S25+ 번이", ["갤럭시 S25 플러스"]),
        ("s25 256기가", ["갤럭시 S25"]),
        ("s255 모델", []),  # digits continue the Latin run
        ("아이폰16프로맥스 1테라", ["아이폰 16 프로 맥스"]),
        ("아이폰 16 프로 256", ["아이폰 16 프로"]),
        ("Ｓ２４ ＦＥ 반값", ["갤럭시 S24 FE"]),  # NFKC full-width
        ("폴드6 그리고 플립6", ["갤럭시 Z 폴드6", "갤럭시 Z 플립6"]),
    ],
)
def test_models_match_longest_first(text: str, expected: list[str]) -> None:
    assert names(models(), [text]) == [expected]


def test_key_b_normalisation() -> None:
    out = pl.select(key_b(pl.lit("  Ｌｇ U+ 엘지! (유플) "))).item()
    assert out == "lgu+엘지유플"


def test_dictionary_has_the_four_carriers_and_about_forty_models() -> None:
    frame = dictionary_frame()
    assert sorted(frame.filter(pl.col("kind") == "carrier")["name"]) == [
        "KT",
        "LGU+",
        "MVNO",
        "SKT",
    ]
    assert 38 <= frame.filter(pl.col("kind") == "model").height <= 45
    assert frame.filter(pl.col("name") == "SKT")["aliases_keyb"].to_list()[0][:2] == [
        "skt",
        "sk텔레콤",
    ]


def _cues(body: str, op: str = "") -> dict:
    frame = pl.DataFrame({"body": [body], "op": [op]})
    return frame.select(cues(pl.col("body"), pl.col("op"))).row(0, named=True)


def test_deal_post_cues() -> None:
    got = _cues("SKT S25 번이 공시 현완 35만\n서울 강남 성지 방문")
    assert got["city"] == "서울" and got["channel"] == "오프라인"
    assert (got["move_type"], got["contract"], got["payment"]) == (
        "번호이동",
        "공시지원",
        "현금완납",
    )
    assert got["intent"] == "deal" and got["has_price"] and got["is_candidate"]
    # 0.5 (price) + 0.15 x 3 positive tokens (capped): 0.95
    assert got["deal_candidate_score"] == pytest.approx(0.95)


def test_question_without_price_is_no_candidate() -> None:
    got = _cues("아이폰16 번이 어디가 좋을까요? 질문드립니다")
    assert got["intent"] == "question" and not got["is_candidate"]
    assert got["deal_candidate_score"] == pytest.approx(0.1 + 0.05)


def test_advertorial_scores_all_three_cue_groups() -> None:
    got = _cues("네이버 카페 가입 후 링크 클릭! 상담 톡 문의 현완 0원")
    assert got["adv_score"] == 0.7 and got["intent"] == "advertorial"
    assert not got["is_candidate"]


def test_online_channel_and_city_from_op_comments() -> None:
    assert _cues("쿠팡 링크로 샀어요 현완 10만")["channel"] == "온라인"
    got = _cues("KT 플립6 기변 할부 20만", op="부산입니다")
    assert got["city"] == "부산" and got["channel"] == "오프라인"
    assert got["move_type"] == "기기변경" and got["payment"] == "할부"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256기가", "256GB"),
        ("512gb", "512GB"),
        ("1TB 모델", "1TB"),
        ("1024g", "1TB"),
        ("64만원", None),
        ("128 GB", "128GB"),
        ("가격 256만", None),
    ],
)
def test_capacity(text: str, expected: str | None) -> None:
    assert pl.select(capacity(pl.lit(text))).item() == expected


def _post(post_id: str, title: str, content: str, comments: list[dict], author: str = "op") -> dict:
    return {
        "post_id": post_id,
        "url": f"u{post_id}",
        "title": title,
        "content": content,
        "author": author,
        "comments_json": json.dumps(comments, ensure_ascii=False),
        "comment_count": sum(1 + len(c.get("replies", [])) for c in comments),
    }


def _bronze(posts: list[dict]) -> pl.DataFrame:
    at = pl.datetime(2026, 12, 1, 1, time_zone="UTC")
    return pl.DataFrame(posts).with_columns(
        crawl_file=pl.lit("ppomppu_phone_2026-12-01_10-00-00"),
        site=pl.lit("ppomppu"),
        board=pl.lit("phone"),
        position=pl.int_range(pl.len()).cast(pl.Int32),
        timestamp=at,
        crawled_at=at,
    )


REPLY = [
    {
        "author": "x",
        "content": "어디죠?",
        "replies": [{"author": "op", "content": "대구 동성로점 부가 4개", "replies": []}],
    }
]


def test_rules_step_splits_two_scenarios_and_counts_drops() -> None:
    posts = normalize_posts(
        _bronze(
            [
                _post(
                    "1",
                    "SKT S25 울트라 번이 현완 35만",
                    "256기가 공시\n두번째\nKT 플립6 512gb 기변 20만",
                    REPLY,
                ),
                _post("2", "퀀텀6 기변 현완 0원 공시", "번이도 가능", REPLY),  # Quantum implies SKT
                _post("3", "갤럭시 S25 현완 20만", "좋네요", REPLY),  # no carrier
                _post("4", "SKT 현완 20만", "번이", REPLY),  # no model
                _post("5", "KT S25 현완 10만", "번이", []),  # no comments
            ]
        )
    )
    assert posts.filter(pl.col("post_id") == "1")["op_comments"].item() == "대구 동성로점 부가 4개"
    out, dropped = deal_candidates(posts)
    assert dropped == {"no_comments": 1, "no_carrier": 1, "no_model": 1}
    rows = {(r["post_id"], r["scenario"]): r for r in out.iter_rows(named=True)}
    assert set(rows) == {("1", 1), ("1", 2), ("2", 1)}
    first, second = rows[("1", 1)], rows[("1", 2)]
    assert (first["model"], first["carrier"], first["capacity"]) == (
        "갤럭시 S25 울트라",
        "SKT",
        "256GB",
    )
    assert (second["model"], second["carrier"], second["capacity"]) == (
        "갤럭시 Z 플립6",
        "KT",
        "512GB",
    )
    assert second["addons_count"] == 4 and "addons_count_suspicious" in second["flags"]
    assert "addons_count_suspicious" not in first["flags"]  # SKT
    assert rows[("2", 1)]["carrier"] == "SKT" and rows[("2", 1)]["model"] == "갤럭시 퀀텀6"


def test_two_carriers_flag_a_conflict_and_question_flags_non_deal() -> None:
    posts = normalize_posts(
        _bronze(
            [
                _post("1", "SKT랑 KT 중에 S25 어디가 좋을까요?", "궁금합니다", REPLY),
            ]
        )
    )
    out, _ = deal_candidates(posts)
    flags = out["flags"].to_list()[0]
    assert {"dict_conflict_carrier", "non_deal", "intent_question"} <= set(flags)


def _op(content: str) -> dict:
    return {"author": "op", "content": content, "replies": []}


def test_names_across_pieces_scenarios_and_comments() -> None:
    """A post's names: the joined text's where a match may cross pieces (post 1: content into
    the comments; 2: scenario 2 into them; 4: one comment into the next), else each piece's in
    order (3: scenario 2's carrier; 5: the comments' only). Checked against the benchmark's
    per-row peer."""
    posts = normalize_posts(
        _bronze(
            [
                _post("1", "SKT 번이 현완 35만", "갤럭시", [*REPLY, _op("S25 울트라 256기가")]),
                _post("2", "KT 번이 현완 35만", "폴드6 256\n두번째 조건\nskt 갤럭시",
                      [*REPLY, _op("S25 울트라")]),
                _post("3", "LG U+ 번이", "아이폰16 프로\n2안 KT 아이폰16", [_op("부가 5개")]),
                _post("4", "번이 현완", "아이폰16 프로", [_op("LG"), _op("U+ 입니다")]),
                _post("5", "S25 번이 현완 10만", "좋아요", [_op("kt 입니다")]),
            ]
        )
    )
    out, dropped = deal_candidates(posts)
    got = {
        (r["post_id"], r["scenario"]): (r["post_models"], r["post_carriers"], r["model"],
                                        r["carrier"])
        for r in out.iter_rows(named=True)
    }
    fold, s25u = "갤럭시 Z 폴드6", "갤럭시 S25 울트라"
    assert got == {
        ("1", 1): ([s25u], ["SKT"], s25u, "SKT"),
        ("2", 1): ([fold, s25u], ["KT", "SKT"], fold, "KT"),
        ("2", 2): ([fold, s25u], ["KT", "SKT"], fold, "SKT"),
        ("3", 1): (["아이폰 16"], ["LGU+", "KT"], "아이폰 16", "LGU+"),
        ("3", 2): (["아이폰 16"], ["LGU+", "KT"], "아이폰 16", "KT"),
        ("4", 1): (["아이폰 16"], ["LGU+"], "아이폰 16", "LGU+"),
        ("5", 1): (["갤럭시 S25"], ["KT"], "갤럭시 S25", "KT"),
    }
    assert dropped == {"no_comments": 0, "no_carrier": 0, "no_model": 0}


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet="가나다라폰 ", max_size=10),
    st.text(alphabet="abxyz019+", max_size=4),
    st.text(alphabet="가나다라폰 ", max_size=10),
)
def test_short_latin_aliases_never_match_inside_a_longer_latin_word(
    before: str, glued: str, after: str
) -> None:
    # `sk` / `kt` / `lg` glued to other Latin letters or digits is a different word
    text = f"{before}sk{glued}x{after} {before}q{glued}kt{after} {before}lg{glued}z{after}"
    assert names(carriers(), [text]) == [[]]


# --- the fast paths against the straightforward rules ----------------------------------------
# Pieces of aliases, cue words, case and width variants, separators, `_`, `+`, NFKC-sensitive
# characters (full width, circled digits, ㎇, İ, compatibility jamo) and the Latin letters and
# digits aliases are made of.
PIECES = [
    *"갤럭시폴드플립아이폰프로맥스울트라퀀텀에스케이티엘지유플러스알뜰폰자급제텔레콤",
    *"skltgupromaxfezSKTLGU0123456789+_ -.,\n!?/~",
    *"ＳＫＴ２５Ｆ①㎇İㅋ",
    "s25", "S25", "kt", "KT", "lgu+", "LG U+", "iPhone", "16", "pro", "Max", " 울트라", "fold6",
    "Ultra", "갤럭시 ", "아이폰16", "유플립6", "sk텔레콤",
    "번이", "번호이동", "기변", "공시", "선약", "현완", "할부", "성지", "품절", "카드", "제휴카드",
    "카페 가입", "링크", "URL", "Http", "질문", "?", "예약", "256기가", "1TB", "64만", "35,000원",
    "서울", "부산", "경기",
]
TEXTS = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


def _reference_names(lex, texts: list[str]) -> list[list[str]]:
    return names(lex, texts)


def _fast_names(lex, texts: list[str], *, plain: bool = False) -> list[list[str]]:
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    found = frame.select(lex.matches(raw_match_text(pl.col("t"), plain=plain)))
    exact = found.select(lex.named(pl.first())).to_series().to_list()
    looked_up = found.select(lex.named(pl.first(), exact=False)).to_series().to_list()
    # the lookup as found is the exact names where it found every match
    assert all(
        got == want for got, want in zip(looked_up, exact, strict=True) if None not in got
    )
    return exact


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=8))
def test_raw_text_matching_finds_what_match_text_finds(texts: list[str]) -> None:
    for lex in (carriers(), models()):
        assert _fast_names(lex, texts) == _reference_names(lex, texts)
        plain = [t for t in texts if pl.select(is_plain(pl.lit(t))).item()]
        if plain:  # the per-text check skipped: the same for plain texts
            assert _fast_names(lex, plain, plain=True) == _reference_names(lex, plain)


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS)
def test_pieces_no_match_may_span_match_as_the_joined_text(left: str, right: str) -> None:
    frame = pl.DataFrame({"l": [left], "r": [right]})
    raw_l, raw_r = raw_match_text(pl.col("l")), raw_match_text(pl.col("r"))
    for lex in (carriers(), models()):
        spans = frame.select(lex.may_span(raw_l, raw_r)).item()
        joined = _reference_names(lex, [f"{left}\n{right}"])[0]
        apart = _reference_names(lex, [left])[0] + _reference_names(lex, [right])[0]
        if not spans:
            assert joined == list(dict.fromkeys(apart))


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=8))
def test_piece_ends_are_the_characters_at_the_join(texts: list[str]) -> None:
    """`may_span`'s anchored regexes read the last / first character that is no separator."""
    frame = pl.DataFrame({"t": texts}).with_columns(raw_match_text(pl.col("t")))
    raw = pl.col("t")
    last = raw.str.strip_chars_end(RAW_SEPARATOR_CHARS).str.slice(-1)
    first = raw.str.strip_chars_start(RAW_SEPARATOR_CHARS).str.slice(0, 1)
    for lex in (carriers(), models()):
        got = frame.select(lex.ends_before_space(raw), lex.starts_after_space(raw).alias("s"))
        want = frame.select(last.is_in(list(lex.before_space)),
                            first.is_in(list(lex.after_space)).alias("s"))
        assert got.rows() == want.rows()

def test_a_match_across_pieces_is_caught() -> None:
    frame = pl.DataFrame({"l": ["번이 갤럭시"], "r": ["S25 울트라 현완"]})
    assert frame.select(models().may_span(raw_match_text(pl.col("l")),
                                          raw_match_text(pl.col("r")))).item()


def _reference_cues(body: str, op: str) -> dict:
    """The cue rules written plainly (lowercased text, one `in` per word)."""
    text = f"{body}\n{op}".lower()

    def first(words: tuple[str, ...], where: str) -> str | None:
        found = [(where.find(w), i, w) for i, w in enumerate(words) if w in where]
        return min(found)[2] if found else None

    def has(words: tuple[str, ...]) -> bool:
        return any(w in text for w in words)

    price = re.search(PRICE, text) is not None
    pos, neg = (min(sum(w in text for w in ws), 3) for ws in (POSITIVE, NEGATIVE))
    adv = min(sum(weight for weight, words in ADV_GROUPS if has(words)), 10) / 10
    body_city, op_city = first(PROVINCES, body), first(PROVINCES, op)
    asks = has(QUESTION) and not price
    channel = ("오프라인" if body_city else "온라인" if has(ONLINE) else "오프라인"
               if has(OFFLINE) or op_city else "unknown")
    return {
        "city": body_city or op_city, "channel": channel, "adv_score": adv,
        "has_price": price,
        "move_type": "번호이동" if has(("번이", "번호이동")) else "기기변경"
        if has(("기변", "기기변경")) else "자급" if "자급" in text else None,
        "contract": "공시지원" if "공시" in text else "선택약정" if has(("선약", "선택약정"))
        else "무약정" if "무약정" in text else None,
        "payment": "현금완납" if has(("현완", "현금완납")) else "할부" if "할부" in text else None,
        "intent": "advertorial" if adv >= 0.7 else "question" if asks else "deal"
        if price or pos >= 2 else "unclear",
        "deal_candidate_score": min(max(
            0.1 + 0.05 * pos - 0.2 * neg if asks
            else 0.5 * price + (0.15 if price else 0.08) * pos - 0.2 * neg, 0.0), 1.0),
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=8))
def test_cues_match_the_plain_rules(posts: list[tuple[str, str]]) -> None:
    frame = pl.DataFrame({"body": [b for b, _ in posts], "op": [o for _, o in posts]})
    got = frame.select(cues(pl.col("body"), pl.col("op"))).to_dicts()
    for row, (body, op) in zip(got, posts, strict=True):
        want = _reference_cues(body, op)
        scores = ("adv_score", "deal_candidate_score")  # Polars divides by multiplying: ~1e-16
        assert {k: row[k] for k in want if k not in scores} == {
            k: v for k, v in want.items() if k not in scores}
        assert [row[k] for k in scores] == pytest.approx([want[k] for k in scores])


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=8))
def test_capacity_matches_the_rule_on_lowercased_text(texts: list[str]) -> None:
    def reference(text: str) -> str | None:
        found = re.search(CAPACITY, text.lower())
        if found is None:
            return None
        if found.group(1) is not None:
            return "1TB" if found.group(1) == "1024" else f"{found.group(1)}GB"
        return "1TB"

    got = pl.DataFrame({"t": texts}).select(capacity(pl.col("t"))).to_series().to_list()
    assert got == [reference(t) for t in texts]
