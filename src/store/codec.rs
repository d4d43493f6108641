//! How a backup's bytes are stored: plain JSON, or one zstd frame.
//!
//! This module owns the stored forms of a backup's data file and the one
//! way to read a backup's plain bytes, [`open_plain`]: every reader of a
//! backup (verify, the memo, restore, recover, diff, history, the node
//! index, the trash, check and scrub) opens it through here, so a
//! compressed backup is never read as if it were JSON.
//!
//! # Forms
//! - **plain**: `backups/graph_<ts>.json`, the graph's JSON exactly as the
//!   application writes it; its meta's `checksum` is the SHA-256 of the file.
//! - **zstd**: `backups/graph_<ts>.json.zst`, one zstd frame that records its
//!   content size and a content checksum, restorable with any `zstd -d`.
//!   The name does not end in `.json`, so the application's glob
//!   `backups/graph_*.json` never takes it for JSON. Its meta's `checksum`
//!   stays the SHA-256 of the plain JSON (the graph's identity, the same as
//!   the primary's), and `stored_format`, `stored_size` and
//!   `stored_checksum` describe the file as stored, so a scrub can check
//!   it without decompressing.
//!
//! Decompression streams: a reader never holds more than the decoder's
//! window beyond what its caller keeps.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::fs::{Fs, ReadFile};

/// Suffix of a compressed backup's data file.
pub const ZSTD_SUFFIX: &str = ".json.zst";
/// Suffix of a delta backup's data file: a zstd frame that decodes only
/// with its base's plain JSON as reference (`zstd -d --patch-from=BASE`).
pub const DELTA_SUFFIX: &str = ".json.delta.zst";
/// `stored_format` of a meta whose backup is a delta.
pub const DELTA_FORMAT: &str = "zstd-delta";
/// A full backup at least every this many backups when deltas are on.
pub const DEFAULT_FULL_EVERY: u32 = 7;
/// `stored_format` of a meta whose backup is one zstd frame.
pub const ZSTD_FORMAT: &str = "zstd";
/// The compression level a store uses unless its config says otherwise.
pub const DEFAULT_LEVEL: i32 = 3;

/// The levels `compression-level` accepts: zstd's regular levels (20 to
/// 22 are "ultra" levels whose windows need far more memory to read back).
pub const LEVELS: std::ops::RangeInclusive<i32> = 1..=19;

/// What the store writes new backups as (the `compression` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain JSON, as the application writes (the default).
    #[default]
    None,
    /// One zstd frame per backup.
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "off" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "compression {other:?} is not known: use `none` or `zstd`"
            )),
        }
    }
}

/// How the store writes backups: the settings `compression`,
/// `compression-level` and `keep-plain` of `.graphvault/config.json`.
/// The default writes plain JSON, as the application does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupFormat {
    pub compression: Compression,
    /// zstd's level, in [`LEVELS`].
    pub compression_level: i32,
    /// The newest this many backups stay plain JSON, for a copy any tool
    /// opens; older ones are compressed (by the save that makes them older,
    /// and by `compact`).
    pub keep_plain: u32,
    /// Write a backup as a delta against the newest full backup when that
    /// saves much (needs `compression` zstd).
    pub deltas: bool,
    /// With deltas: a full backup at least every this many backups.
    pub full_every: u32,
}

impl Default for BackupFormat {
    fn default() -> Self {
        BackupFormat {
            compression: Compression::None,
            compression_level: DEFAULT_LEVEL,
            keep_plain: 0,
            deltas: false,
            full_every: DEFAULT_FULL_EVERY,
        }
    }
}

impl BackupFormat {
    pub fn is_default(&self) -> bool {
        *self == BackupFormat::default()
    }

