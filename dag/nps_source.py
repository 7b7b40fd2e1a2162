"""Where the NPS monthly workplace file comes from: sample generator, a folder, or data.go.kr.

`NpsSource` returns one month's raw CSV file (bytes and file name) for the bronze asset. Modes:
- `sample` (default): the deterministic generator of `dag.nps_sample` (real format, CP949);
- `files`: a folder of downloaded monthly CSVs (`*.csv`, `*.csv.gz`). The month a file holds is
  its 자료생성년월 column; the file name only says which files to look at. For month M the source
  reads the head (first 64 KiB) of the files named for M (a YYYYMM in the name) and of the files
  without a month in their name; only when none of them holds M does it look at the heads of the
  files named for other months (a misnamed file), whose problems never block M. So a bad file
  blocks its own month only (a bad file without a month in its name blocks every month: which
  month it holds cannot be known). Exactly one file must hold M; only that file is read whole.
- `live`: the data.go.kr file-dataset download chain (dataset page -> history list -> entry
  detail -> download descriptor -> file), with httpx, one attempt per request (no retries); a
  download shorter than the server's Content-Length is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import httpx
from pydantic import Field

from dag.nps_csv import NpsCsvError, peek_months
from dag.nps_sample import generate_month, sample_file_name

MODES = ("sample", "files", "live")
DATASET_ID = "15083277"  # 국민연금공단_국민연금 가입 사업장 내역
PEEK_BYTES = 64 * 1024
# History entries that are documentation, not monthly data.
DOCUMENTATION_WORDS = ("컬럼정보", "항목정보", "스키마", "설명서", "가이드", "manual", "정의서")
_HIDDEN_INPUT = r'<input[^>]*(?:id|name)="{name}"[^>]*value="([^"]*)"'
_HISTORY_ENTRY = re.compile(
    r"fn\w*\(\s*'(?P<pk>uddi:[^']+)'[^)]*\)[^>]*>\s*(?P<label>[^<]+?)\s*<", re.IGNORECASE
)
_LABEL_MONTH = re.compile(r"(20\d{2})[-._]?(0[1-9]|1[0-2])(?:[-._]?\d{2})?(?!\d)")
_NAME_MONTH = re.compile(
    r"(?<!\d)(20\d{2})[-._]?(0[1-9]|1[0-2])(?:[-._]?(?:0[1-9]|[12]\d|3[01]))?(?!\d)"
)
FILE_SUFFIXES = (".csv", ".csv.gz")


class NpsSourceError(RuntimeError):
    """The month's file could not be obtained; the message names mode, month and what failed."""


@dataclass(frozen=True)
class RawFile:
    """One delivered monthly file: its name, its bytes and where it came from (path, URL...)."""

    name: str
    content: bytes
    origin: str


def _is_documentation(label: str) -> bool:
    lowered = label.lower()
    return any(word in lowered for word in DOCUMENTATION_WORDS)


def _label_month(label: str) -> date | None:
    match = _LABEL_MONTH.search(label)
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


def name_month(file_name: str) -> date | None:
    """The month a file name carries (`..._202403.csv`, `nps-2024-03.csv`, `..._20240331.csv`),
    None when it carries none (or several different ones)."""
    found = {(int(m.group(1)), int(m.group(2))) for m in _NAME_MONTH.finditer(file_name)}
    if len(found) != 1:
        return None
    (year, month_number) = found.pop()
    return date(year, month_number, 1)


@dataclass(frozen=True)
class _Peeked:
    """A file's head as read for one month: the months its first rows carry, or the error."""

    path: Path
    named: date | None
    months: dict[date, int]
    error: str = ""

    def holds(self, month: date) -> bool:
        """Whether the file belongs to `month`: its first rows carry it, and either its name
        says so or `month` is the most frequent month there (content beats a wrong name)."""
        if month not in self.months:
            return False
        return self.named == month or next(iter(self.months)) == month

    def describe(self) -> str:
        named = f"named for {self.named:%Y-%m}" if self.named else "no month in its name"
        if self.error:
            return f"{self.path.name} ({named}): unreadable: {self.error}"
        held = ", ".join(f"{m:%Y-%m} ({n} rows)" for m, n in self.months.items())
        return f"{self.path.name} ({named}): first rows carry {held}"


