"""A fork server for the crash and concurrency tests (run as a script, not collected).

It imports Dagster, Polars and the IO managers once, *before* any of their threads exist, then
for each JSON command on stdin forks writer children, so every writer starts in milliseconds:

  {"op": "crash", "write": W, "kill_after": 0.1}  fork one writer, SIGKILL it after the delay
  {"op": "concurrent", "writes": [W, W, ...]}     fork all writers at once, wait for all

W = {"fmt", "root", "options", "asset", "key", "rows", "value"}: write `rows` rows with column
`v` = value into daily partition `key` through the IO manager's real `handle_output`.
One JSON line answers each command: the children's outcomes ("ok", "killed", "failed: ...").
"""

import json
import os
import signal
import sys
import time
import traceback

import dagster as dg
import polars as pl

from dag_io import DeltaIOManager, ParquetIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
INSTANCE = dg.DagsterInstance.ephemeral()


def write(spec: dict) -> None:
    cls = DeltaIOManager if spec["fmt"] == "delta" else ParquetIOManager
    manager = cls(root_uri=spec["root"], storage_options=spec.get("options", {}))
    rows = spec["rows"]
    frame = pl.LazyFrame({"i": pl.int_range(rows, dtype=pl.Int64, eager=True)}).with_columns(
        v=pl.lit(spec["value"], dtype=pl.Int64),
        s=pl.format("ticker-{}-{}", pl.col("i"), pl.col("i") * 7),
    )
    ctx = dg.build_output_context(
        asset_key=[spec["asset"]],
        partition_key=spec["key"],
        asset_partitions_def=DAILY,
        definition_metadata={"partition_by": "d"},
        instance=INSTANCE,
    )
    manager.handle_output(ctx, frame)


def fork_writer(spec: dict, err_path: str) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            write(spec)
        except BaseException:  # noqa: BLE001 (the child reports any failure, then exits)
            with open(err_path, "w") as handle:
                handle.write(traceback.format_exc()[-2000:])
            code = 1
        os._exit(code)
    return pid


def outcome(status: int, err_path: str) -> str:
    if os.WIFSIGNALED(status):
        return "killed"
    if os.WEXITSTATUS(status) == 0:
        return "ok"
    with open(err_path) as handle:
        return "failed: " + handle.read()


def main() -> None:
    for line in sys.stdin:
        cmd = json.loads(line)
        tmp = cmd.get("tmp", "/tmp")
        if cmd["op"] == "crash":
            err = f"{tmp}/err-{time.monotonic_ns()}"
            pid = fork_writer(cmd["write"], err)
            time.sleep(cmd["kill_after"])
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            answer = [outcome(status, err)]
        else:
            errs = [f"{tmp}/err-{i}-{time.monotonic_ns()}" for i in range(len(cmd["writes"]))]
            pids = [fork_writer(w, e) for w, e in zip(cmd["writes"], errs, strict=True)]
            answer = [outcome(os.waitpid(p, 0)[1], e) for p, e in zip(pids, errs, strict=True)]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
