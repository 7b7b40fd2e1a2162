"""IS enrichment: answers through the real `openai` client against the loopback LLM server,
images from a loopback image server, the lake's MERGE, PostgreSQL for the front page."""

import base64
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from contracts import polars_schema, validate_frame
from contracts.is_ import CATEGORIES, IsPostEnrichment, IsPostImageEnrichment, IsPosts
from dag import is_enrichment, is_image_enrichment
from dag.is_common import LAKE
from dag.is_enrichment import is_post_enrichment
from dag.is_enrichment_loads import (
    is_post_enrichment_postgres,
    is_post_enrichment_postgres_contract,
    is_post_image_enrichment_postgres,
    is_post_image_enrichment_postgres_contract,
)
from dag.is_enrichment_rules import (
    DEFAULT_CATEGORY,
    ROLLUP_SCHEMA,
    clean_categories,
    clean_keywords,
    image_rollup,
    pending_posts,
    revision_key,
)
from dag.is_image_enrichment import is_post_image_enrichment
from dag.is_image_routing import ROUTE_PROMPTS
from dag.is_post_tables import is_post_images, is_posts
from dag.llm import OpenAIResource
from dag.resources import build_resources
from tests.image_server import ImageServer
from tests.image_server import start as start_images

NOW = dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC)
STRINGS = pl.List(pl.String)


# -- rules ---------------------------------------------------------------------------------------
def _clean(categories: list[str] | None) -> list[str]:
    frame = pl.DataFrame({"c": [categories]}, schema={"c": STRINGS})
    return frame.select(clean_categories(pl.col("c"))).item().to_list()


def test_invalid_categories_are_dropped_and_default_to_other() -> None:
    assert _clean(["IT", "없는범주", " 뉴스 ", "게임"]) == ["IT", "뉴스"]
    assert _clean(["cats", "dogs"]) == [DEFAULT_CATEGORY]
    assert _clean([]) == [DEFAULT_CATEGORY]
    assert _clean(None) == [DEFAULT_CATEGORY]
    assert _clean(["유머", "유머"]) == ["유머"]


@given(st.lists(st.one_of(st.sampled_from(CATEGORIES), st.text(max_size=5)), max_size=6))
def test_cleaned_categories_are_one_or_two_of_the_list(raw: list[str]) -> None:
    cleaned = _clean(raw)
    assert 1 <= len(cleaned) <= 2
    assert set(cleaned) <= set(CATEGORIES)
    assert len(set(cleaned)) == len(cleaned)


@given(st.lists(st.text(alphabet=list("ab 가나\x00\t\n"), max_size=12), max_size=20))
def test_cleaned_keywords_are_trimmed_unique_and_at_most_eight(raw: list[str]) -> None:
    frame = pl.DataFrame({"k": [raw]}, schema={"k": STRINGS})
    cleaned = frame.select(clean_keywords(pl.col("k"))).item().to_list()
    assert len(cleaned) <= 8 and len(set(cleaned)) == len(cleaned)
    assert all(k == k.strip() and k and "\x00" not in k for k in cleaned)


def test_revision_key_is_md5_of_text_image_and_prompt_version() -> None:
    frame = pl.DataFrame({"t": ["abc"], "i": ["noimg"]})
    key = frame.select(revision_key(pl.col("t"), pl.col("i"), "pv1")).item()
    assert key == hashlib.md5(b"abc:noimg::pv=pv1").hexdigest()


def _posts(*rows: tuple[str, str, int, bool]) -> pl.DataFrame:
    """(id, title, minutes before NOW published, deleted)"""
    schema = polars_schema(IsPosts)
    data = [
        {
            "id": pid, "post_id": pid, "site": "clien", "board": "park", "title": title,
            "content": f"{title} 본문", "content_html": f"<p>{title}</p>",
            "tags": [], "timestamp": NOW - dt.timedelta(minutes=minutes),
            "crawled_at": NOW, "created_at": NOW, "updated_at": NOW, "is_deleted": deleted,
            "text_rev": hashlib.md5(title.encode()).hexdigest(), "crawl_file": "f",
        }
        for pid, title, minutes, deleted in rows
    ]
    return pl.DataFrame(data, schema=schema)


