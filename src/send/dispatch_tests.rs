//! The sender's state machine driven by a fake transport: a closure answers each request.

use super::*;
use crate::input::Position;
use crate::send::batch::Batcher;
use std::sync::Mutex;

type Answerer = dyn Fn(Route, &str) -> Reply + Send + Sync;

#[derive(Clone)]
struct Fake {
    answer: Arc<Answerer>,
    seen: Arc<Mutex<Vec<(Route, usize)>>>,
}

impl Transport for Fake {
    async fn post(&self, route: Route, body: Bytes) -> Reply {
        let text = String::from_utf8(body.to_vec()).unwrap();
        let calls = match route {
            Route::Alias | Route::Group => 1,
            Route::Batch => text.matches("\"type\"").count(),
        };
        self.seen.lock().unwrap().push((route, calls));
        (self.answer)(route, &text)
    }
}

struct Ran {
    stats: Stats,
    stop: Option<Stop>,
    records: Vec<(Record, Vec<Vec<u8>>)>,
    seen: Vec<(Route, usize)>,
}

/// `sizes[i]` calls in batch `i`; a call's event is `bad` when `bad(i, j)`.
fn batches(sizes: &[usize], bad: impl Fn(usize, usize) -> bool) -> Vec<Batch> {
    let mut b = Batcher::new(1 << 20, 1000);
    let mut out = Vec::new();
    let mut line = 0;
    for (i, n) in sizes.iter().enumerate() {
        for j in 0..*n {
            line += 1;
            let event = if bad(i, j) { "bad" } else { "ok" };
            let call = format!(r#"{{"type":"track","userId":"u{line}","event":"{event}"}}"#);
            out.extend(b.push_call(
                0,
                call.as_bytes(),
                call.as_bytes(),
                None,
                Position::new(line, 0),
            ));
        }
        out.extend(b.finish());
    }
    out
}

fn settings(concurrency: usize) -> Settings {
    Settings {
        rate: 0.0,
        concurrency,
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        sources: Arc::new(vec![Arc::from("in.ndjson")]),
        cancel: crate::cancel::Cancel::new(),
        redactor: Arc::new(Redactor::new(Some("sekrit-key"))),
        resend: Arc::default(),
    }
}

fn drive(
    input: Vec<Batch>,
    concurrency: usize,
    answer: impl Fn(Route, &str) -> Reply + Send + Sync + 'static,
) -> Ran {
    let fake = Fake {
        answer: Arc::new(answer),
        seen: Arc::default(),
    };
    let settings = settings(concurrency);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (btx, brx) = mpsc::channel(input.len().max(1));
    for b in input {
        btx.try_send(b).unwrap();
    }
    drop(btx);
    let (ltx, lrx) = std::sync::mpsc::channel::<Msg>();
    let (dtx, drx) = mpsc::unbounded_channel();
    let writer = std::thread::spawn(move || {
        let mut records = Vec::new();
        for Msg::Done { record, errors } in lrx {
            records.push((record, errors));
            let _ = dtx.send(1);
        }
        records
    });
    let live = Arc::new(Counters::default());
    let run = run(fake.clone(), settings, brx, ltx, drx, live);
    let (stats, stop) = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("the sender ends")
    });
    let records = writer.join().unwrap();
    let seen = fake.seen.lock().unwrap().clone();
    Ran {
        stats,
        stop,
        records,
        seen,
    }
}

/// A strict server: 400 to a batch holding a bad call (with the key echoed), else 200.
fn strict(_: Route, body: &str) -> Reply {
    if body.contains("\"bad\"") {
        Reply::Answer {
            status: 400,
            retry_after: None,
            location: None,
            body: b"Authorization: Basic c2Vrcml0LWtleTo= (sekrit-key)".to_vec(),
        }
    } else {
        Reply::status(200)
    }
}

#[test]
fn a_refused_call_is_isolated_by_splitting() {
    let r = drive(batches(&[8], |_, j| j == 5), 1, strict);
    assert_eq!(r.stop, None);
    assert_eq!((r.stats.acknowledged, r.stats.refused), (7, 1));
    let calls: Vec<usize> = r.seen.iter().map(|s| s.1).collect();
    // Depth first: the half holding the bad call is split before its neighbour goes.
    assert_eq!(calls, [8, 4, 4, 2, 1, 1, 2]);
    assert_eq!(r.records.len(), 1);
    let (rec, errors) = &r.records[0];
    assert_eq!((rec.acknowledged, rec.refused, rec.calls), (7, 1, 8));
    let entry = String::from_utf8(errors[0].clone()).unwrap();
    assert!(entry.contains("refused_by_server") && entry.contains("\"line\":6"));
    assert!(
        !entry.contains("sekrit") && !entry.contains("c2Vrcml0LWtleTo"),
        "{entry}"
    );
}

