# Drop personal data: the properties and traits named here, and the IP address in the
# context, wherever a call has them (members that are absent are left alone).
def without($member; $keys):
  if (.[$member] | type) == "object" then .[$member] |= del(.[$keys[]]) else . end;
without("properties"; ["phone", "address"])
| without("traits"; ["phone", "address"])
| without("context"; ["ip"])
