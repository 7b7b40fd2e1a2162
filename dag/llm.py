"""The LLM resource (`openai`): an OpenAI-compatible chat-completions client for structured
answers, shared by SS extraction and IS enrichment.

Every call: strict `response_format` json_schema, temperature 0, a timeout
(`OPENAI_TIMEOUT_SECONDS`), no retries (`max_retries=0` turns off the SDK's default of two
retries; tests count the requests the server saw), at most `OPENAI_MAX_CONCURRENCY` calls
in flight (async client + semaphore). Each call's outcome is recorded (`LlmCall`: model, latency,
tokens, error); a call that fails (HTTP error, timeout) raises at once.

Configuration comes from `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY` (EnvVar). With no
base URL or model the resource fails fast naming the missing variables (`env_prefix` names them:
the VLM resource `qwen25` is the same class bound to `VLM_*`). Images go with a prompt as data
URLs (`images=`); `raise_on_failure=False` returns every outcome, failed calls included, for a
caller that must write the batch's successes before it fails. **Sample mode**:
`OPENAI_BASE_URL=sample` answers offline with the caller's deterministic rules-based stand-in
(`sample=`), for the embedded-default demo; its answers are marked with model `sample`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import openai
from pydantic import Field

SAMPLE = "sample"
Answer = dict[str, Any]


class LlmNotConfigured(dg.Failure):
    """No LLM is configured (the message names the missing variables)."""


@dataclass(frozen=True)
class LlmCall:
    """The outcome of one call: the parsed answer (None when refused) and its costs."""

    key: str
    model: str
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    answer: Answer | None
    error: str | None = None

    @property
    def tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


class OpenAIResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """An OpenAI-compatible endpoint (OpenAI, vLLM, LM Studio, Ollama) for JSON answers."""

    base_url: str = Field(default="", description="OPENAI_BASE_URL; `sample` = offline mode")
    model: str = Field(default="", description="OPENAI_MODEL")
    api_key: str = Field(default="", description="OPENAI_API_KEY (bind with dg.EnvVar)")
    timeout_seconds: float = Field(default=60.0, gt=0, description="per call")
    max_concurrency: int = Field(default=4, ge=1, description="calls in flight at most")
    env_prefix: str = Field(default="OPENAI", description="prefix of the variables named in errors")

    @property
    def sample_mode(self) -> bool:
        return self.base_url.strip().lower() == SAMPLE

    def require(self, what: str) -> None:
        """Fail fast, naming the variables, when no LLM is configured."""
        if self.sample_mode:
            return
        p = self.env_prefix
        missing = [name for name, value in ((f"{p}_BASE_URL", self.base_url),
                                            (f"{p}_MODEL", self.model)) if not value.strip()]
        if missing:
            raise LlmNotConfigured(
                f"{what}: no LLM configured: set {' and '.join(missing)} (an OpenAI-compatible "
                f"endpoint), or {p}_BASE_URL=sample for the offline sample stand-in"
            )

    def complete_json(
        self,
        what: str,
        prompts: Sequence[tuple[str, str]],
        *,
        system: str,
        schema_name: str,
        schema: dict[str, Any],
        sample: Callable[[str], Answer] | None = None,
        images: Mapping[str, Sequence[str]] | None = None,
        raise_on_failure: bool = True,
    ) -> list[LlmCall]:
        """One call per `(key, prompt)`; answers must follow `schema` (strict json_schema).
        `images` maps a key to the data URLs sent with its prompt.

        Raises `dg.Failure` naming `what`, the key and the error for a failed call (after the
        others finished: their outcomes are in the failure's metadata), unless
        `raise_on_failure=False`: then failed calls come back with their `error` set."""
        self.require(what)
        if self.sample_mode:
            if sample is None:
                raise LlmNotConfigured(
                    f"{what}: {self.env_prefix}_BASE_URL=sample, but no sample stand-in"
                )
            return [_sample_call(key, prompt, sample) for key, prompt in prompts]
        calls = _run(self._all(prompts, system, schema_name, schema, images or {}))
        failed = [c for c in calls if c.error is not None and c.answer is None
                  and c.error.startswith("call failed")]
        if failed and raise_on_failure:
            raise dg.Failure(
                description=f"{what}: {len(failed)} of {len(calls)} LLM call(s) to "
                f"{self.base_url} failed, e.g. {failed[0].key}: {failed[0].error}",
                metadata={"failed": dg.MetadataValue.json(
                    [{"key": c.key, "error": c.error} for c in failed[:20]])},
            )
        return calls

    async def _all(
        self,
        prompts: Sequence[tuple[str, str]],
        system: str,
        name: str,
        schema: dict[str, Any],
        images: Mapping[str, Sequence[str]],
    ) -> list[LlmCall]:
        client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key or "not-set",
            # the SDK retries twice by default: off (guideline: fail fast, no retries)
            timeout=self.timeout_seconds, max_retries=0,
        )
        gate = asyncio.Semaphore(self.max_concurrency)
        format_ = {"type": "json_schema",
                   "json_schema": {"name": name, "strict": True, "schema": schema}}

        async def one(key: str, prompt: str) -> LlmCall:
            messages: list[Any] = [
                {"role": "system", "content": system},
                {"role": "user", "content": _content(prompt, images.get(key))},
            ]
            async with gate:
                started = time.perf_counter()
                try:
                    # response_format goes in the body as built: the SDK's recursive TypedDict
                    # transform of a JSON schema costs ~3 ms of CPU per call (the throughput gate)
                    reply = await client.chat.completions.create(
                        model=self.model, temperature=0, extra_body={"response_format": format_},
                        messages=messages,
                    )
                except openai.OpenAIError as error:  # HTTP status, timeout, connection
                    return LlmCall(key, self.model, _ms(started), None, None, None,
                                   f"call failed: {type(error).__name__}: {error}")
                usage = reply.usage
                text = reply.choices[0].message.content or ""
                problem: str | None
                try:
                    answer = json.loads(text)
                except json.JSONDecodeError:
                    answer, problem = None, f"answer is not JSON: {text[:80]!r}"
                else:
                    problem = None if isinstance(answer, dict) else "answer is not an object"
                return LlmCall(key, reply.model or self.model, _ms(started),
                               usage.prompt_tokens if usage else None,
                               usage.completion_tokens if usage else None,
                               answer if problem is None else None, problem)

        async with client:
            return list(await asyncio.gather(*(one(k, p) for k, p in prompts)))


def _content(prompt: str, images: Sequence[str] | None) -> str | list[dict[str, Any]]:
    """The user message: the prompt alone, or the prompt and its images as data-URL parts."""
    if not images:
        return prompt
    return [{"type": "text", "text": prompt},
            *({"type": "image_url", "image_url": {"url": url}} for url in images)]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _sample_call(key: str, prompt: str, sample: Callable[[str], Answer]) -> LlmCall:
    started = time.perf_counter()
    answer = sample(prompt)
    return LlmCall(key, SAMPLE, _ms(started), None, None, answer)


def _run(work: Any) -> Any:
    """Run a coroutine to completion: in this thread, or, when this thread already runs an event
    loop (a notebook, a library driving one), in a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()
