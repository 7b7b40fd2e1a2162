"""The CD variant end to end: `cd_logos_job` (dag/jobs.py) against moto's S3 server and
PostgreSQL, with CD's `company` rows (uuid5 company ids) in `cd_postgres`.

The job runs the sample crawler through Pipes (ids from CD's `company.company_id`), lists the
source bucket, converts, publishes to the target bucket and upserts `company_logo`; a second
crawler (`CD_CRAWLER_COMMAND`) then changes one logo, and only that company's row changes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import polars as pl
import pytest

from dag.ds_sample import UNKNOWN_COMPANY_ID
from tests.ds.logo_env import CD_COMPANIES, CD_PUBLIC_URL, Logos

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]
IDS = sorted(CD_COMPANIES["company_id"].to_list())  # the sample crawler takes them sorted
CORRUPT = IDS[-1]  # the sample crawler truncates the last company's logo
PUBLISHED = IDS[:-1]
# A live crawler stand-in for CD_CRAWLER_COMMAND: uploads one new logo for one company with its
# R2_* variables and reports it through Pipes, as the real crawler must.
ONE_LOGO_CRAWLER = """
import sys
from dagster_pipes import open_dagster_pipes
from dag.ds_bucket import crawler_store
from dag.ds_sample import logo_png
key = f"clogo-{sys.argv[1]}.png"
with open_dagster_pipes() as pipes:
    crawler_store().put(key, logo_png(sys.argv[1], seed=7), "image/png")
    pipes.report_asset_materialization(metadata={"uploaded": [key], "count": 1})
"""


def logos_table(cd: Logos) -> pl.DataFrame:
    return cd.postgres.read("company_logo").sort("company_id")


def test_cd_logos_job_end_to_end(
    cd_logos: Logos, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cd = cd_logos
    first = cd.run_job("cd_logos_job")
    assert first.success, [str(e) for e in first.all_events if e.is_failure]
    crawled = first.asset_materializations_for_node("cd_logo_crawler")[0].metadata
    assert sorted(crawled["uploaded"].value) == sorted(  # type: ignore[arg-type]
        [f"clogo-{cid}.png" for cid in [*IDS, UNKNOWN_COMPANY_ID]])

    files = cd.table("cd_logo_files").sort("key")
    status = dict(zip(files["company_id"], files["status"], strict=True))
    assert status == {**dict.fromkeys(PUBLISHED, "converted"), CORRUPT: "invalid_image",
                      UNKNOWN_COMPANY_ID: "unknown_company"}
    # The unknown company is reported by the gold asset, and never published or guessed.
    updates = first.asset_materializations_for_node("cd_company_logos")[0].metadata
    assert updates["unknown_company_ids"].value == [UNKNOWN_COMPANY_ID]
    assert updates["invalid_images"].value == [f"clogo-{CORRUPT}.png"]
    assert cd.keys(cd.buckets.target_bucket) == {
        f"clogo-{cid}.{ext}" for cid in PUBLISHED for ext in ("png", "webp")}

    table = logos_table(cd)
    assert table["company_id"].to_list() == PUBLISHED
    assert table["logo"].to_list() == [f"{CD_PUBLIC_URL}/clogo-{cid}.png" for cid in PUBLISHED]
    assert table["webp_url"].to_list() == [
        f"{CD_PUBLIC_URL}/clogo-{cid}.webp" for cid in PUBLISHED]
    checks = first.get_asset_check_evaluations()
    assert checks and all(e.passed for e in checks)
    # CD's own `company` table is read, never rewritten.
    assert cd.postgres.read("company").sort("company_id").equals(CD_COMPANIES.sort("company_id"))

    # Unchanged re-run (the sample crawler uploads the same bytes again): no company row moves.
    again = cd.run_job("cd_logos_job")
    assert again.success
    assert again.asset_materializations_for_node("cd_logo_files")[0].metadata[
        "downloaded"].value == 0
    assert again.asset_materializations_for_node("cd_company_logos")[0].metadata[
        "changed_companies"].value == 0
    assert logos_table(cd).equals(table)

    # A crawler run that changes one logo: only that company's row is upserted.
    changed = PUBLISHED[1]
    script = tmp_path / "one_logo_crawler.py"
    script.write_text(ONE_LOGO_CRAWLER)
    monkeypatch.setenv("CD_CRAWLER_COMMAND", shlex.join([sys.executable, str(script), changed]))
    third = cd.run_job("cd_logos_job")
    assert third.success, [str(e) for e in third.all_events if e.is_failure]
    assert third.asset_materializations_for_node("cd_logo_crawler")[0].metadata[
        "uploaded"].value == [f"clogo-{changed}.png"]
    meta = third.asset_materializations_for_node("cd_company_logos")[0].metadata
    assert meta["changed_companies"].value == 1
    assert meta["unknown_company_ids"].value == [UNKNOWN_COMPANY_ID]
    after = logos_table(cd)
    moved = after.join(table, on=["company_id", "png_sha256", "updated_at"], how="anti")
    assert moved["company_id"].to_list() == [changed]
    assert after.filter(pl.col("company_id") != changed).equals(
        table.filter(pl.col("company_id") != changed))
    assert after["company_id"].to_list() == PUBLISHED
