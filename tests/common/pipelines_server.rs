//! A Data Pipelines-compatible test server for `send`: `POST /v1/batch` (a `batch` of
//! identify, track, page, screen and group calls; a group call there needs `userId` or
//! `anonymousId`, as the batch schema says), `POST /v1/alias` (one alias call) and
//! `POST /v1/group` (one group call, with or without a user), with HTTP Basic auth (the write
//! key as user, an empty password).
//!
//! It models the API's permissive default: a request without `X-Strict-Mode: 1` is answered
//! 200 and nothing of it is kept (a wrong key, an invalid call, a body over the limits alike),
//! so a test that counts the calls kept proves the header is sent. With the header it answers
//! as strict mode does: 401 for a wrong key, 400 naming the refused call. Its answers are the
//! API's documented ones: `{}` for a success, `{"meta":{"errors":["…"]}}` for a refusal (the
//! `200` and `400` responses of the API's OpenAPI description). Like the real API it
//! answers 200 to a request over its limits (a body over 500 KB, a call over 32 KB) and drops
//! it; it counts those, so tests prove the client never sends them.
//!
//! It records every call it accepts and injects faults on demand: scripted ones for the next
//! requests, a repeating mix every N requests, 400 for any request holding a chosen marker
//! (optionally with a page echoing the request headers, as firewalls do, or naming the key
//! after padding), 401 for every
//! request, one status for every request (an endpoint that refuses everything), a redirect for
//! every request, 429 for every request, one answer of any status and body for every request
//! (a page that is not the API's), and 200 answers cut off before their end.
//!
//! Shared by `tests/send.rs` and `examples/pipelines_test_server.rs` (with `#[path]`).
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API's limits, which the server checks (and answers 200 to, dropping the request).
pub const MAX_BODY: usize = 500_000;
pub const MAX_CALL: usize = 32_768;

/// One injected fault.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Handle the request normally (to place the faults after it).
    Pass,
    /// Answer with this status (and a small JSON body), recording nothing.
    Status(u16),
    /// 429 with this `Retry-After` value.
    RetryAfter(String),
    /// Wait this long before handling the request normally.
    Slow(Duration),
    /// Close the connection without an answer.
    Drop,
    /// 200 with `Content-Length: 100`, 5 bytes, then the connection closed; nothing kept.
    CutOff,
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub status: u16,
    pub calls: usize,
    pub bytes: usize,
}

