# The jq contender of benches/compare.sh: a subset of the track2pipelines mapping in jq
# (works with jq 1.6 and later). Run as
#
#   jq -R -c --argjson now_ms 1767225600000 -f benches/map.jq corpus.ndjson \
#     | awk -F'"' -v dir=OUT '{ print > (dir "/type=" $4 ".ndjson") }'
#
# jq cannot write several files, so compare.sh pipes its output through the awk one-liner
# above, which puts each call in OUT/type=<type>.ndjson (every call starts {"type":"…").
#
# Lines are read raw (-R) and parsed with `fromjson?`, so a malformed line is dropped instead
# of stopping jq. Covered, as in benches/duckdb_job.py:
# - v1 PUT /api/v1/customers/{id} -> identify (traits = body minus identifiers, anonymous_id,
#   _timestamp, cio_relationships; identifiers from the path and body), plus one group per
#   v1 cio_relationships element (add form only);
# - v1 POST /api/v1/customers/{id}/events and anonymous POST /api/v1/events -> track/page/screen;
# - v2 person identify/event/page/screen, person/object add_relationships and object identify
#   -> group per relationship; from bare entities, /v2/entity envelopes and batch elements;
# - timestamps (unix s / ms, numeric strings, RFC 3339 with fraction and offset) ->
#   YYYY-MM-DDTHH:MM:SS.sssZ, envelope call time, else $now_ms (unix ms); sentAt; integrations.
# Not covered: devices, delete/suppress/unsuppress, merge, metrics/push/delivery events,
# relationship and object deletes, identify_anonymous; no validation or error file. Path
# segments are percent-decoded for ASCII escapes only (%40 and the like; multi-byte UTF-8
# escapes stay encoded). messageId: the body's ULID id, else "<input line>-<call index>" (jq
# has no hash function). jq 1.6 turns numbers into doubles, so integers past 2^53 lose digits.

def trimmed: sub("^[ \t\r\n]+"; "") | sub("[ \t\r\n]+$"; "");

# unix milliseconds -> "YYYY-MM-DDTHH:MM:SS.sssZ"
def ms_text:
  . as $ms
  | (($ms / 1000 | floor | todate)[0:19]) + "." + ("00" + ($ms % 1000 | tostring))[-3:] + "Z";

