"""The DS logo chain against moto's S3 server (source and target buckets) and PostgreSQL."""

from __future__ import annotations

import io

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from dag.ds_bucket import S3Store
from dag.ds_sample import UNKNOWN_COMPANY_ID, logo_png, upload_sample
from tests.ds.logo_env import (
    COMPANY_IDS,
    PUBLIC_URL,
    FailingProxy,
    Logos,
    recorded,
    restart_recording,
)

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]
CORRUPT = f"clogo-{COMPANY_IDS[-1]}.png"
UNKNOWN = f"clogo-{UNKNOWN_COMPANY_ID}.png"
GOOD = [f"clogo-{cid}.png" for cid in COMPANY_IDS[:-1]]


def seeded(logos: Logos) -> Logos:
    upload_sample(logos.buckets.source(), COMPANY_IDS)
    return logos


def thumbnails(logos: Logos) -> pl.DataFrame:
    return logos.postgres.read("company_thumbnail").sort("id")


def test_first_run_publishes_every_valid_logo(logos: Logos) -> None:
    result = seeded(logos).run()
    assert result.success
    files = logos.table("ds_logo_files").sort("key")
    status = dict(zip(files["key"], files["status"], strict=True))
    assert status == {**dict.fromkeys(GOOD, "converted"), CORRUPT: "invalid_image",
                      UNKNOWN: "unknown_company"}
    assert logos.keys(logos.buckets.target_bucket) == {
        *GOOD, *(k.replace(".png", ".webp") for k in GOOD)}
    webp = logos.buckets.target().get(GOOD[0].replace(".png", ".webp"))
    assert Image.open(io.BytesIO(webp)).format == "WEBP"
    table = thumbnails(logos)
    assert table["id"].to_list() == COMPANY_IDS[:-1]
    assert table["thumbnail"][0] == f"{PUBLIC_URL}/clogo-{COMPANY_IDS[0]}.png"
    checks = [e for e in result.get_asset_check_evaluations()]
    assert checks and all(e.passed for e in checks)


def test_unchanged_rerun_transfers_no_image_bytes(logos: Logos) -> None:
    assert seeded(logos).run().success
    restart_recording(logos.endpoint)
    result = logos.run()
    assert result.success
    requests = recorded(logos.endpoint)
    assert requests, "the recorder saw no request"
    # Only listings of the two buckets: no object read (GET of a key), no upload (PUT).
    assert all(r["method"] == "GET" and "list-type=2" in r["url"] for r in requests), requests
    files = logos.table("ds_logo_files")
    assert set(files.filter(pl.col("key").is_in(GOOD))["status"]) == {"unchanged"}
    assert result.asset_materializations_for_node("ds_company_thumbnails")[0].metadata[
        "dagster/row_count"].value == 0


def test_one_changed_logo_updates_only_that_company(logos: Logos) -> None:
    assert seeded(logos).run().success
    before = thumbnails(logos)
    changed = GOOD[2]
    logos.buckets.source().put(changed, logo_png(COMPANY_IDS[2], seed=7), "image/png")
    result = logos.run()
    assert result.success
    files = logos.table("ds_logo_files")
    assert files.filter(pl.col("status") == "converted")["key"].to_list() == [changed]
    assert result.asset_materializations_for_node("ds_logo_files")[0].metadata[
        "downloaded"].value == 1
    after = thumbnails(logos)
    moved = after.join(before, on=["id", "png_sha256"], how="anti")
    assert moved["id"].to_list() == [COMPANY_IDS[2]]


def test_corrupt_png_is_recorded_never_uploaded(logos: Logos) -> None:
    assert seeded(logos).run().success
    row = logos.table("ds_logo_files").filter(pl.col("key") == CORRUPT).row(0, named=True)
    assert row["status"] == "invalid_image"
    assert "truncated" in row["error"]
    assert row["webp_key"] is None
    assert CORRUPT not in logos.keys(logos.buckets.target_bucket)
    assert COMPANY_IDS[-1] not in thumbnails(logos)["id"].to_list()


def test_unknown_company_is_reported_not_guessed(logos: Logos) -> None:
    result = seeded(logos).run()
    assert result.success
    meta = result.asset_materializations_for_node("ds_company_thumbnails")[0].metadata
    assert meta["unknown_company_ids"].value == [UNKNOWN_COMPANY_ID]
    assert UNKNOWN not in logos.keys(logos.buckets.target_bucket)
    assert UNKNOWN_COMPANY_ID not in thumbnails(logos)["id"].to_list()
    # Once the company exists, the next run publishes its logo.
    logos.postgres.load("company", pl.DataFrame({"id": [UNKNOWN_COMPANY_ID], "name": ["신규"]}),
                        mode="append")
    assert logos.run().success
    assert UNKNOWN_COMPANY_ID in thumbnails(logos)["id"].to_list()


