"""Deterministic sample of the KRX daily market (KOSPI, KOSDAQ, KONEX) in pykrx's formats.

The sample stands in for pykrx in tests and the demo. For a seed it fixes a universe of securities
per exchange (about 950 KOSPI, 1,700 KOSDAQ and 120 KONEX tickers at scale 1.0) with names that
exercise every security-type rule, listing and delisting dates, renames (same code, new name) and
KONEX tickers that move to KOSDAQ. Any single date is generated on its own, quickly and
vectorised: a security's log close is a smooth per-security trend over the trading-day index plus
bounded day noise, so consecutive closes stay within the +/-30% limit without a day-by-day walk.
Prices follow the KRX tick sizes, OHLC is consistent, a suspended stock shows only its close,
market cap is close x shares, and weekends and holidays return empty frames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

EXCHANGES = ("KOSPI", "KOSDAQ", "KONEX")
TICKER_COUNTS = {"KOSPI": 950, "KOSDAQ": 1_700, "KONEX": 120}
LIMIT = 0.30
EPOCH = np.datetime64("2000-01-03")
EVENT_START = dt.date(2023, 1, 2).toordinal()
EVENT_END = dt.date(2027, 12, 31).toordinal()
NEVER = dt.date(9999, 12, 31).toordinal()
NOISE_SIGMA, NOISE_CAP = 0.015, 0.10
SUSPENDED_SHARE = 0.004
# The universe holds securities listed later or delisted earlier too; about 81% of it is listed
# on a date inside the event window, so it is that much larger than the listed counts.
UNIVERSE_HEADROOM = 1.23

# KRX closures besides weekends: fixed solar holidays every year, lunar and one-off closures listed
# for the years the demo and tests use (2023-2026).
_FIXED_HOLIDAYS = ("01-01", "03-01", "05-01", "05-05", "06-06", "08-15", "10-03", "10-09", "12-25")
_LUNAR_AND_ONE_OFF = """
2023-01-23 2023-01-24 2023-05-29 2023-09-28 2023-09-29 2023-10-02 2023-12-29
2024-02-09 2024-02-12 2024-04-10 2024-05-06 2024-05-15 2024-09-16 2024-09-17 2024-09-18
2024-10-01 2025-01-27 2025-01-28 2025-01-29 2025-01-30 2025-03-03 2025-06-03 2025-10-06
2025-10-07 2025-10-08 2026-02-16 2026-02-17 2026-02-18 2026-03-02 2026-05-25 2026-06-03
2026-08-17 2026-09-24 2026-09-25 2026-10-05
""".split()
HOLIDAYS = np.array(
    sorted(
        {f"{year}-{md}" for year in range(1995, 2041) for md in _FIXED_HOLIDAYS}
        | {f"{year}-12-31" for year in range(1995, 2041) if year != 2023}
        | set(_LUNAR_AND_ONE_OFF)
    ),
    dtype="datetime64[D]",
)

# Real securities always present (codes as listed), so tests and the demo see familiar names.
REAL_SECURITIES = {
    "KOSPI": [
        ("005930", "삼성전자"), ("005935", "삼성전자우"), ("005380", "현대차"),
        ("005387", "현대차2우B"), ("001040", "CJ"), ("00104K", "CJ4우(전환)"),
        ("006800", "미래에셋대우"), ("395400", "SK리츠"), ("088980", "맥쿼리인프라"),
        ("094800", "맵스리얼티1"), ("033780", "KT&G"), ("066570", "LG전자"),
        ("035420", "NAVER"), ("000660", "SK하이닉스"),
    ],
    "KOSDAQ": [
        ("415580", "미래에셋대우스팩5호"), ("293490", "카카오게임즈"), ("068760", "셀트리온제약"),
    ],
    "KONEX": [("217910", "에스제이켐")],
}
_PREFIXES = (
    "대한 한국 동양 서울 부산 대성 신성 우진 한일 동방 삼화 태광 영풍 대림 일진 한성 세방 동원 "
    "삼양 한솔 대원 성신 금호 신화 동아 경동 광명 태영 한라 미래 새한 우리 나라 하늘 푸른 바른 "
    "누리 가온 다온 마루 KT LG SK CJ HD KB NH DB GS LS HL BGF DL SM JYP YG OCI KCC HMM SGC"
).split()
_MIDDLES = ("", "글로벌", "코리아", "인터내셔널", "파워", "스마트", "그린", "뉴")
_SUFFIXES = (
    "전자 화학 제약 바이오 건설 중공업 테크 소프트 에너지 홀딩스 물산 식품 반도체 시스템 로직스 "
    "정밀 산업 통신 증권 생명 화재 엔터 게임즈 머티리얼즈 이노텍 디스플레이 솔루션 네트웍스 "
    "케미칼 제지 철강 해운 항공 유통 패션 의료 헬스케어 로보틱스 모빌리티 대우"
).split()
_BROKERS = "미래에셋대우 엔에이치 하나금융 삼성 교보 IBK 유안타 신한 케이비 DB금융".split()
_REIT_PREFIXES = (
    "롯데 신한알파 ESR켄달스퀘어 이리츠코크렙 코람코에너지 제이알글로벌 마스턴프리미어 "
    "디앤디플랫폼 한화 KB스타 NH올원 삼성FN 미래에셋글로벌 케이탑 에이 모두투어 코람코더원 "
    "신한서부티엔디 이지스밸류 이지스레지던스"
).split()
# Preferred classes: (code suffix, name suffix) as KRX lists them.
_PREFERRED = (("5", "우"), ("7", "2우B"), ("9", "3우B"), ("K", "4우(전환)"))


@dataclass(frozen=True)
class Universe:
    """Every security an exchange ever lists in the sample, with its per-security parameters."""

    tickers: np.ndarray
    names: np.ndarray
    new_names: np.ndarray  # name after rename_day ("" when never renamed)
    rename_day: np.ndarray  # date ordinals
    listed_from: np.ndarray
    listed_until: np.ndarray  # exclusive: first date no longer listed
    base: np.ndarray  # log price level
    amp1: np.ndarray
    period1: np.ndarray
    phase1: np.ndarray
    amp2: np.ndarray
    period2: np.ndarray
    phase2: np.ndarray
    shares: np.ndarray
    volume: np.ndarray
    bps: np.ndarray
    eps: np.ndarray
    dps: np.ndarray


def tick_size(price: np.ndarray) -> np.ndarray:
    """KRX tick per price level: <2,000: 1; <5,000: 5; <20,000: 10; <50,000: 50; <200,000: 100;
    <500,000: 500; else 1,000."""
    bounds = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000])
    ticks = np.array([1, 5, 10, 50, 100, 500, 1_000])
    return ticks[np.searchsorted(bounds, price, side="right")]


def round_tick(price: np.ndarray, how: str = "nearest") -> np.ndarray:
    """Round to a valid KRX price (band edges are multiples of the larger tick)."""
    tick = tick_size(np.floor(price))
    ops: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "nearest": np.round,
        "up": np.ceil,
        "down": np.floor,
    }
    op = ops[how]
    return (op(price / tick) * tick).astype(np.int64)


def price_limits(prev_close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper price limits: +/-30% of the previous close, inside, on ticks."""
    return round_tick(prev_close * (1 - LIMIT), "up"), round_tick(prev_close * (1 + LIMIT), "down")


