"""NPS company matching: which company (business_reg_num + addr_key) each workplace row belongs to.

Pure Polars functions on lazy frames, no Dagster: `nps_company_tables` wires them into assets
and the tests call them on literal frames. Rules (DOMAINS.md, NPS "Company layer"):

- A company is one (business_reg_num, addr_key); its id is the readable, deterministic text
  ``<business_reg_num>-<addr_key>``, so the same company gets the same id whichever month is
  processed first.
- Candidates per row, in order of precedence: the company with the row's own registration number
  and addr_key (similarity 0.95); else companies with an alias equal to the row's ``name_norm``
  (length >= 3, similarity 0.92); else the 3 names most similar by trigram similarity (pg_trgm
  style Jaccard of padded 3-gram sets) within the row's sigungu.
- Score = similarity + 0.1 x industry match + 0.1 x district match for registration-number
  candidates, 0.2 each otherwise, clamped to [0, 1]. **Fix**: a missing industry (null or the
  ``999999`` placeholder) or district is *no* match, never a free bonus.
- Accept >= 0.90, review 0.75-0.90, reject below: every row gets exactly one decision.

The candidate pool of a month is that month's own registered companies and their names, so a
month's decisions depend on that month's digest only (idempotent and order-independent).

Bounded work: the trigram step is linear in the length of the names. Only the first
`TRIGRAM_NAME_CHARS` (200, silver's default NPS_MAX_FIELD_CHARS, so every digest name is whole)
characters of a name make trigrams, so a name has at most 201 distinct trigrams; the characters
are exploded once (a name is never copied per trigram) and rows and names travel through the
explosion as integer ids; a trigram carried by more than `TRIGRAM_MAX_FANOUT` names of one
block (month + district) is not used to find candidates (it still counts in the similarity's
denominator), so each trigram of a row meets at most that many names. Normal names in normal
blocks give exactly the pg_trgm similarities.
"""

from __future__ import annotations

import polars as pl

REGISTRATION_SIMILARITY = 0.95
ALIAS_SIMILARITY = 0.92
ALIAS_MIN_LENGTH = 3
TRIGRAM_TOP_K = 3
TRIGRAM_NAME_CHARS = 200  # characters of a name that make trigrams (silver's default limit)
TRIGRAM_MAX_FANOUT = 5_000  # a trigram in more names of a block finds no candidates by itself
ACCEPT_AT = 0.90
REVIEW_AT = 0.75
ALIAS_SIMILARITY_AT = 0.95
PLACEHOLDER_INDUSTRY = "999999"
SCORE_DECIMALS = 6

METHODS = ("registration", "alias", "trigram", "none")
DECISIONS = ("accepted", "review", "rejected")

# The digest columns matching reads (a subset of the silver `nps_his_digest`).
ROW_COLUMNS = (
    "ym",
    "company_name",
    "business_reg_num",
    "zip_code",
    "addr_sido_code",
    "addr_sigungu_code",
    "addr_key",
    "industry_code",
    "name_norm",
    "company_types",
    "subscriber_count",
    "monthly_notice_amount",
    "new_subscribers",
    "lost_subscribers",
)

_AUDIT_DTYPES: dict[str, pl.DataType | type[pl.DataType]] = {
    "ym": pl.Date,
    "row_key": pl.String,
    "company_name": pl.String,
    "business_reg_num": pl.String,
    "name_norm": pl.String,
    "company_types": pl.List(pl.String),
    "addr_key": pl.String,
    "district": pl.String,
    "industry_code": pl.String,
    "subscriber_count": pl.Int64,
    "monthly_notice_amount": pl.Int64,
    "new_subscribers": pl.Int64,
    "lost_subscribers": pl.Int64,
    "method": pl.String,
    "candidate_count": pl.Int64,
    "company_id": pl.String,
    "candidate_name": pl.String,
    "similarity": pl.Float64,
    "industry_match": pl.Boolean,
    "district_match": pl.Boolean,
    "score": pl.Float64,
    "decision": pl.String,
}
AUDIT_SCHEMA = pl.Schema(_AUDIT_DTYPES)


