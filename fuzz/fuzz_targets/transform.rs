//! `--transform` on any bytes as the call: the reader of calls into jq values, the program, and
//! the writer of its results.
//!
//! Checks, for every input: no panic; a UTF-8 text that is not JSON is never given to the
//! program (the run fails); with the program `.`, a run that succeeds wrote one line, the same JSON as
//! the input, and described it as the input's `type`; with a program that edits calls, every
//! result line is one JSON object.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use std::sync::LazyLock;
use track2pipelines::select::transform::Transform;

static IDENTITY: LazyLock<Transform> =
    LazyLock::new(|| Transform::compile("dot.jq", ".").expect("compiles"));

/// The program of the benchmarks (benches/select.rs): a rename, an added property, a removal.
static EDITS: LazyLock<Transform> = LazyLock::new(|| {
    Transform::compile(
        "edits.jq",
        r#"if .type == "track" and .event == "Signed Up" then .event = "Signup Completed" else . end
| if .type == "track" then .properties += {import_source: "archive"} else . end
| if (.traits | type) == "object" then .traits |= del(.phone) else . end"#,
    )
    .expect("compiles")
});

fuzz_target!(|data: &[u8]| {
    let (edits, text) = match data.split_first() {
        Some((f, rest)) => (f & 1 == 1, rest),
        None => (false, data),
    };
    // JSON by the grammar (serde_json's raw values do not check the range of numbers; its
    // `Value` refuses `1e400`, which jq reads), and, when it can hold it, as a value.
    let grammatical = serde_json::from_slice::<&RawValue>(text).is_ok();
    let valid = serde_json::from_slice::<serde_json::Value>(text).ok();
    // Both callers give the program UTF-8 only (convert its own calls; send checks each line
    // first). Other bytes must not panic, and a result holding them is refused, but a string
    // hidden by a later duplicate key is never looked at: no comparison then.
    let utf8 = std::str::from_utf8(text).is_ok();
    let call = Bytes::copy_from_slice(text);
    let (mut out, mut shaped) = (Vec::new(), Vec::new());
    let program = if edits { &*EDITS } else { &*IDENTITY };
    let Ok(()) = program.run(&call, &mut out, &mut shaped) else {
        assert!(
            out.is_empty() && shaped.is_empty(),
            "a failed run left output"
        );
        return;
    };
    if !utf8 {
        return;
    }
    assert!(grammatical, "the program ran on text that is not JSON");
    let mut start = 0;
    for s in &shaped {
        let line = &out[start..s.end];
        start = s.end;
        let line = line
            .strip_suffix(b"\n")
            .expect("each result ends with a newline");
        let raw: &RawValue = serde_json::from_slice(line).expect("a result is JSON");
        assert!(raw.get().starts_with('{'), "a result is an object");
        if let (false, Some(input)) = (edits, &valid) {
            let result: serde_json::Value = serde_json::from_slice(line).expect("a value");
            assert_eq!(&result, input, "the program . changed the call");
        }
    }
    assert_eq!(start, out.len(), "every byte written belongs to a result");
    if !edits {
        assert_eq!(shaped.len(), 1, "the program . gives one result");
    }
});
