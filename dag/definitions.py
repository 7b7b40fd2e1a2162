"""The code location: every group's assets, checks, jobs, schedules, sensors and resources.

Kept thin on purpose: modules define assets (grouped per project below), `jobs.py`,
`schedules.py` and `sensors.py` define automation, `resources.py` binds every resource once.
"""

import dagster as dg

from dag import (
    cd_bppedd_processing,
    cd_display_processing,
    cd_history_bppedds,
    cd_history_marketcaps,
    cd_history_prices,
    cd_marketcap_processing,
    cd_metrics_processing,
    cd_price_processing,
    cd_raw_ingestion,
    cd_security_processing,
    cd_serving_loads,
)

# isort: split
from dag import (
    nps_company_tables,
    nps_data_processing,
    nps_monthly_stats,
    nps_pension_indexes,
    nps_raw_ingestion,
    nps_serving_loads,
)

# isort: split
from dag import (
    is_cluster_loads,
    is_clusters,
    is_crawl_ingestion,
    is_crawler,
    is_enrichment,
    is_enrichment_loads,
    is_image_enrichment,
    is_keyword_trends,
    is_post_signatures,
    is_post_tables,
    is_post_trends,
    is_serving_loads,
)

# isort: split
from dag import (
    ss_crawl_ingestion,
    ss_crawler,
    ss_deals,
    ss_dictionary,
    ss_extraction,
    ss_serving_loads,
)

# isort: split
from dag import cd_logo_assets, ds_logo_assets

# isort: split
from dag.conventions import assert_lake_config
from dag.executors import project_executor
from dag.jobs import all_jobs
from dag.resources import build_resources
from dag.schedules import all_schedules
from dag.sensors import all_sensors, freshness_checks

cd_modules = [
    cd_raw_ingestion,
    cd_security_processing,
    cd_price_processing,
    cd_marketcap_processing,
    cd_bppedd_processing,
    cd_metrics_processing,
    cd_display_processing,
    cd_serving_loads,
    cd_history_prices,
    cd_history_marketcaps,
    cd_history_bppedds,
]
nps_modules = [
    nps_raw_ingestion,
    nps_data_processing,
    nps_company_tables,
    nps_monthly_stats,
    nps_serving_loads,
    nps_pension_indexes,
]

is_modules = [
    is_crawler,
    is_crawl_ingestion,
    is_post_tables,
    is_post_signatures,
    is_post_trends,
    is_serving_loads,
    is_clusters,
    is_cluster_loads,
    is_image_enrichment,
    is_enrichment,
    is_keyword_trends,
    is_enrichment_loads,
]

ss_modules = [
    ss_crawler,
    ss_crawl_ingestion,
    ss_dictionary,
    ss_extraction,
    ss_deals,
    ss_serving_loads,
]
# DS's logo pipeline and its CD variant (one set of functions; both in group DS, see the module).
ds_modules = [ds_logo_assets, cd_logo_assets]
groups = [cd_modules, nps_modules, is_modules, ss_modules, ds_modules]

defs = assert_lake_config(
    dg.Definitions(
        assets=[a for modules in groups for a in dg.load_assets_from_modules(modules)],
        asset_checks=[
            *(c for modules in groups for c in dg.load_asset_checks_from_modules(modules)),
            *freshness_checks,
        ],
        jobs=all_jobs,
        schedules=all_schedules,
        sensors=all_sensors,
        resources=build_resources(),
        executor=project_executor,
    )
)