def district(sido: pl.Expr, sigungu: pl.Expr) -> pl.Expr:
    """The 5-digit 시군구 district (sido + sigungu code; sigungu codes repeat across provinces)."""
    return pl.concat_str([sido, sigungu])


def known_industry(code: pl.Expr) -> pl.Expr:
    """The industry code, or null when missing or the `999999` placeholder (no real industry)."""
    return (
        pl.when(code.is_null() | (code == PLACEHOLDER_INDUSTRY) | (code == ""))
        .then(None)
        .otherwise(code)
    )


def company_id(business_reg_num: pl.Expr, addr_key: pl.Expr) -> pl.Expr:
    """Deterministic company id ``<business_reg_num>-<addr_key>`` (null when either is missing)."""
    return pl.concat_str([business_reg_num, addr_key], separator="-")


def row_key() -> pl.Expr:
    """The digest's natural key as one text (ym|name|reg|zip|subscribers|amount), unique per row."""
    parts = [
        pl.col("ym").cast(pl.String),
        pl.col("company_name"),
        pl.col("business_reg_num"),
        pl.col("zip_code"),
        pl.col("subscriber_count").cast(pl.String),
        pl.col("monthly_notice_amount").cast(pl.String),
    ]
    return pl.concat_str([p.fill_null("") for p in parts], separator="|")


def score(
    similarity: pl.Expr, industry_match: pl.Expr, district_match: pl.Expr, bonus: pl.Expr
) -> pl.Expr:
    """similarity + bonus x industry match + bonus x district match, clamped to [0, 1], rounded.

    The matches must already be False when a side is missing (see `matches`); rounding keeps
    0.7 + 0.2 at 0.9 instead of 0.8999999999999999.
    """
    raw = (
        similarity
        + bonus * industry_match.cast(pl.Float64)
        + bonus * district_match.cast(pl.Float64)
    )
    return raw.clip(0.0, 1.0).round(SCORE_DECIMALS)


def matches(left: pl.Expr, right: pl.Expr) -> pl.Expr:
    """True only when both sides are present and equal (**Fix**: missing is never a match)."""
    return (left.is_not_null() & right.is_not_null() & (left == right)).fill_null(False)


def decision(score_expr: pl.Expr) -> pl.Expr:
    """accepted (>= 0.90), review (>= 0.75) or rejected; a row without candidates is rejected."""
    return (
        pl.when(score_expr >= ACCEPT_AT)
        .then(pl.lit("accepted"))
        .when(score_expr >= REVIEW_AT)
        .then(pl.lit("review"))
        .otherwise(pl.lit("rejected"))
    )


def explode_trigrams(
    frame: pl.LazyFrame, name_col: str, keep: list[str], max_chars: int = TRIGRAM_NAME_CHARS
) -> pl.LazyFrame:
    """One row per distinct (row, trigram) of the first `max_chars` characters of `name_col`,
    plus `n_trigrams` of the name: at most `max_chars + 1` rows per name, built in linear work
    (the padded name is split into characters once; trigram i joins characters i, i+1, i+2).
    Keep `keep` small (ids, short codes): its values are repeated on every trigram row."""
    chars = (pl.lit("  ") + pl.col(name_col).str.slice(0, max_chars) + pl.lit(" ")).str.split("")
    count = pl.col("_chars").list.len() - 2  # trigrams of the padded name (>= 2)
    return (
        frame.filter(pl.col(name_col).is_not_null() & (pl.col(name_col).str.len_chars() > 0))
        .select(*keep, chars.alias("_chars"))
        .select(
            *keep,
            pl.col("_chars").list.slice(0, count).alias("_c0"),
            pl.col("_chars").list.slice(1, count).alias("_c1"),
            pl.col("_chars").list.slice(2, count).alias("_c2"),
        )
        .explode("_c0", "_c1", "_c2")
        .select(*keep, trigram=pl.concat_str("_c0", "_c1", "_c2"))
        .unique()
        .with_columns(n_trigrams=pl.len().over(keep))
    )


