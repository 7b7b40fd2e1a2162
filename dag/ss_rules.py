"""SS rules, as Polars expressions: post normalisation, cue scoring and the deal-candidate step.

Everything here takes and returns frames or expressions (no row loops), so the benchmark's peer
(a per-row Python implementation, the replaced engine's way) can be compared on the same input.
ORIGINAL_IS_SS_DS.md section 2.3 holds the rules; what differs is said where it does.
"""

from __future__ import annotations

import polars as pl

from dag.ss_common import UNKNOWN_MODEL
from dag.ss_dictionary import carriers, match_text, models

PROVINCES = tuple(
    "서울 부산 대구 인천 광주 대전 울산 세종 경기 강원 충북 충남 전북 전남 경북 경남 제주".split()
)
ONLINE = ("쿠팡", "링크", "네이버", "온라인", "url", "http")
OFFLINE = ("성지", "대리점", "방문", "매장", "예약")
ADV_GROUPS = (  # (weight in tenths, cues): each group counts once
    (2, ("제휴카드", "카드", "상담", "예약", "가입")),
    (3, ("네이버", "링크", "클릭", "카페 가입")),
    (2, ("문의", "톡", "연락")),
)
QUESTION = ("?", "질문", "궁금", "할까요", "인가요", "맞나요", "어떤가요", "어때요")
POSITIVE = ("현완", "번이", "기변", "공시", "선약", "성지", "개통", "요금제", "완납", "할부원금")
NEGATIVE = ("품절", "마감", "종료", "사기", "판매완료")
PRICE = r"\d+(?:\.\d+)?\s*만|\d{1,3}(?:,\d{3})+\s*원|\d{4,}\s*원"
SCENARIO_MARK = r"(?m)^[ \t]*(?:두번째|둘째|2안|2번째)"
SPLIT = "\x02"
CAPACITY = r"(?:^|[^0-9.])(64|128|256|512|1024)\s*(?:gb|g|기가)|(?:^|[^0-9.])(1)\s*(?:tb|테라)"
ADDONS = r"부가\S*\s*(\d+)\s*개"
COMMENT = pl.Struct({"author": pl.String, "content": pl.String,
                     "replies": pl.List(pl.Struct({"author": pl.String, "content": pl.String}))})


def _first_of(text: pl.Expr, words: tuple[str, ...]) -> pl.Expr:
    return text.str.extract_many(list(words), leftmost=True).list.first()


def _count_of(text: pl.Expr, words: tuple[str, ...], cap: int) -> pl.Expr:
    """How many distinct `words` occur, at most `cap`."""
    hits = pl.sum_horizontal(text.str.contains(w, literal=True).cast(pl.Int32) for w in words)
    return pl.min_horizontal(hits, pl.lit(cap, pl.Int32))


def op_comment_frame(frame: pl.DataFrame) -> pl.Series:
    """`op_comments` of each row of `frame` (columns row, author, comments_json)."""
    tree = frame.select(
        "row", "author", c=pl.col("comments_json").str.json_decode(pl.List(COMMENT))
    ).explode("c").unnest("c", separator="_")
    replies = tree.select("row", "author", r=pl.col("c_replies")).explode("r").unnest(
        "r", separator="_"
    )
    own = pl.concat([
        tree.select("row", "author", ca=pl.col("c_author"), text=pl.col("c_content")),
        replies.select("row", "author", ca=pl.col("r_author"), text=pl.col("r_content")),
    ]).filter((pl.col("ca") == pl.col("author")) & pl.col("text").is_not_null())
    joined = own.group_by("row", maintain_order=True).agg(pl.col("text").str.join("\n"))
    return frame.select("row").join(joined, on="row", how="left")["text"].fill_null("")


def _lowered(body: pl.Expr, op: pl.Expr) -> pl.Expr:
    return pl.concat_str(body, pl.lit("\n"), op).str.to_lowercase()


def _signals(body: pl.Expr, op: pl.Expr, text: pl.Expr) -> dict[str, pl.Expr]:
    """The cues several outputs share (`text` = body + op, lowercased)."""
    adv = pl.sum_horizontal(
        pl.when(text.str.contains_any(list(words))).then(weight).otherwise(0)
        for weight, words in ADV_GROUPS
    )
    return {
        "_body_city": _first_of(body, PROVINCES),
        "_op_city": _first_of(op, PROVINCES),
        "_adv": (pl.min_horizontal(adv, 10) / 10).cast(pl.Float64),  # tenths: exact 0.7
        "_price": text.str.contains(PRICE),
        "_question": text.str.contains_any(list(QUESTION)),
        "_pos": _count_of(text, POSITIVE, 3),
        "_neg": _count_of(text, NEGATIVE, 3),
    }


