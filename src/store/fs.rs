//! The one narrow layer every filesystem effect of the store goes through.
//!
//! Production code uses [`RealFs`]. Tests substitute implementations that
//! fail the k-th call or simulate power loss, and the store runs unchanged
//! over them. Keep this trait small: every method is a step a crash or a
//! fault can land on.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::error::{Result, StoreError};

/// A file opened for writing by [`Fs::create_new`].
pub trait WriteFile: Write + Send {
    /// Flushes data and metadata to stable storage (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// A file opened for reading by [`Fs::open_read`]: a regular file, opened
/// without following symlinks, with its length at open time.
pub struct ReadFile {
    pub reader: Box<dyn Read + Send>,
    pub len: u64,
}

/// What a directory entry is, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of [`Fs::read_dir`].
#[derive(Debug, Clone)]
pub struct DirEntryInfo {
    pub name: String,
    pub kind: EntryKind,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// What identifies a file's current version without reading it: a file
/// whose stat is unchanged is very likely unchanged (the scrub re-hashes it
/// later anyway), one whose stat changed must be read again now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FileStat {
    pub len: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: Option<i64>,
    /// Status-change time, nanoseconds since the epoch: also moves when
    /// someone resets the mtime after editing.
    pub ctime_ns: Option<i64>,
    pub ino: Option<u64>,
    pub dev: Option<u64>,
}

/// The files of one directory, by name (see [`Fs::open_dir`]). Shared by
/// the threads of a listing.
pub trait DirFiles: Send + Sync {
    /// The directory's entries, with the kind the directory records (no
    /// size, no time; a filesystem that records no kind is asked by stat).
    fn entries(&self) -> io::Result<Vec<DirEntryInfo>>;
    /// [`Fs::entry`] of the file `name` in the directory.
    fn entry(&self, name: &str) -> io::Result<DirEntryInfo>;
    /// [`read_file_into`] of the file `name` in the directory, with the
    /// same refusals as [`Fs::open_read`].
    fn read_into(&self, name: &str, max_len: u64, buf: &mut Vec<u8>) -> io::Result<()>;
}

/// A held exclusive lock; dropping it releases the lock.
pub trait LockHandle: Send + Sync {}

/// Why [`Fs::try_lock`] did not get the lock.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; the text is what the holder wrote in the file.
    Held(String),
    Io(io::Error),
}

