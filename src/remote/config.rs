//! What the store's config says about a remote: where it is and how to
//! encrypt, never a secret. Credentials come from the environment (see
//! [`super::credentials`]); an age identity stays in a file outside the store.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{RemoteError, Result};
use crate::store::retention::RetentionPolicy;

/// One remote, as kept in `.graphvault/config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteConfig {
    pub name: String,
    /// `s3://BUCKET/PREFIX`.
    pub url: String,
    /// The S3 endpoint of a server that is not AWS (SeaweedFS, MinIO, R2...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Push after every save.
    #[serde(default)]
    pub auto_push: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The remote's own retention policy (`remote rotate` uses it when no
    /// rule is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPolicy>,
}

/// Client-side encryption in the age format. Only public material or a
/// path is stored here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encryption {
    /// Encrypt to this age recipient (`age1...`). Decrypting (deep verify,
    /// recovery) needs the matching identity file, given at that time.
    Recipient { recipient: String },
    /// An age identity file (`AGE-SECRET-KEY-1...`) outside the store:
    /// encrypt to its recipients and decrypt with it.
    KeyFile { path: PathBuf },
}

/// A parsed `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

impl RemoteUrl {
    /// Parses `s3://BUCKET[/PREFIX]`.
    ///
    /// # Errors
    /// [`RemoteError::Config`] for another scheme or an invalid bucket name.
    pub fn parse(text: &str) -> Result<RemoteUrl> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            RemoteError::Config(format!(
                "remote URL {text:?} is not of the form s3://BUCKET/PREFIX"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(RemoteError::Config(format!(
                "remote URL {text:?}: {bucket:?} is not a valid bucket name (3 to 63 lowercase letters, digits, '-' or '.')"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(RemoteError::Config(format!(
                "remote URL {text:?}: the prefix {prefix:?} has empty, '.' or '..' segments or control characters"
            )));
        }
        Ok(RemoteUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key for `rest` under the prefix.
    pub fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl RemoteConfig {
    /// Checks the name, URL, endpoint and encryption settings.
    ///
    /// # Errors
    /// [`RemoteError::Config`] saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        validate_name(&self.name)?;
        RemoteUrl::parse(&self.url)?;
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(RemoteError::Config(format!(
                "remote {}: endpoint {endpoint:?} must start with http:// or https://",
                self.name
            )));
        }
        match &self.encryption {
            Some(Encryption::Recipient { recipient }) => {
                super::crypt::parse_recipient(recipient)?;
            }
            Some(Encryption::KeyFile { path }) if !path.is_absolute() => {
                return Err(RemoteError::Config(format!(
                    "remote {}: the key file path {} must be absolute (it is read from wherever graphvault runs)",
                    self.name,
                    path.display()
                )));
            }
            _ => {}
        }
        if let Some(policy) = &self.retention {
            policy.validate()?;
        }
        Ok(())
    }

    /// The parsed URL.
    ///
    /// # Errors
    /// As [`RemoteUrl::parse`].
    pub fn parsed_url(&self) -> Result<RemoteUrl> {
        RemoteUrl::parse(&self.url)
    }

    /// Where objects go, for messages: the URL and the endpoint.
    pub fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{} ({}) at {e}", self.name, self.url),
            None => format!("{} ({})", self.name, self.url),
        }
    }
}

/// A remote's name: a short word, since it names a state file too.
///
/// # Errors
/// [`RemoteError::Config`] for an empty, long or odd name.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(RemoteError::Config(format!(
            "remote name {name:?}: use 1 to 64 letters, digits, '-' or '_'"
        )))
    }
}