def is_trading_day(day: dt.date) -> bool:
    """True on KRX trading days (not a weekend, not in the holiday list)."""
    return bool(np.is_busday(np.datetime64(day, "D"), holidays=HOLIDAYS))


def previous_trading_day(day: dt.date) -> dt.date:
    """The last trading day strictly before `day`."""
    prev = np.busday_offset(np.datetime64(day, "D") - 1, 0, roll="backward", holidays=HOLIDAYS)
    return prev.astype(dt.date)


def _trading_index(day: dt.date) -> int:
    return int(np.busday_count(EPOCH, np.datetime64(day, "D"), holidays=HOLIDAYS))


def _name_pool(rng: np.random.Generator) -> list[str]:
    real = {name for rows in REAL_SECURITIES.values() for _, name in rows}
    names = [p + m + s for m in _MIDDLES for p in _PREFIXES for s in _SUFFIXES]
    names = [n for n in names if n not in real]
    order = rng.permutation(len(names))
    return [names[i] for i in order]


def _special_names(exchange: str, n: int, rng: np.random.Generator) -> list[str]:
    """스팩 names on KOSDAQ, 리츠 and 펀드 names on KOSPI (about 4% and 2% of a market)."""
    if exchange == "KOSDAQ":
        pool = [f"{b}스팩{k}호" for k in range(1, 41) for b in _BROKERS]
        pool.remove("미래에셋대우스팩5호")
        count = max(1, round(n * 0.04))
    elif exchange == "KOSPI":
        pool = [f"{p}리츠" for p in _REIT_PREFIXES]
        count = max(1, round(n * 0.02))
        return [pool[i] for i in rng.permutation(len(pool))[: count - 1]] + ["한국ANKOR유전"]
    else:
        return []
    return [pool[i] for i in rng.permutation(len(pool))[:count]]


