//! The connection to object storage (`s3://`, `gs://`, `az://` URLs) through the `object_store`
//! crate: which arguments are URLs, building a store from the URL and each cloud's usual
//! environment (credentials, region, endpoint), and running its calls from the run's plain
//! threads on one small async runtime. Reading objects lives in [`crate::input::remote`],
//! writing them in [`crate::output::remote`]; nothing else knows where bytes live.

use crate::error::{Error, Result};
use object_store::ObjectStore;
use object_store::path::Path as Key;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// A place in an object store: a bucket (container) and a key prefix in it.
#[derive(Debug, Clone)]
pub struct Remote {
    pub store: Arc<dyn ObjectStore>,
    /// The key the URL names (no leading or trailing `/`; empty for the bucket's root).
    pub prefix: Key,
    /// `scheme://bucket`, to name keys as URLs again.
    pub base: String,
}

impl Remote {
    /// The URL of `key`.
    pub fn url_of(&self, key: &Key) -> String {
        format!("{}/{}", self.base, key.as_ref())
    }

    /// The key of `rel` (a `/`-separated path) below the prefix.
    pub fn key(&self, rel: &str) -> Key {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.extend(rel.split('/').filter(|p| !p.is_empty()).map(str::to_owned));
        Key::from_iter(parts)
    }

    /// `rel` of a key below the prefix (None when it is not below it).
    pub fn rel(&self, key: &Key) -> Option<String> {
        let parts: Vec<_> = key.prefix_match(&self.prefix)?.collect();
        Some(
            parts
                .iter()
                .map(|p| p.as_ref())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }
}

/// Schemes read through `object_store` (`file://` is turned into a plain path instead).
const SCHEMES: [&str; 7] = [
    "s3://", "s3a://", "gs://", "az://", "adl://", "abfs://", "abfss://",
];

/// Is this argument an object-store URL?
pub fn is_url(arg: &str) -> bool {
    SCHEMES.iter().any(|s| arg.starts_with(s))
}

/// The local path of a `file://` URL (None for anything else).
pub fn file_url_path(arg: &str) -> Option<Result<PathBuf>> {
    if !arg.starts_with("file://") {
        return None;
    }
    Some(
        url::Url::parse(arg)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| Error::Usage(format!("{arg:?} is not a file:// URL of a local path"))),
    )
}

/// Connects to the store a URL names, with credentials and settings from the environment
/// (`AWS_*` for S3, `GOOGLE_*` for GCS, `AZURE_*` for Azure).
pub fn open(url: &str) -> Result<Remote> {
    let bad = |e: String| Error::Usage(format!("{url}: {e}"));
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let bucket = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("the URL names no bucket".into()))?
        .to_owned();
    let retry = object_store::RetryConfig {
        max_retries: 5,
        retry_timeout: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        _ => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
    };
    let prefix = Key::from_url_path(parsed.path()).map_err(|e| bad(e.to_string()))?;
    Ok(Remote {
        store,
        prefix,
        base: format!("{}://{bucket}", parsed.scheme()),
    })
}

/// The runtime the store's calls run on (two threads: the calls mostly wait on the network).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("t2p-store")
            .enable_all()
            .build()
            .expect("the object-store runtime starts")
    })
}

/// Runs a store call to its end from a plain thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// An object-store error as an I/O error (for readers and writers).
pub fn io_error(e: object_store::Error) -> std::io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, e)
}