    /// Why these settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if !LEVELS.contains(&self.compression_level) {
            return Some(format!(
                "compression_level {} is outside zstd's levels {}..={}",
                self.compression_level,
                LEVELS.start(),
                LEVELS.end()
            ));
        }
        if self.full_every == 0 {
            return Some("full_every must be at least 1".to_string());
        }
        (self.deltas && self.compression != Compression::Zstd).then(|| {
            "deltas need compression zstd (a delta is a zstd frame): set compression first"
                .to_string()
        })
    }

    /// The form a backup takes that has `newer` backups after it.
    pub fn form_for(&self, newer: usize) -> StoredForm {
        match self.compression {
            Compression::Zstd if newer >= self.keep_plain as usize => StoredForm::Zstd,
            _ => StoredForm::Plain,
        }
    }
}

/// How one data file is stored, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredForm {
    Plain,
    Zstd,
    /// A zstd frame against a full backup's plain JSON (see the meta's
    /// `delta_base`).
    Delta,
}

impl StoredForm {
    /// The form of the data file at `path`, from its name.
    pub fn of_path(path: &Path) -> StoredForm {
        match path.file_name().and_then(|n| n.to_str()) {
            Some(n) if n.ends_with(DELTA_SUFFIX) => StoredForm::Delta,
            Some(n) if n.ends_with(ZSTD_SUFFIX) => StoredForm::Zstd,
            _ => StoredForm::Plain,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StoredForm::Plain => "plain",
            StoredForm::Zstd => ZSTD_FORMAT,
            StoredForm::Delta => DELTA_FORMAT,
        }
    }

    /// The data file's suffix after the backup id.
    pub fn suffix(self) -> &'static str {
        match self {
            StoredForm::Plain => ".json",
            StoredForm::Zstd => ZSTD_SUFFIX,
            StoredForm::Delta => DELTA_SUFFIX,
        }
    }

    /// Whether the file holds the whole graph on its own (a delta needs
    /// its base).
    pub fn is_full(self) -> bool {
        self != StoredForm::Delta
    }
}

/// The stored bytes of a backup, with what its meta records of them.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Compresses `plain` into one zstd frame that records its content size
/// (so a reader knows the plain size from the header) and a content
/// checksum (so `zstd -t` alone can test the file).
///
/// # Errors
/// An invalid level, or zstd failing.
pub fn compress(plain: &[u8], level: i32) -> io::Result<Encoded> {
    let mut encoder =
        zstd::stream::write::Encoder::new(Vec::with_capacity(plain.len() / 4 + 1024), level)?;
    // Large inputs on every core: zstd splits them into jobs of a few MB and
    // writes one frame all the same. Small ones are not worth a thread.
    if plain.len() >= 4 << 20 {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        encoder.multithread(u32::try_from(workers.min(8)).unwrap_or(1))?;
    }
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(plain.len() as u64))?;
    encoder.write_all(plain)?;
    let bytes = encoder.finish()?;
    let sha256 = super::digest::sha256_hex(&bytes);
    Ok(Encoded { bytes, sha256 })
}

/// Decompresses `encoded` as a stream and hashes the plain bytes: proof,
/// before the stored bytes are trusted with a backup, that they give back
/// the graph (`sha256` is the plain JSON's).
///
/// # Errors
/// zstd's, for a frame it cannot decode.
pub fn proves(encoded: &[u8], sha256: &str) -> io::Result<bool> {
    let decoder = zstd::stream::read::Decoder::new(encoded)?;
    Ok(hash_decoded(decoder)? == sha256)
}

