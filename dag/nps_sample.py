"""Deterministic sample of the NPS monthly workplace file, in the real format, for demos and tests.

Generates the CP949 bytes of one month of "국민연금 가입 사업장 내역": the real
22-column header (or one of its variants), realistic Korean workplace names with
their legal forms, addresses and codes, and the quirks real files carry: exact
duplicate rows, names with embedded quotes, `0001-01-01` and empty dates, the
placeholder industry `999999 BIZ_NO미존재사업장`, stray undecodable bytes, and
province codes 51/52 beside the older 42/45. The same (month, rows, seed) always gives the same
bytes. Workplaces persist from month to month (same names, registration numbers and addresses;
counts drift), so the company layer has something to match. Generation is vectorised (numpy
draws, Polars string expressions): 500,000 rows take a few seconds.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from dag.nps_csv import ANNOTATED_2021_HEADER, ENGLISH_HEADER, KOREAN_HEADER

STRAY_MARKER = "\x01"  # replaced by an undecodable CP949 byte after encoding
STRAY_BYTE = b"\xff"

# (sido code, sido name, sigungu code, sigungu name, zip prefix 2 digits)
REGIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("11", "서울특별시", "110", "종로구", "03"),
    ("11", "서울특별시", "140", "중구", "04"),
    ("11", "서울특별시", "440", "마포구", "04"),
    ("11", "서울특별시", "560", "영등포구", "07"),
    ("11", "서울특별시", "650", "서초구", "06"),
    ("11", "서울특별시", "680", "강남구", "06"),
    ("11", "서울특별시", "710", "송파구", "05"),
    ("26", "부산광역시", "230", "부산진구", "47"),
    ("26", "부산광역시", "350", "해운대구", "48"),
    ("27", "대구광역시", "290", "달서구", "42"),
    ("28", "인천광역시", "237", "부평구", "21"),
    ("28", "인천광역시", "185", "연수구", "21"),
    ("29", "광주광역시", "170", "북구", "61"),
    ("30", "대전광역시", "200", "유성구", "34"),
    ("31", "울산광역시", "140", "남구", "44"),
    ("36", "세종특별자치시", "110", "세종특별자치시", "30"),
    ("41", "경기도", "135", "성남시 분당구", "13"),
    ("41", "경기도", "117", "수원시 영통구", "16"),
    ("41", "경기도", "610", "광주시", "12"),
    ("41", "경기도", "285", "고양시 일산동구", "10"),
    ("41", "경기도", "390", "시흥시", "14"),
    ("41", "경기도", "590", "화성시", "18"),
    ("42", "강원도", "110", "춘천시", "24"),
    ("42", "강원도", "150", "강릉시", "25"),
    ("43", "충청북도", "113", "청주시 흥덕구", "28"),
    ("44", "충청남도", "133", "천안시 서북구", "31"),
    ("45", "전라북도", "111", "전주시 완산구", "55"),
    ("45", "전라북도", "130", "익산시", "54"),
    ("46", "전라남도", "130", "여수시", "59"),
    ("47", "경상북도", "190", "구미시", "39"),
    ("48", "경상남도", "123", "창원시 성산구", "51"),
    ("48", "경상남도", "250", "김해시", "50"),
    ("50", "제주특별자치도", "110", "제주시", "63"),
)
# Special self-governing provinces: 강원 from 2023-06 (42 -> 51), 전북 from 2024-01 (45 -> 52).
PROVINCE_RENAMES = {
    "42": ("51", "강원특별자치도", date(2023, 6, 1)),
    "45": ("52", "전북특별자치도", date(2024, 1, 1)),
}
DONGS = (
    "역삼동 삼성동 도척면 신사동 연남동 서교동 여의도동 반포동 잠실동 우동 전포동 송도동 부평동 "
    "정자동 영통동 탄현동 정왕동 봉담읍 교동 퇴계동 복대동 불당동 효자동 영등동 학동 인동 "
    "상남동 내동 노형동 조치원읍 용운동 도룡동 삼산동 두류동 운암동 초지동"
).split()
ROADS = (
    "테헤란로 세종대로 도척윗로 중앙로 월드컵북로 양화로 국제금융로 반포대로 올림픽로 "
    "해운대해변로 중앙대로 컨벤시아대로 부평대로 판교역로 광교중앙로 일산로 공단대로 "
    "효원로 춘천로 경강로 직지대로 번영로 기린대로 무왕로 여서로 구미대로 창원대로 "
    "김해대로 연삼로 한누리대로 대학로 달구벌대로 무등로 삼산로"
).split()
INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("292201", "동력식 수지 공구 제조업"),
    ("582002", "응용 소프트웨어 개발 및 공급업"),
    ("620100", "컴퓨터 프로그래밍 서비스업"),
    ("561101", "한식 일반 음식점업"),
    ("851201", "일반 의원"),
    ("472101", "슈퍼마켓"),
    ("749939", "그 외 기타 분류 안된 사업지원 서비스업"),
    ("412001", "아파트 건설업"),
    ("259999", "그 외 기타 금속가공제품 제조업"),
    ("641901", "신용협동조합"),
    ("641902", "새마을금고"),
    ("949901", "그 외 기타 협회 및 단체"),
    ("262101", "반도체 제조업"),
    ("303001", "자동차 부품 제조업"),
    ("107901", "떡, 빵 및 과자류 제조업"),
    ("464101", "생활용품 도매업"),
    ("493101", "일반 화물자동차 운송업"),
    ("701201", "경영 컨설팅업"),
    ("711001", "변호사업"),
    ("712001", "세무사업"),
    ("861001", "종합병원"),
    ("871101", "노인 요양 복지시설 운영업"),
    ("802101", "일반 교과 학원"),
    ("681102", "비주거용 건물 임대업"),
)
PLACEHOLDER_INDUSTRY = ("999999", "BIZ_NO미존재사업장")
STEM_HEADS = (
    "우성 대한 한빛 세진 동아 삼원 케이비 에스엠 그린 미래 코리아 한국 신일 대성 성원 태광 "
    "현대 제일 청솔 푸른 새한 금강 동양 한일 보람 해성 우리 다온 새빛 누리 아람 하나 진영 "
    "나라 한울 대림 서울 부산 경기 중앙"
).split()
STEM_TAILS = (
    "기전 전자 정밀 건설 식품 물산 산업 테크 엔지니어링 솔루션 상사 바이오 푸드 모터스 "
    "시스템 통상 화학 기계 물류 개발 디자인 네트웍스 에너지 메디칼 종합건설 인더스트리 "
    "소프트 랩 텍스 플러스"
).split()
# Well-known names with bracketed English, as they appear in the register.
FAMOUS = (
    ("주식회사 ", "카카오 (Kakao Corp.)"),
    ("", "네이버 주식회사 (NAVER Corp.)"),
    ("", "삼성전자(주)"),
    ("㈜", "엘지화학 (LG Chem)"),
    ("(주)", "케이티 (KT)"),
)
# (prefix, suffix, weight) around the stem, per workplace form. Corporations (form 1):
CORP_FORMS: tuple[tuple[str, str, float], ...] = (
    ("(주)", "", 0.28),
    ("", "(주)", 0.18),
    ("㈜", "", 0.10),
    ("주식회사 ", "", 0.14),
    ("", " 주식회사", 0.05),
    ("(유)", "", 0.05),
    ("유한회사 ", "", 0.03),
    ("", "(주식회사)", 0.02),
    ("사단법인 ", "", 0.02),
    ("(사)", "", 0.01),
    ("재단법인 ", "", 0.01),
    ("의료법인 ", "의료재단", 0.01),
    ("", "신협", 0.02),
    ("", "신용협동조합", 0.01),
    ("", "새마을금고", 0.02),
    ("농업회사법인 ", "", 0.01),
    ("영농조합법인 ", "", 0.01),
    ("", " (Co., Ltd.)", 0.02),
    ("법무법인 ", "", 0.01),
)
# Individuals (form 2): shops, clinics and offices.
PERSONAL_FORMS: tuple[tuple[str, str, float], ...] = (
    ("", "", 0.40),
    ("", "상회", 0.12),
    ("", "의원", 0.10),
    ("", "약국", 0.08),
    ("", "식당", 0.10),
    ("", "세무회계", 0.05),
    ("", "학원", 0.08),
    ("", " 정비", 0.07),
)
_EPOCH = date(1970, 1, 1)


def contribution_rate_of(month: date) -> float:
    """Total contribution rate: 9% through 2025, +0.5 point a year from 2026, at most 13%."""
    return min(0.09 + 0.005 * max(month.year - 2025, 0), 0.13)


def default_header_variant(month: date) -> str:
    """The header a file of that month carries: 2021-era notes in 2021, the plain one otherwise."""
    return "annotated_2021" if month.year == 2021 else "standard"


def sample_file_name(month: date) -> str:
    """The published file name pattern, e.g. 국민연금공단_국민연금 가입 사업장 내역_202103.csv."""
    return f"국민연금공단_국민연금 가입 사업장 내역_{month:%Y%m}.csv"


def header_line(variant: str) -> str:
    if variant == "standard":
        return ",".join(KOREAN_HEADER)
    if variant == "spaced":
        return ", ".join(KOREAN_HEADER)
    if variant == "annotated_2021":
        return ",".join(ANNOTATED_2021_HEADER)
    if variant == "legacy_english":
        return ",".join(ENGLISH_HEADER)
    raise ValueError(f"unknown NPS header variant {variant!r}")


def _pick(rng: np.random.Generator, n: int, options: tuple, weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(options), size=n, p=p / p.sum())


def _gather(values: list[str] | tuple[str, ...], index: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(index)


def _text(values: np.ndarray) -> pl.Series:
    return pl.Series(values).cast(pl.String)


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date).dt.strftime("%Y-%m-%d")


def _universe(rows: int, seed: int) -> pl.DataFrame:
    """The sample's workplaces: stable attributes, independent of the month."""
    rng = np.random.default_rng([seed, 0])
    n = int(rows / 0.93) + 8
    corp = rng.random(n) < 0.62
    corp_form = _pick(rng, n, CORP_FORMS, [w for *_, w in CORP_FORMS])
    personal_form = _pick(rng, n, PERSONAL_FORMS, [w for *_, w in PERSONAL_FORMS])
    forms = [*CORP_FORMS, *PERSONAL_FORMS]
    form = np.where(corp, corp_form, len(CORP_FORMS) + personal_form)
    prefix = _gather([p for p, _, _ in forms], form)
    suffix = _gather([s for _, s, _ in forms], form)
    heads = rng.integers(0, len(STEM_HEADS), n)
    tails = rng.integers(0, len(STEM_TAILS), n)
    number = rng.integers(1, 99, n)
    stem = (
        _gather(STEM_HEADS, heads)
        + _gather(STEM_TAILS, tails)
        + _text(np.where(rng.random(n) < 0.15, number, -1)).replace("-1", "")
    )
    quoted = rng.random(n) < 0.003  # (유)케이비에프에스"전주밥상"
    stem = pl.select(
        pl.when(pl.Series(quoted))
        .then(stem + pl.lit('"') + _gather(STEM_HEADS, tails % len(STEM_HEADS)) + pl.lit('밥상"'))
        .otherwise(stem)
    ).to_series()
    name = prefix + stem + suffix
    famous = np.flatnonzero(corp)[: len(FAMOUS)]
    name = name.scatter(famous, ["".join(parts) for parts in FAMOUS[: len(famous)]])
    region = rng.integers(0, len(REGIONS), n)
    industry = rng.integers(0, len(INDUSTRIES), n)
    placeholder = rng.random(n) < 0.01
    applied = rng.integers((date(1988, 1, 1) - _EPOCH).days, (date(2015, 11, 1) - _EPOCH).days, n)
    brn = rng.integers(101_000, 899_999, n)
    brn = np.where(rng.random(n) < 0.15, brn[rng.integers(0, n, n)], brn)  # shared numbers
    brn = np.where(rng.random(n) < 0.01, -1, brn)
    emd = rng.integers(101, 400, n)
    ri = np.where(rng.random(n) < 0.7, 0, rng.integers(21, 40, n))
    return pl.DataFrame(
        {
            "company_name": name,
            "business_reg_num": _text(brn).replace("-1", ""),
            "workplace_type": _text(np.where(corp, 1, 2)),
            "region": region,
            "dong": rng.integers(0, len(DONGS), n),
            "road": rng.integers(0, len(ROADS), n),
            "emd": _text(emd),
            "ri": _text(ri).str.zfill(2),
            "admin_emd": _text(np.where(rng.random(n) < 0.8, emd, rng.integers(101, 400, n))),
            "zip_tail": _text(rng.integers(0, 1000, n)).str.zfill(3),
            "industry": np.where(placeholder, len(INDUSTRIES), industry),
            "applied_days": applied,
            "base_subscribers": np.maximum(np.round(np.exp(rng.normal(1.3, 1.25, n))), 1),
            "wage": np.exp(rng.normal(np.log(3_000_000), 0.35, n)),
            "score": rng.random(n),
        }
    )