class NpsSource(dg.ConfigurableResource):
    """The NPS monthly workplace file (국민연금 가입 사업장 내역) for a data month."""

    mode: str = Field(default="sample", description="sample | files | live (NPS_SOURCE_MODE)")
    source_dir: str = Field(default="", description="files mode: folder of monthly CSV files")
    base_url: str = Field(default="https://www.data.go.kr", description="live mode: portal URL")
    sample_rows: int = Field(default=2_000, description="sample mode: data lines per month")
    seed: int = Field(default=42, description="sample mode: generator seed")
    timeout_sec: float = Field(default=120.0, description="live mode: per-request timeout")

    def fetch_month(self, month: date) -> RawFile:
        """The raw file whose data month (자료생성년월) is `month`; errors name mode and month."""
        month = month.replace(day=1)
        if self.mode == "sample":
            content = generate_month(month, rows=self.sample_rows, seed=self.seed)
            origin = f"sample:rows={self.sample_rows},seed={self.seed}"
            return RawFile(name=sample_file_name(month), content=content, origin=origin)
        if self.mode == "files":
            return self._from_files(month)
        if self.mode == "live":
            return self._from_live(month)
        raise NpsSourceError(f"nps_source: unknown mode {self.mode!r}, expected one of {MODES}")

    # --- files ------------------------------------------------------------------------------
    def _folder_files(self) -> list[Path]:
        folder = Path(self.source_dir)
        if not folder.is_dir():
            raise NpsSourceError(f"nps_source files mode: {folder} is not a directory")
        return sorted(
            p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(FILE_SUFFIXES)
        )

    @staticmethod
    def _peek(path: Path) -> _Peeked:
        """Read only the first PEEK_BYTES of `path`; an unreadable head is recorded, not raised."""
        with path.open("rb") as handle:
            head = handle.read(PEEK_BYTES)
        named = name_month(path.name)
        try:
            return _Peeked(path, named, peek_months(head, path.name))
        except NpsCsvError as error:
            return _Peeked(path, named, {}, error=str(error))

    def _from_files(self, month: date) -> RawFile:
        files = self._folder_files()
        own = [p for p in files if name_month(p.name) in (month, None)]
        peeked = [self._peek(p) for p in own]
        for head in peeked:  # a file that may be this month's must be readable
            if head.error:
                why = (
                    f"it is named for {month:%Y-%m}"
                    if head.named
                    else "its name carries no month (YYYYMM), so it may hold any month"
                )
                raise NpsSourceError(
                    f"nps_source files mode: cannot read the data month of {head.path} ({why}): "
                    f"{head.error}"
                )
        found = [head for head in peeked if head.holds(month)]
        if not found:  # a misnamed file? Look at the others; their problems never block `month`
            others = [self._peek(p) for p in files if p not in own]
            peeked += others
            found = [head for head in others if head.holds(month)]
        if len(found) != 1:
            problem = (
                "no file" if not found else f"{len(found)} files {[h.path.name for h in found]}"
            )
            months = sorted({f"{m:%Y-%m}" for h in peeked for m in h.months if h.holds(m)})
            seen = "; ".join(h.describe() for h in peeked) or "no *.csv / *.csv.gz file"
            raise NpsSourceError(
                f"nps_source files mode: {problem} with 자료생성년월 {month:%Y-%m} in "
                f"{self.source_dir} (months present: {months}; files looked at: {seen})"
            )
        path = found[0].path
        return RawFile(name=path.name, content=path.read_bytes(), origin=str(path.resolve()))

    # --- live -------------------------------------------------------------------------------
    def _from_live(self, month: date) -> RawFile:
        transport = httpx.HTTPTransport(retries=0)
        with httpx.Client(
            base_url=self.base_url, timeout=self.timeout_sec, transport=transport
        ) as client:
            page = _get(client, f"/data/{DATASET_ID}/fileData.do", {}).text
            data_pk = _hidden(page, "publicDataPk")
            detail_pk = _hidden(page, "publicDataDetailPk")
            history = _get(
                client,
                "/tcs/dss/selectHistAndCsvData.do",
                {"publicDataPk": data_pk, "publicDataDetailPk": detail_pk},
            ).text
            entries = [(m["pk"], m["label"].strip()) for m in _HISTORY_ENTRY.finditer(history)]
            data_entries = [(pk, label) for pk, label in entries if not _is_documentation(label)]
            wanted = [(pk, label) for pk, label in data_entries if _label_month(label) == month]
            if not wanted:
                raise NpsSourceError(
                    f"nps_source live mode: no history entry for {month:%Y-%m} among "
                    f"{len(data_entries)} data entries ({len(entries) - len(data_entries)} "
                    f"documentation entries skipped) at {self.base_url}"
                )
            entry_pk, label = wanted[0]
            detail = _json(
                _get(client, "/tcs/dss/selectDpkDetailInfo.do", {"publicDataDetailPk": entry_pk})
            )
            descriptor = _json(
                _get(
                    client,
                    "/tcs/dss/selectFileDataDownload.do",
                    {"publicDataPk": data_pk, "publicDataDetailPk": entry_pk, "fileDetailSn": "1"},
                )
            )
            file_id = descriptor.get("atchFileId")
            if not file_id:
                raise NpsSourceError(
                    f"nps_source live mode: download descriptor of {label!r} ({entry_pk}) has "
                    f"no atchFileId: {sorted(descriptor)}"
                )
            sn = str(descriptor.get("fileDetailSn", "1"))
            params = {"atchFileId": file_id, "fileDetailSn": sn}
            name, content, url = _download(
                client, "/cmm/cmm/fileDownload.do", params, detail, label
            )
        try:
            months = peek_months(content[:PEEK_BYTES], name)
        except NpsCsvError as error:
            raise NpsSourceError(
                f"nps_source live mode: entry {label!r} ({url}) is not a readable NPS file: {error}"
            ) from error
        if month not in months:
            raise NpsSourceError(
                f"nps_source live mode: entry {label!r} was expected to hold {month:%Y-%m} but "
                f"its 자료생성년월 is {next(iter(months)):%Y-%m} ({name})"
            )
        return RawFile(name=name, content=content, origin=url)


