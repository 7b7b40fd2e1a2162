"""NPS monthly digest, raw CSV -> typed, de-duplicated silver rows, four ways.

- `ours`: the project's functions, called directly: `dag.nps_csv.parse_bytes` (decode, header
  recognition, field-count check, lineage), then `dag.nps_data_processing.typed` and
  `digest_with_stats` (digest rows + cleaning statistics from one typing pass): what the
  `nps_his_download` / `nps_his_digest` assets run, minus the IO manager.
- `pandas_digest`: the engine this project replaces, written idiomatically: `read_csv` with
  `dtype=str`, CP949 with `encoding_errors="replace"`, whole-column string methods (pandas 3
  Arrow-backed strings), `to_datetime`/`to_numeric` with coercion, `drop_duplicates`; the same
  rules, derived columns and cleaning statistics.
- `duckdb_digest`: the same in DuckDB SQL. DuckDB's CSV reader decodes only UTF-8/16 and
  Latin-1 without the `encodings` extension (a download), so the file is decoded by Python and
  handed to DuckDB as a UTF-8 temporary file; that cost is inside the measurement.
- `floor`: read + decode + parse to string columns, nothing else.

`prepare_*` functions return the zero-argument callable the peak-memory child measures.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from contracts.nps import DIGEST_KEY
from dag.nps_csv import CANONICAL_COLUMNS, LEADING_WORDS, leading_word
from dag.nps_data_processing import CODE_WIDTHS
from dag.nps_rules import LEGAL_FORMS, contribution_rate

STATUS_COLUMNS = ("join_status", "workplace_type")
DATE_COLUMNS = ("applied_at", "re_registered_at", "withdrawn_at")
COUNT_COLUMNS = ("subscriber_count", "monthly_notice_amount", "new_subscribers", "lost_subscribers")
TYPED = (*CODE_WIDTHS, *STATUS_COLUMNS, *DATE_COLUMNS)
NO_DATE = "0001-01-01"
WIDTH_FROM = [chr(0xFF01 + i) for i in range(94)] + ["\u3000", *"【】「」『』〔〕〈〉《》"]
WIDTH_TO = [chr(0x21 + i) for i in range(94)] + [" ", *"[][][]()()()"]
ANY_LEGAL_FORM = "|".join(f"(?:{pattern})" for _, pattern in LEGAL_FORMS)
BRACKETED = r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}"


def _rate(month: date) -> float:
    return pl.select(contribution_rate(pl.lit(month))).item()


# --- ours -------------------------------------------------------------------------------------
def ours(path: Path, month: date) -> pl.DataFrame:
    """The project's parse + silver transform (with its cleaning statistics)."""
    from dag.nps_csv import parse_bytes
    from dag.nps_data_processing import digest_with_stats, typed

    parsed = parse_bytes(path.read_bytes(), path.name)
    rows = typed(parsed.frame.lazy().with_columns(ym=pl.lit(month, pl.Date)))
    out, stats = digest_with_stats(rows)  # what the nps_his_digest asset runs
    assert stats.height == 1
    return out


def floor(path: Path) -> pl.DataFrame:
    """Read + decode + parse into string columns: the least any engine must do."""
    text = path.read_bytes().decode("cp949", errors="replace")
    return pl.read_csv(
        text.encode("utf-8"), infer_schema=False, quote_char='"', empty_string_is_null=False
    )


