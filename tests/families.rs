//! Unit-style tests of the mapping (docs/mapping.md), one module per call family.
//!
//! They complement `tests/conformance.rs`: the cases here are the ones the conformance file does
//! not hold. Calls are compared exactly with `crate::common::canon` (key order and number text are
//! significant); `"messageId":"<derived>"` in an expected call stands for a derived ULID whose
//! time is the call's timestamp. Where the rules are silent and the code made a choice, the test
//! asserts the current behaviour and says so in a `// decision:` comment.

use crate::common::{Case, NOW_MS, canon, check_calls};
use track2pipelines::translate::{Counts, MessageIds, Options, Output, Rejected, translate_line};

const NOW: &str = "2026-01-01T00:00:00.000Z";
/// 1700000000 (unix seconds).
const T1: &str = "2023-11-14T22:13:20.000Z";
/// 2023-08-24T14:15:22Z.
const T2: &str = "2023-08-24T14:15:22.000Z";
const ULID: &str = "01HZX3P8M0QK2V7S9T4W6Y1A2B";

/// What translating one line produced.
struct Translated {
    calls: Vec<String>,
    rejects: Vec<Rejected>,
    counts: Counts,
}

fn run_opts(opts: &Options, line: &[u8]) -> Translated {
    let mut out = Output::default();
    let counts = translate_line(opts, line, &mut out);
    assert_eq!(counts.records, counts.converted + counts.rejected);
    assert_eq!(out.rejects.len() as u64, counts.rejected);
    let calls: Vec<String> = (0..out.calls.len())
        .map(|i| {
            let b = out.call_bytes(i);
            assert_eq!(b.last(), Some(&b'\n'));
            String::from_utf8(b[..b.len() - 1].to_vec()).unwrap()
        })
        .collect();
    // Every call written passes the check `send` makes before sending it.
    for call in &calls {
        if let Err(e) = track2pipelines::calls::shape::check_text(call) {
            panic!("{call}: not a Pipelines call as send checks it: {e}");
        }
    }
    Translated {
        calls,
        rejects: out.rejects,
        counts,
    }
}

/// A line cut short for assertion messages.
fn short(line: &str) -> String {
    let mut s: String = line.chars().take(300).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

fn run(line: &str) -> Translated {
    run_opts(&Options::new(NOW_MS), line.as_bytes())
}

const ONE_CONVERTED: Counts = Counts {
    records: 1,
    converted: 1,
    rejected: 0,
};
const ONE_REJECTED: Counts = Counts {
    records: 1,
    converted: 0,
    rejected: 1,
};

/// The expected text of a call from its head (every key up to and including `context`, without
/// the closing brace): default integrations, a derived messageId, `timestamp` and `sentAt` now.
fn now(head: &str) -> String {
    at(head, NOW, NOW)
}

/// As [`now`], with the given `timestamp` and `sentAt`.
fn at(head: &str, timestamp: &str, sent_at: &str) -> String {
    format!(
        r#"{head},"integrations":{{"All":true}},"messageId":"<derived>","timestamp":"{timestamp}","sentAt":"{sent_at}"}}"#
    )
}

/// Checks produced calls against expected ones; returns the messageIds.
fn check(line: &str, calls: &[String], want: &[String]) -> Vec<String> {
    let case = Case {
        name: short(line),
        input: line.to_owned(),
        expect: want.to_vec(),
        reject: None,
        reject_items: Vec::new(),
    };
    check_calls(&case, calls)
}

/// Asserts `line` converts, as one record, into exactly `want`; returns the messageIds.
fn converts(line: &str, want: &[String]) -> Vec<String> {
    let r = run(line);
    let line = short(line);
    assert!(
        r.rejects.is_empty(),
        "{line}: unexpected rejects {:?}",
        r.rejects
    );
    assert_eq!(r.counts, ONE_CONVERTED, "{line}");
    check(&line, &r.calls, want)
}

/// Asserts `line` is rejected whole with `code` and exactly `message`.
fn rejects(line: &str, code: &str, message: &str) {
    let r = run(line);
    let line = short(line);
    assert!(
        r.calls.is_empty(),
        "{line}: calls left behind {:?}",
        r.calls
    );
    assert_eq!(r.counts, ONE_REJECTED, "{line}");
    let [rej] = r.rejects.as_slice() else {
        panic!("{line}: expected one reject, got {:?}", r.rejects)
    };
    assert_eq!(rej.item, None, "{line}");
    assert_eq!(rej.raw, None, "{line}");
    assert_eq!(
        (rej.reject.code.as_str(), rej.reject.message.as_str()),
        (code, message),
        "{line}"
    );
}

/// Asserts `line` is rejected whole with `code` (the message is checked elsewhere).
fn rejects_code(line: &str, code: &str) {
    let r = run(line);
    let line = short(line);
    assert!(
        r.calls.is_empty(),
        "{line}: calls left behind {:?}",
        r.calls
    );
    assert_eq!(r.counts, ONE_REJECTED, "{line}");
    assert_eq!(r.rejects.len(), 1, "{line}");
    assert_eq!(
        r.rejects[0].reject.code.as_str(),
        code,
        "{line}: {:?}",
        r.rejects[0]
    );
}

mod v1_identify {
    use super::*;

    #[test]
    fn traits_are_the_body_minus_identifier_and_control_keys() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"created_at":1361205308,"email":"a@example.com","cio_id":"c9","anonymous_id":"an-1","_timestamp":"2023-08-24T14:15:22Z","_update":true,"unsubscribed":false,"cio_subscription_preferences":{"topics":{"topic_1":true}},"phone":"+15550100","plan":"pro"}}"#,
            &[at(
                r#"{"type":"identify","userId":"42","anonymousId":"an-1","traits":{"created_at":1361205308,"_update":true,"unsubscribed":false,"cio_subscription_preferences":{"topics":{"topic_1":true}},"phone":"+15550100","plan":"pro"},"context":{"journeys":{"identifiers":{"id":"42","email":"a@example.com","cio_id":"c9"}}}"#,
                T2,
                NOW,
            )],
        );
    }

    #[test]
    fn own_timestamp_wins_over_the_envelope_call_time() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","sent_at":"2023-08-24T14:15:22Z","body":{"_timestamp":1700000000}}"#,
            &[at(
                r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                T1,
                T2,
            )],
        );
    }

    #[test]
    fn numeric_body_identifier_keeps_its_number() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/a@b.co","body":{"id":42,"plan":"x"}}"#,
            &[now(
                r#"{"type":"identify","userId":"a@b.co","traits":{"plan":"x"},"context":{"journeys":{"identifiers":{"id":42,"email":"a@b.co"}}}"#,
            )],
        );
    }

    #[test]
    fn body_identifier_of_the_kind_the_path_names_is_dropped() {
        // docs/mapping.md: a body identifier goes to IDS only if the path did not name that kind, and
        // never to traits, so the body's second email is not written anywhere.
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/a@b.co","body":{"email":"other@b.co","id":"7"}}"#,
            &[now(
                r#"{"type":"identify","userId":"a@b.co","traits":{},"context":{"journeys":{"identifiers":{"id":"7","email":"a@b.co"}}}"#,
            )],
        );
    }

    #[test]
    fn escaped_key_spelling_an_identifier_is_an_identifier() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"e\u006dail":"x@y.z","pl\u0061n":"p"}}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{"plan":"p"},"context":{"journeys":{"identifiers":{"id":"42","email":"x@y.z"}}}"#,
            )],
        );
    }

    #[test]
    fn null_fields_count_as_absent_but_null_traits_pass_through() {
        // `email`, `anonymous_id` and `_timestamp` null: no identifier, no anonymousId, the
        // call time falls back to now. A null custom trait is data and is copied.
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"email":null,"anonymous_id":null,"_timestamp":null,"cio_relationships":null,"plan":null}}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{"plan":null},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn empty_string_identifiers_are_missing_identifier() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"email":""}}"#,
            "missing_identifier",
            "body.email is an empty string",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"anonymous_id":""}}"#,
            "missing_identifier",
            "body.anonymous_id is an empty string",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/","body":{"email":"a@b.co"}}"#,
            "missing_identifier",
            "the customer identifier in the path is empty",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/cio_","body":{}}"#,
            "missing_identifier",
            "the cio_ identifier in the path is empty",
        );
    }

    #[test]
    fn body_identifier_of_a_wrong_type_is_invalid_field() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"email":true}}"#,
            "invalid_field",
            "body.email must be a non-empty string or a number, got a boolean",
        );
    }

    #[test]
    fn no_body_gives_empty_traits() {
        // decision: an identify without a body (absent, null, "" or only whitespace) is an
        // identify with empty traits, not a reject.
        for body in ["", r#","body":null"#, r#","body":"""#, r#","body":"  ""#] {
            converts(
                &format!(r#"{{"method":"PUT","path":"/api/v1/customers/42"{body}}}"#),
                &[now(
                    r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                )],
            );
        }
    }

    #[test]
    fn relationships_as_a_bare_array_are_added() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"_timestamp":1700000000,"cio_relationships":[{"identifiers":{"object_type_id":"2","object_id":"acme"},"relationship_attributes":{"role":"admin"}},{"identifiers":{"cio_object_id":"o9"}}]}}"#,
            &[
                at(
                    r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                    T1,
                    NOW,
                ),
                at(
                    r#"{"type":"group","userId":"42","groupId":"acme","traits":{"object_type_id":"2","relationshipAttributes":{"role":"admin"}},"context":{"journeys":{"identifiers":{"object_type_id":"2","object_id":"acme","id":"42"}}}"#,
                    T1,
                    NOW,
                ),
                at(
                    r#"{"type":"group","userId":"42","groupId":"o9","traits":{},"context":{"journeys":{"identifiers":{"cio_object_id":"o9","id":"42"}}}"#,
                    T1,
                    NOW,
                ),
            ],
        );
    }

    #[test]
    fn relationships_object_without_action_adds() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":{"relationships":[{"identifiers":{"object_id":"acme"}}]}}}"#,
            &[
                now(
                    r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                ),
                now(
                    r#"{"type":"group","userId":"42","groupId":"acme","traits":{"object_type_id":"1"},"context":{"journeys":{"identifiers":{"object_id":"acme","id":"42"}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn singular_delete_relationship_spelling() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":{"action":"delete_relationship","relationships":[{"identifiers":{"object_type_id":"007","object_id":"acme"}}]}}}"#,
            &[
                now(
                    r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                ),
                now(
                    r#"{"type":"track","userId":"42","event":"Relationship Deleted","properties":{"objectId":"acme","objectTypeId":7},"context":{"journeys":{"identifiers":{"object_type_id":"007","object_id":"acme","id":"42"}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn bad_relationships_reject_the_whole_record() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":{"action":"merge","relationships":[]}}}"#,
            "invalid_field",
            "body.cio_relationships.action must be add_relationships or delete_relationships, got \"merge\"",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":{"action":"add_relationships"}}}"#,
            "missing_field",
            "body.cio_relationships.relationships is required",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":"acme"}}"#,
            "invalid_field",
            "body.cio_relationships must be an object or an array, got a string",
        );
        // The identify and the first group were already written: both are rolled back.
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"cio_relationships":[{"identifiers":{"object_id":"a"}},{"identifiers":{"object_type_id":"1"}}]}}"#,
            "missing_identifier",
            "body.cio_relationships.1.identifiers needs object_id (with object_type_id) or cio_object_id",
        );
    }

    #[test]
    fn bad_timestamp() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"_timestamp":"soon"}}"#,
            "invalid_timestamp",
            "body._timestamp: \"soon\" is neither unix seconds/milliseconds nor an RFC 3339 time",
        );
    }
}

mod v1_events {
    use super::*;

    #[test]
    fn own_timestamp_wins_and_envelope_time_is_sent_at() {
        let ids = converts(
            &format!(
                r#"{{"method":"POST","path":"/api/v1/customers/42/events","received_at":"2023-08-24T14:15:22Z","body":{{"name":"purchase","id":"{ULID}","timestamp":1700000000,"data":{{"price":23.45}}}}}}"#
            ),
            &[format!(
                r#"{{"type":"track","userId":"42","event":"purchase","properties":{{"price":23.45}},"context":{{"journeys":{{"identifiers":{{"id":"42"}}}}}},"integrations":{{"All":true}},"messageId":"{ULID}","timestamp":"{T1}","sentAt":"{T2}"}}"#
            )],
        );
        assert_eq!(ids, [ULID]);
    }

