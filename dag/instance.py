"""Prepare DAGSTER_HOME for the CLI and the demo (the CLI refuses to run without one).

`python -m dag.instance` creates `<DAG_DATA_DIR>/dagster_home` with the committed `dagster.yaml`
template (run retries off, run monitoring on) and prints `DAGSTER_HOME=<path>`, for
`export $(python -m dag.instance)`. An existing `dagster.yaml` is kept; when it predates run
monitoring, a note on stderr says so (copy the template over it to enable it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """DAGSTER_HOME when set, else `<DAG_DATA_DIR or ./data>/dagster_home`."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured).resolve()
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve() / "dagster_home"


def ensure_dagster_home() -> Path:
    """Create DAGSTER_HOME with the template (never overwriting an operator's own yaml)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(TEMPLATE, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_monitoring_enabled(yaml_path: Path) -> bool:
    """Whether an instance yaml enables run monitoring (README "Run monitoring")."""
    config = yaml.safe_load(yaml_path.read_text()) or {}
    return bool((config.get("run_monitoring") or {}).get("enabled"))


def main() -> None:
    home = ensure_dagster_home()
    target = home / "dagster.yaml"
    if not run_monitoring_enabled(target):
        sys.stderr.write(
            f"note: {target} does not enable run monitoring (a killed run stays STARTED); "
            f"copy {TEMPLATE} over it to enable it\n"
        )
    sys.stdout.write(f"DAGSTER_HOME={home}\n")


if __name__ == "__main__":
    main()
