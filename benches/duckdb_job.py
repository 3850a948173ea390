#!/usr/bin/env python3
"""The DuckDB contender of benches/compare.sh: the same job as
`track2pipelines convert --partition-by type`, written as DuckDB SQL.

    python3 benches/duckdb_job.py --input corpus.ndjson --out DIR [--threads N] [--now RFC3339]

It reads the NDJSON archive with `read_ndjson` (explicit columns, `ignore_errors=true`, so every
line is parsed once by DuckDB's own reader and malformed lines are skipped), maps the records
with SQL and writes `COPY ... TO DIR (FORMAT json, PARTITION_BY (type))`, i.e.
DIR/type=identify/*.json, one JSON object per line. It prints the number of calls written.

What the mapping covers (the families of about 90% of the lines of a gen_corpus archive; it
writes about 89% of the calls track2pipelines writes for them):
- v1 `PUT /api/v1/customers/{id}` -> identify: userId = percent-decoded segment, identifiers
  (cio_ -> cio_id, @ -> email, else id), traits = body minus id/email/cio_id/anonymous_id/
  _timestamp/cio_relationships, anonymousId, timestamp = _timestamp.
- v1 `POST /api/v1/customers/{id}/events` and anonymous `POST /api/v1/events` -> track/page/screen
  (trimmed name, properties = data, messageId = body id when it looks like a ULID,
  anonymousId for anonymous events, which are dropped without anonymous_id).
- v2 person identify / event / page / screen, person and object add_relationships and object
  identify (one group per relationship; an object identify without relationships gives one
  group), from bare entities, `POST /api/v2/entity` envelopes and the elements of v2 batches
  (bare and `POST /api/v2/batch`). Bodies given as JSON text are parsed.
- timestamps: unix seconds / milliseconds (>= 1e11) as numbers or numeric strings, RFC 3339
  strings; output `YYYY-MM-DDTHH:MM:SS.sssZ`; fallback envelope call time
  (timestamp/received_at/sent_at), then --now; sentAt; integrations {"All":true}; the `/api`
  prefix and `url` envelopes.

What it does not do (so it does less work than track2pipelines):
- devices, delete/suppress/unsuppress, merge, metrics, push events, delivery events,
  delete_relationships, object delete, identify_anonymous and v1 cio_relationships: dropped.
- no error file: records that cannot be mapped are silently dropped (no validation, no
  reject codes, no size limit, no manifest or checksums).
- messageIds are not ULIDs derived from the record bytes: a hex string of DuckDB's hash().
- keys absent from a call are written as null (COPY writes every column); key order is the
  column order, and JSON values pass through DuckDB's JSON type (numbers keep their text).
"""

import argparse
import sys
import time

import duckdb

ENTITY = (
    "STRUCT(type VARCHAR, action VARCHAR, "
    "identifiers STRUCT(id VARCHAR, email VARCHAR, cio_id VARCHAR, phone VARCHAR, "
    "anonymous_id VARCHAR, object_type_id VARCHAR, object_id VARCHAR, cio_object_id VARCHAR), "
    "name VARCHAR, id VARCHAR, attributes JSON, \"timestamp\" JSON, cio_relationships JSON)"
)

REL = (
    "STRUCT(identifiers STRUCT(id VARCHAR, email VARCHAR, cio_id VARCHAR, phone VARCHAR, "
    "object_type_id VARCHAR, object_id VARCHAR, cio_object_id VARCHAR), "
    "relationship_attributes JSON)"
)

