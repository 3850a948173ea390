//! The record scanner (`json::scanner`) against serde_json, on any text.
//!
//! Checks: whenever the scanner accepts a text as an object (a record, a value, an array),
//! serde_json accepts it too and yields the same members, in the same order, with the same raw
//! text (and the same `body`); the scanner never panics. It may decline text serde_json accepts (the converter then
//! uses serde_json), but not accept text serde_json refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use track2pipelines::json::{Nested, Raw, RawMap, Record};
use track2pipelines::json::scanner;

fn members(m: &RawMap) -> Vec<(String, String)> {
    m.entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.get().to_owned()))
        .collect()
}

fn body(b: &Option<Nested>) -> String {
    match b {
        None => "absent".into(),
        Some(Nested::Map(m)) => format!("map {:?}", members(m)),
        Some(Nested::Text(t)) => format!("text {t:?}"),
        Some(Nested::Other(k)) => format!("other {k:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = scanner::object(text) {
        let slow = serde_json::from_str::<RawMap>(text)
            .unwrap_or_else(|e| panic!("scanner accepted an object serde_json refuses: {e}"));
        assert_eq!(members(&fast), members(&slow));
    }
    if let Some(fast) = scanner::record(text) {
        let slow = serde_json::from_str::<Record>(text)
            .unwrap_or_else(|e| panic!("scanner accepted a record serde_json refuses: {e}"));
        assert_eq!(members(&fast.map), members(&slow.map));
        assert_eq!(body(&fast.body), body(&slow.body));
    }
    if let Some(fast) = scanner::value(text) {
        let slow = serde_json::from_str::<Raw>(text)
            .unwrap_or_else(|e| panic!("scanner accepted a value serde_json refuses: {e}"));
        assert_eq!(fast, slow);
    }
    if let Some(fast) = scanner::array(text) {
        let slow = serde_json::from_str::<Vec<Raw>>(text)
            .unwrap_or_else(|e| panic!("scanner accepted an array serde_json refuses: {e}"));
        assert_eq!(fast, slow);
    }
});
