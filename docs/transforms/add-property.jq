# Add a property to every event and page view: where the call came from. `+=` also works on
# a call that has no properties yet.
if .type == "track" or .type == "page" or .type == "screen" then
  .properties += {import_source: "archive-2023"}
else . end
