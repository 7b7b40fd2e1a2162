"""IS ingest: one big crawl file through `is_ingest_job` against the same functions called
directly, and the silver `is_posts` upsert into a small against a big table.

Input: `crawl_file(folder, posts, comments)`, one clien/park crawl file in the crawlers' format.
Its posts are the sample crawler's (`dag.is_sample.BoardHistory`: Korean titles and bodies,
images, YouTube/X embeds, tags-free clien quirks), its comment trees are drawn here so the file
holds exactly `comments` comments (about 30 a post, replies nested up to depth 3: four levels).

End to end (the NPS harness `benchkit.e2e` generalised to any partitioned job; its
`_inputs` is reused):
- through Dagster: the sensor `is_output_data_sensor` is evaluated (untimed setup: it reads the
  file and asks for one run) and its run request executed in process: `is_ingest_job` for the
  file's partition with every asset (bronze, the silver merges, signatures, snapshots, sites, the
  PostgreSQL and Turso loads) and every check, Delta writes and the IO manager's reads of each
  downstream input and crawl-scoped contract, on the shared ephemeral instance.
- directly: the job's assets in topological order, called with `dg.build_asset_context`, each
  output collected once in memory (what the IO manager would persist) and handed over to its
  consumers; the checks after their asset, lake contracts reading the in-memory outputs
  (`MemoryLake`), load contracts reading PostgreSQL / Turso back. Same PostgreSQL and Turso
  writes.
Both paths start every round from an empty lake and no serving tables (a first delivery).

Silver (`silver_table` + `silver_step`): the `is_posts` asset function (it reads the stored rows
of the file's posts to skip unchanged ones) and its merge through `DeltaIOManager.handle_output`,
for the file's bronze rows, into an `is_posts` table of `rows` rows written directly with
`write_deltalake` (untimed) in the exact schema of `contracts.is_.IsPosts`: 80% of the file's
posts already stored from the previous crawl (fewer comments and views: they are updated), 20%
new; the rest are other posts of the four sites, sorted by (site, post_id) as an OPTIMIZE
Z-ORDER by the merge keys would leave them. Every round restores the table to that version.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import psycopg
from deltalake import DeltaTable, write_deltalake
from psycopg import sql

from benchkit.e2e import _inputs
from benchkit.lake import instance
from benchkit.loaders import postgres_resource
from contracts import polars_schema
from contracts.is_ import IsPosts
from dag.definitions import defs
from dag.is_crawl_file import read_crawl_file
from dag.is_post_tables import is_posts
from dag.is_sample import BOARDS, COMMENT_LINES, BoardHistory, file_name, iso_utc
from dag.partitions import is_crawl_file_partition
from dag_io import DeltaIOManager, TursoResource

JOB = "is_ingest_job"
SENSOR = "is_output_data_sensor"
BOARD = BOARDS[0]  # clien/park: every optional field present
CRAWLED_AT = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
MAX_DEPTH = 3
STORED_SHARE = 0.8  # of the file's posts already in is_posts (updated by the merge)
# Data files of the prepared is_posts tables (delta-rs target size, ~2 MB Parquet files of ~10,000
# posts): a merge rewrites every file holding an updated post, so the file size, not the table,
# bounds what one crawl file's upsert rewrites (see docs/benchmarks.md, "IS ingest").
FILE_BYTES = 2 * 2**20
LAZY = dg.DagsterType(lambda _, value: True, name="PolarsLazyFrame", typing_type=pl.LazyFrame)


@dataclass(frozen=True)
class IngestSizes:
    """The crawl file and the silver tables of one benchmark mode."""

    posts: int  # posts in the crawl file
    comments: int  # comments in the crawl file, in total
    small_table: int  # rows of the small is_posts table
    big_table: int  # rows of the big is_posts table
    rounds: int


SIZES = {
    "quick": IngestSizes(
        posts=200, comments=6_000, small_table=10_000, big_table=200_000, rounds=3
    ),
    "full": IngestSizes(
        posts=1_000, comments=30_000, small_table=10_000, big_table=1_000_000, rounds=3
    ),
}


# --- input --------------------------------------------------------------------------------------
def _comment_tree(
    rng: random.Random, post_id: str, created: datetime, at: datetime, count: int
) -> list[dict[str, Any]]:
    """`count` comments of one post as the crawler nests them (`replies`), ids unique."""
    roots: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    span = max(60.0, (at - created).total_seconds() - 60)
    moments = sorted(rng.uniform(30, span) for _ in range(count))
    for number, offset in enumerate(moments):
        open_parents = [n for n in nodes if n["depth"] < MAX_DEPTH]
        parent = rng.choice(open_parents) if open_parents and rng.random() < 0.45 else None
        text = rng.choice(COMMENT_LINES)
        likes = rng.randint(0, 12)
        node: dict[str, Any] = {
            "id": f"{BOARD.site}-{BOARD.board}-{post_id}_{number + 1}",
            "author": f"댓글러{rng.randint(1, 5000)}",
            "avatar": None,
            "content": text,
            "html": f"<p>{text}</p>",
            "raw": text,
            "timestamp": iso_utc(created + timedelta(seconds=offset)),
            "isReply": parent is not None,
            "depth": 0 if parent is None else parent["depth"] + 1,
            "parentId": parent["id"] if parent else None,
            "likeCount": likes,
            "dislikeCount": likes // 10,
            "reactionCount": likes + likes // 10,
            "replies": [],
        }
        nodes.append(node)
        (parent["replies"] if parent else roots).append(node)
    return roots


def crawl_body(posts: int, comments: int) -> list[dict[str, Any]]:
    """The body `[{meta, posts}]` of one clien/park crawl of `posts` posts, `comments` in all."""
    # Enough crawls that the board holds `posts` posts (3-6 new per crawl after a backlog of 30).
    crawl = posts // 3 + 1
    history = BoardHistory(BOARD, crawl, CRAWLED_AT)
    first = max(0, history.arrivals[crawl] - posts)
    counts = np.random.default_rng(15).multinomial(
        comments, np.random.default_rng(16).dirichlet(np.full(posts, 2.0))
    )
    rendered = []
    for n, index in enumerate(range(history.arrivals[crawl] - 1, first - 1, -1)):
        item = history.render_post(index, crawl)
        created = datetime.fromisoformat(item["timestamp"])
        item["comments"] = _comment_tree(
            random.Random(index), item["post_id"], created, CRAWLED_AT, int(counts[n])
        )
        item["comment_count"] = int(counts[n])
        rendered.append(item)
    meta = {
        "site": BOARD.site,
        "board": BOARD.board,
        "crawled_at": iso_utc(CRAWLED_AT),
        "crawler_version": "bench",
        "total_posts": len(rendered),
        "pages_crawled": -(-len(rendered) // 10),
        "crawl_config": {"mode": "incremental", "max_pages": 100, "incremental": True},
    }
    return [{"meta": meta, "posts": rendered}]


def crawl_file(folder: Path, posts: int, comments: int) -> Path:
    """The crawl file in `folder` (written on first use, settled: its mtime is a minute old)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(BOARD, CRAWLED_AT)
    if not path.exists():
        tmp = folder / f".{path.name}.part"
        tmp.write_bytes(json.dumps(crawl_body(posts, comments), ensure_ascii=False).encode())
        tmp.rename(path)
        settled = path.stat().st_mtime - 60
        os.utime(path, (settled, settled))
    return path


