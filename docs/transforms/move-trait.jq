# Move a trait: `plan_name` becomes `plan` (an existing `plan` is kept).
if .type == "identify" and .traits.plan_name != null then
  .traits.plan //= .traits.plan_name | del(.traits.plan_name)
else . end