def test_pending_work_front_page_first_then_newest_and_prompt_version_change() -> None:
    posts = _posts(("a", "A", 50, False), ("b", "B", 10, False), ("c", "C", 30, False),
                   ("d", "D", 5, True))
    empty = pl.DataFrame(schema=polars_schema(IsPostEnrichment))
    rollup = pl.DataFrame(schema={"post_id": pl.String, "image_rev": pl.String,
                                  "image_keywords": STRINGS})
    front = pl.DataFrame({"post_id": ["c"]})
    pending = pending_posts(posts, empty, rollup, front, "pv1", 10)
    assert pending["post_id"].to_list() == ["c", "b", "a"]  # front page, then newest; no deleted
    assert pending_posts(posts, empty, rollup, front, "pv1", 2)["post_id"].to_list() == ["c", "b"]
    done = pending.select("post_id", "rev_key")
    assert pending_posts(posts, done, rollup, front, "pv1", 10).height == 0
    again = pending_posts(posts, done, rollup, front, "pv2", 10)
    assert again["post_id"].to_list() == ["c", "b", "a"]  # a new prompt version: all pending


def _described(*rows: tuple[str, str, str, str, list[str], list[str], float, float,
                             list[dict[str, Any]], list[dict[str, Any]]]) -> pl.DataFrame:
    """Image results: (post, url hash, status, caption, labels, OCR lines, nsfw, violence,
    objects, colours)."""
    return pl.DataFrame(
        [{"post_id": p, "url_hash": h, "status": st, "caption": c, "labels": lb,
          "ocr_lines": o, "nsfw": n, "violence": v, "objects_json": json.dumps(ob),
          "colors_json": json.dumps(co)} for p, h, st, c, lb, o, n, v, ob, co in rows],
        schema={"post_id": pl.String, "url_hash": pl.String, "status": pl.String,
                "caption": pl.String, "labels": STRINGS, "ocr_lines": STRINGS,
                "nsfw": pl.Float64, "violence": pl.Float64, "objects_json": pl.String,
                "colors_json": pl.String},
    )


def _obj(name: str, count: int, confidence: float) -> dict[str, Any]:
    return {"name": name, "count": count, "confidence": confidence}


def _color(name: str, hex_: str, ratio: float) -> dict[str, Any]:
    return {"name": name, "hex": hex_, "ratio": ratio}


_FILLER_OBJECTS = [_obj(f"obj{i:02d}", 1, 0.1) for i in range(25)]
_FILLER_COLORS = [_color(f"c{i:02d}", f"#0000{i:02d}", 0.01) for i in range(12)]


def _rollup_inputs(caption_b: str = "two cats", nsfw_b: float = 0.6) -> pl.DataFrame:
    return _described(
        ("p1", "h1", "ok", "a cat", ["cat", "pet"], ["l1", "l2", "l3"], 0.2, 0.0,
         [_obj("Cat", 1, 0.9), _obj("sofa", 1, 0.5)],
         [_color("white", "#FFFFFF", 0.6), _color("red", "#ff0000", 0.2)]),
        ("p1", "h2", "ok", caption_b, ["cat", "indoor"], ["l4", "l5", "l6"], nsfw_b, 0.4,
         [_obj(" cat ", 2, 0.7), _obj("lamp", 1, 0.95), *_FILLER_OBJECTS],
         [_color("White", "#ffffff", 0.2), _color("blue", "#0000ff", 0.5), *_FILLER_COLORS]),
        ("p1", "h3", "skipped", None, [], [], None, None, [], []),
        ("p2", "h4", "ok", "", ["dog"], [], 0.0, 0.0, [], []),
    )