# --- end to end: a partitioned job through Dagster and called directly -------------------------
class MemoryLake:
    """The lake as the direct path has it: the outputs held in memory, read like the IO manager's
    `read` (a check or an asset comparing with what is stored reads the run's outputs)."""

    def __init__(self, values: dict[dg.AssetKey, Any]) -> None:
        self.values = values

    def read(
        self,
        asset_key: dg.AssetKey,
        partitions_def: dg.PartitionsDefinition | None,
        definition_metadata: Any,
        partition_keys: list[str] | None = None,
    ) -> pl.LazyFrame:
        if self.values.get(asset_key) is None:
            raise FileNotFoundError(f"{asset_key.to_user_string()}: not written yet")
        return self.values[asset_key].lazy()  # the run holds one partition: no filter needed


@dataclass(frozen=True)
class JobPlan:
    """One partitioned job resolved with the benchmark's resources, and its direct path."""

    location: dg.Definitions
    job: dg.JobDefinition
    partition_key: str
    lake: Path
    turso: Path
    services: dict[str, Any]  # the job's non-lake resources, shared by both paths
    assets: list[dg.AssetsDefinition]  # unbound definitions, topological order
    checks: dict[dg.AssetKey, list[dg.AssetChecksDefinition]]
    tables: dict[str, list[str]]  # resource key -> serving tables the job's loads write


