"""Reading one NPS monthly workplace file (국민연금 가입 사업장 내역) into canonical string columns.

The file is CP949 (UTF-8 with a BOM is accepted), 22 columns, one row per enrolled workplace.
The header comes in variants (plain, a space after each comma, 2021-era names with notes in
parentheses, legacy English codes); columns are recognised by the leading word of each name,
never by position alone. Values stay strings exactly as delivered (bronze); typing is silver's job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import polars as pl

# Canonical column names in the order of the real header (DOMAINS.md), used bronze -> gold.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "data_created_ym",
    "company_name",
    "business_reg_num",
    "join_status",
    "zip_code",
    "lot_number_address",
    "road_name_address",
    "legal_dong_addr_code",
    "admin_dong_addr_code",
    "addr_sido_code",
    "addr_sigungu_code",
    "addr_emdong_code",
    "workplace_type",
    "industry_code",
    "industry_name",
    "applied_at",
    "re_registered_at",
    "withdrawn_at",
    "subscriber_count",
    "monthly_notice_amount",
    "new_subscribers",
    "lost_subscribers",
)

# The real header of the published file (one line, no spaces after the commas).
KOREAN_HEADER: tuple[str, ...] = (
    "자료생성년월",
    "사업장명",
    "사업자등록번호",
    "사업장가입상태코드 1 등록 2 탈퇴",
    "우편번호",
    "사업장지번상세주소",
    "사업장도로명상세주소",
    "고객법정동주소코드",
    "고객행정동주소코드",
    "법정동주소광역시도코드",
    "법정동주소광역시시군구코드",
    "법정동주소광역시시군구읍면동코드",
    "사업장형태구분코드 1 법인 2 개인",
    "사업장업종코드",
    "사업장업종코드명",
    "적용일자",
    "재등록일자",
    "탈퇴일자",
    "가입자수",
    "당월고지금액",
    "신규취득자수",
    "상실가입자수",
)

# 2021-era names: the same leading words with notes in parentheses / colons.
ANNOTATED_2021_HEADER: tuple[str, ...] = tuple(
    {
        "자료생성년월": "자료생성년월(자격마감일 기준 익월 생성)",
        "사업장가입상태코드 1 등록 2 탈퇴": "사업장가입상태코드 1:등록2:탈퇴",
        "사업장형태구분코드 1 법인 2 개인": "사업장형태구분코드 1:법인2:개인",
        "가입자수": "가입자수(고지인원 수 포함)",
        "당월고지금액": "당월고지금액(원)",
    }.get(name, name)
    for name in KOREAN_HEADER
)

# Legacy English codes of the older extracts (DATA_CRT_YM, WKPL_NM, BZOWR_RGST_NO, ...).
ENGLISH_HEADER: tuple[str, ...] = (
    "DATA_CRT_YM",
    "WKPL_NM",
    "BZOWR_RGST_NO",
    "WKPL_JNNG_STCD",
    "ZIP",
    "WKPL_LTNO_DTL_ADDR",
    "WKPL_ROAD_NM_DTL_ADDR",
    "LDONG_ADDR_CD",
    "HDONG_ADDR_CD",
    "LDONG_ADDR_MGPL_DG_CD",
    "LDONG_ADDR_MGPL_SGGU_CD",
    "LDONG_ADDR_MGPL_SGGU_EMD_CD",
    "WKPL_STYL_DVCD",
    "WKPL_INTP_CD",
    "VLDT_VL_KRN_NM",
    "ADPT_DT",
    "RE_RGST_DT",
    "SCSN_DT",
    "JNNGP_CNT",
    "CRRMM_NTC_AMT",
    "NW_ACQZR_CNT",
    "LSS_JNNGP_CNT",
)

HEADER_VARIANTS = ("standard", "spaced", "annotated_2021", "legacy_english")
LINEAGE_COLUMNS: tuple[str, ...] = (
    "source_file",
    "source_sha256",
    "source_bytes",
    "line_number",
    "header_variant",
    "bytes_replaced",
)
_LEADING_WORD = re.compile(r"^[^\s(（:]+")


def leading_word(name: str) -> str:
    """The first word of a header name: up to a space, a parenthesis or a colon (BOM stripped)."""
    cleaned = name.replace("\ufeff", "").strip().strip('"').strip()
    match = _LEADING_WORD.match(cleaned)
    return match.group(0) if match else ""


_KOREAN_WORDS = {
    leading_word(name): canon for name, canon in zip(KOREAN_HEADER, CANONICAL_COLUMNS, strict=True)
}
_ENGLISH_WORDS = dict(zip(ENGLISH_HEADER, CANONICAL_COLUMNS, strict=True))
LEADING_WORDS: dict[str, str] = {**_KOREAN_WORDS, **_ENGLISH_WORDS}


class NpsCsvError(ValueError):
    """Not a readable NPS monthly workplace file; the message names the file and the cause."""


@dataclass(frozen=True)
class HeaderInfo:
    """How a header line was recognised: canonical name per file column, and the variant."""

    columns: tuple[str, ...]
    variant: str


@dataclass(frozen=True)
class ParsedFile:
    """One parsed file: canonical string columns + lineage, and file-level facts for metadata."""

    frame: pl.DataFrame
    file_name: str
    sha256: str
    file_bytes: int
    encoding: str
    header_variant: str
    bytes_replaced: int

    @property
    def rows(self) -> int:
        return self.frame.height


# --- decoding -------------------------------------------------------------------------------
_counter = threading.local()


def _count_and_replace(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    _counter.replaced = getattr(_counter, "replaced", 0) + (error.end - error.start)
    return "\ufffd", error.end


codecs.register_error("nps_count_replace", _count_and_replace)
_BOM = codecs.BOM_UTF8


def decode(raw: bytes) -> tuple[str, str, int]:
    """Decode a file: UTF-8 when it starts with a BOM, else CP949; undecodable bytes become
    U+FFFD. Returns (text, encoding, number of bytes replaced)."""
    _counter.replaced = 0
    if raw.startswith(_BOM):
        text = raw[len(_BOM) :].decode("utf-8", errors="nps_count_replace")
        encoding = "utf-8-sig"
    else:
        text = raw.decode("cp949", errors="nps_count_replace")
        encoding = "cp949"
    return text, encoding, _counter.replaced


# --- header ---------------------------------------------------------------------------------
def parse_header(line: str, file_name: str) -> HeaderInfo:
    """Recognise a header line by the leading word of each name; raise naming what is wrong."""
    names = next(csv.reader([line]))
    words = [leading_word(name) for name in names]
    if not any(words):
        raise NpsCsvError(f"{file_name}: header line is empty")
    canon = [LEADING_WORDS.get(word, LEADING_WORDS.get(word.upper())) for word in words]
    unknown = [
        f"column {i + 1} {name.strip()!r}"
        for i, (name, c) in enumerate(zip(names, canon, strict=True))
        if not c
    ]
    found = [c for c in canon if c]
    missing = [c for c in CANONICAL_COLUMNS if c not in found]
    duplicated = sorted({c for c in found if found.count(c) > 1})
    if len(names) != len(CANONICAL_COLUMNS) or unknown or missing or duplicated:
        problems = []
        if len(names) != len(CANONICAL_COLUMNS):
            problems.append(f"header has {len(names)} columns, expected {len(CANONICAL_COLUMNS)}")
        if unknown:
            problems.append("unknown column names: " + ", ".join(unknown))
        if missing:
            problems.append(f"missing columns {missing}")
        if duplicated:
            problems.append(f"duplicated columns {duplicated}")
        raise NpsCsvError(f"{file_name}: unrecognised NPS header: " + "; ".join(problems))
    if any(word.upper() in _ENGLISH_WORDS for word in words):
        variant = "legacy_english"
    elif any(re.search(r"[(（:]", name) for name in names):
        variant = "annotated_2021"
    elif ", " in line:
        variant = "spaced"
    else:
        variant = "standard"
    return HeaderInfo(columns=tuple(c for c in canon if c), variant=variant)


def header_of(text: str, file_name: str) -> str:
    """The header line of decoded text (no copy of the body); an empty file is an error."""
    if not text or text.isspace():
        raise NpsCsvError(f"{file_name}: file is empty (no header, no rows)")
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")


# --- body -----------------------------------------------------------------------------------
_QUOTED = r'"(?:[^"]|"")*"'


def _data_lines(data: bytes) -> pl.DataFrame:
    """The physical lines after the header, whole (no separator or quote splits them)."""
    return pl.read_csv(
        data,
        has_header=False,
        skip_rows=1,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
        empty_string_is_null=False,
    )


def _field_count_errors(data: bytes, file_name: str) -> None:
    """Every non-blank data line must hold exactly 22 fields (quoted commas excluded)."""
    lines = _data_lines(data).with_row_index("line_number", offset=2)
    bad = lines.filter(
        (pl.col("line").str.strip_chars("\r") != "")
        & (
            pl.col("line").str.replace_all(_QUOTED, "q").str.count_matches(",", literal=True) + 1
            != len(CANONICAL_COLUMNS)
        )
    )
    if bad.height:
        first = bad.row(0, named=True)
        fields = first["line"].count(",") + 1 if '"' not in first["line"] else "?"
        raise NpsCsvError(
            f"{file_name}: {bad.height} data line(s) do not have {len(CANONICAL_COLUMNS)} fields; "
            f"first is line {first['line_number']} ({fields} fields): {first['line'][:120]!r}"
        )


def _field_counts_proven(data: bytes, value_bytes: pl.Series) -> bool:
    """Cheap proof that every non-blank data line holds exactly 22 fields; False = not proven
    (then `_field_count_errors` decides, and names the first bad line).

    `value_bytes` is the byte length of all values of each row as Polars parsed it (missing
    trailing fields read as ""). When rows and physical lines correspond one to one, a line
    without quotes has 22 fields exactly when its length is the values' length plus 21 commas;
    lines with quotes get the exact quoted-field count, which only they need."""
    lines = _data_lines(data)
    if lines.height != value_bytes.len():  # a quoted line break, or rows Polars merged
        return False
    line = pl.col("line")
    separators = len(CANONICAL_COLUMNS) - 1
    length = line.str.len_bytes() - line.str.ends_with("\r").cast(pl.UInt32)
    quoted = line.str.contains('"', literal=True)
    bare_ok = (length == pl.col("value_bytes") + separators) | (length == 0)
    quoted_lines = lines.with_columns(value_bytes=value_bytes).filter(quoted | ~bare_ok)
    if quoted_lines.is_empty():
        return True
    commas = line.str.replace_all(_QUOTED, "q").str.count_matches(",", literal=True)
    return bool(quoted_lines.select((quoted & (commas == separators)).all()).item())


def _read_body(data: bytes, columns: int, file_name: str) -> pl.DataFrame:
    """The data lines as positional String columns `_c0..`; a line Polars cannot split into
    the header's columns raises the line-numbered field-count error."""
    try:
        return pl.read_csv(
            data,
            has_header=False,
            skip_rows=1,
            schema={f"_c{i}": pl.String for i in range(columns)},
            quote_char='"',
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        _field_count_errors(data, file_name)  # raises NpsCsvError naming the first bad line
        raise  # every line has 22 fields, so Polars' own error is the clearest


def _empty(raw: bytes) -> bool:
    """Nothing but BOMs and whitespace (found without copying a large file)."""
    if _CONTENT_BYTE.search(raw):
        return False
    return not raw.replace(_BOM, b"").strip()


_CONTENT_BYTE = re.compile(rb"[^\xef\xbb\xbf \t\n\r\x0b\x0c]")


def parse_bytes(raw: bytes, file_name: str) -> ParsedFile:
    """Parse one monthly file into canonical string columns plus lineage columns.

    Columns: the 22 canonical names (String, values exactly as delivered, empty fields as ""),
    then source_file, source_sha256, source_bytes, line_number (1-based physical line; header is
    line 1), header_variant and bytes_replaced (file-level count of undecodable bytes).
    Blank lines are skipped. Raises `NpsCsvError` for an empty file, an unknown header, a header
    without 22 columns, a data line without 22 fields, or a file with no data rows.
    """
    if not raw or _empty(raw):
        raise NpsCsvError(f"{file_name}: file is empty ({len(raw)} bytes)")
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(raw).hexdigest())  # releases the GIL
        text, encoding, replaced = decode(raw)
        header = parse_header(header_of(text, file_name), file_name)
        data = text.encode("utf-8")  # Polars reads UTF-8 bytes; the header line is skipped
        del text
        body = _read_body(data, len(header.columns), file_name)
        value_bytes = body.select(pl.sum_horizontal(pl.all().str.len_bytes())).to_series()
        if not _field_counts_proven(data, value_bytes):
            _field_count_errors(data, file_name)
        del data
        sha = digest.result()
    frame = (
        body.rename({f"_c{i}": name for i, name in enumerate(header.columns)})
        .with_row_index("line_number", offset=2)
        .filter(value_bytes > 0)  # blank lines (or only empty fields)
    )
    if frame.height == 0:
        raise NpsCsvError(f"{file_name}: header only, no data rows")
    frame = frame.select(
        *(pl.col(c).fill_null("") for c in CANONICAL_COLUMNS),
        pl.lit(file_name, pl.String).alias("source_file"),
        pl.lit(sha, pl.String).alias("source_sha256"),
        pl.lit(len(raw), pl.Int64).alias("source_bytes"),
        pl.col("line_number").cast(pl.Int64),
        pl.lit(header.variant, pl.String).alias("header_variant"),
        pl.lit(replaced, pl.Int64).alias("bytes_replaced"),
    )
    return ParsedFile(
        frame=frame,
        file_name=file_name,
        sha256=sha,
        file_bytes=len(raw),
        encoding=encoding,
        header_variant=header.variant,
        bytes_replaced=replaced,
    )