def test_image_rollup_on_fixed_inputs() -> None:
    rolled = image_rollup(_rollup_inputs()).sort("post_id")
    assert rolled.schema == pl.Schema(ROLLUP_SCHEMA)
    p1, p2 = rolled.rows(named=True)
    assert p1["image_summary"] == "a cat | two cats"
    assert p1["image_keywords"] == ["cat", "pet", "indoor"]
    assert p1["image_ocr"] == "l1\nl2\nl3\nl4\nl5"  # top 5 lines
    assert (p1["image_nsfw_avg"], p1["image_nsfw_max"]) == (pytest.approx(0.4), 0.6)
    assert (p1["image_violence_avg"], p1["image_violence_max"]) == (pytest.approx(0.2), 0.4)
    objects = json.loads(p1["image_objects"])
    assert len(objects) == 20  # top 20 of 28 names
    # merged by name (trimmed, lower-cased: counts summed, best confidence), then by count,
    # confidence, name
    assert objects[:4] == [_obj("cat", 3, 0.9), _obj("lamp", 1, 0.95), _obj("sofa", 1, 0.5),
                           _obj("obj00", 1, 0.1)]
    assert objects[-1] == _obj("obj16", 1, 0.1)
    colors = json.loads(p1["image_colors"])
    assert len(colors) == 10  # top 10 of 15
    # ratio: share of the post's 2 described images (white: (0.6 + 0.2) / 2)
    assert colors[:4] == [_color("white", "#ffffff", 0.4), _color("blue", "#0000ff", 0.25),
                          _color("red", "#ff0000", 0.1), _color("c00", "#000000", 0.005)]
    assert p2["image_summary"] == "" and p2["image_keywords"] == ["dog"]  # empty caption
    assert p2["image_objects"] == "[]" and p2["image_colors"] == "[]"
    assert p2["image_ocr"] == ""


def test_image_rev_changes_with_a_caption_and_not_otherwise() -> None:
    base = image_rollup(_rollup_inputs()).sort("post_id")
    revs = base["image_rev"].to_list()
    assert all(len(r) == 32 for r in revs) and revs[0] != revs[1]
    # the same results in another order, or with other safety scores: the same revision
    assert image_rollup(_rollup_inputs().reverse()).sort("post_id")["image_rev"].to_list() == revs
    assert image_rollup(_rollup_inputs(nsfw_b=0.9)).sort("post_id")["image_rev"].to_list() == revs
    # a changed caption: p1's revision changes, p2's does not
    changed = image_rollup(_rollup_inputs(caption_b="three cats")).sort("post_id")
    assert changed["image_rev"][0] != revs[0] and changed["image_rev"][1] == revs[1]
    # a changed object or colour changes it too
    inputs = _rollup_inputs()
    more = inputs.with_columns(
        objects_json=pl.when(pl.col("url_hash") == "h1")
        .then(pl.lit(json.dumps([_obj("Cat", 2, 0.9)]))).otherwise("objects_json"))
    assert image_rollup(more).sort("post_id")["image_rev"][0] != revs[0]
    recoloured = inputs.with_columns(
        colors_json=pl.when(pl.col("url_hash") == "h4")
        .then(pl.lit(json.dumps([_color("brown", "#884400", 1.0)]))).otherwise("colors_json"))
    assert image_rollup(recoloured).sort("post_id")["image_rev"].to_list()[1] != revs[1]


# -- assets through the lake ----------------------------------------------------------------------
def _standin(asset: dg.AssetsDefinition, frame: pl.DataFrame) -> dg.AssetsDefinition:
    """An unpartitioned asset writing `frame` into `asset`'s keyed table (the same Delta table
    the crawl-file runs upsert)."""

    @dg.asset(name=asset.key.path[-1], io_manager_key=LAKE,
              metadata=dict(asset.metadata_by_key[asset.key]))
    def standin() -> pl.LazyFrame:
        return frame.lazy()

    return standin


def _images(*rows: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"post_id": p, "url": u, "url_hash": hashlib.md5(u.encode()).hexdigest(), "alt": None,
          "width": None, "height": None, "deleted": False} for p, u in rows],
        schema={"post_id": pl.String, "url": pl.String, "url_hash": pl.String, "alt": pl.String,
                "width": pl.Int32, "height": pl.Int32, "deleted": pl.Boolean},
    )


@pytest.fixture
def resources(data_dir: Any, postgres_resource: Any, llm_server: Any) -> dict[str, Any]:
    built = build_resources()
    built["is_postgres"] = postgres_resource
    built["openai"] = OpenAIResource(base_url=llm_server.url, model="qwen3-test", api_key="k",
                                     timeout_seconds=5, max_concurrency=2)
    built["qwen25"] = OpenAIResource(base_url=llm_server.url, model="qwen25-vl-test",
                                     api_key="k", timeout_seconds=5, max_concurrency=2,
                                     env_prefix="VLM")
    return built