def _event_days(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    days = rng.integers(EVENT_START, EVENT_END, size=n)
    return np.where(rng.random(n) < share, days, -1)


@lru_cache(maxsize=8)
def build_universes(seed: int, scale: float) -> dict[str, Universe]:
    """The sample universe per exchange for a seed; `scale` multiplies the generated counts."""
    rng = np.random.default_rng([seed, 7_001])
    pool = iter(_name_pool(rng))
    real_codes = {code[:5] for rows in REAL_SECURITIES.values() for code, _ in rows}
    prefixes = iter(
        p for p in rng.permutation(np.arange(100, 99_999)) if f"{p:05d}" not in real_codes
    )
    rows: dict[str, list[tuple[str, str]]] = {}
    for exchange in EXCHANGES:
        n = max(2, round(TICKER_COUNTS[exchange] * scale * UNIVERSE_HEADROOM))
        listed = list(REAL_SECURITIES[exchange])
        listed += [(f"{next(prefixes):05d}0", name) for name in _special_names(exchange, n, rng)]
        while len(listed) < n:
            prefix, name = f"{next(prefixes):05d}", next(pool)
            listed.append((prefix + "0", name))
            share = {"KOSPI": 0.10, "KOSDAQ": 0.015, "KONEX": 0.0}[exchange]
            if rng.random() < share and len(listed) < n:
                code, suffix = _PREFERRED[int(rng.choice(4, p=[0.7, 0.15, 0.1, 0.05]))]
                listed.append((prefix + code, name + suffix))
        rows[exchange] = listed

    universes: dict[str, Universe] = {}
    movers: list[tuple[str, str, int]] = []
    for exchange in ("KONEX", "KOSPI", "KOSDAQ"):
        ex_rng = np.random.default_rng([seed, 7_002, EXCHANGES.index(exchange)])
        listed = rows[exchange]
        n_real = len(REAL_SECURITIES[exchange])
        n = len(listed)
        # Over the 5-year event window: about 25% listed, 12% delisted, 15% renamed (KRX sees
        # ~5%/year new listings, ~2-3%/year delistings).
        listed_from = _event_days(ex_rng, n, 0.25)
        until = _event_days(ex_rng, n, 0.12)
        rename = _event_days(ex_rng, n, 0.15)
        listed_from[:n_real], until[:n_real], rename[:n_real] = -1, -1, -1
        listed_from = np.where(listed_from < 0, dt.date(1990, 1, 2).toordinal(), listed_from)
        until = np.where((until < 0) | (until <= listed_from + 30), NEVER, until)
        if exchange == "KONEX":  # about 5% move to KOSDAQ (same code and name) on their last day
            moving = (ex_rng.random(n) < 0.05) & (until == NEVER)
            moving[:n_real] = False
            until = np.where(moving, ex_rng.integers(EVENT_START, EVENT_END, size=n), until)
            until = np.where(until <= listed_from + 30, NEVER, until)
            movers = [(listed[i][0], listed[i][1], int(until[i])) for i in np.flatnonzero(moving)]
        codes = [code for code, _ in listed]
        renamed = [r > 0 and c.endswith("0") for c, r in zip(codes, rename, strict=True)]
        new_names = np.array([next(pool) if r else "" for r in renamed], dtype=object)
        rename = np.where(new_names != "", rename, NEVER)
        if exchange == "KOSDAQ" and movers:
            listed = listed + [(code, name) for code, name, _ in movers]
            listed_from = np.concatenate([listed_from, [day for _, _, day in movers]])
            until = np.concatenate([until, np.full(len(movers), NEVER)])
            rename = np.concatenate([rename, np.full(len(movers), NEVER)])
            new_names = np.concatenate([new_names, np.full(len(movers), "", dtype=object)])
        universes[exchange] = _parameters(ex_rng, listed, new_names, rename, listed_from, until)
    return universes


def _parameters(
    rng: np.random.Generator,
    listed: list[tuple[str, str]],
    new_names: np.ndarray,
    rename: np.ndarray,
    listed_from: np.ndarray,
    until: np.ndarray,
) -> Universe:
    n = len(listed)
    base_price = np.exp(rng.uniform(np.log(600), np.log(900_000), n))
    eps = np.round(base_price / rng.uniform(4, 40, n)).astype(np.int64)
    eps = np.where(rng.random(n) < 0.25, -eps, eps)  # loss makers
    bps = np.round(base_price / rng.uniform(0.3, 4, n)).astype(np.int64)
    dps = np.where(rng.random(n) < 0.5, np.round(base_price * rng.uniform(0, 0.04, n)), 0)
    no_fundamentals = rng.random(n) < 0.03
    return Universe(
        tickers=np.array([code for code, _ in listed], dtype=object),
        names=np.array([name for _, name in listed], dtype=object),
        new_names=new_names,
        rename_day=rename,
        listed_from=listed_from,
        listed_until=until,
        base=np.log(base_price),
        amp1=rng.uniform(0.0, 0.25, n),
        period1=rng.uniform(250, 1_000, n),
        phase1=rng.uniform(0, 2 * np.pi, n),
        amp2=rng.uniform(0.0, 0.06, n),
        period2=rng.uniform(40, 120, n),
        phase2=rng.uniform(0, 2 * np.pi, n),
        shares=np.round(np.exp(rng.uniform(np.log(2e6), np.log(6e9), n)), -3).astype(np.int64),
        volume=np.exp(rng.uniform(np.log(1e3), np.log(5e6), n)),
        bps=np.where(no_fundamentals, 0, bps),
        eps=np.where(no_fundamentals, 0, eps),
        dps=np.where(no_fundamentals, 0, dps).astype(np.int64),
    )


def _exchange_index(exchange: str) -> int:
    if exchange not in EXCHANGES:
        raise ValueError(f"KRX sample: exchange {exchange!r} is not one of {EXCHANGES}")
    return EXCHANGES.index(exchange)


def _raw_close(u: Universe, day: dt.date, seed: int, exchange: str) -> np.ndarray:
    """Unrounded close: per-security trend over the trading-day index plus bounded day noise."""
    k = _trading_index(day)
    noise = np.random.default_rng([seed, day.toordinal(), _exchange_index(exchange), 1])
    eps = np.clip(noise.normal(0, NOISE_SIGMA, len(u.tickers)), -NOISE_CAP, NOISE_CAP)
    trend = (
        u.base
        + u.amp1 * np.sin(2 * np.pi * k / u.period1 + u.phase1)
        + u.amp2 * np.sin(2 * np.pi * k / u.period2 + u.phase2)
    )
    return np.exp(trend + eps)


def _suspended(u: Universe, day: dt.date, seed: int, exchange: str) -> np.ndarray:
    """Securities whose trading is halted that day (no trade: only the close stands)."""
    rng = np.random.default_rng([seed, day.toordinal(), _exchange_index(exchange), 4])
    return rng.random(len(u.tickers)) < SUSPENDED_SHARE


def _published_close(u: Universe, day: dt.date, seed: int, exchange: str) -> np.ndarray:
    """The close KRX shows for the day: the rounded trend close, or for a halted security the
    close of its last day with trades."""
    close = round_tick(_raw_close(u, day, seed, exchange))
    waiting = _suspended(u, day, seed, exchange)
    back = day
    while waiting.any():
        back = previous_trading_day(back)
        close = np.where(waiting, round_tick(_raw_close(u, back, seed, exchange)), close)
        waiting &= _suspended(u, back, seed, exchange)
    return close


@dataclass(frozen=True)
class Day:
    """Every listed security's values on one trading day of one exchange."""

    tickers: np.ndarray
    names: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    prev_close: np.ndarray
    volume: np.ndarray
    transaction: np.ndarray
    rate: np.ndarray
    shares: np.ndarray
    bps: np.ndarray
    eps: np.ndarray
    dps: np.ndarray


@lru_cache(maxsize=64)
def sample_day(seed: int, scale: float, day: dt.date, exchange: str) -> Day | None:
    """One exchange's trading day, or None on weekends and holidays."""
    index = _exchange_index(exchange)
    if not is_trading_day(day):
        return None
    u = build_universes(seed, scale)[exchange]
    ordinal = day.toordinal()
    listed = (u.listed_from <= ordinal) & (ordinal < u.listed_until)
    rng = np.random.default_rng([seed, ordinal, index, 2])
    n = len(u.tickers)
    prev = _published_close(u, previous_trading_day(day), seed, exchange).astype(np.float64)
    lower, upper = price_limits(prev)
    # The trend moves at most ~0.016 a trading day and the day noise is capped at 0.10, so the
    # close never reaches the +/-30% limit; the clip states the rule rather than enforcing it.
    close = np.clip(round_tick(_raw_close(u, day, seed, exchange)), lower, upper)
    open_ = np.clip(round_tick(prev * np.exp(rng.normal(0, 0.008, n))), lower, upper)
    top = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.012, n)))
    bottom = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.012, n)))
    high = np.clip(round_tick(top, "up"), lower, upper)
    low = np.clip(round_tick(bottom, "down"), lower, upper)
    volume = np.round(u.volume * np.exp(rng.normal(0, 0.6, n))).astype(np.int64) + 1
    vwap = low + rng.random(n) * (high - low)
    transaction = np.floor(volume * vwap).astype(np.int64)
    suspended = _suspended(u, day, seed, exchange)
    zero = np.zeros(n, dtype=np.int64)
    open_, high, low = (np.where(suspended, zero, a) for a in (open_, high, low))
    volume, transaction = np.where(suspended, zero, volume), np.where(suspended, zero, transaction)
    close = np.where(suspended, prev.astype(np.int64), close)  # no trade: the close stands
    rate = np.round((close - prev) / prev * 100, 2)
    year_factor = np.random.default_rng([seed, day.year, index, 3])
    revision = year_factor.uniform(0.85, 1.2, n)
    names = np.where(ordinal >= u.rename_day, u.new_names, u.names)
    return Day(
        tickers=u.tickers[listed],
        names=names[listed],
        open=open_[listed],
        high=high[listed],
        low=low[listed],
        close=close[listed],
        prev_close=prev[listed].astype(np.int64),
        volume=volume[listed],
        transaction=transaction[listed],
        rate=rate[listed],
        shares=u.shares[listed],
        bps=np.round(u.bps * revision).astype(np.int64)[listed],
        eps=np.round(u.eps * revision).astype(np.int64)[listed],
        dps=np.round(u.dps * revision).astype(np.int64)[listed],
    )