def _get(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    try:
        response = client.get(path, params=params)
    except httpx.TransportError as error:  # connection refused or broken, timeout: no retry
        raise NpsSourceError(
            f"nps_source live mode: GET {path} failed ({type(error).__name__}: {error})"
        ) from error
    if response.status_code != 200:
        raise NpsSourceError(
            f"nps_source live mode: GET {response.url} answered HTTP {response.status_code}"
        )
    return response


def _download(
    client: httpx.Client, path: str, params: dict[str, str], detail: dict, label: str
) -> tuple[str, bytes, str]:
    """GET the file: (file name, body, URL). The body must be exactly as long as the server's
    Content-Length (counted on the wire, before any Content-Encoding is undone): a connection
    that closes early, or a body of another length, is refused naming the file and both counts."""
    with client.stream("GET", path, params=params) as response:
        if response.status_code != 200:
            raise NpsSourceError(
                f"nps_source live mode: GET {response.url} answered HTTP {response.status_code}"
            )
        name = _file_name(response, detail, label)
        announced = response.headers.get("content-length")
        expected = f"{announced} bytes (Content-Length)" if announced else "no Content-Length"
        chunks: list[bytes] = []
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
        except httpx.TransportError as error:  # peer closed early, read error or timeout
            raise NpsSourceError(
                f"nps_source live mode: download of {name} from {response.url} broke off: "
                f"received {response.num_bytes_downloaded} bytes, the server announced "
                f"{expected}; refused ({type(error).__name__}: {error})"
            ) from error
        received = response.num_bytes_downloaded
        if announced is not None and (not announced.isdigit() or int(announced) != received):
            raise NpsSourceError(
                f"nps_source live mode: download of {name} from {response.url} is incomplete: "
                f"received {received} bytes, the server announced {expected}; refused"
            )
        return name, b"".join(chunks), str(response.url)


def _hidden(page: str, name: str) -> str:
    match = re.search(_HIDDEN_INPUT.format(name=name), page)
    if not match or not match.group(1):
        raise NpsSourceError(f"nps_source live mode: dataset page has no hidden input {name!r}")
    return match.group(1)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except json.JSONDecodeError as error:
        raise NpsSourceError(
            f"nps_source live mode: {response.url} did not return JSON: {response.text[:200]!r}"
        ) from error
    if not isinstance(body, dict):
        raise NpsSourceError(f"nps_source live mode: {response.url} returned {type(body).__name__}")
    return body


def _file_name(response: httpx.Response, detail: dict, label: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    match = re.search(r"filename\*=UTF-8''([^;]+)", disposition) or re.search(
        r'filename="?([^";]+)"?', disposition
    )
    if match:
        return unquote(match.group(1))
    named = detail.get("fileNm") or detail.get("orginlFileNm")
    return str(named) if named else f"{label}.csv"