#[test]
fn an_endpoint_refusing_everything_stops_with_nothing_recorded() {
    let r = drive(batches(&[1, 1, 1, 4, 4, 4, 4], |_, _| false), 2, |_, _| {
        Reply::status(404)
    });
    assert!(
        matches!(r.stop, Some(Stop::Refusing { status: 404, .. })),
        "{:?}",
        r.stop
    );
    assert!(
        r.records.is_empty(),
        "single calls refused early are parked, then dropped"
    );
    assert!(r.seen.len() <= super::super::retry::REFUSING_REQUESTS as usize + 2);
}

#[test]
fn refusals_before_any_ack_are_kept_when_the_run_ends_well() {
    let r = drive(batches(&[2], |_, _| true), 1, strict);
    assert_eq!(r.stop, None);
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].0.refused, 2);
    assert_eq!(r.stats.refused, 2);
}

#[test]
fn a_redirect_stops_at_once() {
    let r = drive(batches(&[3, 3], |_, _| false), 1, |_, _| Reply::Answer {
        status: 302,
        retry_after: None,
        location: Some("https://sekrit-key@elsewhere/".into()),
        body: Vec::new(),
    });
    assert_eq!(
        r.stop,
        Some(Stop::Redirect {
            status: 302,
            location: Some("https://[redacted]@elsewhere/".into())
        })
    );
    assert_eq!(r.seen.len(), 1);
    assert!(r.records.is_empty());
}

#[test]
fn retries_and_429_waits_run_out() {
    let r = drive(batches(&[3], |_, _| false), 1, |_, _| Reply::status(503));
    assert_eq!(
        r.stop,
        Some(Stop::Exhausted {
            batch: 0,
            cause: "HTTP 503".into()
        })
    );
    assert_eq!((r.seen.len(), r.stats.retries["http_5xx"]), (3, 2));
    let r = drive(batches(&[3], |_, _| false), 1, |_, _| Reply::Answer {
        status: 429,
        retry_after: Some("0".into()),
        location: None,
        body: Vec::new(),
    });
    assert_eq!(
        r.stop,
        Some(Stop::RateLimited {
            batch: 0,
            answers: 3
        })
    );
    assert_eq!((r.seen.len(), r.stats.rate_limited), (3, 2));
    assert!(r.records.is_empty());
}

#[test]
fn a_cut_off_answer_is_tried_again_and_alias_calls_take_their_route() {
    let mut input = batches(&[2], |_, _| false);
    let mut b = Batcher::new(1000, 10);
    let alias = br#"{"type":"alias","userId":"u1","previousId":"u0"}"#;
    b.push_call(0, alias, alias, None, Position::new(3, 0));
    input.extend(b.finish().map(|mut a| {
        a.number = 1;
        a
    }));
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = drive(input, 1, move |_, _| {
        if first.swap(false, Ordering::SeqCst) {
            Reply::Connection("body cut off".into())
        } else {
            Reply::status(200)
        }
    });
    assert_eq!(r.stop, None);
    assert_eq!(r.stats.acknowledged, 3);
    assert_eq!(r.stats.retries["connection"], 1);
    assert_eq!(
        r.seen,
        [(Route::Batch, 2), (Route::Batch, 2), (Route::Alias, 1)]
    );
}

#[test]
fn the_window_counts_batches_started_not_batch_numbers() {
    // A resumed run and --retry-refused skip the numbers of the batches done before.
    let mut input = batches(&[1, 1, 1, 1, 1], |_, _| false);
    for (b, n) in input.iter_mut().zip([3, 57, 58, 900, 901]) {
        b.number = n;
    }
    let (ltx, _lrx) = std::sync::mpsc::channel();
    let mut s = Sender::new(settings(4), ltx, Arc::default());
    // Nothing settles meanwhile: four batches start, the fifth waits for the oldest.
    let started: Vec<bool> = input.into_iter().map(|b| s.admit(b).is_some()).collect();
    assert_eq!(started, [true, true, true, true, false]);
    assert_eq!(s.waiting.as_ref().map(|b| b.number), Some(901));
    assert!(s.admit_waiting().is_none(), "batch 3 is not done");
}

#[test]
fn parked_refusals_are_bounded() {
    let held = |batches, refusals| Held { batches, refusals };
    // Nothing proves the endpoint yet, requests are in flight: held, up to the bound.
    assert!(!release_parked_now(false, false, false, held(500, 999), 16));
    assert!(release_parked_now(false, false, false, held(500, 1000), 16));
    // The endpoint works: at once.
    assert!(release_parked_now(true, false, false, held(1, 1), 16));
    // Quiet: at the end of the input, or once `keep` batches wait.
    assert!(!release_parked_now(false, true, false, held(15, 15), 16));
    assert!(release_parked_now(false, true, false, held(16, 16), 16));
    assert!(release_parked_now(false, true, true, held(1, 1), 16));
}
