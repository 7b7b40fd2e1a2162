"""Reading one NPS monthly workplace file (국민연금 가입 사업장 내역) into canonical string columns.

The file is CP949, 22 columns, one row per enrolled workplace. Also accepted, and recorded in the
file's metadata: UTF-8 with a BOM, UTF-8 without a BOM (chosen when the first 64 KiB decode with
fewer undecodable bytes as UTF-8 than as CP949), and a gzip-compressed file (decompressed in
memory, at most 1 GiB). Anything else fails with the file name and the reason: a ZIP archive,
an HTML page, UTF-16 text, binary data, an unknown header, a line without 22 fields, an
unbalanced quote (with its physical line number). The header comes in variants (plain, a space
after each comma, 2021-era names with notes in parentheses, legacy English codes); columns are
recognised by the leading word of each name, never by position alone. Values stay strings
exactly as delivered (bronze); typing is silver's job.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import threading
import zlib
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
    sha256: str  # of the delivered bytes
    file_bytes: int  # of the CSV (after decompression; the lineage column `source_bytes`)
    encoding: str  # cp949 | utf-8-sig | utf-8
    header_variant: str
    bytes_replaced: int
    compression: str = "none"  # none | gzip
    delivered_bytes: int = 0  # of the delivered file (the gzip size when compressed)

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


ENCODING_LABELS = {
    "cp949": "CP949",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-8": "UTF-8 (no BOM)",
}
SNIFF_BYTES = 64 * 1024  # the head that decides the encoding and whether the file is text
MAX_DECOMPRESSED_BYTES = 1 << 30  # a gzip delivery may expand to 1 GiB (a real month ~110 MB)
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy Excel .xls and other OLE documents
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # e.g. Excel's "Unicode text" export
# Bytes that never occur in a CP949 / UTF-8 text file (controls except tab, LF, VT, FF, CR).
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_HTML = re.compile(rb"^\s*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)


def _replaced_in(raw: bytes, encoding: str) -> int:
    """Bytes of `raw` that do not decode in `encoding`."""
    _counter.replaced = 0
    raw.decode(encoding, errors="nps_count_replace")
    return _counter.replaced


def sniff_encoding(raw: bytes) -> str:
    """`utf-8-sig` with a BOM; else `utf-8` when the head (cut at a line end) has non-ASCII bytes
    and fewer of them fail to decode as UTF-8 than as CP949; else `cp949` (ties included).

    CP949 Hangul is almost never valid UTF-8 (its lead bytes 0xB0-0xC8 are mostly UTF-8
    continuation bytes) and UTF-8 Hangul leaves stray 0x80 bytes in CP949, so the two counts are
    far apart on any real head; a few stray bytes (counted later) do not tip the choice."""
    if raw.startswith(_BOM):
        return "utf-8-sig"
    head = raw[:SNIFF_BYTES]
    if head.isascii():
        return "cp949"
    if len(raw) > SNIFF_BYTES and (end := head.rfind(b"\n")) > 0:
        head = head[: end + 1]  # never cut a multi-byte character
    utf8_bad = _replaced_in(head, "utf-8")
    return "utf-8" if utf8_bad < _replaced_in(head, "cp949") else "cp949"


def decode(raw: bytes) -> tuple[str, str, int]:
    """Decode a file in the encoding `sniff_encoding` chooses; undecodable bytes become U+FFFD.
    Returns (text, encoding, number of bytes replaced)."""
    encoding = sniff_encoding(raw)
    _counter.replaced = 0
    body = raw[len(_BOM) :] if encoding == "utf-8-sig" else raw
    text = body.decode("utf-8" if encoding == "utf-8-sig" else encoding, "nps_count_replace")
    return text, encoding, _counter.replaced


def _not_csv(raw: bytes, file_name: str, what: str) -> None:
    """Raise when the (decompressed) bytes are plainly not a CSV text file; `what` says which
    bytes were looked at (e.g. "the file" or "the gzip content")."""
    if raw.startswith(_ZIP_MAGIC):
        raise NpsCsvError(
            f"{file_name}: {what} is zip-compressed (a ZIP archive, e.g. .zip or .xlsx), not a "
            "CSV text file; extract the CSV from it first"
        )
    if raw.startswith(_GZIP_MAGIC):
        raise NpsCsvError(f"{file_name}: {what} is gzip-compressed twice; decompress it first")
    if raw.startswith(_UTF16_BOMS):
        raise NpsCsvError(
            f"{file_name}: {what} is UTF-16 text (starts with the byte-order mark "
            f"{raw[:2]!r}), not CP949 or UTF-8; save it as CP949 or UTF-8 first"
        )
    head = raw[:SNIFF_BYTES]
    if _HTML.match(head):
        raise NpsCsvError(
            f"{file_name}: {what} is an HTML page, not CSV (starts with "
            f"{head.lstrip()[:40]!r}); a portal error page instead of the file?"
        )
    controls = len(_CONTROL.findall(head))
    nuls = head.count(b"\x00")
    if raw.startswith(_OLE_MAGIC) or nuls or controls > len(head) // 100:
        raise NpsCsvError(
            f"{file_name}: {what} is not text (binary): {nuls} NUL and {controls} control "
            f"bytes in the first {len(head)} bytes, starts with {head[:16]!r}"
        )


def unwrap(raw: bytes, file_name: str) -> tuple[bytes, str]:
    """The CSV bytes of a delivered file and its compression (`none` or `gzip`).

    A gzip file is decompressed in memory, at most MAX_DECOMPRESSED_BYTES (a larger expansion
    is refused, never read further); a damaged or cut-short gzip stream is an error naming the
    file. ZIP archives, HTML pages and binary data are refused with what they are."""
    if not raw.startswith(_GZIP_MAGIC):
        _not_csv(raw, file_name, "the file")
        return raw, "none"
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(MAX_DECOMPRESSED_BYTES + 1)
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise NpsCsvError(
            f"{file_name}: the file is gzip-compressed but its gzip stream is damaged or cut "
            f"short ({len(raw)} bytes delivered): {error}"
        ) from error
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise NpsCsvError(
            f"{file_name}: the file is gzip-compressed and expands to more than "
            f"{MAX_DECOMPRESSED_BYTES} bytes (refused; a real month is about 110 MB)"
        )
    _not_csv(data, file_name, "the gzip content")
    return data, "gzip"


def unwrap_head(head: bytes, file_name: str) -> bytes:
    """The first CSV bytes of a file from its first delivered bytes only (a gzip head is
    decompressed as far as it goes, at most SNIFF_BYTES out); refused like `unwrap`."""
    if not head.startswith(_GZIP_MAGIC):
        _not_csv(head, file_name, "the file")
        return head
    try:
        data = zlib.decompressobj(wbits=31).decompress(head, SNIFF_BYTES)
    except zlib.error as error:
        raise NpsCsvError(
            f"{file_name}: the file is gzip-compressed but its gzip stream is damaged: {error}"
        ) from error
    _not_csv(data, file_name, "the gzip content")
    return data


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


_STRAY_QUOTE = '"'  # a quote left after every balanced quoted segment of a line is removed


def _field_count_errors(data: bytes, file_name: str) -> None:
    """Every non-blank data line must hold exactly 22 fields (quoted commas excluded) and close
    every quote it opens (a quoted field may not span lines). Raises naming the first bad line
    (1-based physical line number; the header is line 1) and, for a quote, the field it is in."""
    unquoted = pl.col("line").str.replace_all(_QUOTED, "q")
    lines = (
        _data_lines(data)
        .with_row_index("line_number", offset=2)
        .with_columns(
            bad_count=(pl.col("line").str.strip_chars("\r") != "")
            & (unquoted.str.count_matches(",", literal=True) + 1 != len(CANONICAL_COLUMNS)),
            open_quote=unquoted.str.contains(_STRAY_QUOTE, literal=True),
        )
        .filter(pl.col("bad_count") | pl.col("open_quote"))
    )
    if lines.is_empty():
        return
    problems: list[tuple[float, str]] = []  # (line, message): the earliest line is named first
    bad = lines.filter("bad_count")
    if bad.height:
        first = bad.row(0, named=True)
        fields = first["line"].count(",") + 1 if '"' not in first["line"] else "?"
        problems.append(
            (
                first["line_number"],
                f"{bad.height} data line(s) do not have {len(CANONICAL_COLUMNS)} fields; first "
                f"is line {first['line_number']} ({fields} fields): {first['line'][:120]!r}",
            )
        )
    quotes = lines.filter("open_quote")
    if quotes.height:
        first = quotes.row(0, named=True)
        rest = re.sub(_QUOTED, "q", first["line"])
        field = rest[: rest.index('"')].count(",") + 1
        problems.append(
            (
                first["line_number"] + 0.5,  # on the same line the field count is named first
                f"unbalanced quote: line {first['line_number']} field {field} opens a quote that "
                f"is not closed on that line ({quotes.height} line(s) with an unterminated quote; "
                f"a quoted value may not span lines): {first['line'][:120]!r}",
            )
        )
    raise NpsCsvError(f"{file_name}: " + "; ".join(m for _, m in sorted(problems)))


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
    except pl.exceptions.PolarsError as error:
        _field_count_errors(data, file_name)  # raises NpsCsvError naming the first bad line
        raise NpsCsvError(f"{file_name}: the CSV reader failed: {error}") from error


def _empty(raw: bytes) -> bool:
    """Nothing but BOMs and whitespace (found without copying a large file)."""
    if _CONTENT_BYTE.search(raw):
        return False
    return not raw.replace(_BOM, b"").strip()


_CONTENT_BYTE = re.compile(rb"[^\xef\xbb\xbf \t\n\r\x0b\x0c]")


def parse_bytes(raw: bytes, file_name: str) -> ParsedFile:
    """Parse one monthly file into canonical string columns plus lineage columns.

    Columns: the 22 canonical names (String, values exactly as delivered, empty fields as ""),
    then source_file, source_sha256 (of the delivered bytes), source_bytes (of the CSV, after
    gzip decompression), line_number (1-based physical line; header is line 1), header_variant
    and bytes_replaced (file-level count of undecodable bytes). Blank lines are skipped.
    Raises `NpsCsvError`, always naming the file, for an empty file, a file that is not CSV text
    (ZIP archive, HTML page, binary, damaged gzip), an unknown header (with the encoding it was
    read in), a header without 22 columns, a data line without 22 fields, an unbalanced quote
    (with its line), or a file with no data rows.
    """
    if not raw or _empty(raw):
        raise NpsCsvError(f"{file_name}: file is empty ({len(raw)} bytes)")
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(raw).hexdigest())  # releases the GIL
        content, compression = unwrap(raw, file_name)
        if compression != "none" and _empty(content):
            raise NpsCsvError(f"{file_name}: file is empty after {compression} decompression")
        text, encoding, replaced = decode(content)
        header = _header(text, file_name, encoding, compression)
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
        pl.lit(len(content), pl.Int64).alias("source_bytes"),
        pl.col("line_number").cast(pl.Int64),
        pl.lit(header.variant, pl.String).alias("header_variant"),
        pl.lit(replaced, pl.Int64).alias("bytes_replaced"),
    )
    return ParsedFile(
        frame=frame,
        file_name=file_name,
        sha256=sha,
        file_bytes=len(content),
        encoding=encoding,
        header_variant=header.variant,
        bytes_replaced=replaced,
        compression=compression,
        delivered_bytes=len(raw),
    )


def _header(text: str, file_name: str, encoding: str, compression: str) -> HeaderInfo:
    """`parse_header` of the decoded text; an unrecognised header's error also says how the
    file was read (encoding, decompression), since a wrong guess shows as garbled names."""
    try:
        return parse_header(header_of(text, file_name), file_name)
    except NpsCsvError as error:
        how = ENCODING_LABELS[encoding] + (", gzip-decompressed" if compression == "gzip" else "")
        raise NpsCsvError(f"{error} (the file was read as {how})") from error


_YM = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")


def parse_ym(value: str) -> date | None:
    """`YYYY-MM` (자료생성년월) as the first day of that month, None when malformed."""
    match = _YM.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return date(int(match.group(1)), int(match.group(2)), 1)


def file_month(frame: pl.DataFrame, file_name: str, expected: date | None = None) -> date:
    """The data month of a parsed file: the most frequent well-formed 자료생성년월 value.

    With `expected` (the partition's month), every row with a well-formed 자료생성년월 must carry
    that month: otherwise the error names the months the file holds (rows of each), how many rows
    disagree and the first of their line numbers. Malformed or empty values are left to silver,
    which rejects and counts them."""
    ym = pl.col("data_created_ym").str.strip_chars()
    numbered = "line_number" in frame.columns
    lines = pl.col("line_number") if numbered else pl.int_range(2, pl.len() + 2)
    months = (
        frame.select(ym, lines.alias("line"))
        .filter(ym.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$"))
        .group_by("data_created_ym")
        .agg(pl.len().alias("rows"), pl.col("line").sort().head(5).alias("lines"))
        .sort(["rows", "data_created_ym"], descending=[True, False])
    )
    if months.height == 0:
        raise NpsCsvError(f"{file_name}: no row has a valid 자료생성년월 (YYYY-MM)")
    month = parse_ym(months.item(0, "data_created_ym"))
    assert month is not None  # the filter above admits only valid months
    if expected is None:
        return month
    wanted = f"{expected:%Y-%m}"
    other = months.filter(pl.col("data_created_ym") != wanted)
    if other.is_empty():
        return expected
    disagree = int(other["rows"].sum())
    examples = sorted(line for lines_ in other["lines"] for line in lines_)[:5]
    held = ", ".join(
        f"{r['data_created_ym']} ({r['rows']} rows)" for r in months.head(12).iter_rows(named=True)
    )
    more = f" and {months.height - 12} more months" if months.height > 12 else ""
    raise NpsCsvError(
        f"{file_name}: {disagree} of {int(months['rows'].sum())} rows carry another 자료생성년월 "
        f"than the partition's {wanted}; the file holds {held}{more}; first disagreeing lines: "
        f"{', '.join(map(str, examples))}"
    )


def peek_months(head: bytes, file_name: str) -> dict[date, int]:
    """The data months of a file from its first bytes only (header + the complete rows there):
    rows per well-formed 자료생성년월, most frequent first (ties: first seen). A gzip head is
    decompressed as far as it goes; a file that is not CSV text raises like `parse_bytes`."""
    text, encoding, _ = decode(unwrap_head(head, file_name))
    header_line = header_of(text, file_name)
    header = _header(text, file_name, encoding, "none")
    body = text[len(header_line) :].lstrip("\r\n")
    position = header.columns.index("data_created_ym")
    complete = body[: body.rfind("\n") + 1] if "\n" in body else ""
    counts: dict[date, int] = {}
    for row in csv.reader(complete.splitlines()):  # at most SNIFF_BYTES of text: a few rows
        if len(row) > position and (month := parse_ym(row[position])):
            counts[month] = counts.get(month, 0) + 1
    if not counts:
        raise NpsCsvError(f"{file_name}: no valid 자료생성년월 in the first {len(head)} bytes")
    return dict(sorted(counts.items(), key=lambda item: -item[1]))  # stable: ties keep order


def peek_month(head: bytes, file_name: str) -> date:
    """The most frequent data month among the complete rows of a file's first bytes."""
    return next(iter(peek_months(head, file_name)))
