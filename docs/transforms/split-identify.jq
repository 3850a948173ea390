# Split an identify: a person's company traits become a group call of their own (with a
# messageId of its own), and leave the identify.
if .type == "identify" and .traits.company_id != null then
  (del(.traits.company_id, .traits.company_name)),
  {type: "group", userId, groupId: (.traits.company_id | tostring),
   traits: {name: .traits.company_name}, messageId: (.messageId + "-group"), timestamp}
else . end