def plan(folder: Path, pg_url: str, partition_key: str) -> JobPlan:
    """Resolve `is_ingest_job` with a temporary lake, the benchmark's PostgreSQL and a Turso file
    (defs' defaults were bound before the benchmark set DAG_DATA_DIR: unusable)."""
    lake, turso = folder / "lake", folder / "turso.db"
    services = {"is_postgres": postgres_resource(pg_url), "turso": TursoResource(url=str(turso))}
    delta = DeltaIOManager(root_uri=str(lake))
    bench = {**services, "delta_io_manager": delta, "io_manager": delta}
    location = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        sensors=defs.sensors,
        resources={**(defs.resources or {}), **bench},
        executor=defs.executor,
        loggers=defs.loggers,
    )
    job = location.resolve_job_def(JOB)
    unset = job.required_resource_keys - bench.keys()
    if unset:
        raise RuntimeError(f"{JOB} needs resources the benchmark does not build: {sorted(unset)}")
    graph = job.asset_layer.asset_graph
    selected = job.asset_layer.selected_asset_keys
    unbound = {key: a for a in location.assets or [] for key in a.keys}  # type: ignore[union-attr]
    unbound_checks = {
        key: c
        for c in location.asset_checks or []
        for key in c.check_keys  # type: ignore[union-attr]
    }
    order = [key for key in graph.toposorted_asset_keys if key in selected]
    checks: dict[dg.AssetKey, list[dg.AssetChecksDefinition]] = {key: [] for key in order}
    for check_key in sorted(graph.asset_check_keys, key=str):
        if check_key.asset_key in checks:
            checks[check_key.asset_key].append(unbound_checks[check_key])
    assets = [unbound[key] for key in order]
    tables: dict[str, list[str]] = {}
    for asset in assets:
        table = asset.metadata_by_key[asset.key].get("target_table")
        if table:
            (key,) = asset.required_resource_keys & services.keys()
            tables.setdefault(key, []).append(str(table))
    return JobPlan(location, job, partition_key, lake, turso, services, assets, checks, tables)


def reset(plan: JobPlan) -> None:
    """Untimed setup of every round: an empty lake, no serving tables (a first delivery)."""
    shutil.rmtree(plan.lake, ignore_errors=True)
    plan.turso.unlink(missing_ok=True)
    names = sql.SQL(", ").join(sql.Identifier(t) for t in plan.tables["is_postgres"])
    with psycopg.connect(plan.services["is_postgres"].uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(names))


def sensor_request(plan: JobPlan) -> dg.RunRequest:
    """One evaluation of the sensor with a fresh cursor, as the daemon's tick after the file
    landed; its new partition is added as the daemon would. Returns the run it asks for."""
    sensor = plan.location.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(instance=instance(), definitions=plan.location) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance().add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
    runs = [r for r in result.run_requests or [] if isinstance(r, dg.RunRequest)]
    assert [r.partition_key for r in runs] == [plan.partition_key], runs
    return runs[0]