    #[test]
    fn id_that_is_not_a_ulid_is_ignored() {
        let ids = converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","id":"evt-123"}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"x","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        assert_ne!(ids[0], "evt-123");
    }

    #[test]
    fn lowercase_ulid_is_used_as_given() {
        // decision: a ULID dedupe id is copied as the input spells it (ULIDs are
        // case-insensitive; the id is not re-cased).
        let lower = ULID.to_ascii_lowercase();
        let ids = converts(
            &format!(
                r#"{{"method":"POST","path":"/api/v1/customers/42/events","body":{{"name":"x","id":"{lower}"}}}}"#
            ),
            &[format!(
                r#"{{"type":"track","userId":"42","event":"x","properties":{{}},"context":{{"journeys":{{"identifiers":{{"id":"42"}}}}}},"integrations":{{"All":true}},"messageId":"{lower}","timestamp":"{NOW}","sentAt":"{NOW}"}}"#
            )],
        );
        assert_eq!(ids, [lower]);
    }

    #[test]
    fn page_and_screen_take_name_and_trimmed_names() {
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/cio_c1/events","body":{"name":"\t/pricing \n","type":"page","data":{"url":"https://x.io/pricing"}}}"#,
            &[now(
                r#"{"type":"page","userId":"cio_c1","name":"/pricing","properties":{"url":"https://x.io/pricing"},"context":{"journeys":{"identifiers":{"cio_id":"c1"}}}"#,
            )],
        );
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/a@b.co/events","body":{"name":"Home","type":"screen"}}"#,
            &[now(
                r#"{"type":"screen","userId":"a@b.co","name":"Home","properties":{},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            )],
        );
    }

    #[test]
    fn type_is_case_sensitive() {
        // decision: only the exact strings `page` and `screen` select those calls; `Page` is
        // "anything else" (docs/mapping.md) and makes a track.
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","type":"Page"}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"x","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn type_that_is_not_a_string_is_invalid_field() {
        // decision: "anything else" in docs/mapping.md means any other string; a non-string `type` is a
        // field of the wrong JSON type (docs/mapping.md).
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","type":1}}"#,
            "invalid_field",
            "body.type must be a string, got a number",
        );
    }

    #[test]
    fn anonymous_page_with_numeric_anonymous_id() {
        converts(
            r#"{"method":"POST","path":"/api/v1/events","body":{"name":"Landing","type":"page","anonymous_id":7,"timestamp":"1700000000"}}"#,
            &[at(
                r#"{"type":"page","anonymousId":"7","name":"Landing","properties":{"url":"Landing"},"context":{"journeys":{"identifiers":{"anonymous_id":7}}}"#,
                T1,
                NOW,
            )],
        );
    }

    #[test]
    fn anonymous_event_with_empty_or_null_anonymous_id() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/events","body":{"name":"x","anonymous_id":""}}"#,
            "missing_identifier",
            "body.anonymous_id is an empty string",
        );
        // null counts as absent: an invite event.
        rejects_code(
            r#"{"method":"POST","path":"/api/v1/events","body":{"name":"x","anonymous_id":null}}"#,
            "no_pipelines_equivalent",
        );
    }

    #[test]
    fn null_data_and_timestamp_count_as_absent() {
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","data":null,"timestamp":null,"type":null}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"x","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn missing_names() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":null}}"#,
            "missing_field",
            "body.name is required",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":" \t "}}"#,
            "missing_field",
            "body.name is empty",
        );
        // An empty body string is no body at all.
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":""}"#,
            "missing_field",
            "body.name is required",
        );
    }
}

mod v1_devices {
    use super::*;

    #[test]
    fn add_device_without_platform_or_attributes() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":"tok","last_used":"2023-08-24T14:15:22Z"}}}"#,
            &[at(
                r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{},"context":{"device":{"token":"tok"},"journeys":{"identifiers":{"id":"42"}}}"#,
                T2,
                NOW,
            )],
        );
    }

    #[test]
    fn add_device_properties_are_attributes_then_other_device_keys() {
        converts(
            r#"{"method":"PUT","path":"/v1/customers/42/devices","sent_at":1700000000,"body":{"device":{"model":"Pixel","id":"tok","attributes":{"app":"2.1"},"platform":"android","last_used":null,"locale":"fr"}}}"#,
            &[at(
                r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{"app":"2.1","model":"Pixel","locale":"fr"},"context":{"device":{"token":"tok","type":"android"},"journeys":{"identifiers":{"id":"42"}}}"#,
                T1,
                T1,
            )],
        );
    }

    #[test]
    fn add_device_errors_name_the_field() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{}}"#,
            "missing_field",
            "body.device is required",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":"tok"}}"#,
            "invalid_field",
            "body.device must be an object, got a string",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"platform":"ios"}}}"#,
            "missing_field",
            "body.device.id is required",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":""}}}"#,
            "missing_field",
            "body.device.id is empty",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":true}}}"#,
            "invalid_field",
            "body.device.id must be a string or a number, got a boolean",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":"t","platform":1}}}"#,
            "invalid_field",
            "body.device.platform must be a string, got a number",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":"t","attributes":[]}}}"#,
            "invalid_field",
            "body.device.attributes must be an object, got an array",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":"t","last_used":-1}}}"#,
            "invalid_timestamp",
            "body.device.last_used: -1 is not a valid unix time",
        );
    }

    #[test]
    fn delete_device_with_an_email_path() {
        converts(
            r#"{"method":"delete","path":"/api/v1/customers/a%40b.co/devices/tok%20one","timestamp":1700000000}"#,
            &[at(
                r#"{"type":"track","userId":"a@b.co","event":"Device Deleted","properties":{},"context":{"device":{"token":"tok one"},"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
                T1,
                T1,
            )],
        );
    }

    #[test]
    fn delete_device_with_an_empty_token() {
        // decision: an empty token segment is `missing_field` (the token is not a person
        // identifier, so not `missing_identifier`).
        rejects(
            r#"{"method":"DELETE","path":"/api/v1/customers/42/devices/"}"#,
            "missing_field",
            "the device token in the path is empty",
        );
    }

    #[test]
    fn wrong_methods() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/devices","body":{}}"#,
            "unknown_call",
            "POST /api/v1/customers/42/devices is not a Track API call (that endpoint takes PUT)",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices/tok"}"#,
            "unknown_call",
            "PUT /api/v1/customers/42/devices/tok is not a Track API call (that endpoint takes DELETE)",
        );
    }
}

mod v1_person_actions {
    use super::*;

    #[test]
    fn delete_suppress_unsuppress() {
        for (method, suffix, event) in [
            ("DELETE", "", "User Deleted"),
            ("POST", "/suppress", "User Suppressed"),
            ("post", "/unsuppress", "User Unsuppressed"),
        ] {
            converts(
                &format!(
                    r#"{{"method":"{method}","path":"/api/v1/customers/cio_abc{suffix}","received_at":1700000000}}"#
                ),
                &[at(
                    &format!(
                        r#"{{"type":"track","userId":"cio_abc","event":"{event}","properties":{{}},"context":{{"journeys":{{"identifiers":{{"cio_id":"abc"}}}}}}"#
                    ),
                    T1,
                    T1,
                )],
            );
        }
    }

    #[test]
    fn a_body_on_a_bodiless_call_is_ignored() {
        // decision: a body on DELETE / suppress / unsuppress is parsed (it must be valid) but
        // contributes nothing.
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/suppress","body":{"reason":"x","timestamp":1700000000}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"User Suppressed","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn wrong_method_and_empty_identifier() {
        rejects(
            r#"{"method":"GET","path":"/api/v1/customers/42/suppress"}"#,
            "unknown_call",
            "GET /api/v1/customers/42/suppress is not a Track API call (that endpoint takes POST)",
        );
        rejects(
            r#"{"method":"DELETE","path":"/api/v1/customers/"}"#,
            "missing_identifier",
            "the customer identifier in the path is empty",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers//unsuppress"}"#,
            "missing_identifier",
            "the customer identifier in the path is empty",
        );
    }
}

mod merge {
    use super::*;

    #[test]
    fn v1_merge_by_id_and_numeric_id() {
        converts(
            r#"{"method":"POST","path":"/api/v1/merge_customers","body":{"primary":{"id":42},"secondary":{"id":"old-7"}}}"#,
            &[now(
                r#"{"type":"alias","userId":"42","previousId":"old-7","context":{"journeys":{"identifiers":{"id":42}}}"#,
            )],
        );
    }

    #[test]
    fn v1_merge_uses_the_envelope_time() {
        converts(
            r#"{"method":"POST","path":"/api/v1/merge_customers","timestamp":1700000000,"body":"{\"primary\":{\"cio_id\":\"c1\"},\"secondary\":{\"email\":\"e@x.io\"}}"}"#,
            &[at(
                r#"{"type":"alias","userId":"cio_c1","previousId":"e@x.io","context":{"journeys":{"identifiers":{"cio_id":"c1"}}}"#,
                T1,
                T1,
            )],
        );
    }

    #[test]
    fn v2_merge_takes_the_entity_timestamp() {
        converts(
            r#"{"type":"person","action":"merge","primary":{"email":"e@x.io"},"secondary":{"cio_id":"c2"},"timestamp":1700000000}"#,
            &[at(
                r#"{"type":"alias","userId":"e@x.io","previousId":"cio_c2","context":{"journeys":{"identifiers":{"email":"e@x.io"}}}"#,
                T1,
                NOW,
            )],
        );
    }

    #[test]
    fn null_identifiers_count_as_absent() {
        converts(
            r#"{"type":"person","action":"merge","primary":{"id":null,"email":"e@x.io"},"secondary":{"id":7,"cio_id":null}}"#,
            &[now(
                r#"{"type":"alias","userId":"e@x.io","previousId":"7","context":{"journeys":{"identifiers":{"email":"e@x.io"}}}"#,
            )],
        );
    }

    #[test]
    fn sides_must_hold_exactly_one_identifier() {
        rejects(
            r#"{"type":"person","action":"merge","primary":{"phone":"+1"},"secondary":{"id":"2"}}"#,
            "invalid_field",
            "primary must hold exactly one of id, email, cio_id, got none",
        );
        rejects(
            r#"{"type":"person","action":"merge","primary":{"id":"1"},"secondary":{"id":"2","cio_id":"c"}}"#,
            "invalid_field",
            "secondary must hold exactly one of id, email, cio_id, got several",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/merge_customers","body":{"primary":{"id":"1"},"secondary":{}}}"#,
            "invalid_field",
            "body.secondary must hold exactly one of id, email, cio_id, got none",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/merge_customers","body":{"primary":{"id":"1"},"secondary":"2"}}"#,
            "invalid_field",
            "body.secondary must be an object, got a string",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/merge_customers","body":{"primary":{"id":["1"]},"secondary":{"id":"2"}}}"#,
            "invalid_field",
            "body.primary.id must be a non-empty string or a number, got an array",
        );
    }

    #[test]
    fn missing_side_and_empty_identifier() {
        // decision: a side that is absent altogether is `missing_field` (the rules' `invalid_field`
        // is for a side with the wrong number of identifiers).
        rejects(
            r#"{"type":"person","action":"merge","secondary":{"id":"2"}}"#,
            "missing_field",
            "primary is required for a merge",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/merge_customers","body":{"primary":{"id":"1"}}}"#,
            "missing_field",
            "body.secondary is required for a merge",
        );
        // An empty-string identifier anywhere is missing_identifier (docs/mapping.md).
        rejects(
            r#"{"type":"person","action":"merge","primary":{"id":""},"secondary":{"id":"2"}}"#,
            "missing_identifier",
            "primary.id is an empty string",
        );
    }

    #[test]
    fn wrong_method() {
        rejects(
            r#"{"method":"PUT","path":"/api/v1/merge_customers","body":{}}"#,
            "unknown_call",
            "PUT /api/v1/merge_customers is not a Track API call (that endpoint takes POST)",
        );
    }
}

mod metrics_and_push {
    use super::*;

