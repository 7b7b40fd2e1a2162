"""Hot-post trends on fixed timestamps: window bounds, deltas, hot score."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from contracts import polars_schema, validate_frame
from contracts.is_ import IsPostTrends
from dag.is_post_trends import post_trends, window_end

UTC = dt.UTC
END = dt.datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
SCHEMA = {
    "post_id": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
    "view_count": pl.Int64,
    "like_count": pl.Int64,
    "dislike_count": pl.Int64,
    "comment_count": pl.Int64,
}


def snapshots(*rows: tuple[str, int, int, int, int, int | None]) -> pl.LazyFrame:
    """(post, minutes before END, views, likes, dislikes, comments)"""
    return pl.DataFrame(
        [(p, END - dt.timedelta(minutes=m), v, lk, d, c) for p, m, v, lk, d, c in rows],
        schema=SCHEMA,
        orient="row",
    ).lazy()


def test_deltas_and_hot_score_over_the_30_minute_lookback() -> None:
    trends = post_trends(
        snapshots(
            ("a", 40, 0, 0, 0, 0),  # before the window: ignored
            ("a", 25, 100, 10, 0, 5),
            ("a", 5, 160, 14, 1, 9),  # +60 views, +4 likes, +4 comments
            ("a", 0, 170, 15, 1, 10),  # exactly at the end: included
            ("b", 30, 500, 0, 0, 0),  # exactly at the start: excluded (start is exclusive)
            ("b", 10, 510, 1, 0, 0),
            ("c", 15, 42, 3, 0, 2),  # one snapshot: no growth
            ("d", -5, 999, 9, 9, 9),  # after the end: ignored
        ),
        END,
    ).collect()
    expected = pl.DataFrame(
        {
            "post_id": ["a", "b", "c"],
            "window_start": [END - dt.timedelta(minutes=30)] * 3,
            "window_end": [END] * 3,
            "view_delta": [70, 0, 0],
            "comment_delta": [5, 0, 0],
            "like_delta": [5, 0, 0],
            "dislike_delta": [1, 0, 0],
            "hot_score": [70 + 3 * 5 + 2 * 5, 0, 0],
        },
        schema=polars_schema(IsPostTrends),
    )
    assert_frame_equal(trends, expected)
    assert validate_frame(trends, IsPostTrends)[0]


def test_missing_counts_count_as_no_growth() -> None:
    trends = post_trends(
        snapshots(("a", 20, 10, 1, 0, None), ("a", 10, 20, 1, 0, None)), END
    ).collect()
    assert trends.select("view_delta", "comment_delta", "hot_score").row(0) == (10, 0, 10)


@pytest.mark.parametrize(
    ("at", "end"),
    [
        ("2026-12-06T10:39:59+00:00", "2026-12-06T10:30:00+00:00"),
        ("2026-12-06T10:40:00+00:00", "2026-12-06T10:40:00+00:00"),
        ("2026-12-06T19:44:00+09:00", "2026-12-06T10:40:00+00:00"),  # Seoul time
        ("2026-12-06T10:05:00", "2026-12-06T10:00:00+00:00"),  # naive = UTC
    ],
)
def test_window_end_floors_to_ten_minutes_in_utc(at: str, end: str) -> None:
    assert window_end(dt.datetime.fromisoformat(at)) == dt.datetime.fromisoformat(end)


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abc"),
            st.integers(0, 29),
            st.integers(0, 10_000),
            st.integers(0, 100),
            st.integers(0, 100),
            st.integers(0, 1_000),
        ),
        max_size=30,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_hot_score_is_the_weighted_growth_between_first_and_last_snapshot(rows: list) -> None:
    trends = post_trends(snapshots(*rows), END).collect()
    assert sorted(trends["post_id"]) == sorted({r[0] for r in rows})
    for post in trends.iter_rows(named=True):
        mine = sorted((r for r in rows if r[0] == post["post_id"]), key=lambda r: -r[1])
        first, last = mine[0], mine[-1]
        assert post["view_delta"] == last[2] - first[2]
        assert post["hot_score"] == (
            (last[2] - first[2]) + 3 * (last[5] - first[5]) + 2 * (last[3] - first[3])
        )