def trigram_pairs(
    rows: pl.LazyFrame,
    names: pl.LazyFrame,
    *,
    block: list[str],
    max_chars: int = TRIGRAM_NAME_CHARS,
    max_fanout: int = TRIGRAM_MAX_FANOUT,
) -> pl.LazyFrame:
    """The trigram join behind `trigram_candidates`: one row per (row trigram, name trigram)
    pair in the same block, as `_left` (row index in `rows`), `_right` (row index in `names`),
    `n_left`, `n_right`. At most `max_fanout` names per row trigram: a trigram carried by more
    names of its block is left out of the join (not out of `n_right`)."""
    left = explode_trigrams(rows.with_row_index("_left"), "name_norm", ["_left", *block], max_chars)
    right = explode_trigrams(
        names.with_row_index("_right"), "name", ["_right", *block], max_chars
    ).filter(pl.len().over([*block, "trigram"]) <= max_fanout)
    return left.rename({"n_trigrams": "n_left"}).join(
        right.rename({"n_trigrams": "n_right"}), on=[*block, "trigram"], how="inner"
    )


def trigram_candidates(
    rows: pl.LazyFrame,
    names: pl.LazyFrame,
    *,
    block: list[str],
    top_k: int = TRIGRAM_TOP_K,
    max_chars: int = TRIGRAM_NAME_CHARS,
    max_fanout: int = TRIGRAM_MAX_FANOUT,
) -> pl.LazyFrame:
    """Top-`top_k` most similar candidate names per row, compared only within the same `block`.

    `rows`: `row_key`, the block columns and `name_norm`; `names`: `company_id`, the block columns
    and `name` (one row per company name). Similarity is the Jaccard index of the two trigram
    sets (pg_trgm's `similarity`) of the names' first `max_chars` characters, the best name per
    company counts; ties go to the smaller id. Work is bounded as `trigram_pairs` says.
    Returns `row_key`, `company_id`, `similarity`, `rank` (1 = most similar).
    """
    overlap = (
        trigram_pairs(rows, names, block=block, max_chars=max_chars, max_fanout=max_fanout)
        .group_by("_left", "_right")
        .agg(
            shared=pl.len(),
            n_left=pl.col("n_left").first(),
            n_right=pl.col("n_right").first(),
        )
        .with_columns(
            similarity=(
                pl.col("shared") / (pl.col("n_left") + pl.col("n_right") - pl.col("shared"))
            ).round(SCORE_DECIMALS)
        )
    )
    best_per_company = (
        overlap.join(names.with_row_index("_right").select("_right", "company_id"), on="_right")
        .join(rows.with_row_index("_left").select("_left", "row_key"), on="_left")
        .group_by("row_key", "company_id")
        .agg(pl.col("similarity").max())
    )
    return (
        best_per_company.sort(
            ["row_key", "similarity", "company_id"], descending=[False, True, False]
        )
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("row_key"))
        .filter(pl.col("rank") <= top_k)
    )


def prepare_rows(digest: pl.LazyFrame) -> pl.LazyFrame:
    """The digest columns matching needs, plus `row_key`, `district`, `industry` and `own_id`."""
    return digest.select(ROW_COLUMNS).with_columns(
        row_key=row_key(),
        district=district(pl.col("addr_sido_code"), pl.col("addr_sigungu_code")),
        industry=known_industry(pl.col("industry_code")),
        own_id=company_id(pl.col("business_reg_num"), pl.col("addr_key")),
    )


