//! The HTTP side: one reqwest client (rustls, HTTP/2 where the server offers it, a pool of
//! kept-alive connections) that posts a body to `{base}/batch` with Basic auth and reports
//! what came back. The key lives only in the client's auth header value, marked sensitive.

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use std::time::Duration;

/// How much of a refusing server's answer is kept.
pub const ANSWER_BYTES: usize = 4096;

/// What one request got.
#[derive(Debug)]
pub enum Outcome {
    /// An HTTP answer: its status, `Retry-After` and the first [`ANSWER_BYTES`] of its body.
    Answer {
        status: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
    },
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (the message names the cause, never the key).
    Connection(String),
}

/// Posts batches.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: HeaderValue,
}

impl Client {
    /// A client for `{base}/batch` with `key`, at most `pool` idle connections kept.
    pub fn new(base: &str, key: &str, timeout: Duration, pool: usize) -> Result<Client, String> {
        let url = batch_url(base)?;
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        let mut auth = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "the write key holds characters a header cannot carry".to_string())?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("track2pipelines/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Client { http, url, auth })
    }

    /// Posts `body` and reads the answer.
    pub async fn post(&self, body: Bytes) -> Outcome {
        let sent = self
            .http
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        // Read the answer (so the connection can be reused), keeping its first bytes.
        let mut read = 0usize;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = ANSWER_BYTES.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if read > 1 << 20 {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is known: a body cut short does not change what it means.
                Err(e) if e.is_timeout() && !(200..300).contains(&status) => break,
                Err(e) if e.is_timeout() => return Outcome::Timeout,
                Err(_) => break,
            }
        }
        Outcome::Answer {
            status,
            retry_after,
            body,
        }
    }
}

/// `{base}/batch`, checked: an http or https URL.
pub fn batch_url(base: &str) -> Result<reqwest::Url, String> {
    let base = base.trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}/batch"))
        .map_err(|e| format!("--endpoint {base:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("--endpoint {base:?} is not an http or https URL"));
    }
    Ok(url)
}

fn failure(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        return Outcome::Timeout;
    }
    // The chain of causes, without the URL (which never holds the key, but keep it short).
    let mut msg = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&err.to_string());
        cur = err.source();
    }
    Outcome::Connection(msg)
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
    }
}