TICKER_SCHEMA = pl.Schema({"티커": pl.String, "종목명": pl.String})
OHLCV_SCHEMA = pl.Schema(
    {"티커": pl.String, "시가": pl.Int64, "고가": pl.Int64, "저가": pl.Int64, "종가": pl.Int64,
     "거래량": pl.Int64, "거래대금": pl.Int64, "등락률": pl.Float64}
)
MARKET_CAP_SCHEMA = pl.Schema(
    {"티커": pl.String, "종가": pl.Int64, "시가총액": pl.Int64, "거래량": pl.Int64,
     "거래대금": pl.Int64, "상장주식수": pl.Int64}
)
FUNDAMENTAL_SCHEMA = pl.Schema(
    {"티커": pl.String, "BPS": pl.Int64, "PER": pl.Float64, "PBR": pl.Float64, "EPS": pl.Int64,
     "DIV": pl.Float64, "DPS": pl.Int64}
)


def sample_tickers(seed: int, scale: float, day: dt.date, exchange: str) -> pl.DataFrame:
    """Tickers and names listed on the day (티커, 종목명); empty on holidays."""
    d = sample_day(seed, scale, day, exchange)
    if d is None:
        return TICKER_SCHEMA.to_frame()
    return pl.DataFrame({"티커": d.tickers, "종목명": d.names}, schema=TICKER_SCHEMA)


