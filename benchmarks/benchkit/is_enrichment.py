"""IS enrichment throughput: the `openai` resource's bounded-concurrency calls (with the
enrichment schema, prompts and answer cleaning) against the loopback OpenAI-compatible server
of the tests, which answers each call after a fixed latency.

Ideal throughput is concurrency / latency calls per second (every slot always busy); the gate
asks for at least 0.8 of it, i.e. the client, the semaphore and our parsing add little."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # tests.llm_server: the same server the tests use
    sys.path.insert(0, str(ROOT))

from dag.is_enrichment_rules import (  # noqa: E402
    ENRICHMENT_SCHEMA,
    ENRICHMENT_SYSTEM,
    STRINGS,
    clean_categories,
    clean_keywords,
    outcomes,
    strings,
)
from dag.llm import OpenAIResource  # noqa: E402
from tests.llm_server import LlmServer, start  # noqa: E402


@dataclass(frozen=True)
class EnrichmentSizes:
    calls: int
    concurrency: int
    latency_seconds: float
    rounds: int


SIZES = {
    "quick": EnrichmentSizes(calls=160, concurrency=4, latency_seconds=0.05, rounds=3),
    "full": EnrichmentSizes(calls=640, concurrency=8, latency_seconds=0.05, rounds=3),
}


def answer(text: str, images: list[bytes], schema: dict[str, Any]) -> dict[str, Any]:
    title = json.loads(text)["title"]
    return {"categories": ["IT", "없는범주"], "keywords": [title, "공통", "키워드"]}


def prompts(n: int) -> list[tuple[str, str]]:
    return [
        (f"p{i:05d}", json.dumps({"site": "clien", "board": "park", "title": f"글 {i}",
                                  "content": "본문 " * 50, "tags": []}, ensure_ascii=False))
        for i in range(n)
    ]


def serve(latency_seconds: float) -> tuple[LlmServer, Any]:
    """The loopback server in this process (for a quick look; shares the GIL with the client)."""
    state = LlmServer(responder=answer, delay_seconds=latency_seconds)
    server = start(state)
    # Keep-alive, as LLM servers (vLLM, LM Studio, OpenAI) speak it: no TCP connect per call.
    server.RequestHandlerClass.protocol_version = "HTTP/1.1"  # type: ignore[attr-defined]
    server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    return state, server


@contextlib.contextmanager
def served(latency_seconds: float, timeout_seconds: float = 30.0) -> Iterator[str]:
    """The loopback server in its own process, as a real LLM server is: the client's work and
    the server's never share a GIL. Yields its base URL."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "from benchkit.is_enrichment import serve;"
        "state, _ = serve(float(sys.argv[3])); print(state.url, flush=True); time.sleep(3600)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT), str(ROOT / "benchmarks"), str(latency_seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        ready = select.select([process.stdout], [], [], timeout_seconds)[0]
        if not ready:
            raise TimeoutError(f"the loopback LLM server did not start in {timeout_seconds}s")
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=timeout_seconds)
        if process.stdout is not None:
            process.stdout.close()


def resource(url: str, concurrency: int) -> OpenAIResource:
    return OpenAIResource(base_url=url, model="bench", api_key="k", timeout_seconds=30,
                          max_concurrency=concurrency)


def ours(llm: OpenAIResource, work: list[tuple[str, str]]) -> pl.DataFrame:
    """One batch: the calls, their outcomes and the cleaned answers."""
    calls = llm.complete_json(
        "bench", work, system=ENRICHMENT_SYSTEM, schema_name="is_post_enrichment",
        schema=ENRICHMENT_SCHEMA, raise_on_failure=False,
    )
    frame = outcomes(
        calls,
        lambda a: {"categories": strings(a, "categories"), "keywords": strings(a, "keywords")},
        {"categories": STRINGS, "keywords": STRINGS},
    )
    return frame.with_columns(
        categories=clean_categories(pl.col("categories")),
        keywords=clean_keywords(pl.col("keywords")),
    )
