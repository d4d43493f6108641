//! The store's settings by name, as `graphvault config` shows and changes
//! them: how backups are stored, retention, the trash's grace period and
//! the space margin. They live in `.graphvault/config.json` (see
//! [`super::StoreConfig`]); this module only names, shows, parses and
//! validates them, and a change is written through [`Store::set_config`]
//! (validated, atomically, under the lock).

use std::path::PathBuf;

use serde::Serialize;

use super::codec::{self, Compression};
use super::error::{Result, StoreError};
use super::retention::{format_duration, parse_duration};
use super::{Store, StoreConfig};

/// One setting as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: String,
    /// What a store without a config has.
    pub default: String,
    pub about: &'static str,
}

/// Result of [`Store::settings`].
#[derive(Debug, Clone, Serialize)]
pub struct SettingsReport {
    /// `.graphvault/config.json`.
    pub path: PathBuf,
    pub settings: Vec<Setting>,
    /// Why the config file cannot be used (the defaults are shown then).
    pub problem: Option<String>,
}

/// Result of [`Store::set_setting`].
#[derive(Debug, Clone, Serialize)]
pub struct SettingChange {
    pub path: PathBuf,
    pub key: &'static str,
    pub old: String,
    pub new: String,
    /// False when the value was already this one (nothing was written).
    pub changed: bool,
}

/// Every key, in the order shown, with what it means.
pub const KEYS: [(&str, &str); 13] = [
    (
        "compression",
        "how new backups are stored: none (plain JSON) or zstd",
    ),
    (
        "compression-level",
        "zstd's level for new backups, 1 (fast) to 19 (small)",
    ),
    (
        "keep-plain",
        "the newest N backups stay plain JSON, for a copy any tool opens",
    ),
    (
        "deltas",
        "on: a backup may be stored as a delta against the newest full backup (needs zstd)",
    ),
    (
        "full-every",
        "with deltas: a full backup at least every N backups",
    ),
    (
        "keep-last",
        "retention: keep the N newest valid backups (none: no such rule)",
    ),
    (
        "keep-within",
        "retention: keep every valid backup this recent, e.g. 30d (none: no such rule)",
    ),
    (
        "keep-daily",
        "retention: keep the newest valid backup of each of the N last days",
    ),
    (
        "keep-weekly",
        "retention: keep the newest valid backup of each of the N last weeks",
    ),
    (
        "keep-monthly",
        "retention: keep the newest valid backup of each of the N last months",
    ),
    (
        "min-valid",
        "retention: the newest N valid backups are always kept",
    ),
    (
        "trash-grace",
        "how long a trashed backup stays before it may be purged, e.g. 14d",
    ),
    (
        "space-margin",
        "a write is refused when it would leave less free space than N times the graph (0: off)",
    ),
];

fn opt_count(n: Option<u32>) -> String {
    n.map_or_else(|| "none".to_string(), |n| n.to_string())
}

/// The value of `key` in `config`, as shown and as `config set` takes it.
fn value_of(config: &StoreConfig, key: &str) -> String {
    let r = &config.retention;
    let f = &config.backup_format;
    match key {
        "compression" => f.compression.name().to_string(),
        "compression-level" => f.compression_level.to_string(),
        "keep-plain" => f.keep_plain.to_string(),
        "deltas" => if f.deltas { "on" } else { "off" }.to_string(),
        "full-every" => f.full_every.to_string(),
        "keep-last" => opt_count(r.keep_last),
        "keep-within" => r
            .keep_within
            .map_or_else(|| "none".to_string(), format_duration),
        "keep-daily" => opt_count(r.keep_daily),
        "keep-weekly" => opt_count(r.keep_weekly),
        "keep-monthly" => opt_count(r.keep_monthly),
        "min-valid" => r.min_valid.to_string(),
        "trash-grace" => format_duration(config.trash_grace),
        "space-margin" => config.space_margin.to_string(),
        _ => String::new(),
    }
}

fn count(key: &str, value: &str) -> std::result::Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| format!("{key} takes a whole number of 0 or more, not {value:?}"))
}

fn opt(key: &str, value: &str) -> std::result::Result<Option<u32>, String> {
    match value {
        "none" | "off" => Ok(None),
        v => count(key, v).map(Some),
    }
}

