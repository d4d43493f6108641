//! Finds S3 credentials the way S3 tools do, and never writes, logs or
//! prints them: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN` from the environment first, then the profile named
//! by `AWS_PROFILE` (default `default`) in the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`). The region
//! comes from the remote's config, `AWS_REGION`, `AWS_DEFAULT_REGION`, or
//! the profile in `~/.aws/config` (`AWS_CONFIG_FILE`).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::error::{RemoteError, Result};

/// A key pair (and session token). `Debug` shows only where it came from.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// Where they were found, for messages (never the values).
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home_file(var: &str, rest: &str) -> Option<PathBuf> {
    env(var)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(rest)))
}

/// Parses an INI file into section -> key -> value (keys lowercased).
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            sections.entry(name.trim().to_string()).or_default();
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    sections
}

fn profile_name() -> String {
    env("AWS_PROFILE").unwrap_or_else(|| "default".to_string())
}

/// The credentials to use, or `None` when there are none at all (requests
/// then go unsigned, which only public buckets accept).
///
/// # Errors
/// [`RemoteError::Config`] when `AWS_PROFILE` names a profile that is not in
/// the credentials file, or the file cannot be read.
pub fn resolve() -> Result<Option<Credentials>> {
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
            source: "the environment (AWS_ACCESS_KEY_ID)".to_string(),
        }));
    }
    let profile = profile_name();
    let explicit = env("AWS_PROFILE").is_some();
    let Some(path) = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => {
            return Err(RemoteError::Config(format!(
                "read the shared credentials file {} for profile {profile:?}: {e}",
                path.display()
            )));
        }
    };
    let sections = parse_ini(&text);
    let section = sections.get(&profile);
    match section.and_then(|s| {
        Some((
            s.get("aws_access_key_id")?.clone(),
            s.get("aws_secret_access_key")?.clone(),
        ))
    }) {
        Some((id, secret)) => Ok(Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: section.and_then(|s| s.get("aws_session_token").cloned()),
            source: format!("profile {profile:?} in {}", path.display()),
        })),
        None if explicit => Err(RemoteError::Config(format!(
            "AWS_PROFILE={profile:?}: no aws_access_key_id and aws_secret_access_key for that profile in {}",
            path.display()
        ))),
        None => Ok(None),
    }
}

/// The region: the remote's own, else the environment, else the profile's
/// in the shared config file, else `us-east-1`.
pub fn region(configured: Option<&str>) -> String {
    if let Some(r) = configured {
        return r.to_string();
    }
    if let Some(r) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return r;
    }
    let profile = profile_name();
    let from_file = home_file("AWS_CONFIG_FILE", ".aws/config")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| {
            let sections = parse_ini(&text);
            let name = if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            };
            sections.get(&name)?.get("region").cloned()
        });
    from_file.unwrap_or_else(|| "us-east-1".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_keys() {
        let s = parse_ini(
            "# c\n[default]\naws_access_key_id = AK\nAWS_SECRET_ACCESS_KEY=SK\n[profile x]\nregion = eu-west-1\n",
        );
        assert_eq!(s["default"]["aws_access_key_id"], "AK");
        assert_eq!(s["default"]["aws_secret_access_key"], "SK");
        assert_eq!(s["profile x"]["region"], "eu-west-1");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            access_key_id: "AKIDSECRETLOOKING".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("tok".into()),
            source: "test".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("AKIDSECRET"));
    }
}