/// Every filesystem effect of the store. All paths are absolute or relative
/// to the process's working directory, as given.
pub trait Fs: Send + Sync + fmt::Debug {
    /// Creates a new file that must not exist (`O_CREAT|O_EXCL`) for writing.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Renames, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes `to` a new name for `from`; fails if `to` exists. Used to
    /// publish a file under a name that must never be overwritten.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (`fsync` on the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates one new directory; fails with `AlreadyExists` if anything is
    /// at `dir` already (a directory or a symlink planted there).
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        match self.entry(dir) {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "something is already there",
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.create_dir_all(dir),
            Err(e) => Err(e),
        }
    }
    /// Opens a regular file for reading without following a symlink, and
    /// refuses FIFOs, devices, directories and files larger than `max_len`.
    fn open_read(&self, path: &Path, max_len: u64) -> io::Result<ReadFile>;
    /// Lists a directory without following symlinks. Missing -> NotFound.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntryInfo>>;
    /// [`Fs::read_dir`] that describes in full (size, modification time)
    /// only the entries whose names `describe` picks; the others carry the
    /// kind the directory itself reports, no size and no time. A listing of
    /// 100,000 backups then stats the data files and not their metas, which
    /// are read anyway. The default describes every entry.
    fn read_dir_describing(
        &self,
        dir: &Path,
        describe: &dyn Fn(&str) -> bool,
    ) -> io::Result<Vec<DirEntryInfo>> {
        let _ = describe;
        self.read_dir(dir)
    }
    /// Describes one path without following a symlink.
    fn entry(&self, path: &Path) -> io::Result<DirEntryInfo>;
    /// Opens `dir` (never through a symlink) to list, describe and read
    /// the files in it by name, each looked up from the directory rather
    /// than along its whole path: a directory swapped for a symlink after
    /// the open is never followed, and a listing of 100,000 backups does
    /// 200,000 lookups of a name instead of a path. `None` where the
    /// filesystem has no such handle: the caller then uses the paths.
    fn open_dir(&self, _dir: &Path) -> io::Result<Option<Box<dyn DirFiles>>> {
        Ok(None)
    }
    /// The absolute path of `path` with every symlink of its parents
    /// resolved (names a store in its sandbox marker). Filesystems without
    /// symlinks give the path as it is.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(path.to_path_buf())
    }
    /// Where a symlink points, as written in it (for messages only: it is
    /// never followed). Filesystems without symlinks say `Unsupported`.
    fn read_link(&self, _path: &Path) -> io::Result<PathBuf> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no symlinks here",
        ))
    }
    /// Takes an exclusive advisory lock on `path` (created if missing, never
    /// replaced) and records `holder` in it.
    fn try_lock(
        &self,
        path: &Path,
        holder: &str,
    ) -> std::result::Result<Box<dyn LockHandle>, LockError>;
    /// Reads the holder text of a lock file without taking the lock; `None`
    /// when nobody holds it.
    fn lock_holder(&self, path: &Path) -> io::Result<Option<String>>;
    /// Free space of the filesystem holding `path`, when it can be known.
    fn free_space(&self, _path: &Path) -> Option<u64> {
        None
    }
    /// Where the first hole of a regular file starts (a range never
    /// written, which reads as zero bytes), when the filesystem reports one
    /// before the end. `None` when there is none or it cannot be known.
    fn first_hole(&self, _path: &Path) -> Option<u64> {
        None
    }
    /// Reads `len` bytes at `offset` of a regular file opened as by
    /// [`Fs::open_read`]; a file too short for the range is `UnexpectedEof`.
    /// The default reads up to the range; the real filesystem seeks.
    fn read_at(&self, path: &Path, offset: u64, len: usize, max_len: u64) -> io::Result<Vec<u8>> {
        let ReadFile { reader, .. } = self.open_read(path, max_len)?;
        let mut reader = reader;
        io::copy(&mut (&mut reader).take(offset), &mut io::sink())?;
        let mut buf = vec![0u8; len];
        reader.read_exact(&mut buf)?;
        Ok(buf)
    }
    /// The stat of one path without following a symlink. Filesystems that
    /// know no more than [`Fs::entry`] report its length and mtime.
    fn file_stat(&self, path: &Path) -> io::Result<FileStat> {
        let e = self.entry(path)?;
        Ok(FileStat {
            len: e.len,
            mtime_ns: e.modified.and_then(system_time_ns),
            ..FileStat::default()
        })
    }
}

/// Nanoseconds since the epoch, when representable.
fn system_time_ns(t: SystemTime) -> Option<i64> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_nanos()).ok()
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

struct RealWriteFile(File);