def through_dagster(plan: JobPlan, request: dg.RunRequest) -> int:
    """The sensor's run of the job; returns the rows `is_post_comments` wrote."""
    result = plan.job.execute_in_process(
        partition_key=request.partition_key,
        tags=request.tags,
        instance=instance(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert not failed, f"{JOB} checks failed: {failed}"
    events = result.asset_materializations_for_node("is_post_comments")
    return int(events[0].metadata["comments"].value)  # type: ignore[arg-type]


def _context(
    node: dg.AssetsDefinition, plan: JobPlan, lake: MemoryLake
) -> dg.AssetExecutionContext:
    # Also for checks (as benchkit.e2e): build_asset_check_context takes no partition key.
    return dg.build_asset_context(
        partition_key=plan.partition_key if node.partitions_def else None,
        resources={**plan.services, "delta_io_manager": lake},
        instance=instance(),
    )


def _collected(output: Any, flag: str | None = None) -> pl.DataFrame | None:
    """What the IO manager would persist of an asset's return value into an empty lake (None:
    nothing, a load): rows flagged by a merge delete flag are not stored, nor is the flag."""
    value = output.value if isinstance(output, dg.Output) else output
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if not isinstance(value, pl.DataFrame):
        return None
    return value.filter(~pl.col(flag)).drop(flag) if flag else value


def direct(plan: JobPlan) -> int:
    """The job's asset and check functions called in order; returns the comment rows."""
    values: dict[dg.AssetKey, Any] = {}
    lake = MemoryLake(values)
    failed: list[str] = []
    for asset in plan.assets:
        with _context(asset, plan, lake) as context:
            output = asset(context, **_inputs(asset, values))
        values[asset.key] = _collected(
            output, asset.metadata_by_key[asset.key].get("merge_delete_flag")
        )
        for check in plan.checks[asset.key]:
            with _context(check, plan, lake) as context:
                result = check(context, **_inputs(check, values))
            if result is not None and not result.passed:
                failed.extend(key.name for key in check.check_keys)
    assert not failed, f"{JOB} checks failed (direct): {failed}"
    return values[dg.AssetKey("is_post_comments")].height


def table_rows(plan: JobPlan) -> dict[str, int]:
    """Rows per PostgreSQL serving table (read after the timed rounds)."""
    with psycopg.connect(plan.services["is_postgres"].uri()) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]  # type: ignore[index]
            for table in plan.tables["is_postgres"]
        }


# --- silver: the is_posts merge into a small and a big table -----------------------------------
def _md5_16(values: pl.Series) -> pl.Series:
    return pl.Series(
        [hashlib.md5(v.encode()).hexdigest()[:16] for v in values.to_list()], dtype=pl.String
    )


