"""IS gold tier: story clusters (near-duplicate posts across sites) and their front-page rotation.

- `is_cluster_posts`: every run clusters the posts published in the last 72 hours as a whole
  (not per crawl file, bug 1.11.9), with the rules of `dag.is_cluster_rules`: candidates from
  SimHash chunks and MinHash LSH bands, confirmation, components of size >= 2, stable ids (a
  cluster keeps its id while any member stays), then merges of clusters updated within 14 days.
  Members older than the window keep their cluster. One row per member post.
- `is_clusters`: one row per cluster (representative, title, size, created/updated).
- `is_cluster_trends`: per 10-minute window, each cluster's hot score (sum of its members' hot
  scores in `is_post_trends`) and hot rank; the ranks of earlier windows are cleared.
- `is_cluster_rotation`: the front-page rotation state (label 1w): score = percentile x
  exp(-age_hours / 48), top 20 shown, three showings in a row suppress a cluster for 24 hours.

The window of the trends and rotation is `window_end` (config; empty = the latest window of
`is_post_trends`, so the trends job computes the window it just wrote). All times are UTC.
"""

import datetime as dt
import time
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.is_ import IsClusterPosts, IsClusterRotation, IsClusters, IsClusterTrends
from dag.common import elapsed
from dag.is_cluster_rules import (
    ROTATION_LOOKBACK,
    Signatures,
    assign_ids,
    cluster_hot_scores,
    clusters_of,
    member_similarity,
    merge_pairs,
    merge_survivors,
    representatives,
    rotate,
    rotation_scores,
)
from dag.is_common import LAKE, is_tags, stored
from dag.is_post_signatures import is_post_signatures
from dag.is_post_tables import is_posts
from dag.is_post_trends import LOOKBACK, is_post_trends, window_end
from dag_io import lake

LOOKBACK_WINDOW = dt.timedelta(hours=72)
MERGE_WITHIN = dt.timedelta(days=14)
RECENT_HOT = dt.timedelta(hours=3)
UTC_US = pl.Datetime("us", "UTC")
BUILD_STEP = {"is_job": "clusters"}
"""Tag of the cluster build and its loads: `is_clusters_job` runs them every 30 minutes, apart
from the 10-minute trends job."""
GOLD: dict[str, Any] = {
    "group_name": "IS",
    "io_manager_key": LAKE,
    "kinds": {"polars", "deltalake"},
    "tags": is_tags("gold"),
}
BUILD: dict[str, Any] = {**GOLD, "tags": is_tags("gold", **BUILD_STEP)}


def _read(context: dg.AssetExecutionContext, asset: dg.AssetsDefinition) -> pl.LazyFrame:
    """All of an upstream lake table (the keyed silver tables are one table each)."""
    io = getattr(context.resources, LAKE)
    return io.read(asset.key, None, asset.metadata_by_key[asset.key])


def _at(value: str, what: str) -> dt.datetime | None:
    """A config time (naive = UTC), None when empty."""
    if not value:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise dg.Failure(f"config {what}={value!r} is not an ISO time: {error}") from error
    return at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)


class IsClustersConfig(dg.Config):
    """`now`: ISO time the 72-hour window ends at (naive = UTC); empty = the current time."""

    now: str = ""


def post_scores(posts: pl.LazyFrame, trends: pl.LazyFrame, now: dt.datetime) -> pl.LazyFrame:
    """post_id, hot_score (its latest window ending within 3 hours of `now`), engagement
    (likes + 3 comments): what representatives and merges rank members by."""
    recent = (
        trends.filter(pl.col("window_end") > pl.lit(now - RECENT_HOT, dtype=UTC_US))
        .sort("window_end")
        .group_by("post_id")
        .agg(pl.col("hot_score").last())
    )
    return posts.select(
        post_id="id",
        engagement=pl.col("like_count").fill_null(0) + 3 * pl.col("comment_count").fill_null(0),
    ).join(recent, on="post_id", how="left")


