//! A filesystem wrapper that lets a test act before every call the store
//! makes: count it, fail it with an errno, abort the process, or time it.
//!
//! Every suite uses the same classification of calls into "steps", so a
//! crash at step k means the same moment over the simulated filesystem and
//! over the real one, and the step counts of the two can be compared.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use graphvault::store::fs::{DirEntryInfo, Fs, LockError, LockHandle, ReadFile, WriteFile};

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    CreateDirAll,
    CreateNew,
    Write,
    SyncFile,
    Rename,
    HardLink,
    RemoveFile,
    SyncDir,
    TryLock,
    OpenRead,
    Read,
    ReadDir,
    Entry,
    LockHolder,
}

impl OpKind {
    /// Calls that change what is on disk (or what may survive a crash).
    /// Only these are crash points: a crash during a read is the same as a
    /// crash before the next change.
    pub fn mutating(self) -> bool {
        matches!(
            self,
            OpKind::CreateDirAll
                | OpKind::CreateNew
                | OpKind::Write
                | OpKind::SyncFile
                | OpKind::Rename
                | OpKind::HardLink
                | OpKind::RemoveFile
                | OpKind::SyncDir
                | OpKind::TryLock
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::CreateDirAll => "create_dir_all",
            OpKind::CreateNew => "create_new",
            OpKind::Write => "write",
            OpKind::SyncFile => "fsync",
            OpKind::Rename => "rename",
            OpKind::HardLink => "hard_link",
            OpKind::RemoveFile => "remove_file",
            OpKind::SyncDir => "fsync dir",
            OpKind::TryLock => "try_lock",
            OpKind::OpenRead => "open_read",
            OpKind::Read => "read",
            OpKind::ReadDir => "read_dir",
            OpKind::Entry => "entry",
            OpKind::LockHolder => "lock_holder",
        }
    }
}

/// One call, as a hook sees it.
#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    pub path: PathBuf,
    pub to: Option<PathBuf>,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.path.display())?;
        if let Some(to) = &self.to {
            write!(f, " -> {}", to.display())?;
        }
        Ok(())
    }
}

/// Called around every call of the wrapped filesystem.
pub trait Hook: Send + Sync {
    /// An error here is returned instead of making the call.
    fn before(&self, op: &Op) -> io::Result<()>;
    /// After a call that was made, with whether it succeeded.
    fn after(&self, _op: &Op, _ok: bool) {}
}

/// `inner` with `hook` around every call.
#[derive(Clone)]
pub struct HookFs {
    inner: Arc<dyn Fs>,
    hook: Arc<dyn Hook>,
}

impl fmt::Debug for HookFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookFs")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl HookFs {
    pub fn new(inner: Arc<dyn Fs>, hook: Arc<dyn Hook>) -> HookFs {
        HookFs { inner, hook }
    }

    fn call<T>(
        &self,
        kind: OpKind,
        path: &Path,
        to: Option<&Path>,
        f: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let op = Op {
            kind,
            path: path.to_path_buf(),
            to: to.map(Path::to_path_buf),
        };
        self.hook.before(&op)?;
        let result = f();
        self.hook.after(&op, result.is_ok());
        result
    }
}

struct HookWrite {
    inner: Box<dyn WriteFile>,
    hook: Arc<dyn Hook>,
    path: PathBuf,
}

impl HookWrite {
    fn op(&self, kind: OpKind) -> Op {
        Op {
            kind,
            path: self.path.clone(),
            to: None,
        }
    }
}

impl Write for HookWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let op = self.op(OpKind::Write);
        self.hook.before(&op)?;
        let r = self.inner.write(buf);
        self.hook.after(&op, r.is_ok());
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl WriteFile for HookWrite {
    fn sync_all(&mut self) -> io::Result<()> {
        let op = self.op(OpKind::SyncFile);
        self.hook.before(&op)?;
        let r = self.inner.sync_all();
        self.hook.after(&op, r.is_ok());
        r
    }
}

struct HookRead {
    inner: Box<dyn Read + Send>,
    hook: Arc<dyn Hook>,
    path: PathBuf,
}

impl Read for HookRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let op = Op {
            kind: OpKind::Read,
            path: self.path.clone(),
            to: None,
        };
        self.hook.before(&op)?;
        let r = self.inner.read(buf);
        self.hook.after(&op, r.is_ok());
        r
    }
}

