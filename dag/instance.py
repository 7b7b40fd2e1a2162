"""Prepare DAGSTER_HOME for the CLI and the demo (the CLI refuses to run without one).

`python -m dag.instance` creates `<DAG_DATA_DIR>/dagster_home` with the committed `dagster.yaml`
template (run retries off, run monitoring on, launched runs queued for the daemon) and prints
`DAGSTER_HOME=<path>`, for `export $(python -m dag.instance)`. `--postgres` writes the
`dagster_postgres.yaml` template instead: the same instance with its runs, event logs and
schedules in PostgreSQL (dagster-postgres, connection from the DAGSTER_PG_* variables).
DAG_MAX_CONCURRENT_RUNS, when set, replaces the template's `max_concurrent_runs` (10) in the
written file. An existing `dagster.yaml` is kept; when it predates run monitoring, or is not on
PostgreSQL although `--postgres` asked for it, a note on stderr says so (copy the template over it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).with_name("dagster.yaml")
POSTGRES_TEMPLATE = Path(__file__).with_name("dagster_postgres.yaml")
MAX_CONCURRENT_RUNS_ENV = "DAG_MAX_CONCURRENT_RUNS"
# The one `concurrency: runs: max_concurrent_runs:` line of both templates. Dagster reads it as a
# plain int (no `env:` source), so the value is set when the file is written.
MAX_CONCURRENT_RUNS_LINE = re.compile(r"^(    max_concurrent_runs:) -?\d+$", re.MULTILINE)


def dagster_home() -> Path:
    """DAGSTER_HOME when set, else `<DAG_DATA_DIR or ./data>/dagster_home`."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured).resolve()
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve() / "dagster_home"


def max_concurrent_runs(environ: Mapping[str, str]) -> int | None:
    """DAG_MAX_CONCURRENT_RUNS as Dagster's limit (-1: no limit), or None when unset."""
    value = environ.get(MAX_CONCURRENT_RUNS_ENV, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"-?\d+", value) or int(value) < -1:
        raise ValueError(f"{MAX_CONCURRENT_RUNS_ENV}={value!r}: expected an integer >= -1")
    return int(value)


def render(template: Path) -> str:
    """The template's text, with DAG_MAX_CONCURRENT_RUNS applied when set."""
    text = template.read_text()
    limit = max_concurrent_runs(os.environ)
    if limit is None:
        return text
    rendered, count = MAX_CONCURRENT_RUNS_LINE.subn(rf"\g<1> {limit}", text)
    if count != 1:
        raise RuntimeError(f"{template}: expected one max_concurrent_runs line, found {count}")
    return rendered


def ensure_dagster_home(template: Path = TEMPLATE) -> Path:
    """Create DAGSTER_HOME with the template (never overwriting an operator's own yaml)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        target.write_text(render(template))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_monitoring_enabled(yaml_path: Path) -> bool:
    """Whether an instance yaml enables run monitoring (README "Run monitoring")."""
    config = yaml.safe_load(yaml_path.read_text()) or {}
    return bool((config.get("run_monitoring") or {}).get("enabled"))


def on_postgres(yaml_path: Path) -> bool:
    """Whether an instance yaml keeps its runs in PostgreSQL (dagster-postgres run storage)."""
    config = yaml.safe_load(yaml_path.read_text()) or {}
    storage = config.get("run_storage") or {}
    return str(storage.get("module", "")).startswith("dagster_postgres") or bool(
        (config.get("storage") or {}).get("postgres")
    )


def main(argv: Sequence[str] = ()) -> None:
    """The command; `argv` are its arguments (none: the SQLite template)."""
    parser = argparse.ArgumentParser(prog="python -m dag.instance", description=__doc__)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"write {POSTGRES_TEMPLATE.name} (storage in PostgreSQL from DAGSTER_PG_*)",
    )
    args = parser.parse_args(argv)
    template = POSTGRES_TEMPLATE if args.postgres else TEMPLATE
    home = ensure_dagster_home(template)
    target = home / "dagster.yaml"
    if not run_monitoring_enabled(target):
        sys.stderr.write(
            f"note: {target} does not enable run monitoring (a killed run stays STARTED); "
            f"copy {template} over it to enable it\n"
        )
    if args.postgres and not on_postgres(target):
        sys.stderr.write(
            f"note: {target} exists and is kept, with its storage outside PostgreSQL; "
            f"copy {template} over it to move the instance to PostgreSQL\n"
        )
    sys.stdout.write(f"DAGSTER_HOME={home}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
