"""IS serving loads of the story clusters: the tables the Isshoo web app (PostgreSQL) and edge API
(Turso) read, through the one serving path (`dag.serving`).

| table | from | mode |
| --- | --- | --- |
| clusters (+ Turso) | is_clusters | replace (a build rewrites every cluster, merged-away ones go) |
| cluster_posts | is_cluster_posts | replace |
| cluster_trends (+ Turso) | is_cluster_trends | replace the latest two windows (*) |
| cluster_rotation | is_cluster_rotation | replace |

(*) the current window with its ranks and the one before with its ranks cleared, so only the
current window's rows carry a rank in the targets too.
"""

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts.is_ import (
    IsClusterPostsServing,
    IsClusterRotationServing,
    IsClustersServing,
    IsClusterTrendsServing,
)
from dag.common import IS_TAGS
from dag.is_clusters import BUILD_STEP, is_cluster_trends
from dag.serving import LoadMode, Scope, Serving, serving_asset

RESOURCES = {"postgres": "is_postgres", "turso": "turso"}


def latest_two_windows(is_cluster_trends: pl.LazyFrame) -> pl.LazyFrame:
    """`cluster_trends` rows of the two latest windows: the current one (ranked) and the one
    before, whose ranks the current run cleared."""
    ends = is_cluster_trends.select(pl.col("window_end").unique().sort(descending=True).head(2))
    return is_cluster_trends.join(ends, on="window_end", how="semi")


LATEST_TWO = Scope(
    is_cluster_trends,
    lambda t: latest_two_windows(t).select("window_end"),
    "the latest two cluster-trend windows",
)


def _load(
    table: str,
    target: str,
    contract: type[pa.DataFrameModel],
    mode: LoadMode,
    what: str,
    build: str | object,
    scope: Scope | None = None,
    build_step: bool = False,
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    return serving_asset(
        Serving(
            name=f"is_{table}_{target}",
            group="IS",
            table=table,
            target=target,  # type: ignore[arg-type]
            resource_key=RESOURCES[target],
            contract=contract,
            mode=mode,
            description=f"{what} ({'PostgreSQL' if target == 'postgres' else 'Turso'} `{table}`)",
            tags={**IS_TAGS, **(BUILD_STEP if build_step else {})},
            scope=scope,
        ),
        build,  # type: ignore[arg-type]
    )


is_clusters_postgres, is_clusters_postgres_contract = _load(
    "clusters", "postgres", IsClustersServing, "replace", "Story clusters", "is_clusters",
    build_step=True,
)
is_clusters_turso, is_clusters_turso_contract = _load(
    "clusters", "turso", IsClustersServing, "replace", "Story clusters", "is_clusters",
    build_step=True,
)
is_cluster_posts_postgres, is_cluster_posts_postgres_contract = _load(
    "cluster_posts", "postgres", IsClusterPostsServing, "replace", "Members of the story clusters",
    "is_cluster_posts", build_step=True,
)
is_cluster_trends_postgres, is_cluster_trends_postgres_contract = _load(
    "cluster_trends", "postgres", IsClusterTrendsServing, "replace_partitions",
    "Hot story clusters per 10-minute window", latest_two_windows, LATEST_TWO,
)
is_cluster_trends_turso, is_cluster_trends_turso_contract = _load(
    "cluster_trends", "turso", IsClusterTrendsServing, "replace_partitions",
    "Hot story clusters per 10-minute window", latest_two_windows, LATEST_TWO,
)
is_cluster_rotation_postgres, is_cluster_rotation_postgres_contract = _load(
    "cluster_rotation", "postgres", IsClusterRotationServing, "replace",
    "Front-page rotation of the story clusters", "is_cluster_rotation",
)
