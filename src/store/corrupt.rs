//! The corruption simulator, for demos, the UI and tests. It refuses any
//! store that is not marked as a sandbox (`.graphvault/sandbox`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::fs::{self, Publish};
use super::meta::{self, Meta};
use super::names::BackupId;
use super::verify::{Level, Target, sha256_hex};
use crate::graph::KnowledgeGraph;

/// A kind of damage the simulator can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptionKind {
    /// Flip one bit in the middle of the file (meta left as it was).
    BitFlip,
    /// Cut the file to half its length.
    Truncate,
    /// Append bytes that are not JSON.
    AppendGarbage,
    /// Break the JSON syntax, and recompute the meta as a buggy writer would.
    InvalidJson,
    /// Overwrite a 4 KiB block with zeros.
    ZeroBlock,
    /// Add an edge to a node that does not exist, in valid JSON, with the
    /// meta recomputed to match.
    DanglingEdge,
    /// Delete `graph.json` (its meta stays).
    DeletePrimary,
    /// Delete `graph.json.meta` (the graph stays).
    DeleteMeta,
    /// Change a value and recompute the meta's checksum to match: what a
    /// plain SHA-256 cannot detect.
    Tampered,
    /// Flip one bit in the middle of the newest compressed backup's zstd
    /// frame (its meta left as it was): a backup, not the primary.
    DamagedFrame,
    /// Delete the data file of the base of the newest delta backup.
    MissingBase,
    /// Flip one bit in the base of the newest delta backup.
    CorruptBase,
}

impl CorruptionKind {
    pub const ALL: [CorruptionKind; 9] = [
        CorruptionKind::BitFlip,
        CorruptionKind::Truncate,
        CorruptionKind::AppendGarbage,
        CorruptionKind::InvalidJson,
        CorruptionKind::ZeroBlock,
        CorruptionKind::DanglingEdge,
        CorruptionKind::DeletePrimary,
        CorruptionKind::DeleteMeta,
        CorruptionKind::Tampered,
    ];

    /// Kinds that damage a backup rather than the primary (compressed
    /// backups' own faults). Not in [`CorruptionKind::ALL`], which the
    /// UI's wizard offers for the primary.
    pub const BACKUP_KINDS: [CorruptionKind; 3] = [
        CorruptionKind::DamagedFrame,
        CorruptionKind::MissingBase,
        CorruptionKind::CorruptBase,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CorruptionKind::BitFlip => "bit-flip",
            CorruptionKind::Truncate => "truncate",
            CorruptionKind::AppendGarbage => "append-garbage",
            CorruptionKind::InvalidJson => "invalid-json",
            CorruptionKind::ZeroBlock => "zero-block",
            CorruptionKind::DanglingEdge => "dangling-edge",
            CorruptionKind::DeletePrimary => "delete-primary",
            CorruptionKind::DeleteMeta => "delete-meta",
            CorruptionKind::Tampered => "tampered",
            CorruptionKind::DamagedFrame => "damaged-frame",
            CorruptionKind::MissingBase => "missing-base",
            CorruptionKind::CorruptBase => "corrupt-base",
        }
    }

    /// One line for menus and help.
    pub fn description(self) -> &'static str {
        match self {
            CorruptionKind::BitFlip => "flip one bit in the middle of graph.json (a failing disk)",
            CorruptionKind::Truncate => "cut graph.json to half its length (a crash mid-write)",
            CorruptionKind::AppendGarbage => "append non-JSON bytes (a confused writer)",
            CorruptionKind::InvalidJson => {
                "break the JSON syntax and recompute the meta (a buggy writer)"
            }
            CorruptionKind::ZeroBlock => "zero a 4 KiB block (a lost disk block)",
            CorruptionKind::DanglingEdge => {
                "add an edge to a missing node in valid JSON, meta recomputed"
            }
            CorruptionKind::DeletePrimary => "delete graph.json (its meta stays)",
            CorruptionKind::DeleteMeta => "delete graph.json.meta (the graph stays)",
            CorruptionKind::Tampered => "change a value and recompute the checksum (tampering)",
            CorruptionKind::DamagedFrame => {
                "flip a bit in the newest compressed backup's zstd frame (a failing disk)"
            }
            CorruptionKind::MissingBase => {
                "delete the full backup the newest delta is read through"
            }
            CorruptionKind::CorruptBase => {
                "flip a bit in the full backup the newest delta is read through"
            }
        }
    }

    /// The ladder level expected to catch it, or `None` when a plain
    /// SHA-256 cannot (tampering, unless a key is configured: see
    /// [`Store::expected_level`]), or when it is not corruption at all (a
    /// missing meta leaves a good graph, unverified).
    pub fn expected_level(self) -> Option<Level> {
        match self {
            CorruptionKind::BitFlip
            | CorruptionKind::Truncate
            | CorruptionKind::AppendGarbage
            | CorruptionKind::ZeroBlock
            | CorruptionKind::DamagedFrame => Some(Level::Checksum),
            CorruptionKind::InvalidJson => Some(Level::Parse),
            CorruptionKind::DanglingEdge => Some(Level::Consistency),
            CorruptionKind::DeletePrimary
            | CorruptionKind::MissingBase
            | CorruptionKind::CorruptBase => Some(Level::File),
            CorruptionKind::DeleteMeta | CorruptionKind::Tampered => None,
        }
    }
}