@pytest.fixture
def images() -> Iterator[ImageServer]:
    state = ImageServer(hang_seconds=3.0)
    server = start_images(state)
    yield state
    server.shutdown()
    server.server_close()


def _seed(resources: dict[str, Any], posts: pl.DataFrame, images: pl.DataFrame | None = None,
          instance: dg.DagsterInstance | None = None) -> None:
    assets = [_standin(is_posts, posts)]
    if images is not None:
        assets.append(_standin(is_post_images, images))
    result = dg.materialize(assets, resources=resources, instance=instance)
    assert result.success


def _answer(text: str, images: list[bytes], schema: dict[str, Any]) -> dict[str, Any]:
    """Deterministic answers per input: posts by title, images by their bytes."""
    if "caption" in schema["properties"]:
        digest = hashlib.md5(images[0]).hexdigest()[:6] if images else "none"
        return {"caption": f"picture {digest}", "labels": ["Cat", "cat", digest],
                "ocr_lines": ["x" * 300, "둘째 줄"], "safety": {"nsfw": 1.5, "violence": 0.1},
                "objects": [{"name": "cat", "count": 1, "confidence": 0.9}],
                "colors": [{"name": "red", "hex": "#ff0000", "ratio": 0.5}]}
    title = json.loads(text)["title"]
    return {"categories": ["IT", "없는범주", "뉴스", "게임"] if "Alpha" in title else ["nope"],
            "keywords": [f" {title} ", title, "공통", "", "Keyword\x00"]}


def _table(resources: dict[str, Any], asset: dg.AssetsDefinition) -> pl.DataFrame:
    return resources[LAKE].read(asset.key, None, asset.metadata_by_key[asset.key]).collect()


def _checks_of(asset: dg.AssetsDefinition) -> list[Any]:
    name = asset.key.path[-1]
    source = is_enrichment if name == "is_post_enrichment" else is_image_enrichment
    return [getattr(source, f"{name}_contract"), getattr(source, f"{name}_calls")]