    #[test]
    fn metrics_properties_in_order_and_nothing_else() {
        // `recipient`, `reason`, `href` follow in that order whatever the body's order; other
        // body keys are not properties (docs/mapping.md).
        converts(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"href":"https://x.io","delivery_id":"d1","reason":"mailbox full","metric":" bounced ","recipient":"a@b.co","extra":1,"timestamp":"2023-08-24T14:15:22Z"}}"#,
            &[at(
                r#"{"type":"track","anonymousId":"d1","event":"Report Delivery Event","properties":{"deliveryId":"d1","metric":"bounced","recipient":"a@b.co","reason":"mailbox full","href":"https://x.io"},"context":{"journeys":{"identifiers":{"delivery_id":"d1"}}}"#,
                T2,
                NOW,
            )],
        );
    }

    #[test]
    fn metrics_numeric_delivery_id_and_null_href() {
        converts(
            r#"{"method":"POST","path":"/v1/metrics","body":{"delivery_id":42,"metric":"opened","href":null}}"#,
            &[now(
                r#"{"type":"track","anonymousId":"42","event":"Report Delivery Event","properties":{"deliveryId":"42","metric":"opened"},"context":{"journeys":{"identifiers":{"delivery_id":42}}}"#,
            )],
        );
    }

    #[test]
    fn metrics_errors() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"metric":"opened"}}"#,
            "missing_field",
            "body.delivery_id is required",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"delivery_id":"","metric":"opened"}}"#,
            "missing_identifier",
            "body.delivery_id is an empty string",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"delivery_id":"d1"}}"#,
            "missing_field",
            "body.metric is required",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"delivery_id":"d1","metric":3}}"#,
            "invalid_field",
            "body.metric must be a string, got a number",
        );
    }

    #[test]
    fn push_events_on_both_paths() {
        for path in ["/api/v1/push/events", "/push/events", "/v1/push/events"] {
            converts(
                &format!(
                    r#"{{"method":"POST","path":"{path}","body":{{"delivery_id":"d1","event":"opened","device_id":"tok","timestamp":1700000000}}}}"#
                ),
                // decision: the table names no time for push events; the body's `timestamp`
                // (which the endpoint takes) is the call time.
                &[at(
                    r#"{"type":"track","anonymousId":"d1","event":"Report Delivery Event","properties":{"deliveryId":"d1","metric":"opened","recipient":"tok"},"context":{"journeys":{"identifiers":{"delivery_id":"d1"}}}"#,
                    T1,
                    NOW,
                )],
            );
        }
    }

    #[test]
    fn push_event_without_device_id() {
        converts(
            r#"{"method":"POST","path":"/push/events","body":{"delivery_id":"d1","event":"delivered"}}"#,
            &[now(
                r#"{"type":"track","anonymousId":"d1","event":"Report Delivery Event","properties":{"deliveryId":"d1","metric":"delivered"},"context":{"journeys":{"identifiers":{"delivery_id":"d1"}}}"#,
            )],
        );
        rejects(
            r#"{"method":"POST","path":"/push/events","body":{"delivery_id":"d1","event":""}}"#,
            "missing_field",
            "body.event is empty",
        );
        rejects(
            r#"{"method":"GET","path":"/push/events"}"#,
            "unknown_call",
            "GET /push/events is not a Track API call (that endpoint takes POST)",
        );
    }
}

mod no_equivalent_and_unknown {
    use super::*;

    #[test]
    fn no_pipelines_equivalent() {
        for (path, what) in [
            (
                "/api/v1/segments/7/add_customers",
                "adding people to a manual segment",
            ),
            (
                "/api/v1/segments/7/remove_customers?id_type=email",
                "adding people to a manual segment",
            ),
            ("/unsubscribe/RPILAgABcRhI", "a custom unsubscribe"),
        ] {
            let path_only = path.split('?').next().unwrap();
            rejects(
                &format!(r#"{{"method":"POST","path":"{path}","body":{{"ids":["1"]}}}}"#),
                "no_pipelines_equivalent",
                &format!("POST {path_only}: {what} has no Pipelines equivalent"),
            );
        }
    }

    #[test]
    fn unknown_endpoints_and_methods() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/42/attributes","body":{}}"#,
            "unknown_call",
            "POST /api/v1/customers/42/attributes is not a Track API call this tool knows",
        );
        rejects(
            r#"{"method":"GET","path":"/api/v1/customers/42"}"#,
            "unknown_call",
            "GET /api/v1/customers/42 is not a Track API call (that endpoint takes PUT or DELETE)",
        );
        rejects(
            r#"{"method":"GET","path":"/api/v2/entity"}"#,
            "unknown_call",
            "GET /api/v2/entity is not a Track API call (that endpoint takes POST)",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v3/customers/42","body":{}}"#,
            "unknown_call",
            "PUT /api/v3/customers/42 is not a Track API call this tool knows",
        );
    }

    #[test]
    fn trailing_slash_is_not_a_known_endpoint() {
        // decision: paths are matched segment by segment; a trailing `/` adds an empty segment
        // and the call is `unknown_call`.
        rejects_code(
            r#"{"method":"PUT","path":"/api/v1/customers/42/","body":{}}"#,
            "unknown_call",
        );
    }

    #[test]
    fn unknown_v2_actions() {
        rejects(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"Identify"}"#,
            "unknown_call",
            "person action \"Identify\" is not a Track call (expected one of identify, event, page, screen, delete, suppress, unsuppress, add_relationships, delete_relationships, add_device, delete_device, merge)",
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_id":"1"},"action":"event"}"#,
            "unknown_call",
            "object action \"event\" is not a Track call (expected one of identify, identify_anonymous, add_relationships, delete_relationships, delete)",
        );
        rejects(
            r#"{"type":"group","identifiers":{"object_id":"1"},"action":"merge"}"#,
            "unknown_call",
            "object action \"merge\" is not a Track call (expected one of identify, identify_anonymous, add_relationships, delete_relationships, delete)",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{"id":"d"},"action":"opened"}"#,
            "unknown_call",
            "delivery action \"opened\" is not a Track call (expected event)",
        );
    }

    #[test]
    fn unknown_types_are_unknown_shape() {
        rejects(
            r#"{"type":"customer","action":"identify"}"#,
            "unknown_shape",
            "type \"customer\" is not one of person, object, delivery",
        );
        rejects(
            r#"{"type":7,"action":"identify"}"#,
            "unknown_shape",
            "type 7 is not one of person, object, delivery",
        );
        // Without an action (null counts as absent) it is no shape at all.
        for line in [
            r#"{"type":"person","identifiers":{"id":"1"}}"#,
            r#"{"type":"person","action":null}"#,
            r#"{"method":"POST"}"#,
            r#"{"path":"/api/v1/customers/1"}"#,
            r#"{"batch":{}}"#,
            r#"{}"#,
        ] {
            rejects(
                line,
                "unknown_shape",
                "expected a v2 entity (type and action), a v2 batch (batch array) or an HTTP call \
                 (method and path or url); the record has none of these",
            );
        }
    }
}

mod envelope {
    use super::*;

    fn identify_42(sent_at: &str) -> Vec<String> {
        vec![at(
            r#"{"type":"identify","userId":"42","traits":{"plan":"p"},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            sent_at,
            sent_at,
        )]
    }