/// What the server holds, shared with its handlers.
#[derive(Debug)]
pub struct Shared {
    pub key: String,
    /// Faults for the next requests, one each, in order.
    pub faults: Mutex<VecDeque<Fault>>,
    /// Every `n`-th request gets the next fault of the list, in turn.
    pub chaos: Mutex<Option<(u64, Vec<Fault>)>>,
    /// A request holding a call that contains this text gets 400.
    pub refuse_marker: Mutex<Option<String>>,
    /// A request whose body contains this text is answered only once this many calls were
    /// accepted in all, or after this long: a batch held up while the others go on.
    pub slow_marker: Mutex<Option<(String, u64, Duration)>>,
    /// Answer 401 to everything.
    pub deny_all: AtomicBool,
    /// The 400 of `refuse_marker` is an HTML page echoing the request headers.
    pub echo_headers: AtomicBool,
    /// Answer this status to every request (an endpoint that refuses everything).
    pub refuse_all: Mutex<Option<u16>>,
    /// Answer every request with this redirect status and `Location`.
    pub redirect: Mutex<Option<(u16, String)>>,
    /// Answer 429 to every request, with this `Retry-After` (none: without one).
    pub rate_limit_all: Mutex<Option<Option<String>>>,
    /// Answer every request with this status and body (a page that is not the API's),
    /// keeping nothing.
    pub answer_all: Mutex<Option<(u16, String)>>,
    /// The 400 of `refuse_marker` is this many bytes of padding, then the key and the
    /// request's `Authorization` value (an API that names the key it refused).
    pub echo_at: Mutex<Option<usize>>,
    /// Requests without `X-Strict-Mode: 1` (answered 200, nothing kept).
    pub permissive: AtomicU64,
    /// Accepted calls, as sent (kept only while `keep_calls`).
    pub calls: Mutex<Vec<String>>,
    pub keep_calls: AtomicBool,
    /// Calls accepted, counted whether kept or not.
    pub accepted: AtomicU64,
    pub seen: Mutex<Vec<Seen>>,
    pub requests: AtomicU64,
    /// Requests over the limits (answered 200, dropped).
    pub oversized: AtomicU64,
    /// Requests with a wrong or missing key.
    pub unauthorized: AtomicU64,
    pub started: Instant,
    /// Print one line per request (the example does).
    pub verbose: bool,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

impl Server {
    /// Starts a server on 127.0.0.1:`port` (0: a free port) on a thread of its own.
    pub fn start(key: &str, port: u16, verbose: bool) -> Server {
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            faults: Mutex::new(VecDeque::new()),
            chaos: Mutex::new(None),
            refuse_marker: Mutex::new(None),
            slow_marker: Mutex::new(None),
            deny_all: AtomicBool::new(false),
            echo_headers: AtomicBool::new(false),
            refuse_all: Mutex::new(None),
            redirect: Mutex::new(None),
            rate_limit_all: Mutex::new(None),
            answer_all: Mutex::new(None),
            echo_at: Mutex::new(None),
            permissive: AtomicU64::new(0),
            calls: Mutex::new(Vec::new()),
            keep_calls: AtomicBool::new(true),
            accepted: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            started: Instant::now(),
            verbose,
        });
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let sh = Arc::clone(&shared);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let sh = Arc::clone(&sh);
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let sh = Arc::clone(&sh);
                            async move { handle(&sh, req).await }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        Server { addr, shared }
    }

    /// The base URL to give `send --endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues faults for the next requests.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.faults.lock().unwrap().extend(faults);
    }

    /// The calls accepted so far.
    pub fn calls(&self) -> Vec<String> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

type Answer = Response<BoxBody<Bytes, std::io::Error>>;

fn answer(status: u16, body: &str) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body.to_owned()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("response")
}

/// 200 announcing 100 bytes, sending 5, then failing: the connection is closed mid-answer.
fn cut_off() -> Answer {
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(Bytes::from_static(b"{\"suc"))),
        Err(std::io::Error::other("cut off on purpose")),
    ];
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            frames,
        ))))
        .expect("response")
}

/// A firewall's refusal page that shows the request's headers.
fn echo_page(req_headers: &hyper::HeaderMap) -> Answer {
    let mut page = String::from("<html><body><h1>Request blocked</h1><table>");
    for (name, value) in req_headers {
        page.push_str(&format!(
            "<tr><th>{name}</th><td>{}</td></tr>",
            value.to_str().unwrap_or("?")
        ));
    }
    page.push_str("</table></body></html>");
    let mut r = answer(400, &page);
    r.headers_mut()
        .insert("content-type", "text/html".parse().expect("header value"));
    r
}

/// The `Authorization` value the key calls for.
fn expected_auth(key: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

#[derive(serde::Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    batch: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct Typed<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "userId")]
    user_id: Option<serde::de::IgnoredAny>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<serde::de::IgnoredAny>,
}

/// The types the `batch` schema lists (no `alias`: it has an endpoint of its own).
const BATCH_TYPES: [&str; 5] = ["identify", "track", "page", "screen", "group"];

/// A call's type, and whether it names a person (`userId` or `anonymousId`).
fn type_of(call: &str) -> (Option<String>, bool) {
    match serde_json::from_str::<Typed>(call) {
        Ok(t) => (
            t.kind.map(|k| k.into_owned()),
            t.user_id.is_some() || t.anonymous_id.is_some(),
        ),
        Err(_) => (None, false),
    }
}

