"""CD logos: the DS logo pipeline (`dag.ds_logo_assets.logo_assets`) for CD's companies.

Differences from DS (ORIGINAL_IS_SS_DS.md 3.4): `CD_R2_*` / `CD_PUBLIC_URL`, company ids are
`company.company_id` of `cd_postgres` (loaded by `cd_company_postgres`), and the update is
`company.logo`, loaded into `company_logo` (company_id, logo, ...) rather than CD's `company`,
which `cd_company_postgres` replaces whole. Assets are in group DS, tagged `product: cd`, so the
CD daily job (group CD) never runs the crawler or the clean-up.
"""

from contracts.cd import (
    CdBucketCleanup,
    CdCompanyLogos,
    CdLogoCrawler,
    CdLogoFiles,
    CdLogoSources,
    CdLogoWebp,
)
from dag.ds_logo_assets import LogoGroup, logo_assets

CD = LogoGroup(
    prefix="cd", company_column="company_id", url_column="logo", serving_table="company_logo",
    updates_name="cd_company_logos",
    contracts={"crawler": CdLogoCrawler, "sources": CdLogoSources, "files": CdLogoFiles,
               "webp": CdLogoWebp, "updates": CdCompanyLogos, "cleanup": CdBucketCleanup},
)
(
    cd_logo_crawler, cd_logo_crawler_contract, cd_logo_sources, cd_logo_sources_contract,
    cd_logo_files, cd_logo_files_contract, cd_logo_webp, cd_logo_webp_contract,
    cd_company_logos, cd_company_logos_contract, cd_bucket_cleanup,
    cd_bucket_cleanup_contract,
) = logo_assets(CD)
