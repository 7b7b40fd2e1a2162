-- SS JSON API views of the serving PostgreSQL database, created (idempotently) by the asset
-- ss_api_views_postgres through PostgresResource.ensure_view. One view per `-- view: <name>`
-- section; each section is one SELECT.

-- view: api_deals_json
SELECT d.deal_hash,
       d.source_posted_at,
       jsonb_build_object(
         'deal_hash', d.deal_hash, 'post_id', d.post_id, 'url', d.url,
         'posted', d.source_posted_at, 'model', d.model, 'capacity', d.capacity,
         'carrier', d.carrier, 'move_type', d.move_type, 'contract', d.contract,
         'payment', d.payment, 'channel', d.channel, 'city', d.city, 'store', d.store,
         'upfront', d.upfront, 'support_cash', d.support_cash,
         'tco_total', d.tco_total, 'tco_net', d.tco_net,
         'tco_monthly', CEIL(d.tco_total / 24.0)::bigint
       ) AS doc
FROM deals AS d

-- view: api_reports_daily_json
SELECT a.model,
       a.capacity,
       jsonb_build_object(
         'model', a.model, 'capacity', a.capacity,
         'days', jsonb_agg(jsonb_build_object(
           'date', a.ts, 'min', a.min, 'p25', a.p25, 'median', a.median, 'p75', a.p75,
           'max', a.max, 'avg', ROUND(a.avg::numeric, 1), 'n', a.n) ORDER BY a.ts)
       ) AS doc
FROM aggregates_daily AS a
GROUP BY a.model, a.capacity

-- view: api_reports_daily_latest_json
SELECT a.model,
       a.capacity,
       jsonb_build_object(
         'model', a.model, 'capacity', a.capacity, 'date', a.ts, 'min', a.min,
         'median', a.median, 'max', a.max, 'n', a.n
       ) AS doc
FROM aggregates_daily AS a
WHERE a.ts = (SELECT MAX(b.ts) FROM aggregates_daily AS b
              WHERE b.model = a.model AND b.capacity = a.capacity)