/// Sets `key` in `config` from its text; the caller validates the whole.
fn apply(config: &mut StoreConfig, key: &str, value: &str) -> std::result::Result<(), String> {
    let r = &mut config.retention;
    let f = &mut config.backup_format;
    match key {
        "compression" => f.compression = value.parse::<Compression>()?,
        "compression-level" => {
            let level: i32 = value
                .parse()
                .map_err(|_| format!("compression-level takes a whole number, not {value:?}"))?;
            if !codec::LEVELS.contains(&level) {
                return Err(format!(
                    "compression-level {level} is outside zstd's levels {}..={}",
                    codec::LEVELS.start(),
                    codec::LEVELS.end()
                ));
            }
            f.compression_level = level;
        }
        "keep-plain" => f.keep_plain = count(key, value)?,
        "deltas" => {
            f.deltas = match value {
                "on" | "true" | "yes" => true,
                "off" | "false" | "no" => false,
                other => return Err(format!("deltas takes on or off, not {other:?}")),
            }
        }
        "full-every" => {
            let n = count(key, value)?;
            if n == 0 {
                return Err("full-every must be at least 1".to_string());
            }
            f.full_every = n;
        }
        "keep-last" => r.keep_last = opt(key, value)?,
        "keep-within" => {
            r.keep_within = match value {
                "none" | "off" => None,
                v => Some(parse_duration(v).map_err(|e| e.to_string())?),
            }
        }
        "keep-daily" => r.keep_daily = opt(key, value)?,
        "keep-weekly" => r.keep_weekly = opt(key, value)?,
        "keep-monthly" => r.keep_monthly = opt(key, value)?,
        "min-valid" => r.min_valid = count(key, value)?,
        "trash-grace" => config.trash_grace = parse_duration(value).map_err(|e| e.to_string())?,
        "space-margin" => config.space_margin = count(key, value)?,
        other => {
            return Err(format!(
                "there is no setting {other:?}; the settings are {}",
                KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Every setting with its value (the defaults when the store has no
    /// config, or one that cannot be used: `problem` says why).
    pub fn settings(&self) -> SettingsReport {
        let defaults = StoreConfig::default();
        SettingsReport {
            path: self.config_path(),
            settings: KEYS
                .iter()
                .map(|(key, about)| Setting {
                    key,
                    value: value_of(self.config(), key),
                    default: value_of(&defaults, key),
                    about,
                })
                .collect(),
            problem: self.config_problem.clone(),
        }
    }

    /// Changes one setting, validated with all the others before anything
    /// is written; an invalid value changes nothing.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unknown key or a value it does not
    /// take; [`StoreError::Refused`] when the config file cannot be read
    /// (writing would replace the settings it holds with defaults); the
    /// lock held elsewhere, or an I/O error.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<SettingChange> {
        let path = self.config_path();
        let unchanged = format!("{} is unchanged", path.display());
        let Some(&(key, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
            let mut scratch = self.config().clone();
            let why = apply(&mut scratch, key, value).err().unwrap_or_default();
            return Err(StoreError::Invalid(format!(
                "config set {key}: {why}; {unchanged}"
            )));
        };
        if let Some(problem) = &self.config_problem {
            return Err(StoreError::Refused {
                path,
                reason: format!(
                    "config set {key}: the store's config cannot be used ({problem}); writing \
                     it now would replace its other settings with defaults. Fix or move it \
                     first; it is unchanged"
                ),
            });
        }
        let old = value_of(self.config(), key);
        let mut config = self.config().clone();
        apply(&mut config, key, value)
            .and_then(|()| config.validate().map_err(|e| e.to_string()))
            .map_err(|why| StoreError::Invalid(format!("config set {key}: {why}; {unchanged}")))?;
        let new = value_of(&config, key);
        let changed = config != *self.config();
        if changed {
            self.set_config(config)
                .map_err(|e| e.left(format!("config set {key}: {unchanged}")))?;
        }
        Ok(SettingChange {
            path,
            key,
            old,
            new,
            changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shows_and_takes_back_its_own_value() {
        let config = StoreConfig::default();
        for (key, _) in KEYS {
            let shown = value_of(&config, key);
            let mut again = config.clone();
            apply(&mut again, key, &shown).unwrap_or_else(|e| panic!("{key}={shown}: {e}"));
            assert_eq!(again, config, "{key}={shown} round trips");
        }
    }

    #[test]
    fn invalid_values_are_refused_with_the_key_named() {
        let mut config = StoreConfig::default();
        for (key, value) in [
            ("compression", "lz4"),
            ("compression-level", "0"),
            ("compression-level", "20"),
            ("compression-level", "high"),
            ("keep-plain", "-1"),
            ("deltas", "maybe"),
            ("full-every", "0"),
            ("keep-last", "many"),
            ("keep-within", "forever"),
            ("trash-grace", "soon"),
            ("no-such-key", "1"),
        ] {
            let err = apply(&mut config, key, value).expect_err(value);
            assert!(
                err.contains(key) || err.contains(value),
                "{key}={value}: {err}"
            );
        }
        assert_eq!(config, StoreConfig::default(), "nothing was changed");
    }
}