def _materialize(asset: dg.AssetsDefinition, resources: dict[str, Any],
                 instance: dg.DagsterInstance, **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [asset, *_checks_of(asset)], resources=resources, instance=instance,
        raise_on_error=False,
        run_config={"ops": {asset.op.name: {"config": {"now": NOW.isoformat(), **config}}}},
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(
        str(e.step_failure_data.error.message) for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error is not None
    )


@pytest.mark.postgres
def test_schema_valid_answers_front_page_first_and_invalid_categories(
    resources: dict[str, Any], llm_server: Any, postgres_resource: Any
) -> None:
    llm_server.responder = _answer
    postgres_resource.load(
        "post_rotation",
        pl.DataFrame({"post_id": ["b", "a"],
                      "last_shown_at": [NOW - dt.timedelta(minutes=5),
                                        NOW - dt.timedelta(minutes=45)]},
                     schema={"post_id": pl.String, "last_shown_at": pl.Datetime("us", "UTC")}),
        mode="replace",
    )
    with dg.instance_for_test() as instance:
        _seed(resources, _posts(("a", "Alpha 글", 50, False), ("b", "Beta 글", 60, False),
                                ("c", "Gamma 글", 5, False), ("d", "Deleted", 1, True)),
              instance=instance)
        first = _materialize(is_post_enrichment, resources, instance, batch_size=1)
        assert first.success, _failure(first)
        assert json.loads(llm_server.requests[0]["messages"][1]["content"])["title"] == "Beta 글"
        request = llm_server.requests[0]
        assert request["response_format"]["json_schema"]["strict"] is True
        enum = request["response_format"]["json_schema"]["schema"]["properties"]["categories"]
        assert enum["items"]["enum"] == list(CATEGORIES)
        second = _materialize(is_post_enrichment, resources, instance)
        assert second.success, _failure(second)
        rows = _table(resources, is_post_enrichment).sort("post_id")
    assert len(llm_server.requests) == 3  # b, then c and a; d is deleted; nothing twice
    assert validate_frame(rows, IsPostEnrichment)[0]
    by_post = {r["post_id"]: r for r in rows.iter_rows(named=True)}
    assert set(by_post) == {"a", "b", "c"}
    assert by_post["a"]["categories"] == ["IT", "뉴스"]  # invalid dropped, at most two
    assert by_post["b"]["categories"] == [DEFAULT_CATEGORY]  # none valid: 기타
    assert by_post["a"]["keywords"] == ["Alpha 글", "공통", "Keyword"]
    assert by_post["b"]["front_page"] and not by_post["a"]["front_page"]
    assert by_post["a"]["model"] == "qwen3-test" and by_post["a"]["prompt_tokens"] == 50
    assert by_post["a"]["status"] == "ok" and by_post["a"]["error"] is None
    assert by_post["a"]["rev_key"] == hashlib.md5(
        f"{by_post['a']['text_rev']}:noimg::pv=pv1".encode()).hexdigest()


@pytest.mark.postgres
def test_error_answer_writes_the_successes_then_fails_naming_the_post(
    resources: dict[str, Any], llm_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.responder = _answer
    llm_server.fail_on = {"Broken"}
    with dg.instance_for_test() as instance:
        _seed(resources, _posts(("a", "Alpha 글", 50, False), ("x", "Broken 글", 10, False)),
              instance=instance)
        failed = _materialize(is_post_enrichment, resources, instance)
        assert not failed.success
        message = _failure(failed)
        assert "is_post_enrichment_calls" in message and "x: call failed" in message
        assert "1 of 2 LLM call(s)" in message
        rows = _table(resources, is_post_enrichment).sort("post_id")
        assert rows.select("post_id", "status").rows() == [("a", "ok"), ("x", "error")]
        assert rows["rev_key"].to_list()[1] is None  # no result yet for x
        assert "InternalServerError" in rows["error"][1]
        assert len(llm_server.requests) == 2  # no retry
        # The next run: only the failed post is pending; a new prompt version: all again.
        llm_server.fail_on = set()
        assert _materialize(is_post_enrichment, resources, instance).success
        assert len(llm_server.requests) == 3
        assert json.loads(llm_server.requests[2]["messages"][1]["content"])["title"] == "Broken 글"
        monkeypatch.setenv("IS_PROMPT_VERSION", "pv2")
        assert _materialize(is_post_enrichment, resources, instance).success
        assert len(llm_server.requests) == 5
        rows = _table(resources, is_post_enrichment)
    assert set(rows["prompt_version"]) == {"pv2"} and set(rows["status"]) == {"ok"}


@pytest.mark.postgres
def test_timeout_is_recorded_and_keeps_the_previous_result(
    resources: dict[str, Any], llm_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.responder = _answer
    with dg.instance_for_test() as instance:
        _seed(resources, _posts(("a", "Alpha 글", 50, False)), instance=instance)
        assert _materialize(is_post_enrichment, resources, instance).success
        before = _table(resources, is_post_enrichment)
        monkeypatch.setenv("IS_PROMPT_VERSION", "pv2")
        llm_server.mode, llm_server.slow_seconds = "slow", 2.0
        resources["openai"] = OpenAIResource(base_url=llm_server.url, model="qwen3-test",
                                             api_key="k", timeout_seconds=0.3)
        failed = _materialize(is_post_enrichment, resources, instance)
        assert not failed.success and "Timeout" in _failure(failed)
        after = _table(resources, is_post_enrichment)
    assert after["status"].to_list() == ["error"]
    assert after["rev_key"].to_list() == before["rev_key"].to_list()  # pv1 result kept
    assert after["categories"].to_list() == before["categories"].to_list()
    assert after["latency_ms"][0] >= 250


@pytest.mark.postgres
def test_no_llm_configured_fails_fast_naming_the_variables(
    resources: dict[str, Any], llm_server: Any
) -> None:
    resources["openai"] = OpenAIResource()
    resources["qwen25"] = OpenAIResource(env_prefix="VLM")
    with dg.instance_for_test() as instance:
        for asset, names in ((is_post_enrichment, "OPENAI_BASE_URL and OPENAI_MODEL"),
                             (is_post_image_enrichment, "VLM_BASE_URL and VLM_MODEL")):
            result = _materialize(asset, resources, instance)
            assert not result.success
            assert names in _failure(result)
    assert llm_server.requests == []


@pytest.mark.postgres
def test_images_fetched_described_and_rolled_up(
    resources: dict[str, Any], llm_server: Any, images: ImageServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IS_IMAGE_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("IS_IMAGE_MAX_BYTES", "100000")
    llm_server.responder = _answer
    base = images.url
    html = {
        "a": f'<img src="{base}/red.png"><img src="{base}/green.gif"><img src="{base}/big.png">',
        "b": f'<img src="{base}/text.png"><img src="{base}/hang.png">',
        "c": f'<img src="{base}/blue.jpg"><img src="{base}/missing.png">',
    }
    posts = _posts(("a", "Alpha 글", 50, False), ("b", "Beta 글", 40, False),
                   ("c", "Gamma 글", 30, False)).with_columns(
        content_html=pl.col("id").replace_strict(html))
    image_rows = _images(*[(p, f"{base}/{n}") for p, names in
                           (("a", ["big.png", "red.png", "green.gif"]),
                            ("b", ["hang.png", "text.png"]),
                            ("c", ["missing.png", "blue.jpg"])) for n in names])
    with dg.instance_for_test() as instance:
        _seed(resources, posts, image_rows, instance=instance)
        result = _materialize(is_post_image_enrichment, resources, instance)
        assert not result.success
        message = _failure(result)
        assert "1 of 6 VLM call(s)" in message and "fetch timed out" in message
        rows = _table(resources, is_post_image_enrichment)
        assert validate_frame(rows, IsPostImageEnrichment)[0]
        status = dict(zip(rows["image_url"].str.split("/").list.last(), rows["status"],
                          strict=True))
        # first and last image of each post, by place in the HTML (green.gif is the middle one)
        assert status == {"red.png": "ok", "big.png": "skipped", "text.png": "skipped",
                          "hang.png": "error", "blue.jpg": "ok", "missing.png": "skipped"}
        sent = {r["messages"][1]["content"][0]["text"].rsplit("/", 1)[-1]:
                part["image_url"]["url"] for r in llm_server.requests
                for part in r["messages"][1]["content"] if part["type"] == "image_url"}
        # flat colour images route PHOTO: sent as JPEG (q90; a delivered JPEG as it is)
        assert {n: u.split(";")[0] for n, u in sent.items()} == {
            "red.png": "data:image/jpeg", "blue.jpg": "data:image/jpeg"}
        assert base64.b64decode(sent["blue.jpg"].split(",", 1)[1]) == images.files["/blue.jpg"][1]
        assert set(rows["route"].drop_nulls()) == {"photo"}
        red = rows.filter(pl.col("image_url").str.ends_with("red.png")).row(0, named=True)
        digest = hashlib.md5(base64.b64decode(sent["red.png"].split(",", 1)[1])).hexdigest()[:6]
        assert red["caption"] == f"picture {digest}"
        assert red["nsfw"] == 1.0 and len(red["ocr_lines"][0]) == 160  # clipped, truncated
        assert json.loads(red["objects_json"])[0]["name"] == "cat"
        # the post's enrichment rolls the described images up (and keys on them)
        assert _materialize(is_post_enrichment, resources, instance).success
        post_rows = _table(resources, is_post_enrichment).sort("post_id")
    a = post_rows.row(0, named=True)
    assert a["image_summary"] == f"picture {digest}"
    assert a["image_keywords"] == ["Cat", "cat", digest] and a["image_nsfw_max"] == 1.0
    assert a["image_nsfw_avg"] == 1.0 and a["image_violence_avg"] == pytest.approx(0.1)
    assert json.loads(a["image_objects"]) == [{"name": "cat", "count": 1, "confidence": 0.9}]
    assert json.loads(a["image_colors"]) == [{"name": "red", "hex": "#ff0000", "ratio": 0.5}]
    assert post_rows["image_objects"][1] is None  # b: no described image
    assert a["image_rev"] != "noimg" and post_rows["image_rev"][1] == "noimg"
    prompt = json.loads(llm_server.requests[-3]["messages"][1]["content"])
    assert "images" in prompt


@pytest.mark.postgres
def test_routed_images_and_enrichment_loads_reach_postgres(
    resources: dict[str, Any], llm_server: Any, images: ImageServer,
    postgres_resource: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A text-dense screenshot goes OCR (greyscale PNG, upscaled), a photo PHOTO (JPEG as
    delivered); both assets' rows reach `post_image_enrichment` and `post_enrichment`."""
    monkeypatch.setenv("IS_IMAGE_MAX_BYTES", "1000000")
    llm_server.responder = _answer
    base = images.url
    html = {"a": f'<p>글</p><img src="{base}/chat.png"><img src="{base}/sunset.jpg">',
            "b": "<p>그림 없음</p>"}
    posts = _posts(("a", "Alpha 글", 50, False), ("b", "Beta 글", 40, False)).with_columns(
        content_html=pl.col("id").replace_strict(html))
    loads = [is_post_image_enrichment_postgres, is_post_image_enrichment_postgres_contract,
             is_post_enrichment_postgres, is_post_enrichment_postgres_contract]
    with dg.instance_for_test() as instance:
        _seed(resources, posts, _images(("a", f"{base}/chat.png"), ("a", f"{base}/sunset.jpg")),
              instance=instance)
        result = dg.materialize(
            [is_post_image_enrichment, *_checks_of(is_post_image_enrichment), is_post_enrichment,
             *_checks_of(is_post_enrichment), *loads],
            resources=resources, instance=instance, raise_on_error=False,
            run_config={"ops": {a.op.name: {"config": {"now": NOW.isoformat()}}
                                for a in (is_post_image_enrichment, is_post_enrichment)}},
        )
        assert result.success, _failure(result)
        lake_images = _table(resources, is_post_image_enrichment).sort("url_hash")
    vlm = {r["messages"][1]["content"][0]["text"]: r["messages"][1]["content"][1]["image_url"]
           ["url"] for r in llm_server.requests if isinstance(r["messages"][1]["content"], list)}
    by_name = {text.rsplit("/", 1)[-1]: (text, url) for text, url in vlm.items()}
    chat_text, chat_url = by_name["chat.png"]
    sunset_text, sunset_url = by_name["sunset.jpg"]
    assert chat_text.startswith(ROUTE_PROMPTS["ocr"])
    assert sunset_text.startswith(ROUTE_PROMPTS["photo"])
    chat_sent = base64.b64decode(chat_url.split(",", 1)[1])
    assert chat_url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(chat_sent)) as sent:  # 360 x 640 text: heavy, upscaled 2x
        assert (sent.format, sent.mode, sent.size) == ("PNG", "L", (720, 1280))
    assert sunset_url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(sunset_url.split(",", 1)[1]) == images.files["/sunset.jpg"][1]
    routes = dict(zip(lake_images["image_url"].str.split("/").list.last(), lake_images["route"],
                      strict=True))
    assert routes == {"chat.png": "ocr", "sunset.jpg": "photo"}

    served_images = postgres_resource.read("post_image_enrichment").sort("url_hash")
    assert served_images.height == 2
    assert served_images.select("post_id", "url_hash", "caption").rows() == lake_images.select(
        "post_id", "url_hash", "caption").rows()
    assert set(served_images["model"]) == {"qwen25-vl-test"}
    assert json.loads(served_images["safety"][0]) == {"nsfw": 1.0, "violence": 0.1}
    assert json.loads(served_images["objects"][0])[0]["name"] == "cat"
    served = {r["post_id"]: r for r in postgres_resource.read("post_enrichment").iter_rows(
        named=True)}
    assert set(served) == {"a", "b"}
    a, b = served["a"], served["b"]
    captions = " | ".join(lake_images["caption"])
    assert a["image_summary"] == captions and a["image_rev"] != "noimg"
    assert json.loads(a["image_safety"]) == {"nsfw": {"avg": 1.0, "max": 1.0},
                                             "violence": {"avg": 0.1, "max": 0.1}}
    assert json.loads(a["image_objects"]) == [{"name": "cat", "count": 2, "confidence": 0.9}]
    assert json.loads(a["image_colors"]) == [{"name": "red", "hex": "#ff0000", "ratio": 0.5}]
    assert json.loads(a["fused_categories"]) == ["IT", "뉴스"]
    assert a["image_ocr"].split("\n")[1] == "둘째 줄"
    assert b["image_rev"] == "noimg" and b["image_safety"] is None
    assert b["image_objects"] is None and json.loads(b["image_keywords"]) == []
