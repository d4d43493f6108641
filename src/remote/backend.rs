//! The one small trait between graphvault and an object store, and its
//! only implementation over S3 (`object_store`'s `AmazonS3`). Nothing else
//! in the program sees the S3 client or tokio: [`S3Backend`] owns one
//! current-thread runtime and blocks on it, so every caller stays
//! synchronous.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::config::{RemoteConfig, RemoteUrl};
use super::credentials::{self, Credentials};
use super::error::{RemoteError, Result};

/// One object as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The full key.
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// What a create-only put found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// Something was already there: nothing was written.
    AlreadyExists,
}

/// Whether the bucket keeps old versions or locks objects. graphvault
/// never fights either: deletes become delete markers or are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BucketProtection {
    /// `Enabled`, `Suspended`, or `None` when never enabled or unknown.
    pub versioning: Option<String>,
    pub object_lock: bool,
    /// Why the above could not be read, when it could not.
    pub unknown: Option<String>,
}

/// The operations graphvault needs from an object store. Keys are full
/// keys (prefix included). Every put is create-only.
pub trait ObjectBackend: Send + Sync + std::fmt::Debug {
    /// The object's size, or `None` when there is none.
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// The server's own SHA-256 of the object (HEAD with checksum mode), as
    /// S3 gives it: base64, with `-N` for an N-part upload. `None` when
    /// the server stored no checksum (an object put without one).
    fn server_checksum(&self, key: &str) -> Result<Option<String>>;
    /// Creates `key` with `bytes` and their SHA-256 (the server rejects a
    /// body damaged in transit), unless it exists.
    fn put_create(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome>;
    /// Starts a multipart upload (parts carry their SHA-256).
    fn multipart_begin(&self, key: &str) -> Result<String>;
    /// Uploads part `index` (from 0) and returns its id for completion.
    fn multipart_part(
        &self,
        key: &str,
        upload: &str,
        index: usize,
        bytes: Vec<u8>,
    ) -> Result<String>;
    /// Completes an upload from its part ids, in order, create-only
    /// (`If-None-Match: *` on CompleteMultipartUpload): when an object is
    /// already at `key`, nothing is written and the upload stays open.
    fn multipart_complete(&self, key: &str, upload: &str, parts: Vec<String>)
    -> Result<PutOutcome>;
    /// Discards an upload.
    fn multipart_abort(&self, key: &str, upload: &str) -> Result<()>;
    /// The whole object, refusing one over `max_len` bytes.
    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>>;
    /// Every object under `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    fn delete(&self, key: &str) -> Result<()>;
    fn protection(&self) -> BucketProtection;
}

/// S3 over `object_store`, blocking on a private current-thread runtime.
pub struct S3Backend {
    runtime: tokio::runtime::Runtime,
    store: Arc<AmazonS3>,
    /// For the two requests `object_store` does not offer (HEAD with
    /// checksum mode, bucket settings), sent as presigned URLs.
    http: HttpClient,
    remote: String,
    bucket: String,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// Attempts and timeouts: enough to ride out a restart or a dropped
/// connection, short enough that a dead server is reported within
/// seconds, not minutes.
fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            ..BackoffConfig::default()
        },
    }
}

fn client_options(endpoint: Option<&str>) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300))
}

impl S3Backend {
    /// Connects (lazily: nothing is sent yet) to the remote described by
    /// `config`, with credentials from the environment or the shared file.
    ///
    /// # Errors
    /// [`RemoteError::Config`] for an unusable URL, endpoint or profile.
    pub fn open(config: &RemoteConfig) -> Result<S3Backend> {
        let url = config.parsed_url()?;
        let creds = credentials::resolve()?;
        S3Backend::open_with(config, &url, creds)
    }