    #[test]
    fn url_or_path() {
        let want = identify_42(NOW);
        for target in [
            r#""url":"https://track.customer.io/api/v1/customers/42""#,
            r#""url":"http://localhost:8080/v1/customers/42?x=1#f""#,
            r#""path":"/v1/customers/42""#,
            r#""path":"/api/v1/customers/42?id_type=id""#,
            r#""path":"v1/customers/42""#,
        ] {
            converts(
                &format!(r#"{{"method":"PUT",{target},"body":{{"plan":"p"}}}}"#),
                &want,
            );
        }
        // decision: with both, `path` wins over `url`.
        converts(
            r#"{"method":"PUT","url":"https://x.io/api/v1/customers/99","path":"/api/v1/customers/42","body":{"plan":"p"}}"#,
            &want,
        );
        rejects(
            r#"{"method":"PUT","url":"https://x.io","body":{}}"#,
            "unknown_call",
            "PUT  is not a Track API call this tool knows",
        );
    }

    #[test]
    fn method_is_case_insensitive() {
        for method in ["put", "Put", "pUT"] {
            converts(
                &format!(
                    r#"{{"method":"{method}","path":"/api/v1/customers/42","body":{{"plan":"p"}}}}"#
                ),
                &identify_42(NOW),
            );
        }
    }

    #[test]
    fn body_as_json_text() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":"{ \"plan\" : \"p\" }"}"#,
            &identify_42(NOW),
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":"{\"plan\""}"#,
            "invalid_json",
            "body is not valid JSON: EOF while parsing an object at line 1 column 7",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":"[1]"}"#,
            "invalid_field",
            "body must be a JSON object, got an array",
        );
        rejects(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":true}"#,
            "invalid_field",
            "body must be a JSON object or a string holding one, got a boolean",
        );
    }

    #[test]
    fn percent_decoding_of_segments() {
        for (segment, user_id, ids) in [
            (
                "bob%2Bnews%40x.io",
                "bob+news@x.io",
                r#"{"email":"bob+news@x.io"}"#,
            ),
            ("a+b", "a+b", r#"{"id":"a+b"}"#),
            ("caf%C3%A9%20%E2%9C%93", "café ✓", r#"{"id":"café ✓"}"#),
            ("cio%5Fabc", "cio_abc", r#"{"cio_id":"abc"}"#),
            ("a%2Fb", "a/b", r#"{"id":"a/b"}"#),
            ("100%", "100%", r#"{"id":"100%"}"#),
            ("%zz", "%zz", r#"{"id":"%zz"}"#),
            ("q%22%5C", "q\\\"\\\\", r#"{"id":"q\"\\"}"#),
        ] {
            converts(
                &format!(
                    r#"{{"method":"POST","path":"/api/v1/customers/{segment}/events","body":{{"name":"x"}}}}"#
                ),
                &[now(&format!(
                    r#"{{"type":"track","userId":"{user_id}","event":"x","properties":{{}},"context":{{"journeys":{{"identifiers":{ids}}}}}"#
                ))],
            );
        }
        rejects(
            r#"{"method":"POST","path":"/api/v1/customers/%FF/events","body":{"name":"x"}}"#,
            "invalid_field",
            "path segment \"%FF\" is not valid UTF-8 once percent-decoded",
        );
    }

    #[test]
    fn call_time_precedence() {
        let line = |times: &str| {
            format!(
                r#"{{"method":"PUT","path":"/api/v1/customers/42",{times}"body":{{"plan":"p"}}}}"#
            )
        };
        // timestamp > received_at > sent_at, whatever the key order.
        converts(
            &line(r#""sent_at":1,"received_at":2,"timestamp":1700000000,"#),
            &identify_42(T1),
        );
        converts(
            &line(r#""sent_at":1,"received_at":"2023-08-24T14:15:22Z","#),
            &identify_42(T2),
        );
        converts(&line(r#""sent_at":1700000000000,"#), &identify_42(T1));
        converts(&line(r#""sent_at":"1700000000.000","#), &identify_42(T1));
        // null counts as absent.
        converts(
            &line(r#""timestamp":null,"received_at":null,"sent_at":"2023-08-24T16:15:22+02:00","#),
            &identify_42(T2),
        );
        // The first present wins even when it is invalid: the record is rejected.
        rejects(
            &line(r#""timestamp":"yesterday","received_at":1700000000,"#),
            "invalid_timestamp",
            "timestamp: \"yesterday\" is neither unix seconds/milliseconds nor an RFC 3339 time",
        );
        rejects(
            &line(r#""received_at":{"s":1},"#),
            "invalid_timestamp",
            "received_at: expected unix seconds, unix milliseconds or an RFC 3339 string, got an object",
        );
        rejects(
            &line(r#""sent_at":253402300800000,"#),
            "invalid_timestamp",
            "sent_at: 253402300800000 is not a valid unix time",
        );
    }

    #[test]
    fn other_envelope_keys_are_ignored() {
        converts(
            r#"{"id":"log-1","method":"PUT","status":200,"headers":{"Authorization":"Basic x"},"path":"/api/v1/customers/42","body":{"plan":"p"}}"#,
            &identify_42(NOW),
        );
    }

    #[test]
    fn envelope_fields_of_the_wrong_type() {
        rejects(
            r#"{"method":1,"path":"/api/v1/customers/42"}"#,
            "invalid_field",
            "method must be a string, got a number",
        );
        rejects(
            r#"{"method":"PUT","path":["v1"]}"#,
            "invalid_field",
            "path must be a string, got an array",
        );
        rejects(
            r#"{"method":"PUT","url":{}}"#,
            "invalid_field",
            "url must be a string, got an object",
        );
    }

    #[test]
    fn v2_entity_envelope() {
        let want = [at(
            r#"{"type":"track","userId":"42","event":"x","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            T2,
            T1,
        )];
        converts(
            r#"{"method":"POST","path":"/api/v2/entity","received_at":1700000000,"body":{"type":"person","identifiers":{"id":"42"},"action":"event","name":"x","timestamp":"2023-08-24T14:15:22Z"}}"#,
            &want,
        );
        converts(
            r#"{"method":"post","url":"https://track.customer.io/api/v2/entity","received_at":1700000000,"body":"{\"type\":\"person\",\"identifiers\":{\"id\":\"42\"},\"action\":\"event\",\"name\":\"x\",\"timestamp\":\"2023-08-24T14:15:22Z\"}"}"#,
            &want,
        );
        // Without its own timestamp the entity takes the envelope's.
        converts(
            r#"{"method":"POST","path":"/v2/entity","timestamp":1700000000,"body":{"type":"object","identifiers":{"object_id":"acme"},"action":"delete"}}"#,
            &[at(
                r#"{"type":"track","anonymousId":"object:1:acme","event":"Object Deleted","properties":{"objectId":"acme","objectTypeId":1},"context":{"journeys":{"identifiers":{"object_id":"acme"}}}"#,
                T1,
                T1,
            )],
        );
        rejects(
            r#"{"method":"POST","path":"/api/v2/entity","body":{"batch":[]}}"#,
            "unknown_shape",
            "the body of POST /api/v2/entity is not a v2 entity: it needs type and action",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v2/entity","body":{"type":"robot","action":"x"}}"#,
            "unknown_shape",
            "type \"robot\" is not one of person, object, delivery",
        );
        rejects_code(
            r#"{"method":"POST","path":"/api/v2/entity","body":{"type":"person","action":"event","identifiers":{"id":"1"}}}"#,
            "missing_field",
        );
    }

    #[test]
    fn v2_batch_envelope() {
        let line = r#"{"method":"POST","path":"/api/v2/batch","sent_at":1700000000,"body":{"batch":[{"type":"person","identifiers":{"id":"1"},"action":"delete"},{"type":"person","action":"delete"},{"type":"person","identifiers":{"id":"3"},"action":"suppress","timestamp":"2023-08-24T14:15:22Z"}]}}"#;
        let r = run(line);
        assert_eq!(
            r.counts,
            Counts {
                records: 3,
                converted: 2,
                rejected: 1
            }
        );
        check(
            line,
            &r.calls,
            &[
                at(
                    r#"{"type":"track","userId":"1","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"id":"1"}}}"#,
                    T1,
                    T1,
                ),
                at(
                    r#"{"type":"track","userId":"3","event":"User Suppressed","properties":{},"context":{"journeys":{"identifiers":{"id":"3"}}}"#,
                    T2,
                    T1,
                ),
            ],
        );
        let [rej] = r.rejects.as_slice() else {
            panic!("{:?}", r.rejects)
        };
        assert_eq!(rej.item, Some(1));
        assert_eq!(
            rej.raw.as_deref(),
            Some(r#"{"type":"person","action":"delete"}"#)
        );
        assert_eq!(rej.reject.code.as_str(), "missing_identifier");

        rejects(
            r#"{"method":"POST","path":"/api/v2/batch","body":{"batch":{}}}"#,
            "invalid_field",
            "body.batch must be an array, got an object",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v2/batch","body":{}}"#,
            "missing_field",
            "body.batch is required for POST /api/v2/batch",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v2/batch","body":"{\"batch\":[]}"}"#,
            "missing_field",
            "batch is empty: no calls to convert",
        );
    }
}

mod v2_person {
    use super::*;

    #[test]
    fn numeric_identifier() {
        converts(
            r#"{"type":"person","identifiers":{"id":42},"action":"identify","attributes":{"plan":"p"}}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{"plan":"p"},"context":{"journeys":{"identifiers":{"id":42}}}"#,
            )],
        );
    }

    #[test]
    fn several_identifiers_pid_order_and_ids_order() {
        // PID: id, cio_id, email, phone. IDS: id, email, cio_id, phone (input order ignored).
        converts(
            r#"{"type":"person","identifiers":{"phone":"+1555","email":"a@b.co","cio_id":"c1","id":"u1"},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","userId":"u1","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"id":"u1","email":"a@b.co","cio_id":"c1","phone":"+1555"}}}"#,
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"phone":"+1555","email":"a@b.co","cio_id":"c1"},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","userId":"cio_c1","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"email":"a@b.co","cio_id":"c1","phone":"+1555"}}}"#,
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"phone":"+1555","email":"a@b.co"},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","userId":"a@b.co","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"email":"a@b.co","phone":"+1555"}}}"#,
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"phone":15550100},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","userId":"15550100","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"phone":15550100}}}"#,
            )],
        );
    }

    #[test]
    fn empty_string_identifier_is_missing_identifier_even_with_others() {
        rejects(
            r#"{"type":"person","identifiers":{"id":"","email":"a@b.co"},"action":"identify"}"#,
            "missing_identifier",
            "identifiers.id is an empty string",
        );
        rejects(
            r#"{"type":"person","identifiers":{"email":"a@b.co","anonymous_id":""},"action":"identify"}"#,
            "missing_identifier",
            "identifiers.anonymous_id is an empty string",
        );
    }

    #[test]
    fn null_fields_count_as_absent() {
        converts(
            r#"{"type":"person","identifiers":{"id":null,"email":"a@b.co","anonymous_id":null},"action":"identify","attributes":null,"timestamp":null,"cio_relationships":null}"#,
            &[now(
                r#"{"type":"identify","userId":"a@b.co","traits":{},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            )],
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":null},"action":"identify"}"#,
            "missing_identifier",
            "identifiers has none of id, email, cio_id, phone (or anonymous_id)",
        );
        rejects(
            r#"{"type":"person","identifiers":null,"action":"identify"}"#,
            "missing_identifier",
            "identifiers is required for a person call",
        );
    }

    #[test]
    fn anonymous_identify() {
        converts(
            r#"{"type":"person","identifiers":{"anonymous_id":"an-1"},"action":"identify","attributes":{"a":1}}"#,
            &[now(
                r#"{"type":"identify","anonymousId":"an-1","traits":{"a":1},"context":{"journeys":{"identifiers":{"anonymous_id":"an-1"}}}"#,
            )],
        );
    }

    #[test]
    fn identifier_with_anonymous_id_sets_both_ids() {
        // decision: `anonymous_id` beside a person identifier becomes `anonymousId` too (the
        // Segment way of linking the visitor); IDS names the person only.
        converts(
            r#"{"type":"person","identifiers":{"anonymous_id":"an-1","id":"42"},"action":"event","name":"x"}"#,
            &[now(
                r#"{"type":"track","userId":"42","anonymousId":"an-1","event":"x","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn events_pages_screens() {
        converts(
            &format!(
                r#"{{"type":"person","identifiers":{{"email":"a@b.co"}},"action":"page","name":" /home ","id":"{ULID}","attributes":{{"ref":"x"}},"timestamp":1700000000}}"#
            ),
            &[format!(
                r#"{{"type":"page","userId":"a@b.co","name":"/home","properties":{{"ref":"x","url":"/home"}},"context":{{"journeys":{{"identifiers":{{"email":"a@b.co"}}}}}},"integrations":{{"All":true}},"messageId":"{ULID}","timestamp":"{T1}","sentAt":"{NOW}"}}"#
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"cio_id":"c1"},"action":"screen","name":"Cart","id":"not-a-ulid"}"#,
            &[now(
                r#"{"type":"screen","userId":"cio_c1","name":"Cart","properties":{},"context":{"journeys":{"identifiers":{"cio_id":"c1"}}}"#,
            )],
        );
    }

    #[test]
    fn entity_timestamp_is_not_a_call_time() {
        // A bare v2 entity has no envelope: its timestamp is the call's, sentAt is now.
        for (action, event) in [
            ("delete", "User Deleted"),
            ("suppress", "User Suppressed"),
            ("unsuppress", "User Unsuppressed"),
        ] {
            converts(
                &format!(
                    r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"{action}","timestamp":"2023-08-24T14:15:22.999999Z"}}"#
                ),
                &[at(
                    &format!(
                        r#"{{"type":"track","userId":"1","event":"{event}","properties":{{}},"context":{{"journeys":{{"identifiers":{{"id":"1"}}}}}}"#
                    ),
                    "2023-08-24T14:15:22.999Z",
                    NOW,
                )],
            );
        }
    }

    #[test]
    fn relationships_actions() {
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_relationships","cio_relationships":[{"identifiers":{"object_id":"acme"},"relationship_attributes":{"x":1}},{"identifiers":{"cio_object_id":"o9"},"relationship_attributes":{"y":2}}]}"#,
            &[
                now(
                    r#"{"type":"group","userId":"42","groupId":"acme","traits":{"object_type_id":"1","relationshipAttributes":{"x":1}},"context":{"journeys":{"identifiers":{"object_id":"acme","id":"42"}}}"#,
                ),
                now(
                    r#"{"type":"group","userId":"42","groupId":"o9","traits":{"relationshipAttributes":{"y":2}},"context":{"journeys":{"identifiers":{"cio_object_id":"o9","id":"42"}}}"#,
                ),
            ],
        );
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"delete_relationships","cio_relationships":[{"identifiers":{"object_type_id":"abc","object_id":"acme"}},{"identifiers":{"cio_object_id":"o9"}}]}"#,
            &[
                now(
                    r#"{"type":"track","userId":"42","event":"Relationship Deleted","properties":{"objectId":"acme","objectTypeId":"abc"},"context":{"journeys":{"identifiers":{"object_type_id":"abc","object_id":"acme","id":"42"}}}"#,
                ),
                now(
                    r#"{"type":"track","userId":"42","event":"Relationship Deleted","properties":{"objectId":"o9"},"context":{"journeys":{"identifiers":{"cio_object_id":"o9","id":"42"}}}"#,
                ),
            ],
        );
        for rels in [
            "",
            r#","cio_relationships":null"#,
            r#","cio_relationships":[]"#,
        ] {
            rejects(
                &format!(
                    r#"{{"type":"person","identifiers":{{"id":"42"}},"action":"delete_relationships"{rels}}}"#
                ),
                "missing_field",
                "cio_relationships is required (a non-empty array) for delete_relationships",
            );
        }
    }

    #[test]
    fn identify_with_empty_relationships_is_just_an_identify() {
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"identify","cio_relationships":[]}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn add_device_time_falls_back_to_the_entity_timestamp() {
        // Other keys directly under `device` follow device.attributes in properties, as in v1.
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","timestamp":1700000000,"device":{"model":"x","token":"t","attributes":{"a":1},"os":"17.1"}}"#,
            &[at(
                r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{"a":1,"model":"x","os":"17.1"},"context":{"device":{"token":"t"},"journeys":{"identifiers":{"id":"42"}}}"#,
                T1,
                NOW,
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","timestamp":1,"device":{"token":"t","platform":"ios","last_used":"2023-08-24T14:15:22Z"}}"#,
            &[at(
                r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{},"context":{"device":{"token":"t","type":"ios"},"journeys":{"identifiers":{"id":"42"}}}"#,
                T2,
                NOW,
            )],
        );
    }

    #[test]
    fn delete_device_keeps_platform_as_device_type() {
        // The platform goes to context.device.type, as the iOS SDK sends it; other device keys
        // are not properties of a Device Deleted call.
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"remove_device","device":{"platform":"ios","token":"t","model":"x"}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"Device Deleted","properties":{},"context":{"device":{"token":"t","type":"ios"},"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"delete_device","device":{"token":"t"}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"Device Deleted","properties":{},"context":{"device":{"token":"t"},"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"delete_device","device":{"token":"t","platform":7}}"#,
            "invalid_field",
            "device.platform must be a string, got a number",
        );
    }

    #[test]
    fn device_errors() {
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device"}"#,
            "missing_field",
            "device is required for add_device",
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"remove_device","device":{}}"#,
            "missing_field",
            "device.token is required",
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","device":{"token":""}}"#,
            "missing_field",
            "device.token is empty",
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","device":{"token":"t","attributes":"x"}}"#,
            "invalid_field",
            "device.attributes must be an object, got a string",
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","device":{"token":"t","last_used":false}}"#,
            "invalid_timestamp",
            "device.last_used: expected unix seconds, unix milliseconds or an RFC 3339 string, got a boolean",
        );
    }
}