/// The answer to every request, whatever it holds, when the server is set to give one.
fn blanket_answer(sh: &Shared) -> Option<Answer> {
    if let Some((status, location)) = sh.redirect.lock().unwrap().clone() {
        let mut r = answer(status, r#"{"moved":true}"#);
        r.headers_mut()
            .insert("location", location.parse().expect("header value"));
        return Some(r);
    }
    if let Some(status) = *sh.refuse_all.lock().unwrap() {
        return Some(answer(status, r#"{"error":"refused"}"#));
    }
    if let Some(retry_after) = sh.rate_limit_all.lock().unwrap().clone() {
        let mut r = answer(429, r#"{"error":"too many requests"}"#);
        if let Some(v) = retry_after {
            r.headers_mut()
                .insert("retry-after", v.parse().expect("header value"));
        }
        return Some(r);
    }
    if let Some((status, body)) = sh.answer_all.lock().unwrap().clone() {
        return Some(answer(status, &body));
    }
    None
}

async fn handle(sh: &Shared, req: Request<Incoming>) -> Result<Answer, std::io::Error> {
    let n = sh.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let log = Log {
        sh,
        n,
        at: Instant::now(),
        path: req.uri().path().to_owned(),
    };
    if let Some(r) = blanket_answer(sh) {
        log.log(r.status().as_u16(), 0, 0);
        return Ok(r);
    }
    // The type a single-call endpoint takes; None for /v1/batch.
    let single = match log.path.as_str() {
        "/v1/alias" => Some("alias"),
        "/v1/group" => Some("group"),
        _ => None,
    };
    if req.method() != hyper::Method::POST || !(log.path == "/v1/batch" || single.is_some()) {
        log.log(404, 0, 0);
        return Ok(answer(404, r#"{"error":"not found"}"#));
    }
    let strict = req.headers().get("x-strict-mode").map(|v| v.as_bytes()) == Some(b"1");
    if !strict {
        // The API's permissive default: 200, and whatever was wrong is dropped.
        let body = req
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?;
        sh.permissive.fetch_add(1, Ordering::SeqCst);
        log.log(200, 0, body.to_bytes().len());
        return Ok(answer(200, API_SUCCESS));
    }
    let auth_ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected_auth(&sh.key));
    if !auth_ok || sh.deny_all.load(Ordering::SeqCst) {
        sh.unauthorized.fetch_add(1, Ordering::SeqCst);
        log.log(401, 0, 0);
        return Ok(answer(401, r#"{"error":"unauthorized"}"#));
    }
    let fault = next_fault(sh, n);
    match fault {
        Some(Fault::Drop) => {
            log.log(0, 0, 0);
            return Err(std::io::Error::other("connection dropped on purpose"));
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let Some(r) = fault.and_then(|f| faulty_answer(f, &log, body.len())) {
        return Ok(r);
    }
    let slow = sh.slow_marker.lock().unwrap().clone();
    if let Some((marker, calls, most)) = slow
        && memchr::memmem::find(&body, marker.as_bytes()).is_some()
    {
        let until = Instant::now() + most;
        while sh.accepted.load(Ordering::SeqCst) < calls && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(take_calls(sh, &log, &body, single, &headers))
}

/// Where a request is logged.
struct Log<'a> {
    sh: &'a Shared,
    n: u64,
    at: Instant,
    path: String,
}

impl Log<'_> {
    fn log(&self, status: u16, calls: usize, bytes: usize) {
        self.sh.seen.lock().unwrap().push(Seen {
            at: self.at,
            path: self.path.clone(),
            status,
            calls,
            bytes,
        });
        if self.sh.verbose {
            let what = match status {
                0 => "connection dropped".to_owned(),
                s => format!("HTTP {s}"),
            };
            println!(
                "{:>9.3}s request {} {}: {what}, {calls} calls, {bytes} bytes",
                self.sh.started.elapsed().as_secs_f64(),
                self.n,
                self.path
            );
        }
    }
}

/// The scripted fault for request `n`, else the chaos list's.
fn next_fault(sh: &Shared, n: u64) -> Option<Fault> {
    sh.faults.lock().unwrap().pop_front().or_else(|| {
        let chaos = sh.chaos.lock().unwrap();
        chaos.as_ref().and_then(|(every, list)| {
            (n.is_multiple_of(*every) && !list.is_empty())
                .then(|| list[((n / every - 1) as usize) % list.len()].clone())
        })
    })
}

/// The answer a fault gives once the body is read (none: handle the request normally).
fn faulty_answer(fault: Fault, log: &Log, bytes: usize) -> Option<Answer> {
    match fault {
        Fault::Status(s) => {
            log.log(s, 0, bytes);
            Some(answer(s, r#"{"error":"injected"}"#))
        }
        Fault::RetryAfter(v) => {
            log.log(429, 0, bytes);
            let mut r = answer(429, r#"{"error":"too many requests"}"#);
            r.headers_mut()
                .insert("retry-after", v.parse().expect("header value"));
            Some(r)
        }
        Fault::CutOff => {
            log.log(200, 0, bytes);
            Some(cut_off())
        }
        Fault::Pass | Fault::Slow(_) | Fault::Drop => None,
    }
}

/// The API's answer to a success: an empty object (the `200` response of its OpenAPI
/// description).
const API_SUCCESS: &str = "{}";

/// The API's answer to a request it refuses (400): its error object, `meta.errors` a list of
/// texts (the `400` response of its OpenAPI description).
fn api_error(why: &str) -> String {
    serde_json::json!({ "meta": { "errors": [why] } }).to_string()
}

/// The calls of a body: the `batch` array, or the single call itself.
fn calls_of(body: &[u8], single: Option<&str>) -> Option<Vec<String>> {
    if single.is_some() {
        let text = std::str::from_utf8(body).ok()?;
        serde_json::from_str::<serde_json::Value>(text).ok()?;
        return Some(vec![text.to_owned()]);
    }
    let parsed = serde_json::from_slice::<Body>(body).ok()?;
    Some(parsed.batch.iter().map(|c| c.get().to_owned()).collect())
}

/// Strict validation: the first call that is not of a type its endpoint takes.
fn refused_call(calls: &[String], single: Option<&str>) -> Option<String> {
    calls.iter().enumerate().find_map(|(i, c)| {
        let (kind, person) = type_of(c);
        let ok = match (kind.as_deref(), single) {
            (Some(t), Some(s)) => t == s,
            (Some("group"), None) => person,
            (Some(t), None) => BATCH_TYPES.contains(&t),
            (None, _) => false,
        };
        (!ok).then(|| {
            api_error(&format!(
                "call {i} is invalid: type {:?} is not accepted here",
                kind.unwrap_or_default()
            ))
        })
    })
}

/// A well-formed strict request: checks the limits (200 and dropped over them, as the API
/// does), the calls and the refusal marker, then keeps the calls.
fn take_calls(
    sh: &Shared,
    log: &Log,
    body: &[u8],
    single: Option<&str>,
    headers: &hyper::HeaderMap,
) -> Answer {
    if body.len() > MAX_BODY {
        sh.oversized.fetch_add(1, Ordering::SeqCst);
        log.log(200, 0, body.len());
        return answer(200, API_SUCCESS);
    }
    let Some(calls) = calls_of(body, single) else {
        log.log(400, 0, body.len());
        return answer(400, &api_error("invalid JSON"));
    };
    if calls.iter().any(|c| c.len() > MAX_CALL) {
        sh.oversized.fetch_add(1, Ordering::SeqCst);
        log.log(200, 0, body.len());
        return answer(200, API_SUCCESS);
    }
    if let Some(why) = refused_call(&calls, single) {
        log.log(400, calls.len(), body.len());
        return answer(400, &why);
    }
    let marker = sh.refuse_marker.lock().unwrap().clone();
    if let Some(m) = marker
        && let Some(i) = calls.iter().position(|c| c.contains(&m))
    {
        log.log(400, calls.len(), body.len());
        if sh.echo_headers.load(Ordering::SeqCst) {
            return echo_page(headers);
        }
        if let Some(pad) = *sh.echo_at.lock().unwrap() {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            let body = format!("{}{} {}\n", "z".repeat(pad), sh.key, auth.unwrap_or(""));
            return answer(400, &body);
        }
        return answer(
            400,
            &api_error(&format!("a call in this batch is invalid (call {i})")),
        );
    }
    sh.accepted.fetch_add(calls.len() as u64, Ordering::SeqCst);
    log.log(200, calls.len(), body.len());
    if sh.keep_calls.load(Ordering::Relaxed) {
        sh.calls.lock().unwrap().extend(calls);
    }
    answer(200, API_SUCCESS)
}
