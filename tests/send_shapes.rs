//! `send` sends only Pipelines calls: each line is checked against the call shapes of the
//! Pipelines API before it goes out (docs/send.md, "What is not a Pipelines call is not sent"),
//! against the test server on 127.0.0.1. A line that fails is an `invalid_call` entry with the
//! reason; a Track API line says to use `--from track`.

use crate::helpers::*;
use crate::server::Server;
use tempfile::TempDir;

#[test]
fn lines_that_are_not_pipelines_calls_are_not_sent() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let mut lines = calls(3, 5);
    // (line, what its send-errors entry must say), inserted after the good calls.
    let bad = [
        (
            r#"{"type":"group","identifiers":{"object_type_id":"1","object_id":"acme"},"action":"identify","attributes":{"name":"Acme"},"timestamp":1700000000}"#,
            "use --from track",
        ),
        (
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"plan":"p"}}"#,
            "use --from track",
        ),
        (
            r#"{"type":"track","userId":"u","properties":{}}"#,
            "needs event",
        ),
        (
            r#"{"type":"identify","traits":{"email":"a@b.co"}}"#,
            "userId or anonymousId",
        ),
        (
            r#"{"type":"group","userId":"u","traits":{}}"#,
            "needs groupId",
        ),
        (r#"{"type":"alias","userId":"u"}"#, "needs previousId"),
        (
            r#"{"type":"page","userId":"u","properties":[1]}"#,
            "properties must be an object",
        ),
    ];
    lines.extend(bad.iter().map(|(l, _)| l.to_string()));
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--sent-at", "keep"]).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        srv.calls().len(),
        3,
        "only the three Pipelines calls arrive"
    );
    let errs = send_errors(&state);
    assert_eq!(errs.len(), bad.len(), "{errs:?}");
    for (k, ((line, says), e)) in bad.iter().zip(&errs).enumerate() {
        assert_eq!(e["code"], "invalid_call", "{e}");
        assert_eq!(e["line"], 4 + k as u64, "{e}");
        assert_eq!(e["raw"], *line, "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(says), "{line}: {message}");
    }
    assert_eq!(manifest(&state)["calls_invalid"]["invalid_call"], bad.len());
}