impl Write for RealWriteFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl WriteFile for RealWriteFile {
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

struct RealLock(File);
impl LockHandle for RealLock {}

impl Drop for RealLock {
    fn drop(&mut self) {
        // Unlock explicitly before the close. A flock belongs to the open
        // file description, and a child forked by another thread between
        // its fork and its exec holds a copy of every descriptor (close-on-
        // exec or not): closing ours alone would leave the lock held by that
        // copy for a moment, and a writer of this same process would then be
        // refused with our own pid as the holder. Unlocking releases it for
        // every copy at once.
        let _ = self.0.unlock();
    }
}

fn kind_of(ft: fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn describe_non_regular(ft: fs::FileType) -> &'static str {
    if ft.is_dir() {
        "is a directory"
    } else if ft.is_fifo() {
        "is a FIFO"
    } else if ft.is_block_device() || ft.is_char_device() {
        "is a device"
    } else if ft.is_socket() {
        "is a socket"
    } else {
        "is not a regular file"
    }
}

impl Fs for RealFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Box::new(RealWriteFile(f)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        fs::read_link(path)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        fs::canonicalize(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }

    fn open_read(&self, path: &Path, max_len: u64) -> io::Result<ReadFile> {
        let (file, len) = open_regular(path, max_len)?;
        // Never read more than the size checked above, even if the file grows.
        Ok(ReadFile {
            reader: Box::new(file.take(len)),
            len,
        })
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize, max_len: u64) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt as _;
        let (file, size) = open_regular(path, max_len)?;
        if offset.saturating_add(len as u64) > size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("range {offset}+{len} is past the end ({size} bytes)"),
            ));
        }
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntryInfo>> {
        self.read_dir_describing(dir, &|_| true)
    }

    fn read_dir_describing(
        &self,
        dir: &Path,
        describe: &dyn Fn(&str) -> bool,
    ) -> io::Result<Vec<DirEntryInfo>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                // Not UTF-8: cannot be one of our names; report as other.
                out.push(DirEntryInfo {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    kind: EntryKind::Other,
                    len: 0,
                    modified: None,
                });
                continue;
            };
            if !describe(&name) {
                // The directory's own record of the type (no stat; std asks
                // for one only where the filesystem does not say).
                let kind = match entry.file_type() {
                    Ok(t) => kind_of(t),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                out.push(DirEntryInfo {
                    name,
                    kind,
                    len: 0,
                    modified: None,
                });
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Removed between listing and stat: skip it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            out.push(DirEntryInfo {
                name,
                kind: kind_of(meta.file_type()),
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
        Ok(out)
    }

    fn open_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn DirFiles>>> {
        use rustix::fs::OFlags;
        let fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        Ok(Some(Box::new(RealDir { fd })))
    }

    fn entry(&self, path: &Path) -> io::Result<DirEntryInfo> {
        let meta = fs::symlink_metadata(path)?;
        Ok(DirEntryInfo {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind: kind_of(meta.file_type()),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    fn try_lock(
        &self,
        path: &Path,
        holder: &str,
    ) -> std::result::Result<Box<dyn LockHandle>, LockError> {
        // Written in place, so it must be ours: checked before opening (a
        // device is never opened) and again on the handle.
        match fs::symlink_metadata(path) {
            Ok(m) => own_in_place_file(&m).map_err(LockError::Io)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LockError::Io(e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| LockError::Io(symlink_refused(e)))?;
        own_in_place_file(&file.metadata().map_err(LockError::Io)?).map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held(read_holder(&mut file)));
            }
            Err(fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        // The holder text only makes the error message of others useful; a
        // failure to write it does not make the lock less held. It overwrites
        // the last holder's text in place, padded to a fixed width, rather
        // than truncating first: a refused writer reading meanwhile never
        // finds the file empty.
        let text = format!("{holder:<64}");
        let _ = file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| file.set_len(text.len() as u64))
            .and_then(|()| file.flush());
        Ok(Box::new(RealLock(file)))
    }

    fn lock_holder(&self, path: &Path) -> io::Result<Option<String>> {
        match fs::symlink_metadata(path) {
            Ok(m) => own_in_place_file(&m)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(symlink_refused(e)),
        };
        own_in_place_file(&file.metadata()?)?;
        // A shared lock succeeds only when no writer holds the exclusive one.
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(None)
            }
            Err(fs::TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn file_stat(&self, path: &Path) -> io::Result<FileStat> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::symlink_metadata(path)?;
        let ns = |secs: i64, nsec: i64| secs.checked_mul(1_000_000_000)?.checked_add(nsec);
        Ok(FileStat {
            len: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            ino: Some(m.ino()),
            dev: Some(m.dev()),
        })
    }

    fn first_hole(&self, path: &Path) -> Option<u64> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        // A filesystem without holes reports the end of the file.
        let hole = rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(0)).ok()?;
        (hole < meta.len()).then_some(hole)
    }

    fn free_space(&self, path: &Path) -> Option<u64> {
        // statvfs through rustix: std has none, unsafe code is forbidden in
        // this crate, and running `df` would parse another program's text.
        // Blocks available to an unprivileged writer, not the root reserve.
        let st = rustix::fs::statvfs(path).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
}

/// Reads a small file named by the user (a key, an identity), following
/// symlinks, refusing more than `max` bytes by what is actually read, not
/// by the size the file reports: `/proc/self/pagemap` reports 0 and never
/// ends. Reads in chunks (some special files refuse short reads), so at
/// most one chunk past `max` is ever held.
///
/// # Errors
/// The file cannot be read, or yields more than `max` bytes
/// (`InvalidData`, saying so).
pub fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO waits for a writer.
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    let mut file = File::open(path)?;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    while out.len() <= max {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("yields more than {max} bytes (whatever size it reports); read stopped there"),
    ))
}

/// A file graphvault writes in place (the lock, the UI's log) must be a
/// regular file with one link: through a hard link or a device node
/// planted there, a write would reach outside the store.
///
/// # Errors
/// `InvalidInput` saying what the file is instead.
pub fn own_in_place_file(meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symlink (not followed)",
        ));
    }
    if !ft.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            describe_non_regular(ft),
        ));
    }
    if meta.nlink() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "has {} links (a hard link shares its bytes with a file elsewhere)",
                meta.nlink()
            ),
        ));
    }
    Ok(())
}