# --- pandas -----------------------------------------------------------------------------------
def pandas_digest(path: Path, month: date) -> Any:
    """The same silver rows with idiomatic pandas (returns a pandas DataFrame)."""
    import pandas as pd

    raw = pd.read_csv(
        path,
        dtype=str,
        encoding="cp949",
        encoding_errors="replace",
        keep_default_na=False,
        na_filter=False,
    )
    raw.columns = [LEADING_WORDS[leading_word(c)] for c in raw.columns]
    raw["line_number"] = np.arange(2, len(raw) + 2)
    text = raw[list(CANONICAL_COLUMNS)].apply(lambda s: s.str.strip())
    text = text.mask(text == "")
    out = text.copy()
    for col, width in CODE_WIDTHS.items():
        ok = text[col].str.fullmatch(r"[0-9]+", na=False) & (text[col].str.len() <= width)
        out[col] = text[col].str.zfill(width).where(ok)
    for col in STATUS_COLUMNS:
        out[col] = text[col].where(text[col].isin(["1", "2"]))
    for col in DATE_COLUMNS:
        out[col] = pd.to_datetime(text[col].mask(text[col] == NO_DATE), format="%Y-%m-%d",
                                  errors="coerce")
    for col in COUNT_COLUMNS:
        out[col] = pd.to_numeric(text[col], errors="coerce").astype("Int64")
    invalid = {
        col: int((text[col].notna() & (text[col] != NO_DATE) & out[col].isna()).sum())
        for col in TYPED
    }
    ym_text = f"{month:%Y-%m}"
    counts_ok = np.logical_and.reduce(
        [out[c].notna().to_numpy() & out[c].fillna(-1).ge(0).to_numpy() for c in COUNT_COLUMNS]
    )
    created = out["data_created_ym"]
    reason = np.select(
        [
            created.notna() & (created != ym_text),
            created.isna(),
            out["company_name"].isna(),
            ~counts_ok,
        ],
        ["not_partition_month", "ym_missing", "company_name_missing", "count_invalid"],
        default="",
    )
    out["ym"] = pd.Timestamp(month)
    accepted = out[reason == ""]
    deduped = accepted.drop_duplicates(subset=list(DIGEST_KEY), keep="first")
    name = deduped["company_name"]
    width = name.str.translate(str.maketrans(dict(zip(WIDTH_FROM, WIDTH_TO, strict=True))))
    norm = (
        width.str.lower()
        .str.replace(ANY_LEGAL_FORM, " ", regex=True)
        .str.replace(BRACKETED, " ", regex=True)
        .str.replace(r"[^0-9a-z가-힣]", "", regex=True)
    )
    flags = pd.DataFrame(
        {form: width.str.contains(pattern, regex=True) for form, pattern in LEGAL_FORMS}
    )
    joined = flags.dot(pd.Series([f"{form}|" for form, _ in LEGAL_FORMS], index=flags.columns))
    types = joined.str.removesuffix("|").str.split("|")
    empty = joined == ""
    types[empty] = pd.Series([[] for _ in range(int(empty.sum()))], index=types.index[empty])
    subscribers = deduped["subscriber_count"]
    wage = (
        deduped["monthly_notice_amount"].astype("float64")
        / subscribers.astype("float64")
        / _rate(month)
    ).where(subscribers > 0)
    result = deduped.assign(
        name_norm=norm.mask(norm.str.len() == 0),
        company_types=types,
        addr_key=deduped["addr_sigungu_code"] + "-" + deduped["legal_dong_addr_code"],
        avg_monthly_wage=wage,
    )[[*CANONICAL_COLUMNS, "ym", "name_norm", "company_types", "addr_key", "avg_monthly_wage"]]
    accepted_wage = (
        accepted["monthly_notice_amount"].astype("float64")
        / accepted["subscriber_count"].astype("float64")
        / _rate(month)
    ).where(accepted["subscriber_count"] > 0)
    result.attrs["stats"] = {
        "rows_read": len(raw),
        "rows_rejected": int((reason != "").sum()),
        "rejected_by_reason": pd.Series(reason[reason != ""]).value_counts().to_dict(),
        "duplicates_removed": len(accepted) - len(deduped),
        "invalid": invalid,
        "names_with_replacement_char": int(
            out["company_name"].str.contains("\ufffd", regex=False, na=False).sum()
        ),
        "wage": (accepted_wage.min(), accepted_wage.median(), accepted_wage.max()),
    }
    return result


# --- DuckDB -----------------------------------------------------------------------------------
def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _duckdb_sql(csv_path: str, month: date) -> tuple[str, str, str, str, str]:
    trimmed = {c: f"nullif(trim({c}), '')" for c in CANONICAL_COLUMNS}
    select = []
    for c in CANONICAL_COLUMNS:
        t = trimmed[c]
        if c in CODE_WIDTHS:
            w = CODE_WIDTHS[c]
            select.append(
                f"CASE WHEN regexp_full_match({t}, '[0-9]+') AND length({t}) <= {w} "
                f"THEN lpad({t}, {w}, '0') END AS {c}"
            )
        elif c in STATUS_COLUMNS:
            select.append(f"CASE WHEN {t} IN ('1', '2') THEN {t} END AS {c}")
        elif c in DATE_COLUMNS:
            select.append(
                f"CASE WHEN {t} = '{NO_DATE}' THEN NULL "
                f"ELSE try_strptime({t}, '%Y-%m-%d')::DATE END AS {c}"
            )
        elif c in COUNT_COLUMNS:
            select.append(f"try_cast({t} AS BIGINT) AS {c}")
        else:
            select.append(f"{t} AS {c}")
    invalid = ", ".join(
        f"count(*) FILTER ({c}__raw IS NOT NULL AND {c}__raw <> '{NO_DATE}' "
        f"AND {c} IS NULL) AS invalid__{c}"
        for c in TYPED
    )
    raw_copy = ", ".join(f"{trimmed[c]} AS {c}__raw" for c in TYPED)
    counts_ok = " AND ".join(f"({c} IS NOT NULL AND {c} >= 0)" for c in COUNT_COLUMNS)
    width = f"translate(company_name, {_lit(''.join(WIDTH_FROM))}, {_lit(''.join(WIDTH_TO))})"
    form_list = ", ".join(
        f"CASE WHEN regexp_matches(w, '{pattern}') THEN '{form}' END"
        for form, pattern in LEGAL_FORMS
    )
    key = ", ".join(DIGEST_KEY)
    return f"""
    WITH raw AS (
        SELECT *, row_number() OVER () + 1 AS line_number
        FROM read_csv('{csv_path}', header = true, all_varchar = true, quote = '"',
                      escape = '"', names = {_sql_list(list(CANONICAL_COLUMNS))})
    ), t AS (
        SELECT line_number, {", ".join(select)}, {raw_copy}, DATE '{month:%Y-%m-%d}' AS ym
        FROM raw
    )
    SELECT t.*,
           CASE WHEN data_created_ym IS NOT NULL AND data_created_ym <> '{month:%Y-%m}'
                     THEN 'not_partition_month'
                WHEN data_created_ym IS NULL THEN 'ym_missing'
                WHEN company_name IS NULL THEN 'company_name_missing'
                WHEN NOT ({counts_ok}) THEN 'count_invalid' END AS reject_reason
    FROM t
    """, invalid, width, form_list, key


