"""NpsSource: deterministic sample generator, files mode by content, live mode over real HTTP."""

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, quote, urlparse

import dagster as dg
import polars as pl
import pytest

from dag import nps_raw_ingestion as bronze
from dag.nps_csv import CANONICAL_COLUMNS, parse_bytes
from dag.nps_sample import generate_month, sample_file_name
from dag.nps_source import NpsSource, NpsSourceError
from dag_io import DeltaIOManager

MONTH = date(2024, 3, 1)


# --- sample ------------------------------------------------------------------------------------
def test_sample_is_deterministic_per_month_and_seed() -> None:
    first = NpsSource(sample_rows=300).fetch_month(MONTH)
    again = NpsSource(sample_rows=300).fetch_month(date(2024, 3, 15))
    assert first.content == again.content
    assert first.name == sample_file_name(MONTH)
    assert NpsSource(sample_rows=300, seed=7).fetch_month(MONTH).content != first.content
    assert NpsSource(sample_rows=300).fetch_month(date(2024, 4, 1)).content != first.content


def test_sample_has_the_real_format_and_its_quirks() -> None:
    raw = generate_month(MONTH, rows=5_000)
    assert raw.startswith(",".join(["자료생성년월", "사업장명"]).encode("cp949"))
    parsed = parse_bytes(raw, "sample.csv")
    frame = parsed.frame
    assert frame.height == 5_000
    assert parsed.bytes_replaced > 0  # stray undecodable bytes
    names = frame["company_name"]
    for marker in ("㈜", "(주)", "주식회사", "(유)", "사단법인", "신협", "새마을금고", '"'):
        assert names.str.contains(marker, literal=True).any(), marker
    assert names.str.contains(r"\([A-Za-z][^)]*\)").any()  # bracketed English
    assert frame.filter(pl.col("industry_code") == "999999")[
        "industry_name"
    ].unique().to_list() == ["BIZ_NO미존재사업장"]
    assert (frame["re_registered_at"] == "0001-01-01").any()
    assert (frame["re_registered_at"] == "").any()
    assert frame["zip_code"].str.starts_with("0").any()
    assert frame["business_reg_num"].str.contains(r"^\d{6}$").mean() > 0.95
    sido = set(frame["addr_sido_code"])
    assert {"42", "51", "45", "52"} <= sido  # new province codes beside the old ones
    assert frame.select(CANONICAL_COLUMNS).is_duplicated().sum() >= 2
    assert len(raw) > 100 * 1024


def test_sample_workplaces_persist_across_months() -> None:
    march = parse_bytes(generate_month(MONTH, rows=1_000), "a").frame
    april = parse_bytes(generate_month(date(2024, 4, 1), rows=1_000), "b").frame
    shared = set(march["company_name"]) & set(april["company_name"])
    assert len(shared) > 800


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(NpsSourceError, match="unknown mode 'ftp'"):
        NpsSource(mode="ftp").fetch_month(MONTH)


# --- files -------------------------------------------------------------------------------------
def test_files_mode_picks_the_file_by_its_data_month_not_its_name(tmp_path: Path) -> None:
    (tmp_path / "nps_202403.csv").write_bytes(generate_month(date(2024, 4, 1), rows=50))
    (tmp_path / "nps_202404.csv").write_bytes(generate_month(MONTH, rows=50))
    (tmp_path / "readme.txt").write_text("not a csv")
    source = NpsSource(mode="files", source_dir=str(tmp_path))
    got = source.fetch_month(MONTH)
    assert got.name == "nps_202404.csv"
    assert got.content == generate_month(MONTH, rows=50)
    assert got.origin == str((tmp_path / "nps_202404.csv").resolve())


def test_files_mode_errors_name_the_month_and_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(generate_month(MONTH, rows=20))
    source = NpsSource(mode="files", source_dir=str(tmp_path))
    with pytest.raises(NpsSourceError, match=r"no file with 자료생성년월 2024-05.*\['2024-03'\]"):
        source.fetch_month(date(2024, 5, 1))
    (tmp_path / "b.CSV").write_bytes(generate_month(MONTH, rows=20, seed=1))
    with pytest.raises(NpsSourceError, match=r"2 files \['a.csv', 'b.CSV'\]"):
        source.fetch_month(MONTH)
    with pytest.raises(NpsSourceError, match="is not a directory"):
        NpsSource(mode="files", source_dir=str(tmp_path / "missing")).fetch_month(MONTH)


# --- live --------------------------------------------------------------------------------------
DATA_PK = "15083277"
DETAIL_PK = "uddi:2a1d9a0c-0000-4000-8000-000000000000"
ENTRIES = {  # history entry pk -> (label, month of the file served, file id)
    "uddi:doc-1": ("국민연금 가입 사업장 내역 컬럼정보_202403", None, "FILE_DOC"),
    "uddi:m-202403": ("국민연금공단_국민연금 가입 사업장 내역_20240331", MONTH, "FILE_0001"),
    "uddi:m-202402": (
        "국민연금공단_국민연금 가입 사업장 내역_20240229",
        date(2024, 2, 1),
        "FILE_0002",
    ),
    "uddi:m-202401": (
        "국민연금공단_국민연금 가입 사업장 내역_20240131",
        date(2024, 3, 1),
        "FILE_0003",
    ),
}


