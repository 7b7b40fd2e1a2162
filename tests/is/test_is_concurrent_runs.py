"""Two crawl files' runs at once (a crawl lands four files): both succeed, neither loses rows.

Runs of different files upsert the same keyed Delta tables; the instance template's pool
(`is_lake`, limit 1) makes their merge steps take turns instead of failing on a commit conflict.
Real `dagster asset materialize` processes against an instance made from dag/dagster.yaml.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dag.instance import TEMPLATE
from dag.is_common import POOL
from dag.is_demo import CRAWLS
from dag.is_sample import sample_crawl
from dag.partitions import is_crawl_file_partition

SELECTION = "is_crawl_files,is_posts,is_post_comments"


def test_template_limits_the_is_pool_to_one_step() -> None:
    import yaml

    config = yaml.safe_load(TEMPLATE.read_text())
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    from dag.definitions import defs

    keyed = [
        a.key.to_user_string()
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition)
        and a.group_names_by_key.get(a.key) == "IS"
        and a.metadata_by_key.get(a.key, {}).get("write_mode") == "merge"
        and a.partitions_def is not None
    ]
    assert keyed, "no keyed IS tables found"
    for name in keyed:
        assert defs.resolve_assets_def(name).op.pool == POOL, name


# Several processes at once: a deployment test (make test-scale-out).
@pytest.mark.slow
@pytest.mark.scale_out
def test_two_files_ingested_at_once(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(TEMPLATE.read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAG_DATA_DIR": str(data)}
    env.pop("IS_OUTPUT_DIR", None)
    files = sample_crawl(data / "is" / "output", 0, CRAWLS[0])[:2]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(
            str(is_crawl_file_partition.name), [f.stem for f in files]
        )
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "dag.definitions"]
    runs = [
        subprocess.Popen(
            [*command, "--select", SELECTION, "--partition", f.stem],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    posts = pl.read_delta(str(data / "lake" / "delta" / "is_posts"))
    bronze = pl.read_delta(str(data / "lake" / "delta" / "is_crawl_files"))
    assert sorted(bronze["crawl_file"].unique()) == sorted(f.stem for f in files)
    assert posts.height == bronze.select("site", "post_id").n_unique()