def duckdb_digest(path: Path, month: date) -> pl.DataFrame:
    """The same silver rows in DuckDB SQL (returns a Polars frame)."""
    import duckdb

    text = path.read_bytes().decode("cp949", errors="replace")
    fd, utf8 = tempfile.mkstemp(suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        del text
        con = duckdb.connect()
        base, invalid, width, forms, key = _duckdb_sql(utf8, month)
        con.execute(f"CREATE TEMP TABLE typed AS {base}")
        rate = _rate(month)
        stats = con.execute(
            f"""
            SELECT count(*) AS rows_read,
                   count(*) FILTER (reject_reason IS NOT NULL) AS rows_rejected,
                   count(*) FILTER (reject_reason IS NULL)
                     - count(DISTINCT ({key})) FILTER (reject_reason IS NULL) AS duplicates,
                   count(*) FILTER (contains(company_name, '\ufffd')) AS replaced_names,
                   {invalid},
                   min(w), median(w), max(w)
            FROM (SELECT *, CASE WHEN reject_reason IS NULL AND subscriber_count > 0
                       THEN monthly_notice_amount / subscriber_count / {rate} END AS w FROM typed)
            """
        ).fetchall()
        reasons = con.execute(
            "SELECT reject_reason, count(*) FROM typed WHERE reject_reason IS NOT NULL "
            "GROUP BY 1"
        ).fetchall()
        result = con.sql(
            f"""
            WITH accepted AS (
                SELECT * FROM typed WHERE reject_reason IS NULL
                QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY line_number) = 1
            ), w AS (SELECT *, {width} AS w FROM accepted)
            SELECT {", ".join(CANONICAL_COLUMNS)}, ym,
                   nullif(regexp_replace(regexp_replace(regexp_replace(lower(w),
                       '{ANY_LEGAL_FORM}', ' ', 'g'), '{BRACKETED}', ' ', 'g'),
                       '[^0-9a-z가-힣]', '', 'g'), '') AS name_norm,
                   list_filter([{forms}], lambda x: x IS NOT NULL) AS company_types,
                   addr_sigungu_code || '-' || legal_dong_addr_code AS addr_key,
                   CASE WHEN subscriber_count > 0
                        THEN monthly_notice_amount / subscriber_count / {rate} END
                        AS avg_monthly_wage
            FROM w ORDER BY line_number
            """
        ).pl()
        con.close()
    finally:
        os.unlink(utf8)
    assert stats and reasons is not None
    return result


# --- peak-memory entry points ---------------------------------------------------------------
def prepare_ours(path: str, month: str) -> Callable[[], object]:
    import dag.nps_data_processing  # noqa: F401  (imports outside the measured window)

    return lambda: ours(Path(path), date.fromisoformat(month))


def prepare_floor(path: str, month: str) -> Callable[[], object]:
    return lambda: floor(Path(path))


def prepare_pandas(path: str, month: str) -> Callable[[], object]:
    import pandas  # noqa: F401

    return lambda: pandas_digest(Path(path), date.fromisoformat(month))


def prepare_duckdb(path: str, month: str) -> Callable[[], object]:
    import duckdb  # noqa: F401

    return lambda: duckdb_digest(Path(path), date.fromisoformat(month))