def _outputs(s: dict[str, pl.Expr], text: pl.Expr) -> list[pl.Expr]:
    """The cue columns from the shared signals `s` (see `_signals`) and the lowered text."""
    adv_score, price, pos, neg = s["_adv"], s["_price"], s["_pos"], s["_neg"]
    asks = s["_question"] & ~price
    intent = (
        pl.when(adv_score >= 0.7).then(pl.lit("advertorial"))
        .when(asks).then(pl.lit("question"))
        .when(price | (pos >= 2)).then(pl.lit("deal"))
        .otherwise(pl.lit("unclear"))
    )
    score = (
        pl.when(asks).then(0.1 + 0.05 * pos - 0.2 * neg)
        .otherwise(0.5 * price.cast(pl.Float64) + pl.when(price).then(0.15).otherwise(0.08) * pos
                   - 0.2 * neg)
        .clip(0.0, 1.0)
    )
    candidate = ~asks & (price | (pos > 0)) & ~intent.is_in(["question", "advertorial"])
    return [
        pl.coalesce(s["_body_city"], s["_op_city"]).alias("city"),
        pl.when(s["_body_city"].is_not_null()).then(pl.lit("오프라인"))
        .when(text.str.contains_any(list(ONLINE))).then(pl.lit("온라인"))
        .when(text.str.contains_any(list(OFFLINE))).then(pl.lit("오프라인"))
        .when(s["_op_city"].is_not_null()).then(pl.lit("오프라인"))
        .otherwise(pl.lit("unknown")).alias("channel"),
        pl.when(text.str.contains_any(["번이", "번호이동"])).then(pl.lit("번호이동"))
        .when(text.str.contains_any(["기변", "기기변경"])).then(pl.lit("기기변경"))
        .when(text.str.contains("자급", literal=True)).then(pl.lit("자급"))
        .alias("move_type"),
        pl.when(text.str.contains("공시", literal=True)).then(pl.lit("공시지원"))
        .when(text.str.contains_any(["선약", "선택약정"])).then(pl.lit("선택약정"))
        .when(text.str.contains("무약정", literal=True)).then(pl.lit("무약정"))
        .alias("contract"),
        pl.when(text.str.contains_any(["현완", "현금완납"])).then(pl.lit("현금완납"))
        .when(text.str.contains("할부", literal=True)).then(pl.lit("할부"))
        .alias("payment"),
        adv_score.alias("adv_score"),
        intent.alias("intent"),
        score.cast(pl.Float64).alias("deal_candidate_score"),
        candidate.alias("is_candidate"),
        price.alias("has_price"),
    ]


def cues(body: pl.Expr, op: pl.Expr) -> list[pl.Expr]:
    """city, channel, move type, contract, payment, price, advertorial score, intent, deal score
    and candidacy of a post from its body (title + content) and its author's comments.

    One expression per column (each repeats the shared cues); `with_cues` computes the same
    columns over a frame with the shared cues computed once."""
    text = _lowered(body, op)
    return _outputs(_signals(body, op, text), text)


def with_cues(frame: pl.LazyFrame, body: pl.Expr, op: pl.Expr) -> pl.LazyFrame:
    """`frame` with the `cues` columns, computed in stages: the lowered text, then the shared
    cues (in parallel), then the outputs."""
    signals = _signals(pl.col("_body"), op, pl.col("_text"))
    shared = {name: pl.col(name) for name in signals}
    return (
        frame.with_columns(_body=body, _text=_lowered(body, op))
        .with_columns(**signals)
        .with_columns(*_outputs(shared, pl.col("_text")))
        .drop("_body", "_text", *signals)
    )


def capacity(text: pl.Expr) -> pl.Expr:
    """`256GB` / `1TB` from `256기가`, `256gb`, `1tb`, `1024g` (64..1024 GB)."""
    found = text.str.to_lowercase().str.extract_groups(CAPACITY)
    gb = found.struct.field("1").cast(pl.Int32)
    return (
        pl.when(gb == 1024).then(pl.lit("1TB"))
        .when(gb.is_not_null()).then(gb.cast(pl.String) + "GB")
        .when(found.struct.field("2").is_not_null()).then(pl.lit("1TB"))
    )