/// The SHA-256 of what `decoder` gives, decoded on a thread of its own a few
/// 1 MiB chunks ahead of the hash: a save's proof of its compressed backup
/// costs the longer of the two, not their sum.
fn hash_decoded<R: Read + Send>(mut decoder: R) -> io::Result<String> {
    use sha2::Digest;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    std::thread::scope(|s| {
        let decoding = s.spawn(move || -> io::Result<()> {
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                let mut filled = 0;
                while filled < chunk.len() {
                    match decoder.read(&mut chunk[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if filled == 0 {
                    return Ok(());
                }
                chunk.truncate(filled);
                // The hashing side stops only on a panic, which is re-raised.
                if tx.send(chunk).is_err() {
                    return Ok(());
                }
            }
        });
        let mut hasher = sha2::Sha256::new();
        for chunk in rx {
            hasher.update(&chunk);
        }
        decoding
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok(super::digest::hex(&hasher.finalize()))
    })
}

/// Size of the largest zstd frame header: enough bytes to read the
/// content size from.
const MAX_FRAME_HEADER: usize = 18;

/// Opens the plain bytes of the data file at `path`, whatever its stored
/// form: the file itself for plain JSON, a streaming decoder for a zstd
/// frame. `len` of the result is the plain size (a frame's header records
/// it; zstd fails the read when the content does not match it).
///
/// Errors of the decoder (a damaged frame) come as
/// [`io::ErrorKind::InvalidData`] with a message that starts with
/// "damaged zstd frame"; errors of the file itself pass unchanged.
///
/// # Errors
/// As [`Fs::open_read`], and `InvalidData` for a frame header that is
/// damaged or records no content size, or a plain size over `max_len`.
pub fn open_plain(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<ReadFile> {
    match StoredForm::of_path(path) {
        StoredForm::Plain => fs.open_read(path, max_len),
        StoredForm::Zstd => open_zstd(fs, path, max_len, None),
        StoredForm::Delta => open_delta(fs, path, max_len),
    }
}

/// Reads the plain bytes of the data file at `path` into memory.
///
/// # Errors
/// As [`open_plain`], and the read's errors.
pub fn read_plain(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    let file = open_plain(fs, path, max_len)?;
    let mut buf = Vec::with_capacity(usize::try_from(file.len).unwrap_or(0));
    let mut reader = file.reader;
    reader.read_to_end(&mut buf)?;
    Ok(buf)
}

/// SHA-256 and size of the plain bytes of the data file at `path`
/// (decompressing as a stream when it is compressed).
///
/// # Errors
/// As [`open_plain`], and the read's errors.
pub fn hash_plain(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<(String, u64)> {
    super::digest::hash_reader(open_plain(fs, path, max_len)?)
}

/// Size of the plain bytes of the data file at `path`: a plain file's
/// length, or the content size a frame's header records.
///
/// # Errors
/// As [`open_plain`].
pub fn plain_len(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<u64> {
    Ok(open_plain(fs, path, max_len)?.len)
}

/// `len` plain bytes at `offset` of the data file at `path`: read in
/// place for a plain file, decompressed up to the range for a compressed
/// one (a frame has no random access; the range is all that is kept).
///
/// # Errors
/// As [`open_plain`]; `UnexpectedEof` for a range past the end.
pub fn read_plain_range(
    fs: &dyn Fs,
    path: &Path,
    offset: u64,
    len: usize,
    max_len: u64,
) -> io::Result<Vec<u8>> {
    match StoredForm::of_path(path) {
        StoredForm::Plain => fs.read_at(path, offset, len, max_len),
        StoredForm::Zstd | StoredForm::Delta => {
            let mut reader = open_plain(fs, path, max_len)?.reader;
            io::copy(&mut (&mut reader).take(offset), &mut io::sink())?;
            let mut buf = vec![0u8; len];
            reader.read_exact(&mut buf)?;
            Ok(buf)
        }
    }
}

/// Reads the plain bytes of the data file at `path` into `buf` (cleared
/// first), so a caller that reads many files reuses one buffer.
///
/// # Errors
/// As [`open_plain`], and the read's errors.
pub fn read_plain_into(
    fs: &dyn Fs,
    path: &Path,
    max_len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let file = open_plain(fs, path, max_len)?;
    buf.clear();
    buf.reserve(usize::try_from(file.len).unwrap_or(0));
    let mut reader = file.reader;
    reader.read_to_end(buf)?;
    Ok(())
}

fn damaged(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("damaged zstd frame: {what}"),
    )
}

/// Whether an error of a reader from [`open_plain`] says the frame is
/// damaged (as opposed to the file being unreadable).
pub fn is_damaged_frame(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().starts_with("damaged zstd frame")
}

/// The largest window a frame of ours may use (zstd's own limit on 64-bit
/// systems): a delta's window spans its base and itself.
const MAX_WINDOW_LOG: u32 = 31;

/// Compresses `plain` as a delta against `base` (its reference, as
/// `zstd --patch-from` does): one frame that records its content size and
/// checksum, whose window spans the base and the new bytes, with
/// long-distance matching to find what moved.
///
/// # Errors
/// An invalid level, or zstd failing.
pub fn compress_delta(base: &[u8], plain: &[u8], level: i32) -> io::Result<Encoded> {
    let span = (base.len() + plain.len()).max(1 << 10) as u64;
    let window_log = (64 - (span - 1).leading_zeros()).clamp(10, MAX_WINDOW_LOG);
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(
        Vec::with_capacity(plain.len() / 16 + 1024),
        level,
        base,
    )?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.window_log(window_log)?;
    encoder.long_distance_matching(true)?;
    encoder.set_pledged_src_size(Some(plain.len() as u64))?;
    encoder.write_all(plain)?;
    let bytes = encoder.finish()?;
    let sha256 = super::digest::sha256_hex(&bytes);
    Ok(Encoded { bytes, sha256 })
}

/// Decompresses a delta in memory as a stream and hashes it: proof, before
/// it is trusted with a backup, that it gives back the graph with `base`.
///
/// # Errors
/// zstd's, for a frame it cannot decode.
pub fn proves_delta(encoded: &[u8], base: &[u8], sha256: &str) -> io::Result<bool> {
    let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(encoded, base)?;
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    Ok(hash_decoded(decoder)? == sha256)
}

/// Why a delta cannot be read through its base: the error says so in
/// words that name the base ("base graph_… is missing / is corrupt").
fn base_problem(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}

/// Whether an error of [`open_plain`] is about a delta's base.
pub fn is_base_problem(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().starts_with("base ")
}

/// The base of the delta at `path`, from its meta beside it: the base's
/// id and the plain checksum it must have.
pub fn delta_base_of(fs: &dyn Fs, path: &Path) -> io::Result<(super::names::BackupId, String)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.strip_suffix(DELTA_SUFFIX).unwrap_or(name);
    // A trash item's name may carry `~N` after the id.
    let id_text = stem.split('~').next().unwrap_or(stem);
    let dir = super::fs::parent_dir(path);
    let meta = [format!("{stem}.meta"), format!("{stem}.json.meta")]
        .iter()
        .find_map(|m| super::fs::read_file(fs, &dir.join(m), super::meta::MAX_META_LEN).ok())
        .and_then(|b| super::meta::Meta::from_slice(&b).ok())
        .ok_or_else(|| {
            base_problem(format!(
                "base of delta {id_text} unknown: its meta is missing or unusable, so nothing names the full backup it needs"
            ))
        })?;
    let base = meta
        .delta_base
        .as_deref()
        .and_then(|b| b.parse::<super::names::BackupId>().ok())
        .ok_or_else(|| {
            base_problem(format!(
                "base of delta {id_text} unknown: its meta names none"
            ))
        })?;
    let sha = meta.delta_base_checksum.clone().unwrap_or_default();
    Ok((base, sha))
}

/// Where the base of a delta in `dir` is: beside it, or, for a delta in
/// the trash, in `backups/`.
pub fn base_path(fs: &dyn Fs, dir: &Path, base: &super::names::BackupId) -> std::path::PathBuf {
    let here = super::data_path_in(fs, dir, base);
    if fs.entry(&here).is_ok() {
        return here;
    }
    let trash = Path::new(".graphvault").join(super::trash::TRASH_DIR);
    if dir.ends_with(&trash)
        && let Some(root) = dir.parent().and_then(Path::parent)
    {
        return super::data_path_in(fs, &root.join(super::BACKUPS_DIR), base);
    }
    here
}

/// The file a missing base was stored as, for the message that says it is
/// missing: its meta, when left, says whether it was plain JSON or a zstd
/// frame; without one, both names a full backup can have.
fn missing_base_name(fs: &dyn Fs, base_file: &Path, base: &super::names::BackupId) -> String {
    let dir = super::fs::parent_dir(base_file);
    let form = [base.meta_file_name(), base.alt_meta_file_name()]
        .iter()
        .find_map(|m| super::fs::read_file(fs, &dir.join(m), super::meta::MAX_META_LEN).ok())
        .and_then(|b| super::meta::Meta::from_slice(&b).ok())
        .map(|m| match m.stored_format.as_deref() {
            Some(ZSTD_FORMAT) => Some(StoredForm::Zstd),
            None => Some(StoredForm::Plain),
            // A base is never a delta; an unknown format names no file.
            Some(_) => None,
        });
    match form {
        Some(Some(form)) => dir.join(base.stored_file_name(form)).display().to_string(),
        _ => format!(
            "neither {} nor {} is in {}",
            base.data_file_name(),
            base.zstd_file_name(),
            dir.display()
        ),
    }
}

/// A delta's base, as the decoding thread gets it.
enum BaseSource {
    /// Its plain JSON, read and checked already.
    Ready(Vec<u8>),
    /// A compressed base proven by its stored checksum (see
    /// [`stored_proves_base`]): opened, and decompressed by the decoding
    /// thread when the delta is first read. Its JSON is not hashed again:
    /// the stored bytes are proven, and zstd checks the frame's own
    /// content checksum as it decodes.
    Lazy {
        reader: Box<dyn Read + Send>,
        len: u64,
        id: String,
    },
}

impl BaseSource {
    fn into_plain(self) -> io::Result<Vec<u8>> {
        match self {
            BaseSource::Ready(plain) => Ok(plain),
            BaseSource::Lazy {
                mut reader,
                len,
                id,
            } => {
                let mut plain = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                reader
                    .read_to_end(&mut plain)
                    .map_err(|e| base_problem(format!("base {id} is corrupt: {e}")))?;
                Ok(plain)
            }
        }
    }
}

/// Whether the compressed base at `base_file` is proven to hold the JSON
/// whose SHA-256 is `sha` without decompressing it: its meta names that
/// checksum, and the file's stored bytes hash to the stored checksum its
/// meta records (a frame is proven to decode to its meta's checksum
/// before it is written, and decoding is deterministic, as a verify of a
/// compressed backup relies on too).
fn stored_proves_base(
    fs: &dyn Fs,
    base_file: &Path,
    base: &super::names::BackupId,
    sha: &str,
    max_len: u64,
) -> bool {
    if StoredForm::of_path(base_file) != StoredForm::Zstd {
        return false;
    }
    let dir = super::fs::parent_dir(base_file);
    let Some(meta) = [base.meta_file_name(), base.alt_meta_file_name()]
        .iter()
        .find_map(|m| super::fs::read_file(fs, &dir.join(m), super::meta::MAX_META_LEN).ok())
        .and_then(|b| super::meta::Meta::from_slice(&b).ok())
    else {
        return false;
    };
    let names_it = meta.sha256().is_some_and(|m| m.eq_ignore_ascii_case(sha))
        && meta.stored_format.as_deref() == Some(ZSTD_FORMAT);
    let Some(stored) = meta.stored_sha256().filter(|_| names_it) else {
        return false;
    };
    let Ok(file) = fs.open_read(base_file, max_len) else {
        return false;
    };
    if meta.stored_size.is_some_and(|s| s != file.len) {
        return false;
    }
    super::digest::hash_reader(file).is_ok_and(|(h, _)| h.eq_ignore_ascii_case(stored))
}

/// Opens a delta: its base is checked first (a compressed one by its
/// stored checksum, without decompressing; any other by reading its JSON
/// and hashing it), so a missing or corrupt base is reported at open,
/// naming it. The base's plain JSON is then in memory once: the decoding
/// thread reads it (or is handed it) and owns it, and its decoder borrows
/// it as its reference prefix (never copied) while the delta streams. A
/// delta opened and never read (a verify whose checks need no parse)
/// decompresses nothing.
fn open_delta(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<ReadFile> {
    // The delta itself first: a missing file is missing, whatever its base.
    fs.entry(path)?;
    let (base, sha) = delta_base_of(fs, path)?;
    let base_file = base_path(fs, super::fs::parent_dir(path), &base);
    if !StoredForm::of_path(&base_file).is_full() {
        return Err(base_problem(format!(
            "base {base} is itself a delta: a delta depends on one full backup, never on a chain"
        )));
    }
    let missing = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            base_problem(format!(
                "base {base} is missing ({}): the delta cannot be read without it",
                missing_base_name(fs, &base_file, &base)
            ))
        } else {
            base_problem(format!("base {base} is corrupt: {e}"))
        }
    };
    let source = if stored_proves_base(fs, &base_file, &base, &sha, max_len) {
        let file = open_plain(fs, &base_file, max_len).map_err(missing)?;
        BaseSource::Lazy {
            reader: file.reader,
            len: file.len,
            id: base.to_string(),
        }
    } else {
        let plain = read_plain(fs, &base_file, max_len).map_err(missing)?;
        if super::digest::sha256_hex(&plain) != sha {
            return Err(base_problem(format!(
                "base {base} is corrupt: its JSON does not hash to the checksum the delta was made against"
            )));
        }
        BaseSource::Ready(plain)
    };
    open_zstd(fs, path, max_len, Some(source))
}

fn open_zstd(
    fs: &dyn Fs,
    path: &Path,
    max_len: u64,
    base: Option<BaseSource>,
) -> io::Result<ReadFile> {
    let file = fs.open_read(path, max_len)?;
    let mut reader = file.reader;
    let mut head = Vec::with_capacity(MAX_FRAME_HEADER);
    (&mut reader)
        .take(MAX_FRAME_HEADER as u64)
        .read_to_end(&mut head)?;
    let len = match zstd::zstd_safe::get_frame_content_size(&head) {
        Ok(Some(len)) => len,
        Ok(None) => return Err(damaged("its header records no content size")),
        Err(_) => return Err(damaged("its header is not a zstd frame header")),
    };
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("decompresses to {len} bytes, over the limit of {max_len}"),
        ));
    }
    let failed = Arc::new(AtomicBool::new(false));
    let source = TrackedRead {
        inner: io::Cursor::new(head).chain(reader),
        failed: failed.clone(),
    };
    let producer: Producer = match base {
        None => {
            let decoder = zstd::stream::read::Decoder::new(source)?.single_frame();
            Box::new(move |tx| {
                let mut frame = FrameReader {
                    decoder,
                    failed,
                    remaining: len,
                };
                pump(&mut frame, &tx);
            })
        }
        // The decoding thread owns the base and the decoder only borrows
        // it (a reference prefix, never copied): the base is in memory
        // once, for as long as the delta is read.
        Some(base_source) => Box::new(move |tx| {
            let base = match base_source.into_plain() {
                Ok(base) => base,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let decoder =
                zstd::stream::read::Decoder::with_ref_prefix(io::BufReader::new(source), &base)
                    .and_then(|mut d| d.window_log_max(MAX_WINDOW_LOG).map(|()| d));
            match decoder {
                Ok(d) => {
                    let mut frame = FrameReader {
                        decoder: d.single_frame(),
                        failed,
                        remaining: len,
                    };
                    pump(&mut frame, &tx);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        }),
    };
    Ok(ReadFile {
        reader: Box::new(Pipelined::spawn(producer)),
        len,
    })
}

/// Where decoded chunks go.
type ChunkSender = std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>;

/// Builds a decoder on the decoding thread and pumps its output.
type Producer = Box<dyn FnOnce(ChunkSender) + Send>;

/// Reads `inner` to its end in chunks sent to `tx`; stops at the first
/// error (sent too) or when the reader has gone.
fn pump(inner: &mut dyn Read, tx: &ChunkSender) {
    loop {
        let mut chunk = vec![0u8; PIPELINE_CHUNK];
        let mut filled = 0;
        let result = loop {
            match inner.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == chunk.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        chunk.truncate(filled);
        let last = filled < PIPELINE_CHUNK || result.is_err();
        if filled > 0 && tx.send(Ok(chunk)).is_err() {
            return;
        }
        if let Err(e) = result {
            let _ = tx.send(Err(e));
            return;
        }
        if last {
            return;
        }
    }
}

/// Plain bytes in flight between the decoding thread and the reader.
const PIPELINE_CHUNK: usize = 1 << 20;

/// Decodes on a thread of its own, a few chunks ahead of the reader: the
/// caller hashes (or parses) one chunk while the next is decompressed, so
/// a compressed backup verifies at about the speed of a plain one. At most
/// three chunks are held at once; a reader dropped early stops the thread
/// at its next chunk.
struct Pipelined {
    /// What makes the decoder, until the first read starts its thread (a
    /// reader opened and never read decodes nothing).
    inner: Option<Producer>,
    chunks: Option<std::sync::mpsc::Receiver<io::Result<Vec<u8>>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Pipelined {
    fn spawn(inner: Producer) -> Pipelined {
        Pipelined {
            inner: Some(inner),
            chunks: None,
            current: Vec::new(),
            pos: 0,
        }
    }

    fn start(producer: Producer) -> std::sync::mpsc::Receiver<io::Result<Vec<u8>>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        std::thread::spawn(move || producer(tx));
        rx
    }
}

impl Read for Pipelined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(inner) = self.inner.take() {
            self.chunks = Some(Pipelined::start(inner));
        }
        let Some(chunks) = &self.chunks else {
            return Ok(0);
        };
        while self.pos == self.current.len() {
            match chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The decoding thread is done: the end of the content.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The file under a decoder, remembering whether one of its reads failed
/// (so that error is passed on as the file's, not as a damaged frame).
struct TrackedRead<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for TrackedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }
}

/// A decoder whose own errors say "damaged zstd frame".
struct FrameReader<D> {
    decoder: D,
    failed: Arc<AtomicBool>,
    /// Plain bytes the header promised and not yet read.
    remaining: u64,
}

impl<D: Read> Read for FrameReader<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.decoder.read(buf) {
            Ok(0) if self.remaining > 0 => Err(damaged(format!(
                "it ends {} bytes before the content size its header records",
                self.remaining
            ))),
            Ok(n) => {
                self.remaining = self.remaining.saturating_sub(n as u64);
                Ok(n)
            }
            Err(e) if self.failed.load(Ordering::Relaxed) => Err(e),
            Err(e) => Err(damaged(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fs::RealFs;

    fn plain() -> Vec<u8> {
        let mut text = String::from("{\"nodes\": {");
        for i in 0..2000 {
            text.push_str(&format!("\"n{i}\": {{\"id\": \"n{i}\", \"data\": {{}}}},"));
        }
        text.push_str("\"end\": {}}}");
        text.into_bytes()
    }

    /// Inputs large enough to be compressed on several threads still make one
    /// frame that records its plain size and checksum, and the save's proof
    /// (decoded and hashed side by side) tells its content from any other.
    #[test]
    fn a_large_input_compressed_on_every_core_is_one_frame_that_proves_itself() {
        let dir = tempfile::tempdir().expect("dir");
        let mut data = Vec::new();
        while data.len() < 9 << 20 {
            data.extend_from_slice(&plain());
        }
        let sha = crate::store::digest::sha256_hex(&data);
        let encoded = compress(&data, DEFAULT_LEVEL).expect("compress");
        let path = dir.path().join("graph_20251003_000432.json.zst");
        std::fs::write(&path, &encoded.bytes).expect("write");
        assert_eq!(
            open_plain(&RealFs, &path, u64::MAX).expect("open").len,
            data.len() as u64,
            "the frame header records the plain size"
        );
        assert_eq!(read_plain(&RealFs, &path, u64::MAX).expect("read"), data);
        assert!(proves(&encoded.bytes, &sha).expect("decode"));
        assert!(!proves(&encoded.bytes, &"0".repeat(64)).expect("decode"));
        let mut damaged = encoded.bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 0x10;
        assert!(
            !proves(&damaged, &sha).unwrap_or(false),
            "a damaged frame never proves the content"
        );
    }

    #[test]
    fn a_frame_round_trips_and_knows_its_plain_size() {
        let dir = tempfile::tempdir().expect("dir");
        let data = plain();
        let encoded = compress(&data, DEFAULT_LEVEL).expect("compress");
        assert!(encoded.bytes.len() < data.len() / 4, "JSON compresses");
        let path = dir.path().join("graph_20251003_000432.json.zst");
        std::fs::write(&path, &encoded.bytes).expect("write");
        let file = open_plain(&RealFs, &path, u64::MAX).expect("open");
        assert_eq!(file.len, data.len() as u64);
        assert_eq!(read_plain(&RealFs, &path, u64::MAX).expect("read"), data);
        // The same bytes under a plain name are read as they are.
        let raw = dir.path().join("graph_20251003_000432.json");
        std::fs::write(&raw, &encoded.bytes).expect("write");
        assert_eq!(
            read_plain(&RealFs, &raw, u64::MAX).expect("read"),
            encoded.bytes
        );
    }

    #[test]
    fn a_damaged_frame_is_reported_as_damaged_not_as_unreadable() {
        let dir = tempfile::tempdir().expect("dir");
        let data = plain();
        let mut bytes = compress(&data, DEFAULT_LEVEL).expect("compress").bytes;
        let path = dir.path().join("graph_20251003_000432.json.zst");
        // A flipped bit in the middle: zstd's own checks or its content
        // checksum catch it.
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write");
        let err = read_plain(&RealFs, &path, u64::MAX).expect_err("damaged");
        assert!(is_damaged_frame(&err), "{err}");
        // Cut short.
        let whole = compress(&data, DEFAULT_LEVEL).expect("compress").bytes;
        std::fs::write(&path, &whole[..whole.len() - 20]).expect("write");
        let err = read_plain(&RealFs, &path, u64::MAX).expect_err("truncated");
        assert!(is_damaged_frame(&err), "{err}");
        // Not a frame at all.
        std::fs::write(&path, b"{\"nodes\": {}}").expect("write");
        let err = open_plain(&RealFs, &path, u64::MAX)
            .err()
            .expect("not a frame");
        assert!(is_damaged_frame(&err), "{err}");
    }

    #[test]
    fn a_plain_size_over_the_limit_is_refused_before_reading() {
        let dir = tempfile::tempdir().expect("dir");
        let data = plain();
        let bytes = compress(&data, DEFAULT_LEVEL).expect("compress").bytes;
        let path = dir.path().join("graph_20251003_000432.json.zst");
        std::fs::write(&path, &bytes).expect("write");
        let err = open_plain(&RealFs, &path, 100).err().expect("too large");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