def generate_month(
    month: date, rows: int = 2_000, seed: int = 42, header_variant: str | None = None
) -> bytes:
    """CP949 bytes of one month's file with exactly `rows` data lines (duplicates included)."""
    if rows < 10:
        raise ValueError(f"NPS sample: rows must be at least 10, got {rows}")
    month = month.replace(day=1)
    variant = header_variant or default_header_variant(month)
    universe = _universe(rows, seed)
    rng = np.random.default_rng([seed, month.year, month.month])
    n_dup = max(1, rows // 400)
    unique_rows = rows - n_dup
    # Mostly the same workplaces every month: stable score plus a little monthly churn.
    score = universe["score"].to_numpy() * 0.93 + rng.random(universe.height) * 0.07
    chosen = np.sort(np.argpartition(score, unique_rows)[:unique_rows])
    frame = universe[chosen]
    n = frame.height
    months_since = (month.year - 2015) * 12 + month.month - 12
    growth = (1.003 ** max(months_since, 0)) * (1 + rng.normal(0, 0.03, n))
    subscribers = np.maximum(np.round(frame["base_subscribers"].to_numpy() * growth), 0)
    withdrawn = rng.random(n) < 0.03
    subscribers = np.where(withdrawn | (rng.random(n) < 0.02), 0, subscribers).astype(np.int64)
    amount = np.round(subscribers * frame["wage"].to_numpy() * contribution_rate_of(month) / 10)
    month_days = (month - _EPOCH).days
    region = frame["region"].to_numpy()
    regions = list(zip(*REGIONS, strict=True))  # columns of the region table
    sido, sido_name = _gather(regions[0], region), _gather(regions[1], region)
    for old, (new, new_name, since) in PROVINCE_RENAMES.items():
        if month >= since:  # the new code appears beside the old one
            renamed = pl.Series(rng.random(n) < 0.7) & (sido == old)
            sido = pl.select(pl.when(renamed).then(pl.lit(new)).otherwise(sido)).to_series()
            sido_name = pl.select(
                pl.when(renamed).then(pl.lit(new_name)).otherwise(sido_name)
            ).to_series()
    industries = list(zip(*(*INDUSTRIES, PLACEHOLDER_INDUSTRY), strict=True))
    industry = frame["industry"].to_numpy()  # the placeholder is the last entry
    re_registered = _gather(("0001-01-01", ""), (rng.random(n) >= 0.9).astype(np.int64))
    late = rng.random(n) < 0.04
    re_dates = _dates(frame["applied_days"].to_numpy() + rng.integers(400, 4000, n))
    withdrawn_dates = _dates(month_days - rng.integers(1, 60, n))
    stray = rng.random(n) < 0.0005
    name = frame["company_name"]
    name = pl.select(
        pl.when(pl.Series(stray))
        .then(name.str.slice(0, 2) + STRAY_MARKER + name.str.slice(2))
        .otherwise(name)
    ).to_series()
    sgg = _gather(regions[2], region)
    address = sido_name + " " + _gather(regions[3], region) + " "
    out = pl.DataFrame(
        {
            "data_created_ym": pl.Series([f"{month:%Y-%m}"] * n),
            "company_name": name,
            "business_reg_num": frame["business_reg_num"],
            "join_status": _text(np.where(withdrawn, 2, 1)),
            "zip_code": _gather(regions[4], region) + frame["zip_tail"],
            "lot_number_address": address + _gather(DONGS, frame["dong"].to_numpy()),
            "road_name_address": address + _gather(ROADS, frame["road"].to_numpy()),
            "legal_dong_addr_code": sido + sgg + frame["emd"] + frame["ri"],
            "admin_dong_addr_code": sido + sgg + frame["admin_emd"] + "00",
            "addr_sido_code": sido,
            "addr_sigungu_code": sgg,
            "addr_emdong_code": frame["emd"],
            "workplace_type": frame["workplace_type"],
            "industry_code": _gather(industries[0], industry),
            "industry_name": _gather(industries[1], industry),
            "applied_at": _dates(frame["applied_days"].to_numpy()),
            "re_registered_at": pl.select(
                pl.when(pl.Series(late)).then(re_dates).otherwise(re_registered)
            ).to_series(),
            "withdrawn_at": pl.select(
                pl.when(pl.Series(withdrawn))
                .then(withdrawn_dates)
                .otherwise(_gather(("0001-01-01", ""), (rng.random(n) >= 0.95).astype(np.int64)))
            ).to_series(),
            "subscriber_count": _text(subscribers),
            "monthly_notice_amount": _text((amount * 10).astype(np.int64)),
            "new_subscribers": _text(rng.poisson(0.3, n)),
            "lost_subscribers": _text(rng.poisson(0.3, n)),
        }
    )
    duplicates = out[np.sort(rng.choice(n, n_dup, replace=False))]
    positions = np.sort(rng.choice(rows, n_dup, replace=False))
    order = np.full(rows, -1, dtype=np.int64)
    order[positions] = n + np.arange(n_dup)
    order[order < 0] = np.arange(n)
    out = pl.concat([out, duplicates])[order]
    body = out.write_csv(include_header=False, quote_style="necessary", line_terminator="\r\n")
    text = header_line(variant) + "\r\n" + body
    return text.encode("cp949").replace(STRAY_MARKER.encode("ascii"), STRAY_BYTE)
