"""Jobs: each selects by group or by an asset and its downstream (guideline 7). No retries.

Partitioning is inferred from the selected assets (Dagster 1.13 deprecates `partitions_def`).
"""

import dagster as dg

from dag.cd_automation import cd_jobs

nps_targets = dg.AssetSelection.groups("NPS")

nps_history_job = dg.define_asset_job(
    name="nps_history_job",
    selection=nps_targets,
    description="NPS end to end per month: raw CSV to PostgreSQL and the company layer",
    tags={"domain": "pension", "data_tier": "mixed"},
)

all_jobs = [nps_history_job, *cd_jobs]