mod v2_object {
    use super::*;

    #[test]
    fn identify_with_relationships_of_every_kind_of_person() {
        converts(
            r#"{"type":"object","identifiers":{"object_type_id":3,"object_id":99},"action":"identify","attributes":{"name":"Acme","object_type_id":"ignored","relationshipAttributes":"kept"},"cio_relationships":[{"identifiers":{"id":42,"email":"a@b.co"}},{"identifiers":{"anonymous_id":"an-1"},"relationship_attributes":{"role":"x"}}]}"#,
            &[
                // decision: attributes named like a key the call sets itself
                // (`object_type_id`, and `relationshipAttributes` when the relationship has
                // attributes) are not copied, so no key is written twice.
                now(
                    r#"{"type":"group","userId":"42","groupId":"99","traits":{"name":"Acme","relationshipAttributes":"kept","object_type_id":"3"},"context":{"journeys":{"identifiers":{"object_type_id":3,"object_id":99,"id":42,"email":"a@b.co"}}}"#,
                ),
                now(
                    r#"{"type":"group","anonymousId":"an-1","groupId":"99","traits":{"name":"Acme","object_type_id":"3","relationshipAttributes":{"role":"x"}},"context":{"journeys":{"identifiers":{"object_type_id":3,"object_id":99,"anonymous_id":"an-1"}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn identify_without_relationships() {
        for rels in [
            "",
            r#","cio_relationships":[]"#,
            r#","cio_relationships":null"#,
        ] {
            converts(
                &format!(
                    r#"{{"type":"object","identifiers":{{"object_id":"acme"}},"action":"identify","timestamp":1700000000{rels}}}"#
                ),
                &[at(
                    r#"{"type":"group","groupId":"acme","traits":{"object_type_id":"1"},"context":{"journeys":{"identifiers":{"object_id":"acme"}}}"#,
                    T1,
                    NOW,
                )],
            );
        }
    }

    #[test]
    fn identify_by_cio_object_id() {
        // No object_type_id trait for cio_object_id; the attributes are copied whole.
        converts(
            r#"{"type":"object","identifiers":{"cio_object_id":"o1"},"action":"identify","attributes":{"name":"A","object_type_id":"9"},"cio_relationships":[{"identifiers":{"cio_id":"c1"}}]}"#,
            &[now(
                r#"{"type":"group","userId":"cio_c1","groupId":"o1","traits":{"name":"A","object_type_id":"9"},"context":{"journeys":{"identifiers":{"cio_object_id":"o1","cio_id":"c1"}}}"#,
            )],
        );
    }

    #[test]
    fn identify_anonymous_with_relationships() {
        converts(
            r#"{"type":"object","identifiers":{"object_type_id":"1","object_id":"acme"},"action":"identify_anonymous","anonymous_id":"top","attributes":{"name":"A"},"cio_relationships":[{"identifiers":{"anonymous_id":"an1"},"relationship_attributes":{"r":1}},{"identifiers":{"anonymous_id":2}}]}"#,
            &[
                now(
                    r#"{"type":"group","anonymousId":"an1","groupId":"acme","traits":{"name":"A","object_type_id":"1","relationshipAttributes":{"r":1}},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"acme","anonymous_id":"an1"}}}"#,
                ),
                now(
                    r#"{"type":"group","anonymousId":"2","groupId":"acme","traits":{"name":"A","object_type_id":"1"},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"acme","anonymous_id":2}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn identify_anonymous_without_relationships() {
        converts(
            r#"{"type":"object","identifiers":{"object_type_id":"1","object_id":"acme"},"action":"identify_anonymous","anonymous_id":"an0","attributes":{"name":"A"}}"#,
            &[now(
                r#"{"type":"group","anonymousId":"an0","groupId":"acme","traits":{"name":"A","object_type_id":"1"},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"acme","anonymous_id":"an0"}}}"#,
            )],
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_id":"acme"},"action":"identify_anonymous"}"#,
            "missing_identifier",
            "identify_anonymous needs anonymous_id or cio_relationships",
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_id":"acme"},"action":"identify_anonymous","cio_relationships":[{"identifiers":{"id":"42"}}]}"#,
            "missing_identifier",
            "cio_relationships.0.identifiers.anonymous_id is required",
        );
    }

    #[test]
    fn add_relationships() {
        converts(
            r#"{"type":"object","identifiers":{"object_type_id":"2","object_id":"acme"},"action":"add_relationship","attributes":{"not":"copied"},"cio_relationships":[{"identifiers":{"email":"a@b.co"}},{"identifiers":{"phone":"+1"},"relationship_attributes":{"r":1}}]}"#,
            &[
                now(
                    r#"{"type":"group","userId":"a@b.co","groupId":"acme","traits":{"object_type_id":"2"},"context":{"journeys":{"identifiers":{"object_type_id":"2","object_id":"acme","email":"a@b.co"}}}"#,
                ),
                now(
                    r#"{"type":"group","userId":"+1","groupId":"acme","traits":{"object_type_id":"2","relationshipAttributes":{"r":1}},"context":{"journeys":{"identifiers":{"object_type_id":"2","object_id":"acme","phone":"+1"}}}"#,
                ),
            ],
        );
    }

    #[test]
    fn delete_relationships() {
        converts(
            r#"{"type":"object","identifiers":{"object_type_id":"-0","object_id":"acme"},"action":"delete_relationships","cio_relationships":[{"identifiers":{"email":"e@x.io","id":"5"}}]}"#,
            &[now(
                r#"{"type":"track","userId":"5","event":"Relationship Deleted","properties":{"objectId":"acme","objectTypeId":0},"context":{"journeys":{"identifiers":{"object_type_id":"-0","object_id":"acme","id":"5","email":"e@x.io"}}}"#,
            )],
        );
    }

    #[test]
    fn delete_with_object_type_id_normalised() {
        for (given, ids_value, property) in [
            (r#""007""#, r#""007""#, "7"),
            ("7", "7", "7"),
            (r#""abc""#, r#""abc""#, r#""abc""#),
            (r#""1.5""#, r#""1.5""#, r#""1.5""#),
            ("2.0", "2.0", "2.0"),
        ] {
            let raw_text = given.trim_matches('"');
            converts(
                &format!(
                    r#"{{"type":"object","identifiers":{{"object_type_id":{given},"object_id":"acme"}},"action":"delete"}}"#
                ),
                &[now(&format!(
                    r#"{{"type":"track","anonymousId":"object:{raw_text}:acme","event":"Object Deleted","properties":{{"objectId":"acme","objectTypeId":{property}}},"context":{{"journeys":{{"identifiers":{{"object_type_id":{ids_value},"object_id":"acme"}}}}}}"#
                ))],
            );
        }
    }

    #[test]
    fn delete_without_object_type_id() {
        converts(
            r#"{"type":"object","identifiers":{"object_id":"acme"},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","anonymousId":"object:1:acme","event":"Object Deleted","properties":{"objectId":"acme","objectTypeId":1},"context":{"journeys":{"identifiers":{"object_id":"acme"}}}"#,
            )],
        );
    }

    #[test]
    fn delete_with_cio_object_id() {
        converts(
            r#"{"type":"group","identifiers":{"cio_object_id":"x9"},"action":"delete"}"#,
            &[now(
                r#"{"type":"track","anonymousId":"object:x9","event":"Object Deleted","properties":{"objectId":"x9"},"context":{"journeys":{"identifiers":{"cio_object_id":"x9"}}}"#,
            )],
        );
    }

    #[test]
    fn object_identifier_errors() {
        rejects(
            r#"{"type":"object","action":"delete"}"#,
            "missing_identifier",
            "identifiers is required for an object call",
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_type_id":"1"},"action":"delete"}"#,
            "missing_identifier",
            "identifiers needs object_id (with object_type_id) or cio_object_id",
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_id":""},"action":"delete"}"#,
            "missing_identifier",
            "identifiers.object_id is an empty string",
        );
        rejects(
            r#"{"type":"object","identifiers":{"object_type_id":true,"object_id":"x"},"action":"delete"}"#,
            "invalid_field",
            "identifiers.object_type_id must be a non-empty string or a number, got a boolean",
        );
    }
}

mod v2_delivery {
    use super::*;

    #[test]
    fn attributes_follow_recipient_without_duplicates() {
        // decision: attribute keys the call sets itself (`deliveryId`, `metric`, and
        // `recipient` when `device_token` provides it) are not copied a second time.
        converts(
            r#"{"type":"delivery","identifiers":{"id":"d1"},"action":"event","name":" clicked ","timestamp":1700000000,"attributes":{"href":"https://x.io","device_token":"tok","recipient":"r","metric":"m","deliveryId":"z","n":1.50}}"#,
            &[at(
                r#"{"type":"track","anonymousId":"d1","event":"Report Delivery Event","properties":{"deliveryId":"d1","metric":"clicked","recipient":"tok","href":"https://x.io","n":1.50},"context":{"journeys":{"identifiers":{"delivery_id":"d1"}}}"#,
                T1,
                NOW,
            )],
        );
    }

    #[test]
    fn attribute_recipient_is_kept_without_device_token() {
        // "plus the other attributes" (docs/mapping.md): without device_token, `recipient` is one.
        converts(
            r#"{"type":"delivery","identifiers":{"id":"d1"},"action":"event","name":"bounced","attributes":{"recipient":"a@b.co","device_token":null}}"#,
            &[now(
                r#"{"type":"track","anonymousId":"d1","event":"Report Delivery Event","properties":{"deliveryId":"d1","metric":"bounced","recipient":"a@b.co"},"context":{"journeys":{"identifiers":{"delivery_id":"d1"}}}"#,
            )],
        );
    }

    #[test]
    fn numeric_delivery_id_without_attributes() {
        converts(
            r#"{"type":"delivery","identifiers":{"id":123},"action":"event","name":"opened"}"#,
            &[now(
                r#"{"type":"track","anonymousId":"123","event":"Report Delivery Event","properties":{"deliveryId":"123","metric":"opened"},"context":{"journeys":{"identifiers":{"delivery_id":123}}}"#,
            )],
        );
    }

    #[test]
    fn delivery_errors() {
        rejects(
            r#"{"type":"delivery","identifiers":{"delivery_id":"d1"},"action":"event","name":"x"}"#,
            "missing_field",
            "identifiers.id is required for a delivery event",
        );
        // A delivery metric without its delivery id is missing_field (docs/mapping.md).
        rejects(
            r#"{"type":"delivery","action":"event","name":"x"}"#,
            "missing_field",
            "identifiers.id is required for a delivery event",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{"id":null},"action":"event","name":"x"}"#,
            "missing_field",
            "identifiers.id is required for a delivery event",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{"id":""},"action":"event","name":"x"}"#,
            "missing_identifier",
            "identifiers.id is an empty string",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{"id":"d1"},"action":"event"}"#,
            "missing_field",
            "name is required",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{"id":"d1"},"action":"event","name":"x","attributes":5}"#,
            "invalid_field",
            "attributes must be an object, got a number",
        );
    }
}

mod batches {
    use super::*;

    #[test]
    fn item_indexes_and_raw_text_of_rejected_items() {
        // Each rejected element's raw text is exactly its text in the line, whitespace included.
        let line = r#"{"batch":[ {"type":"person","identifiers":{"id":"1"},"action":"delete"} , 5,{ "type" : "thing", "action":"x" },{"type":"person"},{"type":"person","identifiers":{"id":"1"},"action":"fly"},[],{"type":"person","identifiers":{"id":"2"},"action":"event","name":"e"}]}"#;
        let r = run(line);
        assert_eq!(
            r.counts,
            Counts {
                records: 7,
                converted: 2,
                rejected: 5
            }
        );
        check(
            line,
            &r.calls,
            &[
                now(
                    r#"{"type":"track","userId":"1","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"id":"1"}}}"#,
                ),
                now(
                    r#"{"type":"track","userId":"2","event":"e","properties":{},"context":{"journeys":{"identifiers":{"id":"2"}}}"#,
                ),
            ],
        );
        let got: Vec<(Option<u32>, &str, Option<&str>, &str)> = r
            .rejects
            .iter()
            .map(|x| {
                (
                    x.item,
                    x.reject.code.as_str(),
                    x.raw.as_deref(),
                    x.reject.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(1),
                    "unknown_shape",
                    Some("5"),
                    "batch item 1 is a number, not a v2 entity object"
                ),
                (
                    Some(2),
                    "unknown_shape",
                    Some(r#"{ "type" : "thing", "action":"x" }"#),
                    "type \"thing\" is not one of person, object, delivery"
                ),
                (
                    Some(3),
                    "unknown_shape",
                    Some(r#"{"type":"person"}"#),
                    "batch item 3 is not a v2 entity: it needs type and action"
                ),
                (
                    Some(4),
                    "unknown_call",
                    Some(r#"{"type":"person","identifiers":{"id":"1"},"action":"fly"}"#),
                    "person action \"fly\" is not a Track call (expected one of identify, event, page, screen, delete, suppress, unsuppress, add_relationships, delete_relationships, add_device, delete_device, merge)"
                ),
                (
                    Some(5),
                    "unknown_shape",
                    Some("[]"),
                    "batch item 5 is an array, not a v2 entity object"
                ),
            ]
        );
    }

    #[test]
    fn a_failing_item_rolls_back_only_its_own_calls() {
        let line = r#"{"batch":[{"type":"object","identifiers":{"object_id":"a"},"action":"add_relationships","cio_relationships":[{"identifiers":{"id":"1"}},{"identifiers":{}}]},{"type":"person","identifiers":{"id":"2"},"action":"delete"}]}"#;
        let r = run(line);
        assert_eq!(
            r.counts,
            Counts {
                records: 2,
                converted: 1,
                rejected: 1
            }
        );
        check(
            line,
            &r.calls,
            &[now(
                r#"{"type":"track","userId":"2","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"id":"2"}}}"#,
            )],
        );
        assert_eq!(r.rejects[0].item, Some(0));
        assert_eq!(
            r.rejects[0].reject.message,
            "cio_relationships.1.identifiers has none of id, email, cio_id, phone (or anonymous_id)"
        );
    }

    #[test]
    fn empty_batch() {
        // decision: an empty batch has no element to count, so the line itself is one record,
        // rejected as `missing_field`: nothing is lost silently.
        rejects(
            r#"{"batch":[]}"#,
            "missing_field",
            "batch is empty: no calls to convert",
        );
    }

    #[test]
    fn derived_ids_hash_the_element_not_the_line() {
        let el = r#"{"type":"person","identifiers":{"id":"1"},"action":"delete"}"#;
        let a = run(&format!(r#"{{"batch":[{el}]}}"#));
        let b = run(&format!(r#"{{"batch":[{el},{el}]}}"#));
        let c = run(el);
        let id = |r: &Translated, i: usize| -> String {
            let v: serde_json::Value = serde_json::from_str(&r.calls[i]).unwrap();
            v["messageId"].as_str().unwrap().to_owned()
        };
        assert_eq!(id(&a, 0), id(&c, 0));
        // decision: identical elements of one batch are identical records and get the same
        // derived messageId (a destination deduplicating on it drops the repeat).
        assert_eq!(id(&b, 0), id(&b, 1));
        assert_eq!(id(&a, 0), id(&b, 0));
    }

    #[test]
    fn each_element_uses_its_own_ulid() {
        let other = "01HZX3P8M0QK2V7S9T4W6Y1A2C";
        let line = format!(
            r#"{{"batch":[{{"type":"person","identifiers":{{"id":"1"}},"action":"event","name":"a","id":"{ULID}"}},{{"type":"person","identifiers":{{"id":"1"}},"action":"event","name":"b","id":"{other}"}}]}}"#
        );
        let r = run(&line);
        let ids: Vec<String> = r
            .calls
            .iter()
            .map(|c| {
                let v: serde_json::Value = serde_json::from_str(c).unwrap();
                v["messageId"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids, [ULID, other]);
    }

    #[test]
    fn batch_not_an_array_is_no_shape() {
        rejects_code(r#"{"batch":"[]"}"#, "unknown_shape");
    }
}

mod options {
    use super::*;
    use xxhash_rust::xxh3::Xxh3;

    const TWO_PEOPLE: &str = r#"{"type":"object","identifiers":{"object_id":"acme"},"action":"add_relationships","cio_relationships":[{"identifiers":{"id":"1"}},{"identifiers":{"id":"2"},"relationship_attributes":{"pad":"PAD"}}]}"#;

    fn opts_max(max: usize) -> Options {
        let mut o = Options::new(NOW_MS);
        o.max_call_bytes = max;
        o
    }

    #[test]
    fn call_too_large_rolls_back_every_call_of_the_record() {
        let line = TWO_PEOPLE.replace("PAD", &"x".repeat(200));
        let all = run_opts(&opts_max(0), line.as_bytes());
        assert_eq!(all.calls.len(), 2);
        let (small, big) = (all.calls[0].len(), all.calls[1].len());
        assert!(small < big);

        // The limit between the two: the first call fits, the second does not, neither is kept.
        let mut out = Output::default();
        let earlier = translate_line(
            &opts_max(small),
            br#"{"type":"person","identifiers":{"id":"9"},"action":"delete"}"#,
            &mut out,
        );
        assert_eq!(earlier, ONE_CONVERTED);
        let kept = out.buf.clone();
        let counts = translate_line(&opts_max(big - 1), line.as_bytes(), &mut out);
        assert_eq!(counts, ONE_REJECTED);
        assert_eq!(out.calls.len(), 1, "the earlier record's call stays");
        assert_eq!(
            out.buf, kept,
            "nothing of the rejected record is left in buf"
        );
        let rej = &out.rejects[0];
        assert_eq!(rej.reject.code.as_str(), "call_too_large");
        assert_eq!(
            rej.reject.message,
            format!(
                "call 1 (group) is {big} bytes, over the {}-byte limit (--max-call-bytes)",
                big - 1
            )
        );
        assert_eq!((rej.item, rej.raw.as_deref()), (None, None));

        // Exactly at the limit is accepted (the newline is not counted).
        let r = run_opts(&opts_max(big), line.as_bytes());
        assert_eq!(r.calls, all.calls);
    }

    #[test]
    fn default_limit_is_32768_and_zero_disables_it() {
        let line = TWO_PEOPLE.replace("PAD", &"x".repeat(40_000));
        let r = run(&line);
        assert_eq!(r.counts, ONE_REJECTED);
        assert_eq!(r.rejects[0].reject.code.as_str(), "call_too_large");
        let r = run_opts(&opts_max(0), line.as_bytes());
        assert_eq!(r.counts, ONE_CONVERTED);
        assert_eq!(r.calls.len(), 2);
    }

    #[test]
    fn call_too_large_in_a_batch_rejects_that_item_only() {
        let big = r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"pad":"PAD"}}"#
            .replace("PAD", &"x".repeat(500));
        let line = format!(
            r#"{{"batch":[{big},{{"type":"person","identifiers":{{"id":"2"}},"action":"delete"}}]}}"#
        );
        let r = run_opts(&opts_max(400), line.as_bytes());
        assert_eq!(
            r.counts,
            Counts {
                records: 2,
                converted: 1,
                rejected: 1
            }
        );
        assert_eq!(r.calls.len(), 1);
        assert_eq!(r.rejects[0].item, Some(0));
        assert_eq!(r.rejects[0].raw.as_deref(), Some(big.as_str()));
        assert_eq!(r.rejects[0].reject.code.as_str(), "call_too_large");
    }

    #[test]
    fn integrations_object_is_written_as_given() {
        let mut o = Options::new(NOW_MS);
        o.integrations = r#"{"All":false,"Mixpanel":true}"#.to_owned();
        let r = run_opts(
            &o,
            br#"{"type":"person","identifiers":{"id":"1"},"action":"delete"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&r.calls[0]).unwrap();
        let id = v["messageId"].as_str().unwrap();
        assert_eq!(
            canon(&r.calls[0]),
            canon(&format!(
                r#"{{"type":"track","userId":"1","event":"User Deleted","properties":{{}},"context":{{"journeys":{{"identifiers":{{"id":"1"}}}}}},"integrations":{{"All":false,"Mixpanel":true}},"messageId":"{id}","timestamp":"{NOW}","sentAt":"{NOW}"}}"#
            ))
        );
    }

    #[test]
    fn derived_ids_follow_the_spec_formula() {
        // low 80 bits of xxh3-128(record bytes ++ call index), time = the call's timestamp.
        // decision: the index is fed as 8 little-endian bytes.
        let line = TWO_PEOPLE.replace("PAD", "p");
        let r = run(&line);
        for (i, call) in r.calls.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(call).unwrap();
            let id = ulid::Ulid::from_string(v["messageId"].as_str().unwrap()).unwrap();
            let mut h = Xxh3::new();
            h.update(line.as_bytes());
            h.update(&(i as u64).to_le_bytes());
            assert_eq!(id.random(), h.digest128() & ((1u128 << 80) - 1));
            assert_eq!(id.timestamp_ms() as i64, NOW_MS);
        }
    }

    #[test]
    fn random_ids_are_valid_ulids_that_differ_between_runs() {
        let mut o = Options::new(NOW_MS);
        o.message_ids = MessageIds::Random;
        let line = r#"{"method":"PUT","path":"/api/v1/customers/42","timestamp":1700000000,"body":{"cio_relationships":[{"identifiers":{"object_id":"a"}}]}}"#;
        let ids = |r: &Translated| -> Vec<ulid::Ulid> {
            r.calls
                .iter()
                .map(|c| {
                    let v: serde_json::Value = serde_json::from_str(c).unwrap();
                    ulid::Ulid::from_string(v["messageId"].as_str().unwrap()).unwrap()
                })
                .collect()
        };
        let (a, b) = (
            ids(&run_opts(&o, line.as_bytes())),
            ids(&run_opts(&o, line.as_bytes())),
        );
        let derived = ids(&run(line));
        assert_eq!(a.len(), 2);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.timestamp_ms(), 1_700_000_000_000);
            assert_ne!(x, y);
        }
        assert_ne!(a[0], a[1]);
        assert!(!a.contains(&derived[0]) && !a.contains(&derived[1]));
    }

    #[test]
    fn random_mode_still_uses_a_given_ulid() {
        // decision: `--message-ids random` replaces derived ids only; an input's ULID dedupe id
        // is kept (docs/mapping.md lists it first, before "otherwise").
        let mut o = Options::new(NOW_MS);
        o.message_ids = MessageIds::Random;
        let line = format!(
            r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"event","name":"x","id":"{ULID}"}}"#
        );
        let r = run_opts(&o, line.as_bytes());
        let v: serde_json::Value = serde_json::from_str(&r.calls[0]).unwrap();
        assert_eq!(v["messageId"], ULID);
    }

    #[test]
    fn ulid_dedupe_id_only_for_events() {
        // The dedupe id applies to the first call of an event record, and an event record makes
        // exactly one call; an `id` elsewhere (an identify's person id, a v2 identify's stray
        // `id`) is never a messageId.
        for line in [
            format!(
                r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"identify","id":"{ULID}"}}"#
            ),
            format!(r#"{{"method":"PUT","path":"/api/v1/customers/x","body":{{"id":"{ULID}"}}}}"#),
            format!(
                r#"{{"type":"object","identifiers":{{"object_id":"a"}},"action":"identify","id":"{ULID}","cio_relationships":[{{"identifiers":{{"id":"1"}}}},{{"identifiers":{{"id":"2"}}}}]}}"#
            ),
        ] {
            let r = run(&line);
            assert!(!r.calls.is_empty());
            for c in &r.calls {
                assert!(!c.contains(&format!(r#""messageId":"{ULID}""#)), "{c}");
            }
        }
    }
}

mod validation_messages {
    use super::*;

    #[test]
    fn every_message_names_the_field_path() {
        for (line, code, message) in [
            (
                r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","data":[1]}}"#,
                "invalid_field",
                "body.data must be an object, got an array",
            ),
            (
                r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":["x"]}}"#,
                "invalid_field",
                "body.name must be a string, got an array",
            ),
            (
                r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"x","timestamp":true}}"#,
                "invalid_timestamp",
                "body.timestamp: expected unix seconds, unix milliseconds or an RFC 3339 string, got a boolean",
            ),
            (
                r#"{"method":"POST","path":"/api/v1/events","body":{"name":"x","anonymous_id":{}}}"#,
                "invalid_field",
                "body.anonymous_id must be a non-empty string or a number, got an object",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":"x"}"#,
                "invalid_field",
                "attributes must be an object, got a string",
            ),
            (
                r#"{"type":"person","identifiers":[],"action":"identify"}"#,
                "invalid_field",
                "identifiers must be an object, got an array",
            ),
            (
                r#"{"type":"person","identifiers":{"email":false},"action":"identify"}"#,
                "invalid_field",
                "identifiers.email must be a non-empty string or a number, got a boolean",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":5}"#,
                "invalid_field",
                "action must be a string, got a number",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":" "}"#,
                "missing_field",
                "name is empty",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"x","timestamp":-1}"#,
                "invalid_timestamp",
                "timestamp: -1 is not a valid unix time",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"x","timestamp":"2023-13-01T00:00:00Z"}"#,
                "invalid_timestamp",
                "timestamp: \"2023-13-01T00:00:00Z\" is neither unix seconds/milliseconds nor an RFC 3339 time",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","cio_relationships":{}}"#,
                "invalid_field",
                "cio_relationships must be an array, got an object",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_relationships","cio_relationships":["acme"]}"#,
                "invalid_field",
                "cio_relationships.0 must be an object, got a string",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_relationships","cio_relationships":[{"identifiers":{"object_id":"a"}},{"relationship_attributes":{}}]}"#,
                "missing_identifier",
                "cio_relationships.1.identifiers is required",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_relationships","cio_relationships":[{"identifiers":"a"}]}"#,
                "invalid_field",
                "cio_relationships.0.identifiers must be an object, got a string",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_relationships","cio_relationships":[{"identifiers":{"object_id":"a"},"relationship_attributes":[1]}]}"#,
                "invalid_field",
                "cio_relationships.0.relationship_attributes must be an object, got an array",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_relationships","cio_relationships":[{"identifiers":{"object_id":{}}}]}"#,
                "invalid_field",
                "cio_relationships.0.identifiers.object_id must be a non-empty string or a number, got an object",
            ),
            (
                r#"{"type":"object","identifiers":{"object_id":"a"},"action":"add_relationships","cio_relationships":[{"identifiers":{"id":null}}]}"#,
                "missing_identifier",
                "cio_relationships.0.identifiers has none of id, email, cio_id, phone (or anonymous_id)",
            ),
            (
                r#"{"type":"object","identifiers":{"object_id":"a"},"action":"identify","attributes":[]}"#,
                "invalid_field",
                "attributes must be an object, got an array",
            ),
            (
                r#"{"type":"object","identifiers":{"object_id":"a"},"action":"identify_anonymous","anonymous_id":true}"#,
                "invalid_field",
                "anonymous_id must be a non-empty string or a number, got a boolean",
            ),
            (
                r#"{"type":"person","action":"merge","primary":[],"secondary":{"id":"2"}}"#,
                "invalid_field",
                "primary must be an object, got an array",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"add_device","device":{"token":"t","platform":{}}}"#,
                "invalid_field",
                "device.platform must be a string, got an object",
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"delete_device","device":"t"}"#,
                "invalid_field",
                "device must be an object, got a string",
            ),
            (
                r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"cio_relationships":{"action":1,"relationships":[]}}}"#,
                "invalid_field",
                "body.cio_relationships.action must be a string, got a number",
            ),
            (
                r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"cio_relationships":{"relationships":{}}}}"#,
                "invalid_field",
                "body.cio_relationships.relationships must be an array, got an object",
            ),
            (
                r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"cio_relationships":[{"identifiers":{"object_id":"a","object_type_id":[]}}]}}"#,
                "invalid_field",
                "body.cio_relationships.0.identifiers.object_type_id must be a non-empty string or a number, got an array",
            ),
            (
                r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"_timestamp":{}}}"#,
                "invalid_timestamp",
                "body._timestamp: expected unix seconds, unix milliseconds or an RFC 3339 string, got an object",
            ),
        ] {
            rejects(line, code, message);
        }
    }

    #[test]
    fn strings_that_are_not_unicode_name_the_field() {
        // A lone surrogate escape is valid JSON grammar but no text: anywhere in the record it
        // makes the record `invalid_json`, the message naming the escape (docs/mapping.md).
        rejects(
            r#"{"type":"person","identifiers":{"id":"\ud800"},"action":"identify"}"#,
            "invalid_json",
            "\\ud800 at byte 38 is half of a UTF-16 surrogate pair without its other half",
        );
        rejects(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"\udc00x"}"#,
            "invalid_json",
            "\\udc00 at byte 67 is half of a UTF-16 surrogate pair without its other half",
        );
        // decision: `body` is parsed in the same pass as the record (it is not kept raw), so a
        // body string that is no text makes the whole record invalid JSON.
        rejects_code(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":"\ud800"}"#,
            "invalid_json",
        );
    }
}