/// ELOOP from an `O_NOFOLLOW` open, said as what it means.
/// An open of a socket (or of a device with nothing behind it) fails with
/// ENXIO, said likewise.
fn symlink_refused(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => {
            io::Error::new(io::ErrorKind::InvalidInput, "is a symlink (not followed)")
        }
        Some(libc::ENXIO) => io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (a socket, or a device with nothing behind it)",
        ),
        _ => e,
    }
}

/// Opens a regular file without following a symlink (refusing FIFOs, devices,
/// directories and files over `max_len`), with its length at open time.
fn open_regular(path: &Path, max_len: u64) -> io::Result<(fs::File, u64)> {
    // O_NONBLOCK so that opening a FIFO cannot hang; it changes nothing
    // for regular files. O_NOFOLLOW refuses a symlink at the last step.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(symlink_refused)?;
    regular_within(file, max_len)
}

/// The open `file` and its length, when it is a regular file of at most
/// `max_len` bytes.
fn regular_within(file: File, max_len: u64) -> io::Result<(fs::File, u64)> {
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            describe_non_regular(ft),
        ));
    }
    if meta.len() > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {} bytes, over the {} byte limit", meta.len(), max_len),
        ));
    }
    Ok((file, meta.len()))
}

/// A directory open for [`DirFiles`]: each name is looked up from it.
struct RealDir {
    fd: rustix::fd::OwnedFd,
}

impl DirFiles for RealDir {
    fn entries(&self) -> io::Result<Vec<DirEntryInfo>> {
        use rustix::fs::FileType;
        let mut dir = rustix::fs::Dir::read_from(&self.fd)?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(bytes) else {
                // Not UTF-8: cannot be one of our names; reported as other.
                out.push(DirEntryInfo {
                    name: String::from_utf8_lossy(bytes).into_owned(),
                    kind: EntryKind::Other,
                    len: 0,
                    modified: None,
                });
                continue;
            };
            let kind = match entry.file_type() {
                FileType::Symlink => EntryKind::Symlink,
                FileType::Directory => EntryKind::Dir,
                FileType::RegularFile => EntryKind::File,
                FileType::Unknown => match self.entry(name) {
                    Ok(e) => e.kind,
                    // Removed between the listing and the stat: skipped.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                },
                _ => EntryKind::Other,
            };
            out.push(DirEntryInfo {
                name: name.to_string(),
                kind,
                len: 0,
                modified: None,
            });
        }
        Ok(out)
    }

    fn entry(&self, name: &str) -> io::Result<DirEntryInfo> {
        use rustix::fs::FileType;
        let st = rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => EntryKind::Symlink,
            FileType::Directory => EntryKind::Dir,
            FileType::RegularFile => EntryKind::File,
            _ => EntryKind::Other,
        };
        let modified = u64::try_from(st.st_mtime).ok().map(|secs| {
            SystemTime::UNIX_EPOCH
                + std::time::Duration::new(secs, u32::try_from(st.st_mtime_nsec).unwrap_or(0))
        });
        Ok(DirEntryInfo {
            name: name.to_string(),
            kind,
            len: u64::try_from(st.st_size).unwrap_or(0),
            modified,
        })
    }

    fn read_into(&self, name: &str, max_len: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        use rustix::fs::OFlags;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| symlink_refused(e.into()))?;
        let (file, len) = regular_within(File::from(fd), max_len)?;
        buf.clear();
        buf.reserve(usize::try_from(len).unwrap_or(0));
        file.take(len).read_to_end(buf)?;
        Ok(())
    }
}

/// The holder text of a lock file someone holds. The holder empties the
/// file and writes its text just after taking the lock, so a reader that
/// comes in between finds it empty: wait briefly for the text rather than
/// report an anonymous holder.
fn read_holder(file: &mut File) -> String {
    use std::io::{Seek, SeekFrom};
    let mut text = String::new();
    for _ in 0..50 {
        text.clear();
        let _ = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text));
        if !text.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    text.trim().to_string()
}

/// Prefix of every temporary file the store creates. Anything with it is
/// ours and may be swept when no save is running (under the lock).
pub const TEMP_PREFIX: &str = ".gv-tmp-";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path_for(target: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!("{TEMP_PREFIX}{}-{n}-{stem}", std::process::id());
    target.with_file_name(name)
}