    /// As [`S3Backend::open`], with these credentials instead of the
    /// environment's (`None`: unsigned requests).
    ///
    /// # Errors
    /// As [`S3Backend::open`].
    pub fn open_with(
        config: &RemoteConfig,
        url: &RemoteUrl,
        creds: Option<Credentials>,
    ) -> Result<S3Backend> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Config(format!("start the S3 client's runtime: {e}")))?;
        let region = credentials::region(config.region.as_deref());
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&url.bucket)
            .with_region(&region)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
            .with_retry(retry_config())
            .with_client_options(client_options(config.endpoint.as_deref()));
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        match &creds {
            Some(c) => {
                builder = builder
                    .with_access_key_id(&c.access_key_id)
                    .with_secret_access_key(&c.secret_access_key);
                if let Some(t) = &c.session_token {
                    builder = builder.with_token(t);
                }
            }
            None => builder = builder.with_skip_signature(true),
        }
        let store = builder
            .build()
            .map_err(|e| RemoteError::Config(format!("remote {}: {e}", config.describe())))?;
        let http = ReqwestConnector::default()
            .connect(&client_options(config.endpoint.as_deref()))
            .map_err(|e| RemoteError::Config(format!("HTTP client: {e}")))?;
        Ok(S3Backend {
            runtime,
            store: Arc::new(store),
            http,
            remote: config.describe(),
            bucket: url.bucket.clone(),
        })
    }

    /// Creates the bucket (setting up a self-hosted server, and tests; a
    /// bucket that exists already and is ours is fine).
    ///
    /// # Errors
    /// The server's refusal, or a connection failure.
    pub fn create_bucket(&self) -> Result<()> {
        let (status, _, body) = self.raw(http::Method::PUT, "", SignedUrlOptions::new())?;
        let text = String::from_utf8_lossy(&body);
        if status.is_success() || text.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(RemoteError::Server {
                op: "create a bucket",
                remote: self.remote.clone(),
                key: self.bucket.clone(),
                detail: format!(
                    "HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                ),
            })
        }
    }

    fn map_err(&self, op: &'static str, key: &str, e: object_store::Error) -> RemoteError {
        classify(op, &self.remote, &self.bucket, key, &e)
    }

    /// Sends a presigned request for `key` with `query` and the signed
    /// headers; returns the status and headers.
    fn raw(
        &self,
        method: http::Method,
        key: &str,
        options: SignedUrlOptions,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>)> {
        self.raw_with_body(method, key, options, Vec::new())
    }

    /// As [`S3Backend::raw`], sending `body`.
    fn raw_with_body(
        &self,
        method: http::Method,
        key: &str,
        options: SignedUrlOptions,
        body: Vec<u8>,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>)> {
        let path = ObjectPath::from(key);
        let headers = options.signed_headers.clone();
        self.runtime.block_on(async {
            let url = self
                .store
                .signed_url_opts(method.clone(), &path, Duration::from_secs(300), &options)
                .await
                .map_err(|e| self.map_err("sign a request", key, e))?;
            let mut request = HttpRequest::new(HttpRequestBody::from(body));
            *request.method_mut() = method;
            *request.uri_mut() = url.as_str().parse().map_err(|e| RemoteError::Server {
                op: "sign a request",
                remote: self.remote.clone(),
                key: key.to_string(),
                detail: format!("{e}"),
            })?;
            *request.headers_mut() = headers;
            let response =
                self.http
                    .execute(request)
                    .await
                    .map_err(|e| RemoteError::Unreachable {
                        op: "request",
                        remote: self.remote.clone(),
                        detail: error_chain(&e),
                    })?;
            let (parts, body) = response.into_parts();
            let body = body.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Ok((parts.status, parts.headers, body))
        })
    }
}

/// Every message in an error's chain: the cause of a refused connection
/// is three levels down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn classify(
    op: &'static str,
    remote: &str,
    bucket: &str,
    key: &str,
    e: &object_store::Error,
) -> RemoteError {
    let detail = error_chain(e);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        return RemoteError::NoSuchBucket {
            op,
            remote: remote.to_string(),
            bucket: bucket.to_string(),
        };
    }
    match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => RemoteError::Auth {
            op,
            remote: remote.to_string(),
            detail,
        },
        _ if lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("accessdenied")
            || lower.contains("403 forbidden") =>
        {
            RemoteError::Auth {
                op,
                remote: remote.to_string(),
                detail,
            }
        }
        _ if lower.contains("connection refused")
            || lower.contains("error sending request")
            || lower.contains("dns error")
            || lower.contains("timed out")
            || lower.contains("connect") && lower.contains("error") =>
        {
            RemoteError::Unreachable {
                op,
                remote: remote.to_string(),
                detail,
            }
        }
        _ => RemoteError::Server {
            op,
            remote: remote.to_string(),
            key: key.to_string(),
            detail,
        },
    }
}