class Portal(BaseHTTPRequestHandler):
    """The data.go.kr pages and JSON the live chain reads, in their real shapes."""

    requests: ClassVar[list[str]] = []
    fail_history = False
    missing_bytes = 0  # > 0: the file's Content-Length announces this many bytes more than sent

    def log_message(self, *args: object) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Portal.requests.append(url.path)
        if url.path == f"/data/{DATA_PK}/fileData.do":
            page = (
                "<html><body><form id='frm'>"
                f'<input type="hidden" id="publicDataPk" name="publicDataPk" value="{DATA_PK}"/>'
                '<input type="hidden" id="publicDataDetailPk" name="publicDataDetailPk" '
                f'value="{DETAIL_PK}"/></form></body></html>'
            )
            return self._send(200, page.encode(), "text/html; charset=UTF-8")
        if url.path == "/tcs/dss/selectHistAndCsvData.do":
            if Portal.fail_history:
                return self._send(500, b"error", "text/plain")
            assert query == {"publicDataPk": DATA_PK, "publicDataDetailPk": DETAIL_PK}
            items = "".join(
                f"<li><a href=\"javascript:;\" onclick=\"fn_fileDataDetail('{pk}', '1'); "
                f'return false;">{label}</a><span class="date">2024-04-15</span></li>'
                for pk, (label, _, _) in ENTRIES.items()
            )
            return self._send(200, f"<ul>{items}</ul>".encode(), "text/html; charset=UTF-8")
        if url.path == "/tcs/dss/selectDpkDetailInfo.do":
            label = ENTRIES[query["publicDataDetailPk"]][0]
            body = {"dataNm": label, "fileNm": f"{label}.csv", "fileExtsn": "csv"}
            return self._send(200, json.dumps(body).encode(), "application/json")
        if url.path == "/tcs/dss/selectFileDataDownload.do":
            _, _, file_id = ENTRIES[query["publicDataDetailPk"]]
            body = {"status": True, "atchFileId": file_id, "fileDetailSn": 1}
            return self._send(200, json.dumps(body).encode(), "application/json")
        if url.path == "/cmm/cmm/fileDownload.do":
            entry = next(e for e in ENTRIES.values() if e[2] == query["atchFileId"])
            assert entry[1] is not None, "documentation must never be downloaded"
            name = quote(f"{entry[0]}.csv")
            disposition = {"Content-Disposition": f"attachment; filename*=UTF-8''{name}"}
            body = generate_month(entry[1], rows=40)
            if Portal.missing_bytes:  # a connection that breaks off mid-file
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) + Portal.missing_bytes))
                self.send_header(*next(iter(disposition.items())))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return None
            return self._send(200, body, "application/octet-stream", disposition)
        return self._send(404, b"not found", "text/plain")


@pytest.fixture
def portal() -> Iterator[str]:
    Portal.requests = []
    Portal.fail_history = False
    Portal.missing_bytes = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_live_mode_follows_the_download_chain(portal: str) -> None:
    got = NpsSource(mode="live", base_url=portal).fetch_month(MONTH)
    assert got.content == generate_month(MONTH, rows=40)
    assert got.name == "국민연금공단_국민연금 가입 사업장 내역_20240331.csv"
    assert got.origin.startswith(f"{portal}/cmm/cmm/fileDownload.do?atchFileId=FILE_0001")
    assert Portal.requests == [
        f"/data/{DATA_PK}/fileData.do",
        "/tcs/dss/selectHistAndCsvData.do",
        "/tcs/dss/selectDpkDetailInfo.do",
        "/tcs/dss/selectFileDataDownload.do",
        "/cmm/cmm/fileDownload.do",
    ]


def test_live_mode_missing_month_is_an_error(portal: str) -> None:
    with pytest.raises(NpsSourceError, match=r"no history entry for 2023-12 among 3 data entries"):
        NpsSource(mode="live", base_url=portal).fetch_month(date(2023, 12, 1))


def test_live_mode_checks_the_month_inside_the_file(portal: str) -> None:
    with pytest.raises(
        NpsSourceError, match=r"expected to hold 2024-01 but its 자료생성년월 is 2024-03"
    ):
        NpsSource(mode="live", base_url=portal).fetch_month(date(2024, 1, 1))


def test_live_mode_http_error_fails_at_once_without_retry(portal: str) -> None:
    Portal.fail_history = True
    with pytest.raises(NpsSourceError, match=r"selectHistAndCsvData.do.*HTTP 500"):
        NpsSource(mode="live", base_url=portal).fetch_month(MONTH)
    assert Portal.requests.count("/tcs/dss/selectHistAndCsvData.do") == 1


def test_live_mode_refuses_a_download_shorter_than_its_content_length(portal: str) -> None:
    Portal.missing_bytes = 5_000
    sent = len(generate_month(MONTH, rows=40))
    with pytest.raises(NpsSourceError) as failure:
        NpsSource(mode="live", base_url=portal).fetch_month(MONTH)
    message = str(failure.value)
    assert "download of 국민연금공단_국민연금 가입 사업장 내역_20240331.csv" in message
    assert f"received {sent} bytes, the server announced {sent + 5_000} bytes" in message
    assert "refused" in message
    assert Portal.requests.count("/cmm/cmm/fileDownload.do") == 1  # no retry


def test_short_live_download_fails_nps_his_download(
    portal: str, data_dir: Path, tmp_path: Path
) -> None:
    Portal.missing_bytes = 1
    with pytest.raises(bronze.NpsIngestionError, match=r"partition 2024-03-01: .*announced"):
        dg.materialize(
            [bronze.nps_his_download],
            partition_key=MONTH.isoformat(),
            resources={
                "delta_io_manager": DeltaIOManager(root_uri=str(tmp_path / "lake")),
                "nps_source": NpsSource(mode="live", base_url=portal),
            },
        )
    assert not (tmp_path / "lake" / "nps_his_download").exists()
    assert not list((data_dir / "raw").rglob("*.csv"))  # no snapshot of a partial file
