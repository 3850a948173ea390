//! Record parsing and translation: any bytes as one NDJSON record.
//!
//! Checks, for every input: no panic; `records = converted + rejected`; one error entry per
//! rejected record (whole-record rejects carry no text of their own, batch items carry the
//! element's JSON text); every call is one compact JSON object on its own line, within
//! `--max-call-bytes`, with a timestamp the output format can write; a converted record
//! produced calls; and translating the same bytes again gives the same bytes (derived ids).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use track2pipelines::time::MAX_MS;
use track2pipelines::translate::{self, MessageIds, Options, Output};

const NOW_MS: i64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let (flags, line) = match data.split_first() {
        Some((f, rest)) => (*f, rest),
        None => (0, data),
    };
    let mut opts = Options::new(NOW_MS);
    opts.max_call_bytes = match flags & 3 {
        0 => 32768,
        1 => 0,
        2 => 400,
        _ => 100_000,
    };
    opts.bucket_hash = flags & 4 != 0;
    if flags & 8 != 0 {
        opts.message_ids = MessageIds::Random;
    }
    if flags & 16 != 0 {
        opts.integrations = r#"{"All":false,"Mixpanel":true}"#.to_owned();
    }

    let mut out = Output::default();
    let counts = translate::translate_line(&opts, line, &mut out);
    assert_eq!(
        counts.records,
        counts.converted + counts.rejected,
        "{counts:?}"
    );
    assert_eq!(
        out.rejects.len() as u64,
        counts.rejected,
        "one entry per reject"
    );
    assert!(counts.records >= 1, "a non-blank record counts");
    for r in &out.rejects {
        match (&r.item, &r.raw) {
            (None, None) => {}
            (Some(_), Some(text)) => {
                serde_json::from_str::<&RawValue>(text).expect("a batch item's raw is JSON");
            }
            other => panic!("item/raw mismatch: {other:?}"),
        }
        assert!(!r.reject.message.is_empty());
    }
    if counts.converted > 0 {
        assert!(
            out.calls.len() as u64 >= counts.converted,
            "converted without calls"
        );
    } else {
        assert!(
            out.calls.is_empty() && out.buf.is_empty(),
            "calls of a rejected record kept"
        );
    }
    let mut start = 0;
    for (i, c) in out.calls.iter().enumerate() {
        assert!(c.end > start && c.end <= out.buf.len());
        let call = out.call_bytes(i);
        assert_eq!(call.last(), Some(&b'\n'));
        let body = &call[..call.len() - 1];
        assert!(!body.contains(&b'\n'), "a call spans lines");
        assert!(
            body.starts_with(b"{\"type\":\""),
            "call starts with its type"
        );
        let text = std::str::from_utf8(body).expect("calls are UTF-8");
        serde_json::from_str::<&RawValue>(text).expect("a call is valid JSON");
        if opts.max_call_bytes > 0 {
            assert!(
                body.len() <= opts.max_call_bytes,
                "call over the limit kept"
            );
        }
        assert!(
            (0..=MAX_MS).contains(&c.timestamp),
            "timestamp {}",
            c.timestamp
        );
        start = c.end;
    }
    assert_eq!(start, out.buf.len(), "bytes after the last call");

    if opts.message_ids == MessageIds::Derived {
        let mut again = Output::default();
        let counts2 = translate::translate_line(&opts, line, &mut again);
        assert_eq!(counts, counts2);
        assert_eq!(out.buf, again.buf, "translation is deterministic");
    }
    // The same record as a CSV row would hand it over (text and id bytes apart).
    let mut other = Output::default();
    let counts3 = translate::translate_record(&opts, line, b"row", &mut other);
    assert_eq!(counts.records, counts3.records);
    assert_eq!(counts.rejected, counts3.rejected);
});