MACROS = r"""
CREATE OR REPLACE MACRO t_epoch(x) AS CASE WHEN x >= 0 AND x < 253402300800000 THEN
    make_timestamp(CAST(trunc(CASE WHEN x >= 1e11 THEN x * 1000 ELSE x * 1000000 END) AS BIGINT)) END;
CREATE OR REPLACE MACRO ts_of(v) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN t_epoch(TRY_CAST(v AS DOUBLE))
    WHEN json_type(v) = 'VARCHAR' THEN coalesce(
        t_epoch(TRY_CAST(v ->> '$' AS DOUBLE)),
        CAST(TRY_CAST(v ->> '$' AS TIMESTAMPTZ) AS TIMESTAMP))
    END;
CREATE OR REPLACE MACRO fmt(ts) AS strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ');
CREATE OR REPLACE MACRO is_ulid(s) AS regexp_full_match(coalesce(s, ''), '[0-7][0-9A-HJKMNP-TV-Z]{25}');
CREATE OR REPLACE MACRO ids_obj(k, v) AS json_object('journeys', json_object('identifiers', json_object(CAST(k AS VARCHAR), v)));
-- A v1 path identifier: cio_ prefix -> cio_id, '@' -> email, else id.
CREATE OR REPLACE MACRO v1_ids(pid) AS CASE
    WHEN starts_with(pid, 'cio_') THEN json_object('cio_id', pid[5:])
    WHEN contains(pid, '@') THEN json_object('email', pid)
    ELSE json_object('id', pid) END;
CREATE OR REPLACE MACRO v1_ctx(pid) AS json_object('journeys', json_object('identifiers', v1_ids(pid)));
-- The Pipelines id of v2 person identifiers: id, cio_id, email, phone.
CREATE OR REPLACE MACRO pid_of(i) AS coalesce(i.id, 'cio_' || i.cio_id, i.email, i.phone);
CREATE OR REPLACE MACRO person_ids(i) AS json_object('id', i.id, 'email', i.email, 'cio_id', i.cio_id, 'phone', i.phone);
CREATE OR REPLACE MACRO object_ids(i) AS CASE WHEN i.cio_object_id IS NOT NULL
    THEN json_object('cio_object_id', i.cio_object_id)
    ELSE json_object('object_type_id', coalesce(i.object_type_id, '1'), 'object_id', i.object_id) END;
"""