def stored_posts(bronze: pl.DataFrame, rows: int) -> pl.DataFrame:
    """An `is_posts` table of `rows` rows (IsPosts schema) holding 80% of the file's posts as the
    previous crawl left them, and other posts of the four sites, sorted by (site, post_id)."""
    schema = polars_schema(IsPosts)
    with dg.build_asset_context(
        partition_key=str(bronze["crawl_file"][0]),
        resources={"delta_io_manager": MemoryLake({})},
        instance=instance(),
    ) as context:
        fresh = _collected(is_posts(context, bronze.lazy()))
    assert fresh is not None
    earlier = CRAWLED_AT - timedelta(minutes=10)
    known = fresh.head(int(fresh.height * STORED_SHARE)).with_columns(
        (pl.col("comment_count") - 3).clip(0),
        (pl.col("view_count") - 100).clip(0),
        crawled_at=pl.lit(earlier, dtype=schema["crawled_at"]),
        updated_at=pl.lit(earlier, dtype=schema["updated_at"]),
    )
    others = rows - known.height
    n = pl.int_range(others, eager=True)
    board = pl.Series([b.board for b in BOARDS])
    site = pl.Series([b.site for b in BOARDS])
    first = pl.Series([b.first_post_id for b in BOARDS], dtype=pl.Int64)
    which = n % len(BOARDS)
    post_id = (first.gather(which) - 1 - n // len(BOARDS)).cast(pl.String)
    keys = site.gather(which) + "-" + board.gather(which) + "-" + post_id
    template = fresh.gather(n % fresh.height)  # realistic text sizes per row
    filler = template.with_columns(
        id=_md5_16(keys),
        post_id=post_id,
        site=site.gather(which),
        board=board.gather(which),
        url=pl.lit("https://example.invalid/") + post_id,
        # Each post's own text (a template shared by thousands of rows would shrink the table
        # to a few dictionary pages, far below a real one's bytes).
        title=post_id + " " + template["title"],
        content=post_id + " " + template["content"],
        content_html="<p>" + post_id + "</p>" + template["content_html"],
        crawled_at=pl.lit(earlier - timedelta(days=1), dtype=schema["crawled_at"]),
    )
    table = pl.concat([filler, known]).sort("site", "post_id")
    return table.select([pl.col(c).cast(t) for c, t in schema.items()])


@dataclass(frozen=True)
class SilverTable:
    """A prepared is_posts table and the file's bronze rows to upsert into it."""

    uri: str
    rows: int
    version: int  # the prepared state every round restores
    bronze: pl.DataFrame
    partition_key: str


def silver_table(folder: Path, bronze: pl.DataFrame, rows: int) -> SilverTable:
    """Write the `is_posts` table of `rows` rows under `folder/lake` (untimed setup)."""
    lake = folder / "lake"
    uri = str(lake / "is_posts")
    shutil.rmtree(uri, ignore_errors=True)
    write_deltalake(
        uri, stored_posts(bronze, rows).to_arrow(), mode="error", target_file_size=FILE_BYTES
    )
    key = str(bronze["crawl_file"][0])
    if not instance().has_dynamic_partition(str(is_crawl_file_partition.name), key):
        instance().add_dynamic_partitions(str(is_crawl_file_partition.name), [key])
    return SilverTable(uri, rows, DeltaTable(uri).version(), bronze, key)


def bronze_rows(path: Path) -> pl.DataFrame:
    """The file's bronze rows as `is_crawl_files` hands them to the silver assets."""
    return read_crawl_file(path).posts


def restore(table: SilverTable) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Untimed setup of every round: the table back at its prepared version (a restore commit,
    no data rewritten), a fresh IO manager (no pinned versions) and the output context."""
    current = DeltaTable(table.uri)
    if current.version() != table.version:
        current.restore(table.version)
    manager = DeltaIOManager(root_uri=str(Path(table.uri).parent))
    output = dg.build_output_context(
        asset_key=is_posts.key,
        partition_key=table.partition_key,
        asset_partitions_def=is_crawl_file_partition,
        definition_metadata=dict(is_posts.metadata_by_key[is_posts.key]),
        dagster_type=LAZY,
        instance=instance(),
    )
    return (table, manager, output), {}


def silver_step(table: SilverTable, manager: DeltaIOManager, output: dg.OutputContext) -> int:
    """The is_posts asset for the file and its merge; returns the rows written."""
    with dg.build_asset_context(
        partition_key=table.partition_key,
        resources={"delta_io_manager": manager},
        instance=instance(),
    ) as context:
        result = is_posts(context, table.bronze.lazy())
    assert isinstance(result, dg.Output)
    manager.handle_output(output, result.value)
    return int(result.metadata["rows_written"].value)  # type: ignore[arg-type]


def merged_rows(table: SilverTable) -> int:
    """Rows of the table after the last round's merge."""
    return int(pl.scan_delta(table.uri).select(pl.len()).collect().item())


def merge_files(table: SilverTable) -> dict[str, int]:
    """The table's data files and what the last round's merge did with them (delta-rs's commit
    metrics): a pruned merge scans and rewrites the few files holding the file's posts."""
    metrics = DeltaTable(table.uri).history(1)[0].get("operationMetrics", {})
    return {
        "table_files": len(DeltaTable(table.uri, version=table.version).file_uris()),
        "files_scanned": int(metrics.get("num_target_files_scanned", 0)),
        "files_skipped": int(metrics.get("num_target_files_skipped_during_scan", 0)),
        "files_rewritten": int(metrics.get("num_target_files_removed", 0)),
    }


@contextmanager
def env(name: str, value: str) -> Iterator[None]:
    """`name=value` in the environment for the duration (restored after)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
