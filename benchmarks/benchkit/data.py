"""Deterministic benchmark inputs, written once per session to disk so the timing process and
the peak-memory child processes read exactly the same bytes.

- the NPS monthly file: the project's own sample generator (`dag.nps_sample.generate_month`),
  real header, CP949, duplicates, quoted names and stray bytes;
- a lake frame for the IO managers: one daily partition column `date` plus a typical mix of
  integer, float and string columns (a day of stock prices);
- a gold frame for the loaders: the column mix of `public.pension` (date, codes and names as
  text, integer counts and amounts, a float wage).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

NPS_MONTH = date(2024, 5, 1)
IO_START = date(2024, 1, 1)


def nps_file(folder: Path, rows: int) -> Path:
    """The NPS sample month with `rows` data lines (generated on first use)."""
    path = folder / f"nps_{NPS_MONTH:%Y%m}_{rows}.csv"
    if not path.exists():
        from dag.nps_sample import generate_month

        tmp = path.with_suffix(".partial")
        tmp.write_bytes(generate_month(NPS_MONTH, rows=rows, seed=20240501))
        tmp.rename(path)
    return path


def lake_frame(rows: int, partitions: int = 1, seed: int = 7) -> pl.DataFrame:
    """`rows` rows spread evenly over `partitions` consecutive days from IO_START."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(partitions), -(-rows // partitions))[:rows]
    tickers = np.array([f"{i:06d}" for i in range(2_800)])
    return pl.DataFrame(
        {
            "date": pl.Series(day).cast(pl.Int32) + (IO_START - date(1970, 1, 1)).days,
            "ticker": tickers[rng.integers(0, len(tickers), rows)],
            "exchange": np.array(["KOSPI", "KOSDAQ", "KONEX"])[rng.integers(0, 3, rows)],
            "open": rng.integers(1_000, 900_000, rows),
            "close": rng.integers(1_000, 900_000, rows),
            "volume": rng.integers(0, 50_000_000, rows),
            "change_rate": rng.normal(0, 2.5, rows).round(2),
            "value": rng.random(rows) * 1e10,
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def partition_keys(partitions: int) -> list[str]:
    return [f"{IO_START + timedelta(days=i):%Y-%m-%d}" for i in range(partitions)]


def gold_frame(rows: int, seed: int = 11) -> pl.DataFrame:
    """Gold rows shaped like `public.pension` (7 columns)."""
    rng = np.random.default_rng(seed)
    syllables = np.array(list("가나다라마바사아자차카타파하한국대성신우현진"))
    parts = rng.integers(0, len(syllables), (rows, 4))
    names = pl.DataFrame({f"s{i}": syllables[parts[:, i]] for i in range(4)}).select(
        pl.concat_str(pl.all()) + pl.lit("산업")
    ).to_series()
    subscribers = rng.integers(1, 500, rows)
    return pl.DataFrame(
        {
            "ym": pl.Series([date(2024, 5, 1)] * rows, dtype=pl.Date),
            "business_reg_num": pl.Series(rng.integers(100_000, 999_999, rows)).cast(pl.String),
            "company_name": names,
            "addr_key": pl.Series(rng.integers(110, 990, rows)).cast(pl.String)
            + "-"
            + pl.Series(rng.integers(1_100_000_000, 5_000_000_000, rows)).cast(pl.String),
            "subscriber_count": subscribers,
            "monthly_notice_amount": subscribers * rng.integers(100_000, 900_000, rows),
            "avg_monthly_wage": rng.normal(3_000_000, 600_000, rows).round(1),
        }
    )


def cached_parquet(folder: Path, name: str, frame_factory: Callable[[], pl.DataFrame]) -> Path:
    """`folder/name.parquet`, written from `frame_factory()` on first use."""
    path = folder / f"{name}.parquet"
    if not path.exists():
        tmp = path.with_suffix(".partial")
        frame_factory().write_parquet(tmp)
        tmp.rename(path)
    return path