impl ObjectBackend for S3Backend {
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = ObjectPath::from(key);
        match self.runtime.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: meta.size,
                last_modified: meta.last_modified,
            })),
            Err(object_store::Error::NotFound { path, source })
                if !error_chain(&*source)
                    .to_ascii_lowercase()
                    .contains("nosuchbucket") =>
            {
                let _ = path;
                Ok(None)
            }
            Err(e) => Err(self.map_err("look up an object", key, e)),
        }
    }

    fn server_checksum(&self, key: &str) -> Result<Option<String>> {
        let options = SignedUrlOptions::new().with_signed_header(
            http::HeaderName::from_static("x-amz-checksum-mode"),
            http::HeaderValue::from_static("ENABLED"),
        );
        let (status, headers, _) = self.raw(http::Method::HEAD, key, options)?;
        match status.as_u16() {
            200 => Ok(headers
                .get("x-amz-checksum-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)),
            404 => Err(RemoteError::Server {
                op: "read an object's checksum",
                remote: self.remote.clone(),
                key: key.to_string(),
                detail: "the object is missing".to_string(),
            }),
            401 | 403 => Err(RemoteError::Auth {
                op: "read an object's checksum",
                remote: self.remote.clone(),
                detail: format!("HTTP {status}"),
            }),
            _ => Err(RemoteError::Server {
                op: "read an object's checksum",
                remote: self.remote.clone(),
                key: key.to_string(),
                detail: format!("HTTP {status}"),
            }),
        }
    }

    fn put_create(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome> {
        let path = ObjectPath::from(key);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .runtime
            .block_on(self.store.put_opts(&path, PutPayload::from(bytes), options))
        {
            Ok(_) => Ok(PutOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.map_err("upload an object", key, e)),
        }
    }

    fn multipart_begin(&self, key: &str) -> Result<String> {
        let path = ObjectPath::from(key);
        self.runtime
            .block_on(self.store.create_multipart(&path))
            .map_err(|e| self.map_err("start a multipart upload", key, e))
    }

    fn multipart_part(
        &self,
        key: &str,
        upload: &str,
        index: usize,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let path = ObjectPath::from(key);
        let upload = upload.to_string();
        self.runtime
            .block_on(
                self.store
                    .put_part(&path, &upload, index, PutPayload::from(bytes)),
            )
            .map(|p| p.content_id)
            .map_err(|e| self.map_err("upload a part", key, e))
    }

    fn multipart_complete(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<String>,
    ) -> Result<PutOutcome> {
        // object_store 0.14's `MultipartStore::complete_multipart` always
        // overwrites (it sends no `If-None-Match`; only its internal
        // copy-if-not-exists path completes create-only). The completion is
        // therefore sent here, signed like every other request, with
        // `If-None-Match: *`: AWS S3 and SeaweedFS answer 412 when an object
        // is already there and leave it untouched.
        const OP: &str = "complete a multipart upload";
        let body = complete_xml(&parts);
        let mut options = SignedUrlOptions::new()
            .with_query([("uploadId", upload)])
            .with_signed_header(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
        #[cfg(feature = "negative-controls")]
        let create_only = !crate::store::negative_controls::complete_overwrites();
        #[cfg(not(feature = "negative-controls"))]
        let create_only = true;
        if create_only {
            options = options.with_signed_header(
                http::header::IF_NONE_MATCH,
                http::HeaderValue::from_static("*"),
            );
        }
        let (status, _, reply) =
            self.raw_with_body(http::Method::POST, key, options, body.into_bytes())?;
        let text = String::from_utf8_lossy(&reply);
        // S3 may answer 200 and put the error in the body.
        let code = xml_value(&text, "Code");
        match (status.as_u16(), code.as_deref()) {
            (200, None) if text.contains("CompleteMultipartUploadResult") => {
                Ok(PutOutcome::Created)
            }
            (412, _) | (_, Some("PreconditionFailed")) => Ok(PutOutcome::AlreadyExists),
            (401 | 403, _) | (_, Some("AccessDenied" | "InvalidAccessKeyId")) => {
                Err(RemoteError::Auth {
                    op: OP,
                    remote: self.remote.clone(),
                    detail: format!("HTTP {status} {}", code.unwrap_or_default()),
                })
            }
            (_, Some("NoSuchBucket")) => Err(RemoteError::NoSuchBucket {
                op: OP,
                remote: self.remote.clone(),
                bucket: self.bucket.clone(),
            }),
            _ => Err(RemoteError::Server {
                op: OP,
                remote: self.remote.clone(),
                key: key.to_string(),
                detail: format!(
                    "HTTP {status}: {}",
                    code.unwrap_or_else(|| text.chars().take(300).collect())
                ),
            }),
        }
    }

    fn multipart_abort(&self, key: &str, upload: &str) -> Result<()> {
        let path = ObjectPath::from(key);
        let upload = upload.to_string();
        self.runtime
            .block_on(self.store.abort_multipart(&path, &upload))
            .map_err(|e| self.map_err("abort a multipart upload", key, e))
    }

    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>> {
        let path = ObjectPath::from(key);
        self.runtime.block_on(async {
            let result = self
                .store
                .get(&path)
                .await
                .map_err(|e| self.map_err("download an object", key, e))?;
            if result.meta.size > max_len {
                return Err(RemoteError::Server {
                    op: "download an object",
                    remote: self.remote.clone(),
                    key: key.to_string(),
                    detail: format!(
                        "it is {} bytes, over the {max_len} byte limit",
                        result.meta.size
                    ),
                });
            }
            // The size is known: one allocation, streamed into.
            let mut out = Vec::with_capacity(usize::try_from(result.meta.size).unwrap_or(0));
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.map_err("download an object", key, e))?;
                if out.len() as u64 + chunk.len() as u64 > max_len {
                    return Err(RemoteError::Server {
                        op: "download an object",
                        remote: self.remote.clone(),
                        key: key.to_string(),
                        detail: format!("over the {max_len} byte limit"),
                    });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let path = ObjectPath::from(prefix);
        self.runtime.block_on(async {
            let mut stream = self.store.list(Some(&path));
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                let meta = item.map_err(|e| self.map_err("list objects", prefix, e))?;
                out.push(ObjectInfo {
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified,
                });
            }
            Ok(out)
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = ObjectPath::from(key);
        self.runtime
            .block_on(self.store.delete(&path))
            .map_err(|e| self.map_err("delete an object", key, e))
    }

    fn protection(&self) -> BucketProtection {
        let mut protection = BucketProtection::default();
        let read = |query: &str| -> Result<String> {
            let options = SignedUrlOptions::new().with_query([(query, "")]);
            let (status, _, body) = self.raw(http::Method::GET, "", options)?;
            if status.is_success() {
                Ok(String::from_utf8_lossy(&body).into_owned())
            } else {
                Err(RemoteError::Server {
                    op: "read bucket settings",
                    remote: self.remote.clone(),
                    key: format!("?{query}"),
                    detail: format!("HTTP {status}"),
                })
            }
        };
        match read("versioning") {
            Ok(xml) => protection.versioning = xml_value(&xml, "Status"),
            Err(e) => protection.unknown = Some(e.to_string()),
        }
        // No object-lock configuration is an error reply, not "disabled" in
        // words; only a positive answer counts.
        if let Ok(xml) = read("object-lock") {
            protection.object_lock =
                xml_value(&xml, "ObjectLockEnabled").is_some_and(|v| v == "Enabled");
        }
        protection
    }
}

/// The body of a CompleteMultipartUpload: each part's ETag and SHA-256 as
/// `put_part` returned them (object_store encodes both in the part id as
/// `<PartMetadata><e_tag>..</e_tag><checksum_sha256>..</checksum_sha256>`;
/// a bare ETag from older versions is taken as it is).
fn complete_xml(parts: &[String]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, id) in parts.iter().enumerate() {
        let (etag, sha) = match xml_value(id, "e_tag") {
            Some(etag) => (xml_unescape(&etag), xml_value(id, "checksum_sha256")),
            None => (id.clone(), None),
        };
        xml.push_str("<Part><PartNumber>");
        xml.push_str(&(i + 1).to_string());
        xml.push_str("</PartNumber><ETag>");
        xml.push_str(&xml_escape(&etag));
        xml.push_str("</ETag>");
        if let Some(sha) = sha {
            xml.push_str("<ChecksumSHA256>");
            xml.push_str(&xml_escape(&xml_unescape(&sha)));
            xml.push_str("</ChecksumSHA256>");
        }
        xml.push_str("</Part>");
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>...</tag>` in a small XML reply.
fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{complete_xml, xml_value};

    #[test]
    fn reads_a_tag() {
        let xml = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        assert_eq!(xml_value(xml, "Status").as_deref(), Some("Enabled"));
        assert_eq!(xml_value("<V></V>", "Status"), None);
    }

    #[test]
    fn completion_names_each_part_with_its_etag_and_checksum() {
        let parts = vec![
            "<PartMetadata><e_tag>&quot;abc&quot;</e_tag><checksum_sha256>q+/=</checksum_sha256></PartMetadata>".to_string(),
            "\"def\"".to_string(),
        ];
        assert_eq!(
            complete_xml(&parts),
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag><ChecksumSHA256>q+/=</ChecksumSHA256></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;def&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }
}