/// How [`write_atomic`] publishes the finished file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Atomically replace the target if it exists.
    Replace,
    /// Fail with `AlreadyExists` if the target exists; never overwrite.
    NoReplace,
}

/// Parent directory of a path, `.` for a bare name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `target` durably and atomically: a new temp file in the
/// same directory, write, fsync, rename (or link for [`Publish::NoReplace`]),
/// fsync the directory. On any error the temp file is removed and the old
/// target, if any, is untouched. A failed fsync is never retried.
///
/// # Errors
/// [`StoreError::Io`] naming the step and the path that failed.
pub fn write_atomic(fs: &dyn Fs, target: &Path, bytes: &[u8], publish: Publish) -> Result<()> {
    write_atomic_with(fs, target, publish, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by `fill` (so a caller
/// can stream and hash while writing).
///
/// # Errors
/// [`StoreError::Io`] naming the step and the path that failed.
pub fn write_atomic_with(
    fs: &dyn Fs,
    target: &Path,
    publish: Publish,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    stage(fs, target, fill)?.publish(publish)
}

/// A file written under a temporary name beside its target and made
/// durable, not yet in place: [`Staged::publish`] puts it there, and
/// dropping it unpublished removes it. A save stages the new primary while
/// its backup is written, and publishes it only once the backup is durable.
#[must_use = "a staged file is removed when dropped unpublished"]
pub struct Staged<'a> {
    fs: &'a dyn Fs,
    tmp: PathBuf,
    target: PathBuf,
    published: bool,
}

/// Writes what `fill` produces to a temporary name beside `target` and
/// fsyncs it (steps 1 and 2 of [`write_atomic`]).
///
/// # Errors
/// [`StoreError::Io`] naming the step and the temporary path; the
/// temporary file is removed.
pub fn stage<'a>(
    fs: &'a dyn Fs,
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Staged<'a>> {
    stage_unsynced(fs, target, fill)?.sync()
}

/// A file written under a temporary name beside its target, not yet made
/// durable: [`Unsynced::sync`] fsyncs it into a [`Staged`], and dropping it
/// removes it. A save hands its writes to other threads for their fsyncs,
/// so that the buffer they were written from is free meanwhile.
#[must_use = "an unsynced file is removed when dropped"]
pub struct Unsynced<'a> {
    file: Box<dyn WriteFile>,
    staged: Staged<'a>,
}

/// Writes what `fill` produces to a temporary name beside `target` (step 1
/// of [`write_atomic`]); [`Unsynced::sync`] is step 2.
///
/// # Errors
/// [`StoreError::Io`] naming the step and the temporary path; the
/// temporary file is removed.
pub fn stage_unsynced<'a>(
    fs: &'a dyn Fs,
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Unsynced<'a>> {
    let tmp = temp_path_for(target);
    let mut file = fs
        .create_new(&tmp)
        .map_err(|e| StoreError::io("create temp file", &tmp, e))?;
    let staged = Staged {
        fs,
        tmp,
        target: target.to_path_buf(),
        published: false,
    };
    let written = fill(&mut *file)
        .map_err(|e| StoreError::io("write", &staged.tmp, e))
        .and_then(|()| {
            file.flush()
                .map_err(|e| StoreError::io("write", &staged.tmp, e))
        });
    match written {
        Ok(()) => Ok(Unsynced { file, staged }),
        Err(e) => {
            // Closed, then removed (dropping `staged`).
            drop(file);
            drop(staged);
            Err(e)
        }
    }
}

impl<'a> Unsynced<'a> {
    /// Makes the written file durable (step 2 of [`write_atomic`]).
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the temporary path; the file is removed.
    pub fn sync(self) -> Result<Staged<'a>> {
        let Unsynced { mut file, staged } = self;
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::skip_fsync() {
            return Ok(staged);
        }
        let synced = file
            .sync_all()
            .map_err(|e| StoreError::io("fsync", &staged.tmp, e));
        drop(file);
        synced.map(|()| staged)
    }
}

impl fmt::Debug for Unsynced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsynced")
            .field("staged", &self.staged)
            .finish_non_exhaustive()
    }
}

