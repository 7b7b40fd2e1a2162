"""Where the NPS monthly workplace file comes from: sample generator, a folder, or data.go.kr.

`NpsSource` returns one month's raw CSV file (bytes and file name) for the bronze asset. Modes:
- `sample` (default): the deterministic generator of `dag.nps_sample` (real format, CP949);
- `files`: a folder of downloaded monthly CSVs; the month is read from each file's 자료생성년월
  column (the first rows), never from its name;
- `live`: the data.go.kr file-dataset download chain (dataset page -> history list -> entry
  detail -> download descriptor -> file), with httpx, one attempt per request (no retries).
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

from dag.nps_csv import NpsCsvError, peek_month
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
    def files_by_month(self) -> dict[date, list[Path]]:
        """Every CSV under `source_dir` keyed by the data month read from its first rows."""
        folder = Path(self.source_dir)
        if not folder.is_dir():
            raise NpsSourceError(f"nps_source files mode: {folder} is not a directory")
        found: dict[date, list[Path]] = {}
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv"):
            with path.open("rb") as handle:
                head = handle.read(PEEK_BYTES)
            try:
                month = peek_month(head, path.name)
            except NpsCsvError as error:
                raise NpsSourceError(
                    f"nps_source files mode: cannot read the data month of {path}: {error}"
                ) from error
            found.setdefault(month, []).append(path)
        return found

    def _from_files(self, month: date) -> RawFile:
        by_month = self.files_by_month()
        paths = by_month.get(month, [])
        if len(paths) != 1:
            months = sorted(f"{m:%Y-%m}" for m in by_month)
            problem = "no file" if not paths else f"{len(paths)} files {[p.name for p in paths]}"
            raise NpsSourceError(
                f"nps_source files mode: {problem} with 자료생성년월 {month:%Y-%m} in "
                f"{self.source_dir} (months present: {months})"
            )
        path = paths[0]
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
            response = _get(client, "/cmm/cmm/fileDownload.do", params)
            name = _file_name(response, detail, label)
            content = response.content
        delivered = peek_month(content[:PEEK_BYTES], name)
        if delivered != month:
            raise NpsSourceError(
                f"nps_source live mode: entry {label!r} was expected to hold {month:%Y-%m} but "
                f"its 자료생성년월 is {delivered:%Y-%m} ({name})"
            )
        return RawFile(name=name, content=content, origin=str(response.url))


def _get(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    response = client.get(path, params=params)
    if response.status_code != 200:
        raise NpsSourceError(
            f"nps_source live mode: GET {response.url} answered HTTP {response.status_code}"
        )
    return response


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