impl Fs for HookFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let inner = self.call(OpKind::CreateNew, path, None, || {
            self.inner.create_new(path)
        })?;
        Ok(Box::new(HookWrite {
            inner,
            hook: self.hook.clone(),
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.call(OpKind::Rename, from, Some(to), || {
            self.inner.rename(from, to)
        })
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.call(OpKind::HardLink, from, Some(to), || {
            self.inner.hard_link(from, to)
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.call(OpKind::RemoveFile, path, None, || {
            self.inner.remove_file(path)
        })
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.call(OpKind::SyncDir, dir, None, || self.inner.sync_dir(dir))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.call(OpKind::CreateDirAll, dir, None, || {
            self.inner.create_dir_all(dir)
        })
    }

    fn open_read(&self, path: &Path, max_len: u64) -> io::Result<ReadFile> {
        let ReadFile { reader, len } = self.call(OpKind::OpenRead, path, None, || {
            self.inner.open_read(path, max_len)
        })?;
        Ok(ReadFile {
            reader: Box::new(HookRead {
                inner: reader,
                hook: self.hook.clone(),
                path: path.to_path_buf(),
            }),
            len,
        })
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntryInfo>> {
        self.call(OpKind::ReadDir, dir, None, || self.inner.read_dir(dir))
    }

    fn entry(&self, path: &Path) -> io::Result<DirEntryInfo> {
        self.call(OpKind::Entry, path, None, || self.inner.entry(path))
    }

    fn try_lock(&self, path: &Path, holder: &str) -> Result<Box<dyn LockHandle>, LockError> {
        let op = Op {
            kind: OpKind::TryLock,
            path: path.to_path_buf(),
            to: None,
        };
        self.hook.before(&op).map_err(LockError::Io)?;
        let r = self.inner.try_lock(path, holder);
        self.hook.after(&op, r.is_ok());
        r
    }

    fn lock_holder(&self, path: &Path) -> io::Result<Option<String>> {
        self.call(OpKind::LockHolder, path, None, || {
            self.inner.lock_holder(path)
        })
    }

    fn free_space(&self, path: &Path) -> Option<u64> {
        self.inner.free_space(path)
    }
}

/// Counts the steps (mutating calls) of a run, and keeps their order.
#[derive(Default)]
pub struct StepLog {
    steps: AtomicU64,
    ops: Mutex<Vec<String>>,
}

impl StepLog {
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::SeqCst)
    }

    pub fn ops(&self) -> Vec<String> {
        self.ops.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Hook for StepLog {
    fn before(&self, op: &Op) -> io::Result<()> {
        if op.kind.mutating() {
            let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
            if let Ok(mut ops) = self.ops.lock() {
                ops.push(format!("{n}: {op}"));
            }
        }
        Ok(())
    }
}

/// Kills the process (`abort`, no unwinding, no destructors) right before
/// step `at`: what a crash at that moment leaves on a real disk.
pub struct AbortBefore {
    pub at: u64,
    steps: AtomicU64,
}

impl AbortBefore {
    pub fn new(at: u64) -> AbortBefore {
        AbortBefore {
            at,
            steps: AtomicU64::new(0),
        }
    }
}

impl Hook for AbortBefore {
    fn before(&self, op: &Op) -> io::Result<()> {
        if op.kind.mutating() && self.steps.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            std::process::abort();
        }
        Ok(())
    }
}

/// How an injected fault behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Only call `at` fails (a transient error).
    Once,
    /// Call `at` and every later one fail (a disk that went bad or full).
    Persistent,
}

/// Fails the `at`-th call (counting every call, reads included) with
/// `errno`, and records what happened.
pub struct FaultAt {
    pub at: u64,
    pub errno: i32,
    pub persistence: Persistence,
    calls: AtomicU64,
    fired: Mutex<Option<String>>,
    /// Whether a rename onto the primary succeeded: the commit point of a
    /// primary replacement.
    primary_replaced: AtomicBool,
    primary: PathBuf,
}

impl FaultAt {
    pub fn new(at: u64, errno: i32, persistence: Persistence, primary: PathBuf) -> FaultAt {
        FaultAt {
            at,
            errno,
            persistence,
            calls: AtomicU64::new(0),
            fired: Mutex::new(None),
            primary_replaced: AtomicBool::new(false),
            primary,
        }
    }

    /// The call the fault hit first, if it was reached.
    pub fn fired(&self) -> Option<String> {
        self.fired.lock().ok().and_then(|f| f.clone())
    }

    pub fn primary_replaced(&self) -> bool {
        self.primary_replaced.load(Ordering::SeqCst)
    }
}

impl Hook for FaultAt {
    fn before(&self, op: &Op) -> io::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = match self.persistence {
            Persistence::Once => n == self.at,
            Persistence::Persistent => n >= self.at,
        };
        if hit {
            if let Ok(mut fired) = self.fired.lock()
                && fired.is_none()
            {
                *fired = Some(format!("call {n}: {op}"));
            }
            return Err(io::Error::from_raw_os_error(self.errno));
        }
        Ok(())
    }

    fn after(&self, op: &Op, ok: bool) {
        if ok && op.kind == OpKind::Rename && op.to.as_deref() == Some(self.primary.as_path()) {
            self.primary_replaced.store(true, Ordering::SeqCst);
        }
    }
}

/// Counts every call (reads included), for enumerating fault points.
#[derive(Default)]
pub struct CallCount(AtomicU64);

impl CallCount {
    pub fn calls(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Hook for CallCount {
    fn before(&self, _op: &Op) -> io::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