impl Staged<'_> {
    /// Puts the staged file in place and fsyncs the directory (steps 3
    /// and 4 of [`write_atomic`]). On an error the temporary file is
    /// removed and the old target, if any, is untouched.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the step and the target.
    pub fn publish(mut self, publish: Publish) -> Result<()> {
        self.published = true;
        let (fs, tmp, target) = (self.fs, &self.tmp, &self.target);
        let dir = parent_dir(target);
        let published = match publish {
            Publish::Replace => fs
                .rename(tmp, target)
                .map_err(|e| StoreError::io("rename into place", target, e)),
            Publish::NoReplace => match fs.hard_link(tmp, target) {
                Ok(()) => Ok(()),
                // Filesystems without hard links (FAT, some network mounts):
                // check the name is free, then rename. Writers of the store hold
                // its lock, so no other graphvault can take the name meanwhile.
                Err(e) if no_hard_links(&e) => match fs.entry(target) {
                    Ok(_) => Err(StoreError::io(
                        "publish (no overwrite)",
                        target,
                        io::Error::from(io::ErrorKind::AlreadyExists),
                    )),
                    Err(_) => fs
                        .rename(tmp, target)
                        .map_err(|e| StoreError::io("publish (no overwrite)", target, e)),
                },
                Err(e) => Err(StoreError::io("publish (no overwrite)", target, e)),
            },
        };
        match published {
            Ok(()) => {
                if publish == Publish::NoReplace {
                    // The target is durable content already; the temp name is
                    // only an extra link. Failing to unlink it leaves a stale
                    // temp file that the next locked open sweeps.
                    let _ = fs.remove_file(tmp);
                }
                fs.sync_dir(dir)
                    .map_err(|e| StoreError::io("fsync directory", dir, e))
            }
            Err(e) => {
                let _ = fs.remove_file(tmp);
                Err(e)
            }
        }
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = self.fs.remove_file(&self.tmp);
        }
    }
}

impl fmt::Debug for Staged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged")
            .field("tmp", &self.tmp)
            .field("target", &self.target)
            .field("published", &self.published)
            .finish()
    }
}

/// Whether a failed `hard_link` says the filesystem has none (FAT, some
/// network mounts), rather than that this link could not be made.
pub(crate) fn no_hard_links(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

/// Writes a cache file: to a temp name, then renamed over `target`, with
/// no fsync. For files that are only ever read through their own digests
/// (the node index), where a crash that leaves an older file, none, or a
/// torn one costs a rebuild and never a wrong answer, and where an fsync
/// per file would cost a history over many large graphs seconds of disk
/// writes it does not need.
///
/// # Errors
/// [`StoreError::Io`] naming the step and the path; the temp file is
/// removed.
pub fn write_cache(fs: &dyn Fs, target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path_for(target);
    let mut file = fs
        .create_new(&tmp)
        .map_err(|e| StoreError::io("create temp file", &tmp, e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| StoreError::io("write", &tmp, e));
    drop(file);
    let published = written.and_then(|()| {
        fs.rename(&tmp, target)
            .map_err(|e| StoreError::io("rename into place", target, e))
    });
    if published.is_err() {
        let _ = fs.remove_file(&tmp);
    }
    published
}

/// Renames `from` over `to` and makes it durable.
///
/// # Errors
/// [`StoreError::Io`] naming the step and the path.
pub fn rename_durable(fs: &dyn Fs, from: &Path, to: &Path) -> Result<()> {
    fs.rename(from, to)
        .map_err(|e| StoreError::io("rename", to, e))?;
    let dir = parent_dir(to);
    fs.sync_dir(dir)
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Removes a file and makes the removal durable.
///
/// # Errors
/// [`StoreError::Io`] naming the step and the path.
pub fn remove_durable(fs: &dyn Fs, path: &Path) -> Result<()> {
    fs.remove_file(path)
        .map_err(|e| StoreError::io("remove", path, e))?;
    let dir = parent_dir(path);
    fs.sync_dir(dir)
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Reads a whole regular file through [`Fs::open_read`].
///
/// # Errors
/// `NotFound` passes through as an I/O error so callers can tell "missing"
/// apart; other failures name the path.
pub fn read_file(fs: &dyn Fs, path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_file_into(fs, path, max_len, &mut buf)?;
    Ok(buf)
}

/// [`read_file`] into `buf`, replacing what it held. A buffer used again for file
/// after file keeps its pages: a fresh 77 MB buffer costs more in page faults than
/// the copy from the page cache does.
pub fn read_file_into(fs: &dyn Fs, path: &Path, max_len: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    let ReadFile { mut reader, len } = fs.open_read(path, max_len)?;
    buf.clear();
    buf.reserve(usize::try_from(len).unwrap_or(0));
    reader.read_to_end(buf)?;
    Ok(())
}