def month_companies(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The month's registered companies: one row per (ym, company_id) with its representative.

    The representative row is the one with most subscribers (then the smallest name), so the
    candidate name, industry and district are deterministic.
    """
    order = [pl.col("subscriber_count"), pl.col("company_name")]
    return (
        rows.filter(pl.col("own_id").is_not_null())
        .group_by("ym", pl.col("own_id").alias("company_id"))
        .agg(
            candidate_name=pl.col("company_name").sort_by(order, descending=[True, False]).first(),
            company_industry=pl.col("industry")
            .sort_by(order, descending=[True, False])
            .drop_nulls()
            .first(),
            company_district=pl.col("district").sort_by(order, descending=[True, False]).first(),
        )
    )


def month_names(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Every normalised name a registered company used in the month (the month's alias pool)."""
    return (
        rows.filter(
            pl.col("own_id").is_not_null()
            & pl.col("name_norm").is_not_null()
            & (pl.col("name_norm").str.len_chars() > 0)
        )
        .select(
            "ym",
            pl.col("own_id").alias("company_id"),
            "district",
            pl.col("name_norm").alias("name"),
        )
        .unique()
    )


def _scored(
    candidates: pl.LazyFrame, rows: pl.LazyFrame, companies: pl.LazyFrame, bonus: float
) -> pl.LazyFrame:
    """Candidates (row_key, ym, company_id, method, similarity) with matches and score added."""
    side = rows.select("row_key", "industry", "district")
    return (
        candidates.join(side, on="row_key", how="inner")
        .join(companies, on=["ym", "company_id"], how="inner")
        .with_columns(
            industry_match=matches(pl.col("industry"), pl.col("company_industry")),
            district_match=matches(pl.col("district"), pl.col("company_district")),
        )
        .with_columns(
            score=score(
                pl.col("similarity"),
                pl.col("industry_match"),
                pl.col("district_match"),
                pl.lit(bonus),
            )
        )
        .select(
            "row_key",
            "method",
            "company_id",
            "candidate_name",
            "similarity",
            "industry_match",
            "district_match",
            "score",
        )
    )


def candidates(rows: pl.LazyFrame, max_name_chars: int = TRIGRAM_NAME_CHARS) -> pl.LazyFrame:
    """Every scored candidate of every row (registration, else alias, else trigram top-3)."""
    companies = month_companies(rows)
    names = month_names(rows)
    registered = rows.filter(pl.col("own_id").is_not_null())
    unregistered = rows.filter(pl.col("own_id").is_null())

    by_registration = registered.select(
        "row_key",
        "ym",
        pl.col("own_id").alias("company_id"),
        method=pl.lit("registration"),
        similarity=pl.lit(REGISTRATION_SIMILARITY),
    )
    by_alias = (
        unregistered.filter(pl.col("name_norm").str.len_chars() >= ALIAS_MIN_LENGTH)
        .select("row_key", "ym", "name_norm")
        .join(
            names.select("ym", "company_id", "name"),
            left_on=["ym", "name_norm"],
            right_on=["ym", "name"],
        )
        .select(
            "row_key",
            "ym",
            "company_id",
            method=pl.lit("alias"),
            similarity=pl.lit(ALIAS_SIMILARITY),
        )
        .unique()
    )
    without_alias = unregistered.filter(pl.col("district").is_not_null()).join(
        by_alias.select("row_key").unique(), on="row_key", how="anti"
    )
    by_trigram = (
        trigram_candidates(
            without_alias.select("row_key", "ym", "district", "name_norm"),
            names,
            block=["ym", "district"],
            max_chars=max_name_chars,
        )
        .join(without_alias.select("row_key", "ym"), on="row_key")
        .select(
            "row_key",
            "ym",
            "company_id",
            method=pl.lit("trigram"),
            similarity=pl.col("similarity"),
        )
    )
    return pl.concat(
        [
            _scored(by_registration, rows, companies, 0.1),
            _scored(by_alias, rows, companies, 0.2),
            _scored(by_trigram, rows, companies, 0.2),
        ],
        how="vertical",
    )


def match_rows(digest: pl.LazyFrame, max_name_chars: int = TRIGRAM_NAME_CHARS) -> pl.LazyFrame:
    """The match audit: every digest row once, with its best candidate, score and decision.
    Trigram similarity reads the first `max_name_chars` characters of each name."""
    rows = prepare_rows(digest)
    scored = candidates(rows, max_name_chars)
    best = (
        scored.sort(
            ["row_key", "score", "similarity", "company_id"],
            descending=[False, True, True, False],
        )
        .group_by("row_key", maintain_order=True)
        .agg(pl.all().first(), candidate_count=pl.len().cast(pl.Int64))
    )
    return (
        rows.join(best, on="row_key", how="left")
        .with_columns(
            method=pl.col("method").fill_null("none"),
            candidate_count=pl.col("candidate_count").fill_null(0),
            decision=decision(pl.col("score").fill_null(0.0)),
        )
        .select(list(AUDIT_SCHEMA.names()))
        .cast(AUDIT_SCHEMA)
    )


def accepted(audit: pl.LazyFrame) -> pl.LazyFrame:
    return audit.filter(pl.col("decision") == "accepted")


def review_queue(audit: pl.LazyFrame) -> pl.LazyFrame:
    """Rows awaiting a human decision (review band), with the proposed company and its score."""
    return audit.filter(pl.col("decision") == "review").select(
        "ym",
        "row_key",
        "company_name",
        "business_reg_num",
        "name_norm",
        "addr_key",
        "district",
        "industry_code",
        "method",
        pl.col("company_id").alias("proposed_company_id"),
        pl.col("candidate_name").alias("proposed_name"),
        "similarity",
        "score",
    )


def monthly_facts(audit: pl.LazyFrame) -> pl.LazyFrame:
    """Per (company, month): sums over accepted rows (subscribers, notice amount, joins, leaves)."""
    return (
        accepted(audit)
        .group_by("company_id", "ym")
        .agg(
            pl.col("subscriber_count").sum(),
            pl.col("monthly_notice_amount").sum(),
            pl.col("new_subscribers").sum(),
            pl.col("lost_subscribers").sum(),
            workplace_rows=pl.len().cast(pl.Int64),
        )
        .cast(
            {
                "subscriber_count": pl.Int64,
                "monthly_notice_amount": pl.Int64,
                "new_subscribers": pl.Int64,
                "lost_subscribers": pl.Int64,
            }
        )
        .sort("ym", "company_id")
    )


def dim_company(audit: pl.LazyFrame) -> pl.LazyFrame:
    """Companies over all months seen: canonical name etc. from the latest month's representative.

    Recomputed from the whole audit, so it is the same whatever order the months were processed.
    """
    latest = [pl.col("ym"), pl.col("subscriber_count"), pl.col("company_name")]
    desc = [True, True, False]
    registered = accepted(audit).filter(pl.col("method") == "registration")
    return (
        registered.group_by("company_id")
        .agg(
            business_reg_num=pl.col("business_reg_num").first(),
            canonical_name=pl.col("company_name").sort_by(latest, descending=desc).first(),
            normalized_name=pl.col("name_norm").sort_by(latest, descending=desc).first(),
            company_types=pl.col("company_types").sort_by(latest, descending=desc).first(),
            industry_code=known_industry(pl.col("industry_code"))
            .sort_by(latest, descending=desc)
            .drop_nulls()
            .first(),
            addr_key=pl.col("addr_key").first(),
            district=pl.col("district").first(),
            valid_from=pl.col("ym").min(),
            valid_to=pl.col("ym").max(),
            months_seen=pl.col("ym").n_unique().cast(pl.Int64),
        )
        .sort("company_id")
    )


def company_alias(audit: pl.LazyFrame) -> pl.LazyFrame:
    """Names a company is known by: accepted exact-alias and >= 0.95 similarity matches."""
    latest = [pl.col("ym"), pl.col("company_name")]
    return (
        accepted(audit)
        .filter(
            ((pl.col("method") == "alias") | (pl.col("similarity") >= ALIAS_SIMILARITY_AT))
            & (pl.col("name_norm").str.len_chars() > 0)
        )
        .group_by("company_id", pl.col("name_norm").alias("alias"))
        .agg(
            example_name=pl.col("company_name").sort_by(latest, descending=[True, False]).first(),
            source=pl.col("method").min(),
            first_seen=pl.col("ym").min(),
            last_seen=pl.col("ym").max(),
            occurrences=pl.len().cast(pl.Int64),
        )
        .sort("company_id", "alias")
    )
