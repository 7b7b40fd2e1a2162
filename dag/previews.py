"""The Dagster beta/preview APIs this project uses on purpose, and the one place their warnings
are silenced for the code location (the demo, `dagster` CLI commands, the webserver).

- `backfill_policy` on `@asset` (beta): every asset runs a partition range as one single run
  (`BackfillPolicy.single_run()`), so tier backfills are one commit per asset.
- `partitions_def` on asset checks (preview): a contract check validates exactly the partitions
  its asset wrote, and records one evaluation per partition.
- Dagster Pipes' message reader (preview parameter): `is_crawler_executor` runs the crawler.

Only these messages are filtered; any other Beta/Preview warning still shows, and the test suite
(pytest's own filters) keeps treating unexpected warnings as errors.
"""

from __future__ import annotations

import warnings

import dagster as dg

INTENDED_PREVIEWS: tuple[tuple[type[Warning], str], ...] = (
    (dg.BetaWarning, r"Parameter `backfill_policy`"),
    (dg.PreviewWarning, r"Specifying a partitions_def on an AssetCheckSpec"),
    # Dagster Pipes' message reader (is_crawler_executor runs the crawler through Pipes).
    (dg.PreviewWarning, r".*expected_writer_count"),
)


def quiet_intended_previews() -> None:
    """Ignore the warnings of the APIs listed in `INTENDED_PREVIEWS` (idempotent)."""
    for category, message in INTENDED_PREVIEWS:
        warnings.filterwarnings("ignore", message=message, category=category)