def split_scenarios(frame: pl.DataFrame) -> pl.DataFrame:
    """Up to two scenarios per post: the content is cut at the first line starting 두번째,
    둘째, 2안 or 2번째 (the rest, if more follow, stays in scenario 2)."""
    parts = pl.col("content").fill_null("").str.replace(SCENARIO_MARK, f"{SPLIT}$0")
    return (
        frame.with_columns(part=parts.str.splitn(SPLIT, 2).struct.rename_fields(["a", "b"]))
        .with_columns(part=pl.concat_list(pl.col("part").struct.field("a"),
                                          pl.col("part").struct.field("b")).list.drop_nulls())
        .explode("part")
        .with_columns(scenario=(pl.int_range(pl.len()).over("post_id", "url") + 1).cast(pl.Int8))
    )


def deal_candidates(
    posts: pl.DataFrame, *, advertorial_high: float = 0.7, deal_low: float = 0.5
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rules step over normalised posts: (candidate scenarios, dropped posts by reason).

    Dropped: posts with no comments (`no_comments`), posts naming no carrier (`no_carrier`) or
    no model (`no_model`); a Galaxy Quantum implies SKT (its exclusive carrier).

    Computed in stages (each text prepared once, independent columns of a stage in parallel);
    posts without comments are counted and left out before any matching."""
    no_comments = pl.col("comment_count").fill_null(0) == 0
    dropped_uncommented = int(posts.select(no_comments.sum()).item())
    whole = pl.concat_str("title", pl.lit("\n"), "content", pl.lit("\n"), "op_comments",
                          ignore_nulls=True)
    scored = (
        posts.lazy().filter(~no_comments)
        .with_columns(_whole=whole)
        .with_columns(_match=match_text(pl.col("_whole")))
        .with_columns(post_carriers=carriers().all_names(pl.col("_match")),
                      post_models=models().all_names(pl.col("_match")))
        .with_columns(post_carrier=pl.coalesce(
            pl.col("post_carriers").list.first(),
            pl.when(pl.col("post_models").list.first().str.contains("퀀텀")).then(pl.lit("SKT")),
        ))
        .drop("_match")
        .collect()
    )
    no_carrier = pl.col("post_carrier").is_null()
    no_model = ~no_carrier & (pl.col("post_models").list.len() == 0)
    drops = scored.select(no_carrier=no_carrier.sum(), no_model=no_model.sum()).row(0, named=True)
    kept = scored.filter(~no_carrier & ~no_model)
    scenario_text = pl.col("scenario_text")
    own_models = pl.col("_own_models")
    out = (
        split_scenarios(kept).lazy()
        .with_columns(
            scenario_text=pl.when(pl.col("scenario") == 1)
            .then(pl.concat_str("title", pl.lit("\n"), "part", ignore_nulls=True))
            .otherwise(pl.col("part"))
        )
        .with_columns(
            _match=match_text(scenario_text),
            capacity=pl.coalesce(capacity(scenario_text), capacity(pl.col("_whole"))),
            addons_count=pl.coalesce(scenario_text.str.extract(ADDONS, 1),
                                     pl.col("_whole").str.extract(ADDONS, 1))
            .cast(pl.Int32, strict=False),
        )
        .with_columns(_own_models=models().all_names(pl.col("_match")),
                      _own_carrier=carriers().first(pl.col("_match")))
        .with_columns(
            model=pl.coalesce(own_models.list.first(), pl.col("post_models").list.first(),
                              pl.lit(UNKNOWN_MODEL)),
            carrier=pl.coalesce("_own_carrier", "post_carrier"),
            conflict_model=own_models.list.len() > 1,
        )
        .with_columns(
            flags=pl.concat_list(
                pl.when(~pl.col("is_candidate") | (pl.col("intent") != "deal"))
                .then(pl.lit("non_deal")),
                pl.lit("intent_") + pl.col("intent"),
                pl.when(pl.col("adv_score") >= advertorial_high)
                .then(pl.lit("advertorial_high")),
                pl.when((pl.col("adv_score") >= advertorial_high)
                        & (pl.col("deal_candidate_score") < deal_low))
                .then(pl.lit("preblock_advertorial_low_deal_score")),
                pl.when(pl.col("carrier").is_in(["KT", "LGU+"]) & (pl.col("addons_count") > 3))
                .then(pl.lit("addons_count_suspicious")),
                pl.when(pl.col("conflict_model")).then(pl.lit("dict_conflict_model")),
                pl.when(pl.col("post_carriers").list.len() > 1)
                .then(pl.lit("dict_conflict_carrier")),
            ).list.drop_nulls()
        )
        .drop("_whole", "_match", "_own_models", "_own_carrier")
        .collect()
    )
    return out, {"no_comments": dropped_uncommented,
                 **{k: int(v) for k, v in drops.items()}}