impl FromStr for CorruptionKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        CorruptionKind::ALL
            .into_iter()
            .chain(CorruptionKind::BACKUP_KINDS)
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown corruption kind {s:?}; expected one of: {}, {}",
                    CorruptionKind::ALL.map(CorruptionKind::name).join(", "),
                    CorruptionKind::BACKUP_KINDS
                        .map(CorruptionKind::name)
                        .join(", ")
                ))
            })
    }
}

/// What the simulator did.
#[derive(Debug, Clone, Serialize)]
pub struct CorruptionReport {
    pub kind: CorruptionKind,
    pub target: Target,
    pub path: PathBuf,
    /// What was changed, in one sentence.
    pub action: String,
    pub expected_level: Option<Level>,
    /// True when verification is expected to notice.
    pub detectable: bool,
    /// For undetectable damage: why, honestly.
    pub note: Option<String>,
    /// Where the primary was kept before it was damaged, when no backup
    /// held its bytes (a sandbox may hold work that exists nowhere else).
    pub evidence: Vec<PathBuf>,
}

const TAMPER_NOTE: &str = "A plain SHA-256 beside the data only detects accidents: whoever can edit graph.json can recompute the checksum in graph.json.meta, and verification then passes. Detecting tampering needs a keyed MAC (HMAC) with the key kept outside the storage directory, and even that cannot stop deletion or a rollback to an older authentic backup.";

const TAMPER_NOTE_KEYED: &str = "The checksum was recomputed but the meta's HMAC was left as it was, as someone without the key must leave it: verification catches the change at the checksum level. An HMAC still cannot stop deletion, a rollback to an older authentic backup, or anyone who can read the key.";

impl Store {
    /// The ladder level expected to catch `kind` on this store: tampering
    /// is caught only when an HMAC key is configured.
    pub fn expected_level(&self, kind: CorruptionKind) -> Option<Level> {
        match kind {
            CorruptionKind::Tampered if self.has_key() => Some(Level::Checksum),
            _ => kind.expected_level(),
        }
    }