# A Track timestamp -> unix milliseconds, or null.
def to_ms:
  if type == "number" then
    (if . >= 1e11 then . else . * 1000 end | floor)
    | if . >= 0 and . < 253402300800000 then . else null end
  elif type == "string" then
    if test("^[0-9]+(\\.[0-9]+)?$") then tonumber | to_ms
    else
      (capture("^(?<d>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\\.(?<f>[0-9]+))?(?<z>Z|[+-][0-9]{2}:[0-9]{2})$") // null) as $c
      | if $c == null then null
        else
          (if $c.z == "Z" then 0
           else (($c.z[1:3] | tonumber) * 3600 + ($c.z[4:6] | tonumber) * 60)
                * (if $c.z[0:1] == "-" then -1 else 1 end)
           end) as $off
          | (try (($c.d + "Z") | fromdateiso8601) catch null) as $s
          | if $s == null then null
            else ($s - $off) * 1000 + ((($c.f // "0") + "00")[0:3] | tonumber) end
        end
    end
  else null end;

def is_ulid: type == "string" and test("^[0-7][0-9A-HJKMNP-TV-Z]{25}$");

# ASCII percent-escapes only (see above).
def pct_decode:
  if test("%") then gsub("%(?<h>[2-7][0-9A-Fa-f])"; .h | ascii_downcase | explode
      | map(if . >= 97 then . - 87 else . - 48 end) | [.[0] * 16 + .[1]] | implode)
  else . end;

# Pipelines id of v2 person identifiers (id, cio_id, email, phone), as a string.
def pid: (.id // (if .cio_id then "cio_" + .cio_id else null end) // .email // .phone)
  | if . == null then null else tostring end;
def person_ids: {id, email, cio_id, phone} | with_entries(select(.value != null));
def object_ids: if .cio_object_id then {cio_object_id}
  else {object_type_id: (.object_type_id // "1"), object_id} end;
def v1_ids: if startswith("cio_") then {cio_id: .[4:]} elif test("@") then {email: .}
  else {id: .} end;

# Drops absent keys, like track2pipelines does.
def compact_call: with_entries(select(.value != null));

# $c: {msg, call_ms, line} of the record; the calls of one record get indexes in order.
def finish($c): to_entries
  | map(.key as $k | .value
        | .integrations = {All: true}
        | .messageId = (if $k == 0 and (.given | is_ulid) then .given
                        else "\($c.line)-\($k)" end)
        | .timestamp = ((.ms // $c.call_ms // $now_ms) | ms_text)
        | .sentAt = (($c.call_ms // $now_ms) | ms_text)
        | del(.given, .ms) | compact_call)
  | .[];

def groups($ent; $rels):
  ($ent.identifiers // {}) as $ids
  | if $ent.type == "person" then
      $rels[] | . as $r | ($r.identifiers // {}) as $o
      | {type: "group", userId: ($ids | pid), groupId: ($o.object_id // $o.cio_object_id),
         traits: ({object_type_id: ($o.object_type_id // "1")}
                  + (if $r.relationship_attributes then {relationshipAttributes: $r.relationship_attributes} else {} end)),
         context: {journeys: {identifiers: (($o | object_ids) + ($ids | person_ids))}},
         ms: ($ent.timestamp | to_ms)}
    else
      (if ($rels | length) > 0 then $rels[] else {} end) as $r | ($r.identifiers // {}) as $p
      | {type: "group", userId: ($p | pid), groupId: ($ids.object_id // $ids.cio_object_id),
         traits: ((if $ent.action == "identify" then ($ent.attributes // {}) else {} end)
                  + {object_type_id: ($ids.object_type_id // "1")}
                  + (if $r.relationship_attributes then {relationshipAttributes: $r.relationship_attributes} else {} end)),
         context: {journeys: {identifiers: (($ids | object_ids) + ($p | person_ids))}},
         ms: ($ent.timestamp | to_ms)}
    end;

def entity:
  (.identifiers // {}) as $ids
  | if .type == "person" and (.action == "identify") and ($ids | pid) then
      {type: "identify", userId: ($ids | pid), traits: (.attributes // {}),
       context: {journeys: {identifiers: ($ids | person_ids)}}, ms: (.timestamp | to_ms)}
    elif .type == "person" and (.action | IN("event", "page", "screen"))
         and (.name | type == "string") and (.name | trimmed) != "" then
      (if .action == "event" then "track" else .action end) as $t
      | {type: $t, userId: ($ids | pid),
         anonymousId: (if ($ids | pid) then null else $ids.anonymous_id end),
         event: (if $t == "track" then (.name | trimmed) else null end),
         name: (if $t == "track" then null else (.name | trimmed) end),
         properties: (.attributes // {}),
         context: {journeys: {identifiers:
           (if ($ids | pid) then ($ids | person_ids) else {anonymous_id: $ids.anonymous_id} end)}},
         given: .id, ms: (.timestamp | to_ms)}
      | select(.userId or .anonymousId)
    elif (.type == "person" and (.action | IN("add_relationships", "add_relationship")))
         or ((.type | IN("object", "group")) and (.action | IN("identify", "add_relationships", "add_relationship"))) then
      groups(.; (.cio_relationships // []))
    else empty end;

def v1($c):
  (.method | ascii_upcase) as $m
  | ((.path // (.url | sub("^[A-Za-z]+://[^/]*"; ""))) | split("?")[0] | sub("^/api/"; "/")) as $p
  | (if (.body | type) == "string" then (.body | fromjson?) else .body end) as $b
  | ($p | split("/")) as $seg
  | if $m == "PUT" and ($seg | length) == 4 and $seg[1] == "v1" and $seg[2] == "customers" and $seg[3] != ""
       and ($b | type) == "object" then
      ($seg[3] | pct_decode) as $pid
      | [{type: "identify", userId: $pid, anonymousId: $b.anonymous_id,
          traits: ($b | del(.id, .email, .cio_id, .anonymous_id, ._timestamp, .cio_relationships)),
          context: {journeys: {identifiers: (($pid | v1_ids) + ($b | {id, email, cio_id} | with_entries(select(.value != null))))}},
          ms: ($b._timestamp | to_ms)}]
        + [($b.cio_relationships // null) as $r
           | select($r != null and (($r | type) == "array" or (($r.action // "add_relationships") == "add_relationships")))
           | groups({type: "person", identifiers: ($pid | v1_ids), timestamp: $b._timestamp};
                    (if ($r | type) == "array" then $r else ($r.relationships // []) end))]
      | finish($c)
    elif $m == "POST" and ($b | type) == "object" and ($b.name | type) == "string" and ($b.name | trimmed) != ""
         and ((($seg | length) == 5 and $seg[1] == "v1" and $seg[2] == "customers" and $seg[3] != ""
               and $seg[4] == "events")
              or ($p == "/v1/events" and $b.anonymous_id)) then
      (if ($b.type | IN("page", "screen")) then $b.type else "track" end) as $t
      | ($p == "/v1/events") as $anon
      | [{type: $t, userId: (if $anon then null else ($seg[3] | pct_decode) end),
          anonymousId: (if $anon then $b.anonymous_id else null end),
          event: (if $t == "track" then ($b.name | trimmed) else null end),
          name: (if $t == "track" then null else ($b.name | trimmed) end),
          properties: ($b.data // {}),
          context: {journeys: {identifiers: (if $anon then {anonymous_id: $b.anonymous_id}
                                             else ($seg[3] | pct_decode | v1_ids) end)}},
          given: $b.id, ms: ($b.timestamp | to_ms)}]
      | finish($c)
    elif $m == "POST" and $p == "/v2/entity" and ($b | type) == "object" then
      [$b | entity] | finish($c)
    elif $m == "POST" and $p == "/v2/batch" and ($b.batch | type) == "array" then
      $b.batch | to_entries[] | .key as $k | [.value | objects | entity]
      | finish($c + {line: "\($c.line).\($k)"})
    else empty end;

input_line_number as $line
| fromjson? | objects
| if .method and (.path or .url) then
    v1({line: $line, call_ms: ((.timestamp // .received_at // .sent_at) | to_ms)})
  elif (.batch | type) == "array" then
    .batch | to_entries[] | .key as $k | [.value | objects | entity]
    | finish({line: "\($line).\($k)", call_ms: null})
  elif .action and (.type | IN("person", "object", "group", "delivery")) then
    [entity] | finish({line: $line, call_ms: null})
  else empty end