mod json_edge_cases {
    use super::*;

    #[test]
    fn invalid_utf8_is_rejected_whole() {
        for line in [
            &b"{\"type\":\"person\",\"identifiers\":{\"id\":\"\xff\"},\"action\":\"identify\"}"[..],
            &b"{\"batch\":[{\"type\":\"person\",\"identifiers\":{\"id\":\"1\"},\"action\":\"delete\"},\"\xc3\x28\"]}"[..],
            &b"\xef\xbb"[..],
        ] {
            let r = run_opts(&Options::new(NOW_MS), line);
            assert!(r.calls.is_empty());
            assert_eq!(r.counts, ONE_REJECTED);
            assert_eq!(r.rejects[0].reject.code.as_str(), "invalid_utf8");
            assert_eq!(r.rejects[0].item, None);
        }
        let r = run_opts(&Options::new(NOW_MS), b"{\"a\":\"\xff\"}");
        assert_eq!(
            r.rejects[0].reject.message,
            "invalid UTF-8 at byte 6 of the record"
        );
    }

    #[test]
    fn non_object_lines_are_unknown_shape() {
        for (line, kind) in [
            ("[1,2]", "an array"),
            (r#""text""#, "a string"),
            ("42", "a number"),
            ("-1.5e3", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
            ("  [ ]  ", "an array"),
        ] {
            rejects(
                line,
                "unknown_shape",
                &format!("the record is {kind}, not a JSON object"),
            );
        }
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        for line in [
            "{",
            r#"{"a":1}x"#,
            r#"{"a":1} {"b":2}"#,
            "nul",
            r#"{"a":01}"#,
            "{\"a\":\"tab\there\"}",
            r#"{'a':1}"#,
        ] {
            rejects_code(line, "invalid_json");
        }
    }

    #[test]
    fn deep_nesting_never_panics() {
        // An unclosed 10k-deep array, as the whole line and inside an object: invalid_json.
        let deep = "[".repeat(10_000);
        rejects_code(&deep, "invalid_json");
        rejects_code(&format!(r#"{{"a":{deep}"#), "invalid_json");
        // Closed, at the top: a valid array, so not an object.
        rejects_code(&format!("{deep}{}", "]".repeat(10_000)), "unknown_shape");
        rejects_code(
            &format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
            "unknown_shape",
        );
        // decision: inside a pass-through object deep nesting is copied as it is (nothing in
        // the mapping recurses into user data, so there is no depth to limit).
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let line = format!(
            r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"identify","attributes":{{"a":{nested}}}}}"#
        );
        let r = run_opts(&opts_unlimited(), line.as_bytes());
        assert_eq!(r.counts, ONE_CONVERTED);
        assert!(r.calls[0].contains(&format!(r#""traits":{{"a":{nested}}}"#)));
    }

    fn opts_unlimited() -> Options {
        let mut o = Options::new(NOW_MS);
        o.max_call_bytes = 0;
        o
    }

    #[test]
    fn whitespace_is_dropped_but_strings_are_untouched() {
        // Exact bytes, not canon: the output is compact, string contents keep their spaces and
        // their escapes as written.
        let line = "  {\t\"type\" : \"person\" ,\r\n \"identifiers\" : { \"id\" : \"a b\" } , \"action\" : \"event\" , \"name\" : \" spaced  name \" , \"attributes\" : {\n \"s\" : \" x \\t y \\\" z \\\\ \" ,\t\"arr\" : [ 1 , { \"k\" : [ ] } , \"[ , ]\" ] , \"e\" : { } } }  ";
        let r = run(line);
        let v: serde_json::Value = serde_json::from_str(&r.calls[0]).unwrap();
        let id = v["messageId"].as_str().unwrap();
        assert_eq!(
            r.calls[0],
            format!(
                r#"{{"type":"track","userId":"a b","event":"spaced  name","properties":{{"s":" x \t y \" z \\ ","arr":[1,{{"k":[]}},"[ , ]"],"e":{{}}}},"context":{{"journeys":{{"identifiers":{{"id":"a b"}}}}}},"integrations":{{"All":true}},"messageId":"{id}","timestamp":"{NOW}","sentAt":"{NOW}"}}"#
            )
        );
    }

    #[test]
    fn whitespace_in_spread_objects_is_dropped_too() {
        // v1 identify traits are copied key by key (to skip identifier keys).
        let line = r#"{"method":"PUT","path":"/api/v1/customers/42","body":{ "email" : "a@b.co" , "tags" : [ "a b" , 1.50 ] , "o" : { "k" : null } }}"#;
        let r = run(line);
        assert!(
            r.calls[0].starts_with(
                r#"{"type":"identify","userId":"42","traits":{"tags":["a b",1.50],"o":{"k":null}},"context":{"journeys":{"identifiers":{"id":"42","email":"a@b.co"}}}"#
            ),
            "{}",
            r.calls[0]
        );
    }

    #[test]
    fn escapes_and_unicode_in_keys_and_values() {
        converts(
            r#"{"type":"person","identifiers":{"id":"\u00fcser\"1"},"action":"event","name":"caf\u00e9 \ud83d\ude00","attributes":{"k\u00e9y\n":"v\u0000al\\","日本":"語","emoji 😀":"\u2028"}}"#,
            &[now(
                r#"{"type":"track","userId":"üser\"1","event":"café 😀","properties":{"kéy\n":"v\u0000al\\","日本":"語","emoji 😀":"\u2028"},"context":{"journeys":{"identifiers":{"id":"üser\"1"}}}"#,
            )],
        );
        // Keys re-written by a spread (v1 identify traits) are decoded and re-escaped.
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"\u00e9\"\t":"\u00e9"}}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{"é\"\t":"é"},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn lone_surrogates_in_pass_through_values_reject_the_record() {
        // decision: pass-through data is copied as written, but a lone surrogate escape would
        // make calls that strict parsers refuse, so the record is rejected instead.
        let r = run(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"s":"\ud800"}}"#,
        );
        assert!(r.calls.is_empty());
        assert_eq!(r.rejects[0].reject.code.as_str(), "invalid_json");
    }

    #[test]
    fn duplicate_keys() {
        // decision: for a field the mapping reads, the last occurrence wins (as in most JSON
        // decoders); pass-through objects keep every member, duplicates included.
        converts(
            r#"{"type":"person","identifiers":{"id":"1","id":"2"},"action":"event","name":"a","name":"b","attributes":{"k":1,"k":2}}"#,
            &[now(
                r#"{"type":"track","userId":"2","event":"b","properties":{"k":1,"k":2},"context":{"journeys":{"identifiers":{"id":"2"}}}"#,
            )],
        );
        // A last `null` makes the field absent.
        rejects(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"a","name":null}"#,
            "missing_field",
            "name is required",
        );
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"plan":"a","email":"x@y.z","plan":"b","email":"w@y.z"}}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{"plan":"a","plan":"b"},"context":{"journeys":{"identifiers":{"id":"42","email":"w@y.z"}}}"#,
            )],
        );
    }

    #[test]
    fn twenty_digit_numbers_keep_their_text() {
        converts(
            r#"{"type":"person","identifiers":{"id":12345678901234567890},"action":"event","name":"x","attributes":{"n":12345678901234567890,"m":-98765432109876543210,"f":1.0e+2,"z":-0,"p":0.1000}}"#,
            &[now(
                r#"{"type":"track","userId":"12345678901234567890","event":"x","properties":{"n":12345678901234567890,"m":-98765432109876543210,"f":1.0e+2,"z":-0,"p":0.1000},"context":{"journeys":{"identifiers":{"id":12345678901234567890}}}"#,
            )],
        );
        // As a timestamp it is past year 9999.
        rejects(
            r#"{"type":"person","identifiers":{"id":"1"},"action":"event","name":"x","timestamp":12345678901234567890}"#,
            "invalid_timestamp",
            "timestamp: 12345678901234567890 is not a valid unix time",
        );
    }

    #[test]
    fn output_is_deterministic() {
        let line = r#"{"type":"object","identifiers":{"object_id":"a"},"action":"identify","cio_relationships":[{"identifiers":{"id":"1"}},{"identifiers":{"id":"2"}}]}"#;
        assert_eq!(run(line).calls, run(line).calls);
    }
}