    /// Damages the primary of a sandbox store in the chosen way.
    ///
    /// # Errors
    /// [`StoreError::NotSandbox`] for any store not marked as a sandbox; the
    /// lock held elsewhere; no primary to damage; or an I/O error.
    pub fn corrupt(&self, kind: CorruptionKind) -> Result<CorruptionReport> {
        if let Some(reason) = self.sandbox_problem() {
            return Err(StoreError::NotSandbox {
                store: self.root.clone(),
                reason,
            });
        }
        let _guard = self.lock()?;
        if CorruptionKind::BACKUP_KINDS.contains(&kind) {
            return self.corrupt_backup(kind);
        }
        // Every kind destroys bytes: keep them first unless a backup holds
        // them, as a save does before it replaces graph.json.
        let evidence = self
            .keep_primary_unless_backed_up(None, super::now(), "before-corrupt", None)
            .map_err(|e| e.left("nothing was damaged: graph.json and its meta are unchanged"))?;
        let path = self.primary_path();
        let meta_path = self.primary_meta_path();
        let read_primary = || {
            fs::read_file(&*self.fs, &path, super::MAX_GRAPH_LEN)
                .map_err(|e| StoreError::io("read primary to corrupt", &path, e))
        };
        let mut note = None;
        let action = match kind {
            CorruptionKind::DeletePrimary => {
                fs::remove_durable(&*self.fs, &path)?;
                "deleted graph.json; graph.json.meta was left in place".to_string()
            }
            CorruptionKind::DeleteMeta => {
                fs::remove_durable(&*self.fs, &meta_path)?;
                note = Some("Without a meta there is no checksum to compare: the graph is reported unverified, and kept as long as it parses.".to_string());
                "deleted graph.json.meta; graph.json was left in place".to_string()
            }
            CorruptionKind::BitFlip => {
                let mut bytes = read_primary()?;
                let at = bytes.len() / 2;
                let Some(b) = bytes.get_mut(at) else {
                    return Err(StoreError::Invalid(format!(
                        "corrupt bit-flip: {} is empty: nothing to flip; nothing was changed",
                        path.display()
                    )));
                };
                *b ^= 0x04;
                fs::write_atomic(&*self.fs, &path, &bytes, Publish::Replace)?;
                format!("flipped bit 2 of byte {at} of {}", bytes.len())
            }
            CorruptionKind::Truncate => {
                let bytes = read_primary()?;
                let keep = bytes.len() / 2;
                fs::write_atomic(&*self.fs, &path, &bytes[..keep], Publish::Replace)?;
                format!("cut graph.json from {} to {keep} bytes", bytes.len())
            }
            CorruptionKind::AppendGarbage => {
                let mut bytes = read_primary()?;
                let before = bytes.len();
                bytes.extend_from_slice(b"\n\x00\x13garbage\xff\xfe{{not json");
                fs::write_atomic(&*self.fs, &path, &bytes, Publish::Replace)?;
                format!(
                    "appended {} bytes of garbage after byte {before}",
                    bytes.len() - before
                )
            }
            CorruptionKind::ZeroBlock => {
                let mut bytes = read_primary()?;
                let start = (bytes.len() / 2) & !4095;
                let end = (start + 4096).min(bytes.len());
                bytes[start..end].fill(0);
                fs::write_atomic(&*self.fs, &path, &bytes, Publish::Replace)?;
                format!("zeroed bytes {start}..{end}")
            }
            CorruptionKind::InvalidJson => {
                let mut bytes = read_primary()?;
                // Drop the colon after a key near the middle: still text, no
                // longer JSON.
                let mid = bytes.len() / 2;
                // The end of a key: `": ` not preceded by a backslash.
                let key_end = |p: &usize| bytes.get(p.wrapping_sub(1)) != Some(&b'\\');
                let find = |from: usize| {
                    bytes[from..]
                        .windows(3)
                        .enumerate()
                        .filter(|(_, w)| w == b"\": ")
                        .map(|(p, _)| p + from)
                        .find(key_end)
                };
                let pos = find(mid).or_else(|| find(0)).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "corrupt invalid-json: {} has no key to break; nothing was changed",
                        path.display()
                    ))
                })? + 1;
                bytes[pos] = b' ';
                self.write_with_matching_meta(&bytes)?;
                format!(
                    "replaced the `:` at byte {pos} with a space and recomputed the meta's checksum"
                )
            }
            CorruptionKind::DanglingEdge => {
                let bytes = read_primary()?;
                let graph = KnowledgeGraph::from_slice(&bytes).map_err(|e| StoreError::Graph {
                    path: path.clone(),
                    source: e,
                })?;
                let from = graph
                    .nodes()
                    .next()
                    .map(|n| n.id().to_string())
                    .ok_or_else(|| {
                        StoreError::Invalid(format!("corrupt dangling-edge: {} has no node to attach an edge to; nothing was changed", path.display()))
                    })?;
                let text = insert_dangling_edge(&String::from_utf8_lossy(&bytes), &from)
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "corrupt dangling-edge: {} has no `edges` array; nothing was changed",
                            path.display()
                        ))
                    })?;
                self.write_with_matching_meta(text.as_bytes())?;
                format!(
                    "added edge edge_dead0001 from {from} to a node that does not exist, and recomputed the meta"
                )
            }
            CorruptionKind::Tampered => {
                let bytes = read_primary()?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                // Change a digit inside the payloads, keeping valid JSON.
                let tampered = tamper_number(&text).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "corrupt tampered: {} has no number to tamper with; nothing was changed",
                        path.display()
                    ))
                })?;
                self.write_with_matching_meta(tampered.as_bytes())?;
                note = Some(
                    if self.has_key() {
                        TAMPER_NOTE_KEYED
                    } else {
                        TAMPER_NOTE
                    }
                    .to_string(),
                );
                "changed a value inside graph.json and recomputed the checksum in graph.json.meta"
                    .to_string()
            }
            CorruptionKind::DamagedFrame
            | CorruptionKind::MissingBase
            | CorruptionKind::CorruptBase => unreachable_backup_kind(kind)?,
        };
        tracing::warn!(kind = kind.name(), path = %path.display(), action = %action, "simulated corruption");
        Ok(CorruptionReport {
            kind,
            target: Target::Primary,
            path,
            action,
            expected_level: self.expected_level(kind),
            detectable: self.expected_level(kind).is_some(),
            note,
            evidence,
        })
    }

    /// Damages a backup of the sandbox (the kinds of
    /// [`CorruptionKind::BACKUP_KINDS`]); the caller holds the lock.
    fn corrupt_backup(&self, kind: CorruptionKind) -> Result<CorruptionReport> {
        if kind != CorruptionKind::DamagedFrame {
            return self.corrupt_base(kind);
        }
        let listing = self.list_backups()?;
        let Some(b) = listing
            .backups
            .iter()
            .find(|b| b.form == super::codec::StoredForm::Zstd && b.has_data())
        else {
            return Err(StoreError::Invalid(format!(
                "corrupt {}: {} holds no compressed backup (set `config set compression zstd` and save, or run `compact --apply`); nothing was changed",
                kind.name(),
                self.backups_dir().display()
            )));
        };
        let path = b.data_path.clone();
        let (at, len) = self.flip_middle_bit(&path)?;
        let action = format!(
            "flipped bit 2 of byte {at} of {len} in the zstd frame of backup {} (its meta left as it was)",
            b.id
        );
        Ok(self.backup_damaged(kind, b.id.clone(), path, action))
    }

    /// Flips bit 2 of the middle byte of a backup's data file, written back
    /// atomically; returns the byte's position and the file's length.
    fn flip_middle_bit(&self, path: &Path) -> Result<(usize, usize)> {
        let mut bytes = fs::read_file(&*self.fs, path, super::MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("read backup to corrupt", path, e))?;
        let at = bytes.len() / 2;
        if let Some(byte) = bytes.get_mut(at) {
            *byte ^= 0x04;
        }
        fs::write_atomic(&*self.fs, path, &bytes, Publish::Replace)?;
        Ok((at, bytes.len()))
    }

    /// The report of damage done to backup `id` (a detectable kind).
    fn backup_damaged(
        &self,
        kind: CorruptionKind,
        id: BackupId,
        path: PathBuf,
        action: String,
    ) -> CorruptionReport {
        tracing::warn!(kind = kind.name(), path = %path.display(), action = %action, "simulated corruption");
        CorruptionReport {
            kind,
            target: Target::Backup(id),
            path,
            action,
            expected_level: self.expected_level(kind),
            detectable: true,
            note: None,
            evidence: Vec::new(),
        }
    }

    /// Damages the base of the newest delta: deleted, or a bit flipped.
    /// The report's target is the delta, which verification must then
    /// refuse, naming its base.
    fn corrupt_base(&self, kind: CorruptionKind) -> Result<CorruptionReport> {
        let listing = self.list_backups()?;
        let Some((delta, base)) = listing
            .backups
            .iter()
            .find_map(|b| Some((b.id.clone(), b.delta_base.clone()?)))
        else {
            return Err(StoreError::Invalid(format!(
                "corrupt {}: {} holds no delta backup (`config set deltas on` and save); nothing was changed",
                kind.name(),
                self.backups_dir().display()
            )));
        };
        let path = self.backup_data_path(&base);
        let action = if kind == CorruptionKind::MissingBase {
            fs::remove_durable(&*self.fs, &path)?;
            format!(
                "deleted {} (the base of delta {delta}); its meta was left in place",
                path.display()
            )
        } else {
            let (at, len) = self.flip_middle_bit(&path)?;
            format!(
                "flipped bit 2 of byte {at} of {len} in {} (the base of delta {delta})",
                path.display()
            )
        };
        Ok(self.backup_damaged(kind, delta, path, action))
    }

    /// Writes new primary bytes and a meta whose checksum matches them (the
    /// way a buggy writer or a tamperer would), keeping the old meta's
    /// other fields.
    fn write_with_matching_meta(&self, bytes: &[u8]) -> Result<()> {
        let meta_path = self.primary_meta_path();
        let mut meta = fs::read_file(&*self.fs, &meta_path, meta::MAX_META_LEN)
            .ok()
            .and_then(|b| Meta::from_slice(&b).ok())
            .unwrap_or_default();
        meta.checksum = Some(sha256_hex(bytes));
        if meta.size.is_some() {
            meta.size = Some(bytes.len() as u64);
        }
        fs::write_atomic(&*self.fs, &self.primary_path(), bytes, Publish::Replace)?;
        fs::write_atomic(&*self.fs, &meta_path, &meta.to_vec(), Publish::Replace)
    }
}

