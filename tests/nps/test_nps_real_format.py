"""The NPS parser on a real-format excerpt typed out here, independent of the parser's own
header constants and of the sample generator (which imports them).

The header is the published file's first line as data.go.kr serves it (국민연금공단_국민연금 가입
사업장 내역, CP949, CRLF); the rows follow the published layout: 자료생성년월 as YYYY-MM, a 6-digit
masked business registration number, addresses with spaces, `0001-01-01` for "no date", and a
company name with a quoted comma as the file's writer quotes it.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from dag import nps_data_processing, nps_raw_ingestion
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager

HEADER = (
    "자료생성년월,사업장명,사업자등록번호,사업장가입상태코드 1 등록 2 탈퇴,우편번호,"
    "사업장지번상세주소,사업장도로명상세주소,고객법정동주소코드,고객행정동주소코드,"
    "법정동주소광역시도코드,법정동주소광역시시군구코드,법정동주소광역시시군구읍면동코드,"
    "사업장형태구분코드 1 법인 2 개인,사업장업종코드,사업장업종코드명,적용일자,재등록일자,탈퇴일자,"
    "가입자수,당월고지금액,신규취득자수,상실가입자수"
)
ROWS = [
    "2024-05,우성기전(주),126811,1,12816,경기도 광주시 도척면,경기도 광주시 도척면 도척윗로,"
    "4161033025,4161033025,41,610,330,1,292201,동력식 수지 공구 제조업,1988-01-01,0001-01-01,"
    "0001-01-01,5,792720,0,0",
    "2024-05,\"(주)한빛,솔루션\",214881,1,06236,서울특별시 강남구 역삼동,"
    "서울특별시 강남구 테헤란로 152,1168010100,1168064000,11,680,101,1,722000,"
    "소프트웨어 개발 및 공급업,2015-03-01,0001-01-01,0001-01-01,42,18250400,3,1",
    "2024-05,김밥천국 부산서면점,605120,2,47285,부산광역시 부산진구 부전동,"
    "부산광역시 부산진구 중앙대로 691,2623010100,2623065000,26,230,101,2,552101,"
    "한식 음식점업,2019-07-15,0001-01-01,2024-04-30,0,0,0,2",
]


def _file(folder: Path) -> Path:
    path = folder / "국민연금공단_국민연금 가입 사업장 내역_20240531.csv"
    path.write_bytes(("\r\n".join([HEADER, *ROWS]) + "\r\n").encode("cp949"))
    return path


def test_real_format_month_reaches_silver(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "100")
    folder = tmp_path / "files"
    folder.mkdir()
    _file(folder)
    lake = DeltaIOManager(root_uri=str(tmp_path / "lake"))
    result = dg.materialize(
        [nps_raw_ingestion.nps_his_download, nps_data_processing.nps_his_digest],
        partition_key="2024-05-01",
        resources={
            "delta_io_manager": lake,
            "nps_source": NpsSource(mode="files", source_dir=str(folder)),
        },
    )
    assert result.success
    bronze = pl.read_delta(str(tmp_path / "lake" / "nps_his_download")).sort("line_number")
    assert bronze.height == 3
    assert bronze.get_column("company_name").to_list() == [
        "우성기전(주)",
        "(주)한빛,솔루션",
        "김밥천국 부산서면점",
    ]
    assert bronze.get_column("header_variant").unique().to_list() == ["standard"]
    silver = pl.read_delta(str(tmp_path / "lake" / "nps_his_digest"))
    assert set(silver.get_column("ym").to_list()) == {date(2024, 5, 1)}
    hanbit = silver.filter(pl.col("business_reg_num") == "214881").row(0, named=True)
    assert hanbit["subscriber_count"] == 42
    assert hanbit["monthly_notice_amount"] == 18_250_400
    assert hanbit["road_name_address"] == "서울특별시 강남구 테헤란로 152"