mod page_urls {
    use super::*;

    #[test]
    fn v1_page_without_url_gets_the_page_name() {
        // The page name (trimmed) is appended as properties.url, after the event's data.
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":" https://x.io/a?b=1 ","type":"page","data":{"ref":"ad","n":1.50}}}"#,
            &[now(
                r#"{"type":"page","userId":"42","name":"https://x.io/a?b=1","properties":{"ref":"ad","n":1.50,"url":"https://x.io/a?b=1"},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"/home","type":"page"}}"#,
            &[now(
                r#"{"type":"page","userId":"42","name":"/home","properties":{"url":"/home"},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn a_url_key_already_there_is_kept_as_it_is() {
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"page","name":"Pricing","attributes":{"url":"https://x.io/pricing","a":1}}"#,
            &[now(
                r#"{"type":"page","userId":"42","name":"Pricing","properties":{"url":"https://x.io/pricing","a":1},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        // decision: a `url` key holding null counts as present, so the key is never written
        // twice.
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"page","name":"/p","attributes":{"url":null}}"#,
            &[now(
                r#"{"type":"page","userId":"42","name":"/p","properties":{"url":null},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn v2_page_in_a_batch_and_anonymous() {
        let r = run(
            r#"{"batch":[{"type":"person","identifiers":{"anonymous_id":"a1"},"action":"page","name":"/x"}]}"#,
        );
        check(
            "batch",
            &r.calls,
            &[now(
                r#"{"type":"page","anonymousId":"a1","name":"/x","properties":{"url":"/x"},"context":{"journeys":{"identifiers":{"anonymous_id":"a1"}}}"#,
            )],
        );
    }

    #[test]
    fn screens_and_tracks_get_no_url() {
        converts(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"screen","name":"Cart"}"#,
            &[now(
                r#"{"type":"screen","userId":"42","name":"Cart","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
        converts(
            r#"{"method":"POST","path":"/api/v1/customers/42/events","body":{"name":"/home"}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"/home","properties":{},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }
}

mod forms {
    use super::*;

    #[test]
    fn a_submission_is_an_identify_at_the_call_time() {
        // The person is data.id; the other data fields are traits, verbatim and in order; the
        // timestamp is the envelope's call time.
        converts(
            r#"{"method":"POST","path":"/api/v1/forms/contact-us/submit","sent_at":1700000000,"body":{"data":{"first_name":"Ada","id":"42","score":1.50,"tags":["a"]}}}"#,
            &[at(
                r#"{"type":"identify","userId":"42","traits":{"first_name":"Ada","score":1.50,"tags":["a"]},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
                T1,
                T1,
            )],
        );
        // By email, without a call time: now.
        converts(
            r#"{"method":"POST","path":"/v1/forms/7/submit","body":{"data":{"email":"ada@example.com","plan":"pro"}}}"#,
            &[now(
                r#"{"type":"identify","userId":"ada@example.com","traits":{"plan":"pro"},"context":{"journeys":{"identifiers":{"email":"ada@example.com"}}}"#,
            )],
        );
        // A numeric id is its text, kept as a number in identifiers; a null email is absent.
        converts(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":"{\"data\":{\"id\":42,\"email\":null}}"}"#,
            &[now(
                r#"{"type":"identify","userId":"42","traits":{},"context":{"journeys":{"identifiers":{"id":42}}}"#,
            )],
        );
    }

    #[test]
    fn neither_identifier_is_missing_identifier() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":{"name":"Ada"}}}"#,
            "missing_identifier",
            "a form submission names its person by body.data.id or body.data.email; it has neither",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{}}"#,
            "missing_identifier",
            "a form submission names its person by body.data.id or body.data.email; body.data is absent",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":{"id":""}}}"#,
            "missing_identifier",
            "body.data.id is an empty string",
        );
    }

    #[test]
    fn both_identifiers_are_invalid_field() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":{"id":"42","email":"a@b.co"}}}"#,
            "invalid_field",
            "a form submission names its person by exactly one of body.data.id and body.data.email; it has both",
        );
    }

    #[test]
    fn wrong_types_and_methods() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":[1]}}"#,
            "invalid_field",
            "body.data must be an object, got an array",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":{"email":true}}}"#,
            "invalid_field",
            "body.data.email must be a non-empty string or a number, got a boolean",
        );
        rejects(
            r#"{"method":"GET","path":"/api/v1/forms/f1/submit"}"#,
            "unknown_call",
            "GET /api/v1/forms/f1/submit is not a Track API call (that endpoint takes POST)",
        );
    }
}

mod device_ids_and_details {
    use super::*;

    #[test]
    fn numeric_v1_device_ids_are_their_text() {
        converts(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":12345678901234567890,"platform":"android","model":"Pixel"}}}"#,
            &[now(
                r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{"model":"Pixel"},"context":{"device":{"token":"12345678901234567890","type":"android"},"journeys":{"identifiers":{"id":"42"}}}"#,
            )],
        );
    }

    #[test]
    fn v2_add_device_keeps_other_device_keys_like_v1() {
        let v1 = run(
            r#"{"method":"PUT","path":"/api/v1/customers/42/devices","body":{"device":{"id":"t","platform":"ios","last_used":1700000000,"attributes":{"app":"2"},"model":"x"}}}"#,
        );
        let v2 = run(
            r#"{"type":"person","identifiers":{"id":"42"},"action":"add_device","device":{"token":"t","platform":"ios","last_used":1700000000,"attributes":{"app":"2"},"model":"x"}}"#,
        );
        let strip = |c: &str| {
            let mut v: serde_json::Value = serde_json::from_str(c).unwrap();
            v.as_object_mut().unwrap().remove("messageId");
            v
        };
        assert_eq!(strip(&v1.calls[0]), strip(&v2.calls[0]));
        assert_eq!(
            strip(&v2.calls[0])["properties"],
            serde_json::json!({"app":"2","model":"x"})
        );
    }
}

mod email_trait {
    use super::*;

    fn with_flag(line: &str) -> Vec<String> {
        let mut o = Options::new(NOW_MS);
        o.email_trait = true;
        let r = run_opts(&o, line.as_bytes());
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        r.calls
    }

    #[test]
    fn off_by_default() {
        converts(
            r#"{"type":"person","identifiers":{"email":"a@b.co"},"action":"identify","attributes":{"plan":"p"}}"#,
            &[now(
                r#"{"type":"identify","userId":"a@b.co","traits":{"plan":"p"},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            )],
        );
    }

    #[test]
    fn identifies_with_an_email_identifier_get_traits_email() {
        let cases = [
            (
                r#"{"type":"person","identifiers":{"id":"1","email":"a@b.co"},"action":"identify","attributes":{"plan":"p"}}"#,
                r#"{"type":"identify","userId":"1","traits":{"plan":"p","email":"a@b.co"},"context":{"journeys":{"identifiers":{"id":"1","email":"a@b.co"}}}"#,
            ),
            (
                r#"{"type":"person","identifiers":{"email":"a@b.co"},"action":"identify"}"#,
                r#"{"type":"identify","userId":"a@b.co","traits":{"email":"a@b.co"},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            ),
            // v1: by the path, or by the body's email (an identifier, never a trait).
            (
                r#"{"method":"PUT","path":"/api/v1/customers/a%40b.co","body":{"plan":"p"}}"#,
                r#"{"type":"identify","userId":"a@b.co","traits":{"plan":"p","email":"a@b.co"},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            ),
            (
                r#"{"method":"PUT","path":"/api/v1/customers/42","body":{"email":"a@b.co"}}"#,
                r#"{"type":"identify","userId":"42","traits":{"email":"a@b.co"},"context":{"journeys":{"identifiers":{"id":"42","email":"a@b.co"}}}"#,
            ),
            (
                r#"{"method":"POST","path":"/api/v1/forms/f/submit","body":{"data":{"email":"a@b.co","x":1}}}"#,
                r#"{"type":"identify","userId":"a@b.co","traits":{"x":1,"email":"a@b.co"},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            ),
        ];
        for (line, want) in cases {
            check(line, &with_flag(line), &[now(want)]);
        }
    }

    #[test]
    fn an_email_trait_already_there_or_no_email_identifier_changes_nothing() {
        let cases = [
            (
                r#"{"type":"person","identifiers":{"email":"a@b.co"},"action":"identify","attributes":{"email":"other@b.co"}}"#,
                r#"{"type":"identify","userId":"a@b.co","traits":{"email":"other@b.co"},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            ),
            (
                r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"plan":"p"}}"#,
                r#"{"type":"identify","userId":"1","traits":{"plan":"p"},"context":{"journeys":{"identifiers":{"id":"1"}}}"#,
            ),
            // Only identifies: an event keeps its properties.
            (
                r#"{"type":"person","identifiers":{"email":"a@b.co"},"action":"event","name":"e"}"#,
                r#"{"type":"track","userId":"a@b.co","event":"e","properties":{},"context":{"journeys":{"identifiers":{"email":"a@b.co"}}}"#,
            ),
        ];
        for (line, want) in cases {
            check(line, &with_flag(line), &[now(want)]);
        }
    }
}

mod validation_rules {
    use super::*;

    #[test]
    fn a_v2_action_that_is_not_a_string_is_invalid_field() {
        rejects(
            r#"{"type":"object","identifiers":{"object_id":"1"},"action":["identify"]}"#,
            "invalid_field",
            "action must be a string, got an array",
        );
        let r = run(r#"{"batch":[{"type":"delivery","identifiers":{"id":"d"},"action":{}}]}"#);
        assert_eq!(r.rejects.len(), 1);
        assert_eq!(r.rejects[0].item, Some(0));
        assert_eq!(r.rejects[0].reject.code.as_str(), "invalid_field");
        assert_eq!(
            r.rejects[0].reject.message,
            "action must be a string, got an object"
        );
    }

    #[test]
    fn a_delivery_metric_without_its_delivery_id_is_missing_field() {
        rejects(
            r#"{"method":"POST","path":"/api/v1/push/events","body":{"event":"opened","device_id":"tok"}}"#,
            "missing_field",
            "body.delivery_id is required",
        );
        rejects(
            r#"{"method":"POST","path":"/api/v1/metrics","body":{"delivery_id":null,"metric":"opened"}}"#,
            "missing_field",
            "body.delivery_id is required",
        );
        rejects(
            r#"{"type":"delivery","identifiers":{},"action":"event","name":"opened"}"#,
            "missing_field",
            "identifiers.id is required for a delivery event",
        );
    }
}
