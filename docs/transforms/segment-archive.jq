# Segment / RudderStack storage-destination archives (gzipped NDJSON of Segment-spec calls)
# into calls `send` delivers to Customer.io: keep the call, its ids, its time and its
# content; drop what the storage destination added (the source's project and write key,
# bundling metadata, receive and send times, RudderStack's own ids) and null members.
.timestamp = (.timestamp // .originalTimestamp // .receivedAt)
| del(.projectId, .writeKey, ._metadata, .receivedAt, .originalTimestamp, .sentAt,
      .version, .channel, .rudderId, .request_ip)
| with_entries(select(.value != null))
| if .integrations == {} then del(.integrations) else . end
