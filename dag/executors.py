"""The code location's executor: in-process, multiprocess or Celery, chosen by run config.

`project_executor` is Dagster's default `multi_or_in_process_executor` (same selector, same
behaviour, multiprocess by default; the jobs pick in-process in `dag/jobs.py`) plus a third
choice, `celery`, that sends every step to `dagster-celery` workers (docs/scale-out.md):

    --config-json '{"execution": {"config": {"celery": {}}}}'

The broker and result backend come from `DAG_CELERY_BROKER_URL` and `DAG_CELERY_BACKEND_URL`
through `{"env": ...}` config values, so run config (stored with each run) never holds a URL that
may carry a password. Fail fast (guideline decision 1): Dagster step retries are off, and Celery
acknowledges a task when a worker takes it and never redelivers it.

`python -m dag.executors --worker-config PATH` writes the YAML that `dagster-celery worker start
-A dagster_celery.app -y PATH` reads: the same broker, backend and Celery settings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from celery.exceptions import TaskRevokedError  # type: ignore[import-untyped]
from dagster._core.errors import DagsterSubprocessError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.retries import RetryMode
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster_celery import celery_executor
from dagster_celery.core_execution_loop import (
    DELEGATE_MARKER,
    TICK_SECONDS,
    _get_run_priority,
    _get_step_priority,
    _warn_on_priority_misuse,
)
from dagster_celery.executor import CeleryExecutor, _submit_task
from dagster_celery.make_app import make_app
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_STEP_PRIORITY_TAG
from dagster_shared.serdes import deserialize_value

CELERY_BROKER_ENV = "DAG_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "DAG_CELERY_BACKEND_URL"
BROKER: dict[str, str] = {"env": CELERY_BROKER_ENV}
BACKEND: dict[str, str] = {"env": CELERY_BACKEND_ENV}

# Celery settings the run and its workers share (worker side: via the worker YAML). Fail fast:
# a task is acknowledged when a worker takes it (no late ack), so a worker that dies mid-step
# never gets it redelivered by the broker (Redis' visibility timeout only applies to unacked
# tasks); a pool process killed mid-step fails its task (WorkerLostError), which fails the run.
# One reserved task per pool process keeps queued steps available to idle workers.
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": False,
    "task_reject_on_worker_lost": False,
    "worker_prefetch_multiplier": 1,
    # Results are read once by the run's orchestrator; a day bounds what the backend keeps.
    "result_expires": 86400,
}

_DEFAULT_FIELDS = dg.multi_or_in_process_executor.config_schema.config_type.fields  # type: ignore[union-attr]
_CELERY_FIELDS = celery_executor.config_schema.config_type.fields  # type: ignore[union-attr]

CELERY_CONFIG = {
    "broker": dg.Field(
        dg.StringSource,
        default_value=BROKER,
        description=f"Celery broker URL; default: the environment variable {CELERY_BROKER_ENV}.",
    ),
    "backend": dg.Field(
        dg.StringSource,
        default_value=BACKEND,
        description=f"Celery result backend URL; default: the variable {CELERY_BACKEND_ENV}.",
    ),
    "include": _CELERY_FIELDS["include"],
    "config_source": _CELERY_FIELDS["config_source"],
}


def _requirements(config: Mapping[str, object]) -> Sequence[dg.ExecutorRequirement]:
    return [] if "in_process" in config else dg.multiple_process_executor_requirements()


class FailFastCeleryExecutor(CeleryExecutor):
    """dagster-celery's executor whose run stops at the first failed Celery task.

    dagster-celery 0.29.27's loop stops submitting steps once a task has failed (e.g. a worker
    process killed mid-step: WorkerLostError) but keeps waiting for the steps it will never
    submit: the run hangs until run monitoring's max runtime. `fail_fast_celery_loop` is its loop
    with one change: a failed task stops the run once the tasks in flight have returned.
    """

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
        return fail_fast_celery_loop(plan_context, execution_plan)


def fail_fast_celery_loop(job_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
    """`dagster_celery.core_execution_loop.core_celery_execution_loop` (0.29.27), fail fast."""
    if execution_plan.step_keys_to_execute and not execution_plan.artifacts_persisted:
        raise dg.DagsterInvariantViolationError("Celery steps need persistent IO managers")
    app = make_app(job_context.executor.app_args())
    default_priority = app.conf.task_default_priority
    default_queue = app.conf.task_default_queue

    def sort_key(step: Any) -> int:
        own = int(step.tags.get(DAGSTER_CELERY_STEP_PRIORITY_TAG, default_priority))
        return -own - _get_run_priority(job_context)

    _warn_on_priority_misuse(job_context, execution_plan)
    results: dict[str, Any] = {}  # step key -> celery AsyncResult
    errors: dict[str, Any] = {}
    with (
        InstanceConcurrencyContext(job_context.instance, job_context.dagster_run) as concurrency,
        execution_plan.start(
            retry_mode=job_context.executor.retries,
            sort_key_fn=sort_key,
            instance_concurrency_context=concurrency,
        ) as active,
    ):
        stopping = False
        while (not active.is_complete and not stopping) or results:
            if active.check_for_interrupts():
                yield DagsterEvent.engine_event(
                    job_context,
                    "Celery executor: received termination signal - revoking active tasks",
                    EngineEventData.interrupted(list(results)),
                )
                stopping = True
                active.mark_interrupted()
                for result in results.values():
                    result.revoke()
            done = [key for key, result in results.items() if result.ready()]
            for step_key in sorted(done, key=lambda k: sort_key(execution_plan.get_step_by_key(k))):
                try:
                    step_events = results[step_key].get()
                except TaskRevokedError:
                    step_events = []
                    yield DagsterEvent.engine_event(
                        job_context.for_step(active.get_step_by_key(step_key)),
                        f'celery task for running step "{step_key}" was revoked.',
                        EngineEventData(marker_end=DELEGATE_MARKER),
                    )
                except Exception:  # noqa: BLE001 - recorded, raised once the tasks in flight are back
                    step_events = []
                    errors[step_key] = serializable_error_info_from_exc_info(sys.exc_info())
                for serialized in step_events:
                    event = deserialize_value(serialized, DagsterEvent)
                    yield event
                    active.handle_event(event)
                del results[step_key]
                active.verify_complete(job_context, step_key)
            yield from active.plan_events_iterator(job_context)
            # The one change: a failed task ends the run (after the tasks in flight) instead of
            # leaving the steps not yet submitted pending forever.
            stopping = stopping or bool(errors)
            if stopping:
                time.sleep(TICK_SECONDS)
                continue
            for step in active.get_steps_to_execute():
                queue = step.tags.get(DAGSTER_CELERY_QUEUE_TAG, default_queue)
                yield DagsterEvent.engine_event(
                    job_context.for_step(step),
                    f'Submitting celery task for step "{step.key}" to queue "{queue}".',
                    EngineEventData(marker_start=DELEGATE_MARKER),
                )
                results[step.key] = _submit_task(
                    app,
                    job_context,
                    step,
                    queue,
                    _get_step_priority(job_context, step, default_priority),
                    active.get_known_state(),
                )
            time.sleep(TICK_SECONDS)
        if errors:
            raise DagsterSubprocessError(
                "During celery execution errors occurred in workers:\n"
                + "\n".join(f"[{key}]: {err.to_string()}" for key, err in errors.items()),
                subprocess_error_infos=list(errors.values()),
            )


def celery_from_config(config: Mapping[str, Any]) -> CeleryExecutor:
    """The Celery executor for the `celery` choice: the project's settings under the run's."""
    return FailFastCeleryExecutor(
        retries=RetryMode(RetryMode.DISABLED),
        broker=config["broker"],
        backend=config["backend"],
        include=config.get("include"),
        config_source={**CELERY_SETTINGS, **(config.get("config_source") or {})},
    )


@dg.executor(
    name="multi_or_in_process_or_celery_executor",
    config_schema=dg.Field(
        dg.Selector({**_DEFAULT_FIELDS, "celery": CELERY_CONFIG}),
        default_value={"multiprocess": {}},
    ),
    requirements=_requirements,
)
def project_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's default executor, plus `celery` (steps on `dagster-celery` workers)."""
    config = init_context.executor_config
    if "celery" in config:
        return celery_from_config(config["celery"])  # type: ignore[arg-type]
    return dg.multi_or_in_process_executor.executor_creation_fn(init_context)  # type: ignore[misc]


def worker_config() -> dict[str, Any]:
    """The `-y` YAML of `dagster-celery worker start`: the executor config without the selector
    (dagster-celery reads `execution.config`), URLs still as environment references."""
    return {
        "execution": {
            "config": {"broker": BROKER, "backend": BACKEND, "config_source": CELERY_SETTINGS}
        }
    }


def write_worker_config(path: Path) -> Path:
    path.write_text(
        "# Written by `python -m dag.executors --worker-config`; read by `dagster-celery worker\n"
        "# start -A dagster_celery.app -y <this file>` (docs/scale-out.md).\n"
        + yaml.safe_dump(worker_config(), sort_keys=False)
    )
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the dagster-celery worker config YAML.")
    parser.add_argument("--worker-config", type=Path, required=True, help="output YAML path")
    args = parser.parse_args(argv)
    write_worker_config(args.worker_config)


if __name__ == "__main__":
    main()