/// A backup kind reached the primary's damage: a bug, reported as one.
fn unreachable_backup_kind(kind: CorruptionKind) -> Result<String> {
    Err(StoreError::Invalid(format!(
        "corrupt {}: damages a backup, not the primary; nothing was changed",
        kind.name()
    )))
}

/// Changes the first digit of a `"price"` number (or else of any number
/// value) so the JSON stays valid and the node count stays the same.
fn tamper_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let is_digit_at = |i: usize| bytes.get(i).is_some_and(|b| (b'1'..=b'9').contains(b));
    let start = text
        .match_indices("\"price\": ")
        .map(|(i, m)| i + m.len())
        .find(|&i| is_digit_at(i))
        .or_else(|| {
            text.match_indices("\": ")
                .map(|(i, _)| i + 3)
                .find(|&i| is_digit_at(i))
        })?;
    let digit = bytes[start];
    let replacement = if digit == b'9' {
        '1'
    } else {
        char::from(digit + 1)
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push(replacement);
    out.push_str(&text[start + 1..]);
    Some(out)
}

/// Inserts, as the first element of the top-level `edges` array, an edge
/// from `from` to a node id that does not exist, in the application's layout.
fn insert_dangling_edge(text: &str, from: &str) -> Option<String> {
    let quoted = serde_json::to_string(from).ok()?;
    let edge = format!(
        "{{\n      \"id\": \"edge_dead0001\",\n      \"from\": {quoted},\n      \"to\": \"ghost_node_that_does_not_exist\",\n      \"type\": \"affects\",\n      \"strength\": 0.5,\n      \"metadata\": {{}},\n      \"created\": \"2025-10-03T00:00:00.000000\",\n      \"activations\": 0\n    }}"
    );
    if let Some(i) = text.find("\n  \"edges\": []") {
        let at = i + "\n  \"edges\": [".len();
        return Some(format!("{}\n    {edge}\n  {}", &text[..at], &text[at..]));
    }
    let i = text.find("\n  \"edges\": [")?;
    let at = i + "\n  \"edges\": [".len();
    Some(format!("{}\n    {edge},{}", &text[..at], &text[at..]))
}