def sample_ohlcv(seed: int, scale: float, day: dt.date, exchange: str) -> pl.DataFrame:
    """OHLCV as pykrx shows it (시가, 고가, 저가, 종가, 거래량, 거래대금, 등락률)."""
    d = sample_day(seed, scale, day, exchange)
    if d is None:
        return OHLCV_SCHEMA.to_frame()
    values = (d.tickers, d.open, d.high, d.low, d.close, d.volume, d.transaction, d.rate)
    return pl.DataFrame(dict(zip(OHLCV_SCHEMA.names(), values, strict=True)), schema=OHLCV_SCHEMA)


def sample_market_caps(seed: int, scale: float, day: dt.date, exchange: str) -> pl.DataFrame:
    """Market caps as pykrx shows them (종가, 시가총액, 거래량, 거래대금, 상장주식수)."""
    d = sample_day(seed, scale, day, exchange)
    if d is None:
        return MARKET_CAP_SCHEMA.to_frame()
    values = (d.tickers, d.close, d.close * d.shares, d.volume, d.transaction, d.shares)
    return pl.DataFrame(
        dict(zip(MARKET_CAP_SCHEMA.names(), values, strict=True)), schema=MARKET_CAP_SCHEMA
    )


def sample_fundamentals(seed: int, scale: float, day: dt.date, exchange: str) -> pl.DataFrame:
    """Fundamentals as pykrx shows them (BPS, PER, PBR, EPS, DIV, DPS); none for KONEX."""
    d = sample_day(seed, scale, day, exchange)
    if d is None or exchange == "KONEX":
        return FUNDAMENTAL_SCHEMA.to_frame()
    close = d.close.astype(np.float64)
    profit = d.eps > 0
    per = np.where(profit, np.round(close / np.where(profit, d.eps, 1), 2), 0.0)
    pbr = np.where(d.bps > 0, np.round(close / np.where(d.bps > 0, d.bps, 1), 2), 0.0)
    div = np.round(d.dps / close * 100, 2)
    values = (d.tickers, d.bps, per, pbr, np.where(profit, d.eps, 0), div, d.dps)
    return pl.DataFrame(
        dict(zip(FUNDAMENTAL_SCHEMA.names(), values, strict=True)), schema=FUNDAMENTAL_SCHEMA
    )