_YM = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")


def parse_ym(value: str) -> date | None:
    """`YYYY-MM` (자료생성년월) as the first day of that month, None when malformed."""
    match = _YM.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return date(int(match.group(1)), int(match.group(2)), 1)


def file_month(frame: pl.DataFrame, file_name: str) -> date:
    """The data month of a parsed file: the most frequent well-formed 자료생성년월 value."""
    counts = (
        frame.select(pl.col("data_created_ym").str.strip_chars())
        .filter(pl.col("data_created_ym").str.contains(r"^\d{4}-(0[1-9]|1[0-2])$"))
        .group_by("data_created_ym")
        .len()
        .sort(["len", "data_created_ym"], descending=[True, False])
    )
    if counts.height == 0:
        raise NpsCsvError(f"{file_name}: no row has a valid 자료생성년월 (YYYY-MM)")
    month = parse_ym(counts.item(0, "data_created_ym"))
    assert month is not None  # the filter above admits only valid months
    return month


def peek_month(head: bytes, file_name: str) -> date:
    """The data month of a file from its first bytes only (header + first complete rows)."""
    text, _, _ = decode(head)
    header_line = header_of(text, file_name)
    header = parse_header(header_line, file_name)
    body = text[len(header_line) :].lstrip("\r\n")
    position = header.columns.index("data_created_ym")
    complete = body[: body.rfind("\n") + 1] if "\n" in body else ""
    for row in csv.reader(complete.splitlines()):
        if len(row) > position and (month := parse_ym(row[position])):
            return month
    raise NpsCsvError(f"{file_name}: no valid 자료생성년월 in the first {len(head)} bytes")