def test_upload_failure_mid_batch(proxied_logos: Logos, failing_proxy: FailingProxy) -> None:
    """A real failed PUT (the proxy answers the 7th upload, the 4th logo's PNG, with 503
    SlowDown): the batch stops there, and the manifest and the company table hold exactly the
    three logos uploaded before it."""
    logos = seeded(proxied_logos)
    failing_proxy.bucket, failing_proxy.fail_at = logos.buckets.target_bucket, 7
    result = logos.run()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.event_specific_data.error)  # type: ignore[union-attr]
    assert "clogo-104.png" in message and "SlowDown" in message
    # No retry: the failed PUT was sent once, and nothing after it.
    target = f"/{logos.buckets.target_bucket}/"
    assert failing_proxy.failed == [f"{target}clogo-104.png"]
    assert failing_proxy.puts[-1] == f"{target}clogo-104.png" and len(failing_proxy.puts) == 7
    uploaded = logos.table("ds_logo_webp")["key"].sort().to_list()
    assert uploaded == GOOD[:3]
    assert logos.keys(logos.buckets.target_bucket) == {
        *uploaded, *(k.replace(".png", ".webp") for k in uploaded)}
    # The company table then takes exactly what was uploaded.
    assert logos.run(["ds_company_thumbnails"]).success
    assert thumbnails(logos)["id"].to_list() == COMPANY_IDS[:3]
    # The next run uploads the rest (the failure was one answer, not a broken bucket).
    assert logos.run().success
    assert thumbnails(logos)["id"].to_list() == COMPANY_IDS[:-1]
    assert logos.keys(logos.buckets.target_bucket) == {
        *GOOD, *(k.replace(".png", ".webp") for k in GOOD)}


def test_cleanup_refused_without_confirmation(logos: Logos) -> None:
    assert seeded(logos).run().success
    target = logos.buckets.target_bucket
    held = logos.keys(target)
    refused = logos.run(["ds_bucket_cleanup"])
    assert not refused.success
    assert logos.keys(target) == held
    wrong = {"ops": {"ds_bucket_cleanup": {"config": {
        "confirm_bucket": logos.buckets.source_bucket, "confirm_prefix": "clogo-"}}}}
    assert not logos.run(["ds_bucket_cleanup"], run_config=wrong).success
    assert logos.keys(target) == held
    confirmed = {"ops": {"ds_bucket_cleanup": {"config": {
        "confirm_bucket": target, "confirm_prefix": "clogo-"}}}}
    done = logos.run(["ds_bucket_cleanup"], run_config=confirmed)
    assert done.success
    assert logos.keys(target) == set()
    assert logos.keys(logos.buckets.source_bucket)  # the other bucket is untouched


def test_crawler_runs_through_pipes(logos: Logos) -> None:
    result = logos.run(["ds_logo_crawler"])
    assert result.success, result.all_events
    meta = result.asset_materializations_for_node("ds_logo_crawler")[0].metadata
    assert sorted(meta["uploaded"].value) == sorted(  # type: ignore[arg-type]
        [*GOOD, CORRUPT, UNKNOWN])
    assert logos.keys(logos.buckets.source_bucket) == {*GOOD, CORRUPT, UNKNOWN}


def test_crawler_nonzero_exit_fails(logos: Logos, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_CRAWLER_COMMAND", "python -c 'import sys; sys.exit(3)'")
    result = logos.run(["ds_logo_crawler"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "exited with code 3" in str(failure.event_specific_data.error)  # type: ignore[union-attr]


def test_webp_decodes_to_the_same_size(logos: Logos) -> None:
    assert seeded(logos).run().success
    png = Image.open(io.BytesIO(logos.buckets.source().get(GOOD[0])))
    webp = Image.open(io.BytesIO(logos.buckets.target().get(GOOD[0].replace(".png", ".webp"))))
    assert webp.size == png.size
    assert isinstance(logos.defs.resources["ds_logo_buckets"].source(), S3Store)
    assert dg.AssetKey("ds_logo_webp") in {k for a in logos.defs.assets for k in a.keys}