def cluster_members(
    signatures: pl.LazyFrame,
    posts: pl.LazyFrame,
    trends: pl.LazyFrame,
    previous: pl.DataFrame,
    now: dt.datetime,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The memberships after this run (IsClusterPosts rows) and counts for metadata.

    `previous`: the stored memberships (empty on the first run)."""
    published = pl.coalesce("timestamp", "created_at")
    live = (
        posts.filter(~pl.col("is_deleted").fill_null(False))
        .select(post_id="id", recent=published > pl.lit(now - LOOKBACK_WINDOW, dtype=UTC_US))
        .collect()
    )
    window_ids = live.filter("recent").select("post_id")
    sig_columns = [
        "post_id",
        "text_simhash64",
        "text_minhash128",
        "gallery_minhash128",
        "embed_minhash128",
    ]
    window_sigs = (
        signatures.select(sig_columns)
        .join(window_ids.lazy(), on="post_id", how="semi")
        .sort("post_id")
        .collect()
    )
    window_signed = Signatures(window_sigs, source="is_post_signatures (72-hour window)")
    found = clusters_of(window_signed)
    stored_clusters = previous.group_by("cluster_id").agg(
        created_at=pl.col("cluster_created_at").first(),
        updated_at=pl.col("cluster_updated_at").max(),
    )
    ids = assign_ids(found, previous.select("post_id", "cluster_id"), stored_clusters, now)
    at = pl.lit(now, dtype=UTC_US)
    built = found.join(ids, on="component").select(
        "cluster_id", "post_id", cluster_created_at="created_at", cluster_updated_at=at
    )
    # Members outside the window keep their cluster (a post in the window is decided anew; a
    # deleted or vanished post leaves its cluster).
    frozen = previous.join(live.filter(~pl.col("recent")), on="post_id", how="semi").select(
        built.columns
    )
    members = pl.concat([built, frozen])
    members = members.with_columns(
        pl.col("cluster_created_at").min().over("cluster_id"),
        pl.col("cluster_updated_at").max().over("cluster_id"),
    ).filter(pl.len().over("cluster_id") >= 2)

    member_sigs = (
        signatures.select(sig_columns)
        .join(members.select("post_id").lazy(), on="post_id", how="semi")
        .sort("post_id")
        .collect()
    )
    sigs = Signatures(member_sigs, source="is_post_signatures (cluster members)")
    members = members.join(member_sigs.select("post_id"), on="post_id", how="semi").filter(
        pl.len().over("cluster_id") >= 2
    )
    scores = (
        post_scores(posts, trends, now)
        .join(members.select("post_id").lazy(), on="post_id", how="semi")
        .collect()
    )
    info = members.group_by("cluster_id").agg(
        created_at=pl.col("cluster_created_at").first(),
        updated_at=pl.col("cluster_updated_at").first(),
        size=pl.len(),
    )
    active = info.filter(pl.col("updated_at") >= pl.lit(now - MERGE_WITHIN, dtype=UTC_US))
    reps = representatives(
        members.join(active.select("cluster_id"), on="cluster_id", how="semi"), scores, "cluster_id"
    )
    pairs = merge_pairs(reps, members.select("cluster_id", "post_id"), sigs, scores)
    survivors = merge_survivors(info, pairs)
    merged_away = survivors.filter(pl.col("cluster_id") != pl.col("survivor"))
    members = (
        members.join(survivors, on="cluster_id", how="left")
        .with_columns(cluster_id=pl.coalesce("survivor", "cluster_id"))
        .drop("survivor")
        .with_columns(
            pl.col("cluster_created_at").min().over("cluster_id"),
            cluster_updated_at=pl.when(pl.col("cluster_id").is_in(survivors["survivor"].implode()))
            .then(at)
            .otherwise(pl.col("cluster_updated_at").max().over("cluster_id")),
        )
    )
    final_reps = representatives(members.select("cluster_id", "post_id"), scores, "cluster_id")
    rows = member_similarity(members, final_reps, sigs, "cluster_id")
    stats = {
        "window_posts": window_ids.height,
        "window_posts_signed": int(window_signed.valid.sum()),
        "clustered_in_window": found.height,
        "ids_reused": int(ids["created_at"].lt(now).sum()) if ids.height else 0,
        "clusters_merged_away": merged_away.height,
    }
    return rows.select(list(polars_schema(IsClusterPosts))).sort("cluster_id", "post_id"), stats


@dg.asset(
    **BUILD,
    metadata={**lake(), "dagster/column_schema": column_schema(IsClusterPosts)},
    deps=[is_post_signatures, is_posts, is_post_trends],
    required_resource_keys={LAKE},
)
def is_cluster_posts(
    context: dg.AssetExecutionContext, config: IsClustersConfig
) -> dg.Output[pl.LazyFrame]:
    """Story clusters' members: posts of the last 72 hours that are near-duplicates of each
    other (same text, same gallery with similar text, same embed), grouped across sites; a
    cluster keeps its id while any member stays, and similar clusters of the last 14 days
    merge."""
    started = time.perf_counter()
    now = _at(config.now, "now") or dt.datetime.now(dt.UTC)
    previous_frame = stored(context, is_cluster_posts)
    previous = (
        previous_frame.collect()
        if previous_frame is not None
        else pl.DataFrame(schema=polars_schema(IsClusterPosts))
    )
    rows, stats = cluster_members(
        _read(context, is_post_signatures),
        _read(context, is_posts),
        _read(context, is_post_trends),
        previous,
        now,
    )
    return dg.Output(
        rows.lazy(),
        metadata={
            "now": now.isoformat(),
            **stats,
            "clusters": rows["cluster_id"].n_unique(),
            "members": rows.height,
            "execution_time_sec": elapsed(started),
        },
    )


def cluster_rows(members: pl.LazyFrame, posts: pl.LazyFrame) -> pl.LazyFrame:
    """One IsClusters row per cluster of the memberships (title = the representative's)."""
    return (
        members.group_by("cluster_id")
        .agg(
            representative_post_id=pl.col("post_id").filter("is_representative").first(),
            size=pl.len().cast(pl.Int32),
            created_at=pl.col("cluster_created_at").min(),
            updated_at=pl.col("cluster_updated_at").max(),
        )
        .join(
            posts.select(representative_post_id="id", title="title"),
            on="representative_post_id",
            how="left",
        )
        .rename({"cluster_id": "id"})
        .select(list(polars_schema(IsClusters)))
        .sort("id")
    )


@dg.asset(
    **BUILD,
    metadata={**lake(), "dagster/column_schema": column_schema(IsClusters)},
    deps=[is_posts],
    required_resource_keys={LAKE},
)
def is_clusters(
    context: dg.AssetExecutionContext, is_cluster_posts: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Story clusters: one row per cluster of near-duplicate posts, its representative (highest
    recent hot score) and title, size, and when it was created and last changed."""
    rows = cluster_rows(is_cluster_posts, _read(context, is_posts)).collect()
    return dg.Output(
        rows.lazy(),
        metadata={
            "clusters": rows.height,
            "largest": int(rows["size"].max()) if rows.height else 0,  # type: ignore[arg-type]
        },
    )


def _members(context: dg.AssetExecutionContext) -> pl.LazyFrame:
    """The stored memberships (none before the first build: the 10-minute trends job may run
    before the 30-minute clusters job has built anything)."""
    members = stored(context, is_cluster_posts)
    return members if members is not None else pl.LazyFrame(schema=polars_schema(IsClusterPosts))


class IsClusterWindowConfig(dg.Config):
    """`window_end`: ISO time of the window's end (floored to 10 minutes); empty = the latest
    window of is_post_trends."""

    window_end: str = ""


def _window(context: dg.AssetExecutionContext, config: IsClusterWindowConfig) -> dt.datetime:
    at = _at(config.window_end, "window_end")
    if at is not None:
        return window_end(at)
    latest = _read(context, is_post_trends).select(pl.col("window_end").max()).collect().item()
    if latest is None:
        raise dg.Failure(
            "is_post_trends holds no window yet: run is_trends_job first or set window_end"
        )
    return window_end(latest)


def cluster_trends(
    post_trends: pl.LazyFrame, members: pl.LazyFrame, earlier: pl.DataFrame, end: dt.datetime
) -> pl.DataFrame:
    """IsClusterTrends rows to write for the window ending at `end`: the window's rows with
    ranks, and the `earlier` rows that still carry a rank, with it cleared."""
    window = post_trends.filter(pl.col("window_end") == pl.lit(end, dtype=UTC_US)).collect()
    scored = cluster_hot_scores(window, members.select("cluster_id", "post_id").collect())
    current = scored.with_columns(
        window_start=pl.lit(end - LOOKBACK, dtype=UTC_US), window_end=pl.lit(end, dtype=UTC_US)
    ).select(list(polars_schema(IsClusterTrends)))
    cleared = earlier.filter(
        pl.col("rank").is_not_null() & (pl.col("window_end") != pl.lit(end, dtype=UTC_US))
    ).with_columns(rank=pl.lit(None, dtype=pl.Int32))
    return pl.concat([current, cleared.select(current.columns)])


@dg.asset(
    **GOLD,
    metadata={
        **lake(write_mode="merge", merge_keys=["cluster_id", "window_start", "window_end"]),
        "dagster/column_schema": column_schema(IsClusterTrends),
    },
    deps=[is_post_trends, is_cluster_posts],
    required_resource_keys={LAKE},
)
def is_cluster_trends(
    context: dg.AssetExecutionContext, config: IsClusterWindowConfig
) -> dg.Output[pl.LazyFrame]:
    """Hot story clusters per 10-minute window: the sum of the members' hot scores and the
    cluster's rank in the window (ranks only on the current window's rows)."""
    started = time.perf_counter()
    end = _window(context, config)
    table = stored(context, is_cluster_trends)
    earlier = (
        table.filter(pl.col("rank").is_not_null()).collect()
        if table is not None
        else pl.DataFrame(schema=polars_schema(IsClusterTrends))
    )
    rows = cluster_trends(_read(context, is_post_trends), _members(context), earlier, end)
    current = rows.filter(pl.col("rank").is_not_null())
    return dg.Output(
        rows.lazy(),
        metadata={
            "window_end": end.isoformat(),
            "clusters": current.height,
            "ranks_cleared": rows.height - current.height,
            "top_cluster": current["cluster_id"][0] if current.height else None,
            "execution_time_sec": elapsed(started),
        },
    )


def rotation_state(
    trends: pl.LazyFrame,
    members: pl.LazyFrame,
    posts: pl.LazyFrame,
    clusters: pl.LazyFrame,
    state: pl.DataFrame,
    end: dt.datetime,
) -> pl.DataFrame:
    """IsClusterRotation rows after the window ending at `end`: each existing cluster's latest
    trend row of the last week (10080 minutes) scored and rotated (`rotate`)."""
    at = pl.lit(end, dtype=UTC_US)
    existing = clusters.select(cluster_id="id")
    latest = (
        trends.filter(
            (pl.col("window_end") <= at)
            & (pl.col("window_end") > pl.lit(end - ROTATION_LOOKBACK, dtype=UTC_US))
        )
        .join(existing, on="cluster_id", how="semi")
        .sort("window_end")
        .group_by("cluster_id")
        .agg(pl.col("hot_score").last())
        .sort("cluster_id")
        .collect()
    )
    newest = (
        members.select("cluster_id", "post_id")
        .join(
            posts.select(post_id="id", published=pl.coalesce("timestamp", "created_at")),
            on="post_id",
        )
        .group_by("cluster_id")
        .agg(newest_post_at=pl.col("published").max())
        .collect()
    )
    kept = state.join(existing.collect(), on="cluster_id", how="semi")
    return rotate(rotation_scores(latest, newest, end), kept, end).select(
        list(polars_schema(IsClusterRotation))
    )


@dg.asset(
    **GOLD,
    metadata={**lake(), "dagster/column_schema": column_schema(IsClusterRotation)},
    deps=[is_posts, is_cluster_posts, is_clusters],
    required_resource_keys={LAKE},
)
def is_cluster_rotation(
    context: dg.AssetExecutionContext,
    config: IsClusterWindowConfig,
    is_cluster_trends: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Front-page rotation of story clusters: the 20 best by hot-score percentile and freshness
    are shown per window; a cluster shown three windows in a row (within 20 minutes of each
    other) rests for 24 hours."""
    started = time.perf_counter()
    end = _window(context, config)
    table = stored(context, is_cluster_rotation)
    state = (
        table.collect()
        if table is not None
        else pl.DataFrame(schema=polars_schema(IsClusterRotation))
    )
    clusters = stored(context, is_clusters)
    rows = rotation_state(
        is_cluster_trends,
        _members(context),
        _read(context, is_posts),
        clusters if clusters is not None else pl.LazyFrame(schema=polars_schema(IsClusters)),
        state,
        end,
    )
    shown = rows.filter(pl.col("rank").is_not_null())
    return dg.Output(
        rows.lazy(),
        metadata={
            "window_end": end.isoformat(),
            "shown": shown.height,
            "suppressed": int(
                (rows["suppressed_until"] > end).fill_null(False).sum()  # type: ignore[operator]
            ),
            "execution_time_sec": elapsed(started),
        },
    )


is_cluster_posts_contract = contract_check(is_cluster_posts, IsClusterPosts)
is_clusters_contract = contract_check(is_clusters, IsClusters)
is_cluster_trends_contract = contract_check(
    is_cluster_trends,
    IsClusterTrends,
    read=lambda context: (
        getattr(context.resources, LAKE)
        .read(is_cluster_trends.key, None, is_cluster_trends.metadata_by_key[is_cluster_trends.key])
        .filter(pl.col("window_end") > pl.col("window_end").max() - pl.duration(days=1))
    ),
)
is_cluster_rotation_contract = contract_check(is_cluster_rotation, IsClusterRotation)
