"""Partition definitions shared by the groups (fixed starts, so partition sets never shift)."""

import os

import dagster as dg

SEOUL = "Asia/Seoul"

# NPS publishes one file per data month (자료생성년월); history starts 2015-12.
nps_monthly_partition = dg.MonthlyPartitionsDefinition(start_date="2015-12-01", timezone=SEOUL)

# Fix: the old partition set started at "today minus N days" and shifted daily. The start is fixed
# (override with CD_START_DATE for a deployment with a longer history).
CD_START_DATE = os.environ.get("CD_START_DATE", "2024-01-02")
CD_EXCHANGES = ("KOSPI", "KOSDAQ", "KONEX")

# end_offset=1: today's partition exists during the day, so the 18:30 schedule can ask for the
# session that just closed (a plain daily partition only exists once its day has ended).
cd_daily_partition = dg.DailyPartitionsDefinition(
    start_date=CD_START_DATE, timezone=SEOUL, end_offset=1
)
cd_exchange_partition = dg.StaticPartitionsDefinition(list(CD_EXCHANGES))
daily_exchange_category_partition = dg.MultiPartitionsDefinition(
    {"date": cd_daily_partition, "exchange": cd_exchange_partition}
)

# 20-year month-end history (cd_historical_*).
cd_monthly_history_partition = dg.MonthlyPartitionsDefinition(
    start_date=os.environ.get("CD_HISTORY_START_DATE", "2005-01-01"), timezone=SEOUL
)

# IS: one partition per crawler file (its stem), added by `is_output_data_sensor`, so a
# re-delivered file replaces exactly its own rows.
is_crawl_file_partition = dg.DynamicPartitionsDefinition(name="is_crawl_files")