QUERY = r"""
COPY (
WITH raw AS (
    SELECT *
    FROM read_ndjson($input, format = 'newline_delimited', ignore_errors = true,
        maximum_object_size = 16777216,
        columns = {
            method: 'VARCHAR', path: 'VARCHAR', url: 'VARCHAR', body: 'JSON',
            received_at: 'JSON', sent_at: 'JSON', "timestamp": 'JSON',
            type: 'VARCHAR', action: 'VARCHAR', batch: 'JSON[]',
            identifiers: 'STRUCT(id VARCHAR, email VARCHAR, cio_id VARCHAR, phone VARCHAR, anonymous_id VARCHAR, object_type_id VARCHAR, object_id VARCHAR, cio_object_id VARCHAR)',
            name: 'VARCHAR', id: 'VARCHAR', attributes: 'JSON', cio_relationships: 'JSON'
        })
),
http AS (
    SELECT hash(method, path, url, body) AS rn, upper(method) AS m,
        regexp_replace(split_part(coalesce(path, regexp_replace(url, '^[A-Za-z]+://[^/]*', '')), '?', 1),
            '^/api/', '/') AS p,
        CASE WHEN json_type(body) = 'VARCHAR' THEN TRY_CAST(body ->> '$' AS JSON) ELSE body END AS b,
        ts_of(coalesce("timestamp", received_at, sent_at)) AS call_ts
    FROM raw
    WHERE method IS NOT NULL AND (path IS NOT NULL OR url IS NOT NULL)
),
v1_put AS (
    SELECT http.*, url_decode(split_part(p, '/', 4)) AS pid,
        TRY_CAST(b AS STRUCT(id VARCHAR, email VARCHAR, cio_id VARCHAR, anonymous_id VARCHAR,
            _timestamp JSON, cio_relationships JSON)) AS f
    FROM http
    WHERE m = 'PUT' AND regexp_full_match(p, '/v1/customers/[^/]+') AND json_type(b) = 'OBJECT'
),
v1_identify AS (
    SELECT 'identify' AS type, pid AS userId, f.anonymous_id AS anonymousId,
        NULL::VARCHAR AS groupId, NULL::VARCHAR AS event, NULL::VARCHAR AS name,
        json_merge_patch(b, '{"id":null,"email":null,"cio_id":null,"anonymous_id":null,"_timestamp":null,"cio_relationships":null}') AS traits,
        NULL::JSON AS properties,
        json_object('journeys', json_object('identifiers', json_merge_patch(v1_ids(pid),
            json_object('id', f.id, 'email', f.email, 'cio_id', f.cio_id)))) AS context,
        NULL::VARCHAR AS given_id,
        coalesce(ts_of(f._timestamp), call_ts) AS ts, call_ts, rn, 0 AS k
    FROM v1_put
),
v1_ev AS (
    SELECT http.*, url_decode(split_part(p, '/', 4)) AS pid,
        json_transform(b, '{"name":"VARCHAR","type":"VARCHAR","id":"VARCHAR","anonymous_id":"VARCHAR","data":"JSON","timestamp":"JSON"}') AS e
    FROM http
    WHERE m = 'POST' AND (regexp_full_match(p, '/v1/customers/[^/]+/events') OR p = '/v1/events')
),
v1_events AS (
    SELECT CASE e.type WHEN 'page' THEN 'page' WHEN 'screen' THEN 'screen' ELSE 'track' END AS type,
        CASE WHEN p = '/v1/events' THEN NULL ELSE pid END AS userId,
        CASE WHEN p = '/v1/events' THEN e.anonymous_id END AS anonymousId,
        NULL AS groupId,
        CASE WHEN e.type IN ('page', 'screen') THEN NULL ELSE trim(e.name) END AS event,
        CASE WHEN e.type IN ('page', 'screen') THEN trim(e.name) END AS name,
        NULL::JSON AS traits, coalesce(e.data, '{}'::JSON) AS properties,
        CASE WHEN p = '/v1/events' THEN ids_obj('anonymous_id', e.anonymous_id) ELSE v1_ctx(pid) END AS context,
        e.id AS given_id, coalesce(ts_of(e.timestamp), call_ts) AS ts, call_ts, rn, 0 AS k
    FROM v1_ev
    WHERE trim(e.name) <> '' AND (p <> '/v1/events' OR e.anonymous_id IS NOT NULL)
),
-- v2 entities: bare, in /v2/entity envelopes, and batch elements (bare or in /v2/batch envelopes).
ent AS (
    SELECT hash(type, action, identifiers, name, id, attributes, "timestamp") AS rn, 0 AS item, {'type': type, 'action': action, 'identifiers': identifiers, 'name': name,
        'id': id, 'attributes': attributes, 'timestamp': "timestamp",
        'cio_relationships': cio_relationships} AS e, NULL::TIMESTAMP AS call_ts
    FROM raw WHERE action IS NOT NULL AND type IN ('person', 'object', 'group', 'delivery')
    UNION ALL
    SELECT rn, 0, TRY_CAST(b AS $entity), call_ts FROM http WHERE m = 'POST' AND p = '/v2/entity'
    UNION ALL
    SELECT rn, item, TRY_CAST(el AS $entity), call_ts
    FROM (SELECT hash(batch) AS rn, unnest(batch) AS el, generate_subscripts(batch, 1) AS item, NULL::TIMESTAMP AS call_ts
          FROM raw WHERE batch IS NOT NULL
          UNION ALL
          SELECT rn, unnest(els) AS el, generate_subscripts(els, 1) AS item, call_ts
          FROM (SELECT rn, CAST(json_extract(b, '$.batch') AS JSON[]) AS els, call_ts
                FROM http WHERE m = 'POST' AND p = '/v2/batch'))
),
v2_person AS (
    SELECT CASE WHEN e.action = 'identify' THEN 'identify' WHEN e.action = 'event' THEN 'track' ELSE e.action END AS type,
        pid_of(e.identifiers) AS userId,
        CASE WHEN pid_of(e.identifiers) IS NULL THEN e.identifiers.anonymous_id END AS anonymousId,
        NULL AS groupId,
        CASE WHEN e.action = 'event' THEN trim(e.name) END AS event,
        CASE WHEN e.action IN ('page', 'screen') THEN trim(e.name) END AS name,
        CASE WHEN e.action = 'identify' THEN coalesce(e.attributes, '{}'::JSON) END AS traits,
        CASE WHEN e.action <> 'identify' THEN coalesce(e.attributes, '{}'::JSON) END AS properties,
        CASE WHEN pid_of(e.identifiers) IS NULL THEN ids_obj('anonymous_id', e.identifiers.anonymous_id)
             ELSE json_object('journeys', json_object('identifiers', person_ids(e.identifiers))) END AS context,
        CASE WHEN e.action <> 'identify' THEN e.id END AS given_id,
        coalesce(ts_of(e.timestamp), call_ts) AS ts, call_ts, rn, item AS k
    FROM ent
    WHERE e.type = 'person' AND e.action IN ('identify', 'event', 'page', 'screen')
      AND (e.action = 'identify' OR trim(e.name) <> '')
      AND (pid_of(e.identifiers) IS NOT NULL OR e.identifiers.anonymous_id IS NOT NULL)
),
-- v1 identify cio_relationships (object form with action add / no action, or a bare array),
-- as v2 person add_relationships entities.
v1_rel_ent AS (
    SELECT rn, 0 AS item,
        {'type': 'person', 'action': 'add_relationships',
         'identifiers': {'id': CASE WHEN NOT starts_with(pid, 'cio_') AND NOT contains(pid, '@') THEN pid END,
                         'email': CASE WHEN contains(pid, '@') AND NOT starts_with(pid, 'cio_') THEN pid END,
                         'cio_id': CASE WHEN starts_with(pid, 'cio_') THEN pid[5:] END,
                         'phone': NULL, 'anonymous_id': NULL, 'object_type_id': NULL, 'object_id': NULL,
                         'cio_object_id': NULL},
         'name': NULL, 'id': NULL, 'attributes': NULL, 'timestamp': f._timestamp,
         'cio_relationships': CASE WHEN json_type(f.cio_relationships) = 'ARRAY' THEN f.cio_relationships
                                   ELSE json_extract(f.cio_relationships, '$.relationships') END} AS e,
        call_ts
    FROM v1_put
    WHERE f.cio_relationships IS NOT NULL
      AND coalesce(json_extract_string(f.cio_relationships, '$.action'), 'add_relationships') = 'add_relationships'
),
rels AS (
    SELECT ent.*, unnest(CASE WHEN json_array_length(e.cio_relationships) > 0
            THEN CAST(e.cio_relationships AS JSON[]) ELSE [NULL::JSON] END) AS r,
        generate_subscripts(CASE WHEN json_array_length(e.cio_relationships) > 0
            THEN CAST(e.cio_relationships AS JSON[]) ELSE [NULL::JSON] END, 1) AS j
    FROM (SELECT * FROM ent UNION ALL SELECT * FROM v1_rel_ent) AS ent
    WHERE (e.type IN ('object', 'group') AND e.action IN ('identify', 'add_relationships', 'add_relationship'))
       OR (e.type = 'person' AND e.action IN ('add_relationships', 'add_relationship'))
),
groups AS (
    SELECT *, TRY_CAST(r AS $rel) AS rr FROM rels
    WHERE r IS NOT NULL OR (e.type <> 'person' AND e.action = 'identify')
),
v2_groups AS (
    SELECT 'group' AS type,
        CASE WHEN e.type = 'person' THEN pid_of(e.identifiers) ELSE pid_of(rr.identifiers) END AS userId,
        NULL AS anonymousId,
        CASE WHEN e.type = 'person' THEN coalesce(rr.identifiers.object_id, rr.identifiers.cio_object_id)
             ELSE coalesce(e.identifiers.object_id, e.identifiers.cio_object_id) END AS groupId,
        NULL AS event, NULL AS name,
        json_merge_patch(
            CASE WHEN e.action = 'identify' THEN coalesce(e.attributes, '{}'::JSON) ELSE '{}'::JSON END,
            json_object('object_type_id', CASE WHEN e.type = 'person' THEN coalesce(rr.identifiers.object_type_id, '1')
                                               ELSE coalesce(e.identifiers.object_type_id, '1') END,
                        'relationshipAttributes', rr.relationship_attributes)) AS traits,
        NULL::JSON AS properties,
        json_object('journeys', json_object('identifiers', json_merge_patch(
            object_ids(CASE WHEN e.type = 'person' THEN rr.identifiers ELSE e.identifiers END),
            person_ids(CASE WHEN e.type = 'person' THEN e.identifiers ELSE rr.identifiers END)))) AS context,
        NULL AS given_id, coalesce(ts_of(e.timestamp), call_ts) AS ts, call_ts, rn, item * 1000 + j AS k
    FROM groups
),
calls AS (
    SELECT * FROM v1_identify
    UNION ALL SELECT * FROM v1_events
    UNION ALL SELECT * FROM v2_person
    UNION ALL SELECT * FROM v2_groups
)
SELECT type, userId, anonymousId, groupId, event, name, traits, properties, context,
    '{"All":true}'::JSON AS integrations,
    CASE WHEN is_ulid(given_id) THEN given_id ELSE printf('%016x%010x', hash(rn, k), k) END AS messageId,
    fmt(coalesce(ts, $now::TIMESTAMP)) AS "timestamp",
    fmt(coalesce(call_ts, $now::TIMESTAMP)) AS sentAt
FROM calls
) TO '{out}' (FORMAT json, PARTITION_BY (type), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    ap.add_argument("--now", default="2026-01-01T00:00:00Z")
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 8GB")
    args = ap.parse_args()

    started = time.monotonic()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if args.threads > 0:
        con.execute(f"SET threads = {args.threads}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(MACROS)
    now = args.now.rstrip("Z").replace("T", " ")
    query = (QUERY.replace("$entity", ENTITY).replace("$rel", REL)
             .replace("{out}", args.out.replace("'", "''")))
    res = con.execute(query, {"input": args.input, "now": now}).fetchall()
    calls = res[0][0] if res and res[0] else "?"
    print(f"duckdb_job: {calls} calls written to {args.out} in {time.monotonic() - started:.2f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
