//! The HTTP side: one reqwest client (rustls, HTTP/2 where the server offers it, a pool of
//! kept-alive connections) that posts a body to its [`Route`] (`{base}/batch`, `/alias` or
//! `/group`) with Basic auth and reports what came back. The key lives only in the client's
//! auth header value, marked sensitive.
//!
//! What makes an answer mean what it says (docs/send.md, "What counts as acknowledged"):
//! every request carries `X-Strict-Mode: 1` (without it the API answers 200 to what it then
//! drops); redirects are never followed (a 3xx comes back as it is, with its `Location`); and
//! a 2xx is reported only when its whole body arrived: an answer cut off before its end is a
//! dropped connection.
//!
//! [`Transport`] is what the sender needs of a client, so its decisions can be tested with a
//! fake one.

use super::errors::Redactor;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use std::future::Future;
use std::time::Duration;

/// How much of a refusing server's answer is stored.
pub const ANSWER_BYTES: usize = 4096;

/// How much of an answer is read for `key`: [`ANSWER_BYTES`] and room for the longest form of
/// the key that is redacted ([`Redactor::longest_form`]: a percent-encoded one may be three
/// times the key), so a key that starts inside the stored bytes is whole when it is redacted,
/// and the cut comes after.
pub fn read_bytes(key: &str) -> usize {
    ANSWER_BYTES + Redactor::new(Some(key)).longest_form()
}

/// The header that turns the API's permissive default off.
pub const STRICT_MODE: &str = "X-Strict-Mode";

/// Where a body goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST {base}/batch`, body `{"batch":[…]}`.
    Batch,
    /// `POST {base}/alias`, body one `alias` call (the batch schema has no `alias`).
    Alias,
    /// `POST {base}/group`, body one `group` call with neither `userId` nor `anonymousId`
    /// (an object's own call: the batch schema's group calls need one of them).
    Group,
}

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A whole HTTP answer: its status, `Retry-After`, `Location` and the first
    /// [`read_bytes`] of its body (to be redacted, then cut to [`ANSWER_BYTES`]).
    Answer {
        status: u16,
        retry_after: Option<String>,
        location: Option<String>,
        body: Vec<u8>,
    },
    /// No answer within the timeout.
    Timeout,
    /// The connection failed, or the answer was cut off (the message names the cause, never
    /// the key).
    Connection(String),
}

impl Reply {
    /// An answer with this status and nothing else (fakes in tests).
    #[cfg(test)]
    pub fn status(status: u16) -> Reply {
        Reply::Answer {
            status,
            retry_after: None,
            location: None,
            body: Vec::new(),
        }
    }
}

/// What the sender needs of an HTTP client: post a body, get an [`Reply`].
pub trait Transport: Clone + Send + Sync + 'static {
    /// Posts `body` to `route` and reads the whole answer.
    fn post(&self, route: Route, body: Bytes) -> impl Future<Output = Reply> + Send;
}

/// Posts batches and alias calls.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    batch: reqwest::Url,
    alias: reqwest::Url,
    group: reqwest::Url,
    auth: HeaderValue,
    /// [`read_bytes`] for the key.
    keep: usize,
}

impl Client {
    /// A client for `{base}/batch` and `{base}/alias` with `key`, at most `pool` idle
    /// connections kept.
    pub fn new(base: &str, key: &str, timeout: Duration, pool: usize) -> Result<Client, String> {
        let batch = batch_url(base)?;
        let join = |name: &str| {
            batch
                .join(name)
                .map_err(|e| format!("--endpoint {base:?}: {e}"))
        };
        let (alias, group) = (join("alias")?, join("group")?);
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        let mut auth = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "the write key holds characters a header cannot carry".to_string())?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("track2pipelines/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Client {
            http,
            batch,
            alias,
            group,
            auth,
            keep: read_bytes(key),
        })
    }
}

impl Transport for Client {
    async fn post(&self, route: Route, body: Bytes) -> Reply {
        let url = match route {
            Route::Batch => &self.batch,
            Route::Alias => &self.alias,
            Route::Group => &self.group,
        };
        let sent = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(STRICT_MODE, "1")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => read_answer(resp, self.keep).await,
            Err(e) => failure(&e),
        }
    }
}

/// Reads an answer to its end (so the connection can be reused, and so a 2xx counts only
/// when it arrived whole), keeping its first `keep` bytes.
async fn read_answer(mut resp: reqwest::Response, keep: usize) -> Reply {
    let status = resp.status().as_u16();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header(RETRY_AFTER);
    let location = header(LOCATION);
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = keep.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            // A 2xx cut short is no acknowledgement: the request is tried again.
            Err(e) if (200..300).contains(&status) => return failure(&e),
            // Any other status means what it says, whole body or not.
            Err(_) => break,
        }
    }
    Reply::Answer {
        status,
        retry_after,
        location,
        body,
    }
}

/// `{base}/batch`, checked: an http or https URL without user information (a key there
/// would be written wherever the endpoint is), and without a query or a fragment (`/batch`
/// would be added to them, not to the path).
pub fn batch_url(base: &str) -> Result<reqwest::Url, String> {
    let base = base.trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}/batch"))
        .map_err(|_| "--endpoint is not a URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("--endpoint {base:?} is not an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "--endpoint may not hold a user name or password: give the write key with \
             CIO_WRITE_KEY or --write-key-file"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        // `/batch` would land in it, and the calls on the base's own path (the message does
        // not repeat the URL: a query may hold a token).
        return Err(
            "--endpoint may not hold a query or a fragment (`?…`, `#…`): it is a base URL \
             that `/batch`, `/alias` and `/group` are added to"
                .to_string(),
        );
    }
    Ok(url)
}

fn failure(e: &reqwest::Error) -> Reply {
    if e.is_timeout() {
        return Reply::Timeout;
    }
    // The chain of causes (the URL never holds the key: `batch_url` refuses user information).
    let mut msg = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&err.to_string());
        cur = err.source();
    }
    Reply::Connection(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            batch_url("https://cdp.customer.io/v1/").unwrap().as_str(),
            "https://cdp.customer.io/v1/batch"
        );
        assert!(batch_url("ftp://x/v1").is_err());
        assert!(batch_url("not a url").is_err());
        let e = batch_url("https://u:secret@cdp.customer.io/v1").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(batch_url("https://secret@cdp.customer.io/v1").is_err());
        assert!(batch_url("https://cdp.customer.io/v1?a=b").is_err());
        assert!(batch_url("https://cdp.customer.io/v1#x").is_err());
        let c = Client::new("http://127.0.0.1:1/v1", "k", Duration::from_secs(1), 1).unwrap();
        assert_eq!(c.alias.as_str(), "http://127.0.0.1:1/v1/alias");
        assert_eq!(c.group.as_str(), "http://127.0.0.1:1/v1/group");
    }

    #[test]
    fn a_key_form_the_stored_cut_falls_inside_is_read_whole() {
        // Its percent-encoded form is three times as long as the key, and starts 3 bytes
        // before the cut: read whole, it is redacted, and only `[re` of that is stored.
        let key = "+/".repeat(10);
        let form = "%2B%2F".repeat(10);
        let answer = format!("{}{form} end", "z".repeat(ANSWER_BYTES - 3));
        let read = &answer.as_bytes()[..read_bytes(&key).min(answer.len())];
        let mut stored = Redactor::new(Some(&key)).redact(read);
        stored.truncate(ANSWER_BYTES);
        let tail = String::from_utf8_lossy(&stored[ANSWER_BYTES - 3..]).into_owned();
        assert_eq!(tail, "[re", "a piece of the key's form is stored");
    }
}
