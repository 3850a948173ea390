# Replace an email property by its SHA-256 (lowercase hex of the trimmed, lower-cased address):
# the same person gets the same pseudonym in every call, and the address itself never moves.
def pseudonym: ascii_downcase | ltrimstr(" ") | rtrimstr(" ") | sha256;
if (.properties.email | type) == "string" then .properties.email |= pseudonym else . end
| if (.traits.email | type) == "string" then .traits.email |= pseudonym else . end
