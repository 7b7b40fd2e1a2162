"""Cluster trends and front-page rotation on fixed windows: percentile x freshness scores, the
top 20, three showings in a row suppress for 24 hours, hits reset after 20 minutes, ranks only
on the current window."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from contracts import polars_schema, validate_frame
from contracts.is_ import IsClusterRotation, IsClusterTrends
from dag.is_cluster_rules import rotate, rotation_scores
from dag.is_clusters import cluster_trends

UTC = dt.UTC
END = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)
EMPTY = pl.DataFrame(schema=polars_schema(IsClusterRotation))


def scores(**by_cluster: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"cluster_id": list(by_cluster), "score": list(by_cluster.values())},
        schema={"cluster_id": pl.String, "score": pl.Float64},
    )


def shown(state: pl.DataFrame) -> dict[str, int]:
    return dict(state.filter(pl.col("rank").is_not_null()).select("cluster_id", "rank").rows())


def test_three_showings_in_a_row_suppress_for_24_hours_then_release() -> None:
    state = EMPTY
    for i in range(3):
        state = rotate(scores(a=0.9, b=0.5), state, END + 10 * i * MIN)
        assert validate_frame(state, IsClusterRotation)[0]
    a = state.filter(pl.col("cluster_id") == "a").row(0, named=True)
    assert a["consecutive_hits"] == 0
    assert a["suppressed_until"] == END + 20 * MIN + dt.timedelta(hours=24)
    assert a["suppressed_until"].tzinfo is not None
    later = END + 30 * MIN
    state = rotate(scores(a=0.9, b=0.5, c=0.1), state, later)
    assert shown(state) == {"c": 1}  # a and b (also shown three times) rest
    release = END + 20 * MIN + dt.timedelta(hours=24)
    state = rotate(scores(a=0.9, b=0.5), state, release - 10 * MIN)
    assert "a" not in shown(state)
    state = rotate(scores(a=0.9, b=0.5), state, release)
    assert shown(state)["a"] == 1
    assert state.filter(pl.col("cluster_id") == "a")["consecutive_hits"].item() == 1


def test_hits_reset_after_20_minutes_without_a_showing() -> None:
    state = rotate(scores(a=0.9), EMPTY, END)
    state = rotate(scores(a=0.9), state, END + 10 * MIN)
    assert state["consecutive_hits"].item() == 2
    state = rotate(scores(), state, END + 20 * MIN)  # not scored: not shown, rank cleared
    assert state["rank"].item() is None and state["consecutive_hits"].item() == 2
    state = rotate(scores(a=0.9), state, END + 40 * MIN)  # last shown 30 minutes ago
    assert state["consecutive_hits"].item() == 1
    state = rotate(scores(a=0.9), state, END + 60 * MIN)  # exactly 20 minutes: counts
    assert state["consecutive_hits"].item() == 2


def test_top_20_ranks_only_on_the_current_window() -> None:
    many = {f"c{i:02d}": 1.0 - i / 100 for i in range(25)}
    first = rotate(scores(**many), EMPTY, END)
    assert shown(first) == {f"c{i:02d}": i + 1 for i in range(20)}
    second = rotate(scores(c24=0.99), first, END + 10 * MIN)
    assert shown(second) == {"c24": 1}  # the earlier window's ranks are cleared
    assert second.height == 25


def test_score_is_percentile_times_freshness() -> None:
    latest = pl.DataFrame({"cluster_id": ["a", "b", "c", "d"], "hot_score": [50, 50, 10, 0]})
    newest = pl.DataFrame(
        {
            "cluster_id": ["a", "b", "c", "d"],
            "newest_post_at": [END, END - dt.timedelta(hours=48), END, END + MIN],
        },
        schema_overrides={"newest_post_at": pl.Datetime("us", "UTC")},
    )
    got = dict(rotation_scores(latest, newest, END).rows())
    assert got["a"] == 1.0  # ties share the first index: p = (4 - 0) / 4
    assert math.isclose(got["b"], math.exp(-1.0))
    assert got["c"] == 0.5 and got["d"] == 0.25  # a post in the future: age 0


def test_cluster_trends_sum_members_and_clear_earlier_ranks() -> None:
    post_trends = pl.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4", "p1"],
            "window_end": [END] * 4 + [END - 10 * MIN],
            "hot_score": [5, 7, 30, 100, 999],
        },
        schema_overrides={"window_end": pl.Datetime("us", "UTC")},
    ).lazy()
    members = pl.DataFrame({"cluster_id": ["x", "x", "y"], "post_id": ["p1", "p2", "p3"]}).lazy()
    earlier = pl.DataFrame(
        {
            "cluster_id": ["x"],
            "window_start": [END - 40 * MIN],
            "window_end": [END - 10 * MIN],
            "hot_score": [999],
            "rank": [1],
        },
        schema=polars_schema(IsClusterTrends),
    )
    rows = cluster_trends(post_trends, members, earlier, END)
    assert validate_frame(rows, IsClusterTrends)[0]
    current = rows.filter(pl.col("window_end") == END)
    assert current.select("cluster_id", "hot_score", "rank").rows() == [("y", 30, 1), ("x", 12, 2)]
    assert current["window_start"].to_list() == [END - 30 * MIN] * 2
    assert rows.filter(pl.col("window_end") < END)["rank"].to_list() == [None]
