# Rename events: old name -> new name; other events and other calls pass unchanged.
{"Signed Up": "Signup Completed", "Added to Cart": "Product Added"} as $names
| if .type == "track" and $names[.event] then .event = $names[.event] else . end
