"""SS daily price reports: per (model, capacity, day) TCO statistics of the last 7 days, two ways.

Input: `deals_frame(rows)`, deals shaped like `ss_deals` as `ss_aggregates_daily` reads them
(model, capacity, source_posted_at, tco_total): the dictionary's models (Zipf-like popularity),
their capacities (10% unknown, falling back to the model's smallest), 1TB written as such, 2%
unknown models (미상), 3% without a TCO (null or 0), posted over 10 days (7 of them in the
window), TCO 0.3-3.5 million won.

Cases, each from the same frame to the same report rows (sorted by day, model, capacity):
- `ours`: `dag.ss_deals.daily_aggregates(frame.lazy(), None).collect()`.
- `duckdb`: the same in DuckDB SQL on the same Polars frame (Arrow, zero copy):
  `duckdb.sql` with a join to the models' smallest capacities, `quantile_cont` for p25 / p75,
  `median`, `avg`, `count(*)`, the 7-day window ending at the latest day; `.pl()` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from benchkit.gates import peer_call
from dag.ss_common import UNKNOWN_MODEL
from dag.ss_deals import WINDOW_DAYS, daily_aggregates
from dag.ss_dictionary import model_capacities

FIRST_DAY = date(2026, 11, 22)
DAYS = 10


@dataclass(frozen=True)
class AggregateSizes:
    deals: int
    rounds: int


SIZES = {"quick": AggregateSizes(deals=100_000, rounds=5),
         "full": AggregateSizes(deals=1_000_000, rounds=5)}


def deals_frame(rows: int, seed: int = 17) -> pl.DataFrame:
    """`rows` deals (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    capacities = model_capacities()
    names = sorted(capacities)
    weights = 1.0 / np.arange(1, len(names) + 1)
    model_index = rng.choice(len(names), rows, p=weights / weights.sum())
    models = np.array(names, dtype=object)[model_index]
    choice = rng.random(rows)
    capacity = [
        None if choice[i] < 0.1 or not capacities[m] else
        (lambda gb: "1TB" if gb == 1024 else f"{gb}GB")(
            capacities[m][int(choice[i] * 1000) % len(capacities[m])])
        for i, m in enumerate(models)
    ]
    models[rng.random(rows) < 0.02] = UNKNOWN_MODEL
    tco = rng.integers(300_000, 3_500_000, rows).astype(object)
    missing = rng.random(rows)
    tco[missing < 0.02] = None
    tco[(missing >= 0.02) & (missing < 0.03)] = 0
    return pl.DataFrame(
        {
            "model": models.tolist(),
            "capacity": capacity,
            "source_posted_at": pl.Series(rng.integers(0, DAYS, rows), dtype=pl.Int32)
            + (FIRST_DAY - date(1970, 1, 1)).days,
            "tco_total": tco.tolist(),
        },
        schema={"model": pl.String, "capacity": pl.String, "source_posted_at": pl.Int32,
                "tco_total": pl.Int64},
    ).with_columns(pl.col("source_posted_at").cast(pl.Date))


def ours(deals: pl.DataFrame) -> pl.DataFrame:
    return daily_aggregates(deals.lazy(), None).collect()


def _smallest() -> pl.DataFrame:
    return pl.DataFrame(
        [(m, f"{min(c)}GB") for m, c in model_capacities().items() if c],
        schema={"model": pl.String, "smallest": pl.String}, orient="row",
    )


SQL = f"""
WITH bounds AS (SELECT max(source_posted_at) AS last_day FROM deals),
recent AS (
    SELECT d.model,
           coalesce(replace(d.capacity, '1TB', '1024GB'), s.smallest, '{UNKNOWN_MODEL}')
               AS capacity,
           d.source_posted_at AS ts,
           d.tco_total::DOUBLE AS v
    FROM deals AS d
    LEFT JOIN smallest AS s USING (model), bounds
    WHERE d.tco_total > 0
      AND d.source_posted_at BETWEEN bounds.last_day - INTERVAL {WINDOW_DAYS - 1} DAY
                                 AND bounds.last_day
)
SELECT model, capacity, ts,
       min(v) AS min,
       quantile_cont(v, 0.25) AS p25,
       median(v) AS median,
       quantile_cont(v, 0.75) AS p75,
       max(v) AS max,
       avg(v) AS avg,
       count(*) AS n
FROM recent
GROUP BY model, capacity, ts
ORDER BY ts, model, capacity
"""


def _duckdb(deals: pl.DataFrame, smallest: pl.DataFrame) -> pl.DataFrame:
    import duckdb

    con = duckdb.connect()
    try:
        con.register("deals", deals)
        con.register("smallest", smallest)
        return con.sql(SQL).pl()
    finally:
        con.close()


def duckdb_sql(deals: pl.DataFrame) -> pl.DataFrame:
    return peer_call("duckdb", _duckdb, deals, _smallest())
