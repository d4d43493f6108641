//! An in-memory filesystem that models what a power cut keeps.
//!
//! Each file's bytes are volatile until `fsync`; each directory's entries
//! (creations, renames, links, removals, new sub-directories) are volatile
//! until that directory is fsynced. At a simulated power cut every volatile
//! change may be lost, any subset of a directory's unsynced changes may
//! survive (so later ones without earlier ones: reordering), and unsynced
//! file contents may survive whole, not at all, as a prefix, or with a
//! block of zeros. A renaming is atomic in itself, as journaling
//! filesystems make it. This is harsher than ext4 in its default mode and
//! is what POSIX promises, which is the point.
//!
//! The store runs over it unchanged through [`graphvault::store::fs::Fs`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Cursor, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use graphvault::store::fs::{
    DirEntryInfo, EntryKind, Fs, LockError, LockHandle, ReadFile, WriteFile,
};

use crate::hookfs::{Hook, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir(usize),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    /// What `fsync` last made durable.
    synced: Vec<u8>,
}

/// Changes to one directory that take effect together (a rename is one).
type Change = Vec<(String, Option<Node>)>;

#[derive(Debug, Clone, Default)]
struct Dir {
    live: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    /// Changes since the last fsync of this directory, in order.
    pending: Vec<Change>,
}

#[derive(Debug, Clone)]
struct State {
    inodes: Vec<Inode>,
    /// `dirs[0]` is `/`.
    dirs: Vec<Dir>,
    locks: HashMap<PathBuf, String>,
}

/// What a crash keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The process died; the kernel still has every change it made
    /// (SIGKILL, abort).
    Process,
    /// The machine lost power: unsynced changes may be lost, torn or
    /// partly kept, chosen by the seed. Seeds 0 and 1 are the extremes
    /// (keep nothing unsynced, keep everything); others mix.
    Power(u64),
}

/// A small deterministic generator (SplitMix64): no dependency, and the
/// same seed always gives the same crash.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The simulated filesystem. Clones share the same disk.
#[derive(Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimFs")
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory (simulated)", path.display()),
    )
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn name_of(path: &Path) -> io::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))
}

impl State {
    fn new() -> State {
        State {
            inodes: Vec::new(),
            dirs: vec![Dir::default()],
            locks: HashMap::new(),
        }
    }

    /// The directory `path` names, following live entries.
    fn dir_at(&self, path: &Path) -> io::Result<usize> {
        let mut dir = 0;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(name) => {
                    let name = name.to_str().ok_or_else(|| errno(libc::EINVAL))?;
                    match self.dirs[dir].live.get(name) {
                        Some(Node::Dir(d)) => dir = *d,
                        Some(Node::File(_)) => return Err(errno(libc::ENOTDIR)),
                        None => return Err(not_found(path)),
                    }
                }
                _ => return Err(errno(libc::EINVAL)),
            }
        }
        Ok(dir)
    }

    fn parent_of(&self, path: &Path) -> io::Result<(usize, String)> {
        let parent = path.parent().ok_or_else(|| errno(libc::EINVAL))?;
        Ok((self.dir_at(parent)?, name_of(path)?))
    }

    fn lookup(&self, path: &Path) -> io::Result<Node> {
        if path.parent().is_none() {
            return Ok(Node::Dir(0));
        }
        let (dir, name) = self.parent_of(path)?;
        self.dirs[dir]
            .live
            .get(&name)
            .copied()
            .ok_or_else(|| not_found(path))
    }

    fn change(&mut self, dir: usize, change: Change) {
        let d = &mut self.dirs[dir];
        for (name, node) in &change {
            match node {
                Some(n) => {
                    d.live.insert(name.clone(), *n);
                }
                None => {
                    d.live.remove(name);
                }
            }
        }
        d.pending.push(change);
    }

    fn new_inode(&mut self) -> usize {
        self.inodes.push(Inode::default());
        self.inodes.len() - 1
    }

    fn info(&self, name: String, node: Node) -> DirEntryInfo {
        match node {
            Node::File(i) => DirEntryInfo {
                name,
                kind: EntryKind::File,
                len: self.inodes[i].data.len() as u64,
                modified: None,
            },
            Node::Dir(_) => DirEntryInfo {
                name,
                kind: EntryKind::Dir,
                len: 0,
                modified: None,
            },
        }
    }

    /// What the disk holds after a crash of kind `loss`, everything durable.
    fn after_crash(&self, loss: Loss) -> State {
        let mut s = self.clone();
        s.locks.clear();
        let mut rng = match loss {
            Loss::Process => None,
            Loss::Power(seed) => Some((Rng::new(seed), seed)),
        };
        for d in &mut s.dirs {
            if let Some((rng, seed)) = rng.as_mut() {
                let keep_percent = match seed {
                    0 => 0,
                    1 => 100,
                    _ => rng.below(101),
                };
                let mut tree = d.durable.clone();
                for change in &d.pending {
                    if rng.chance(keep_percent) {
                        for (name, node) in change {
                            match node {
                                Some(n) => {
                                    tree.insert(name.clone(), *n);
                                }
                                None => {
                                    tree.remove(name);
                                }
                            }
                        }
                    }
                }
                d.live = tree;
            }
            d.durable = d.live.clone();
            d.pending.clear();
        }
        for inode in &mut s.inodes {
            if let Some((rng, seed)) = rng.as_mut()
                && inode.data != inode.synced
            {
                let len = inode.data.len();
                let choice = match seed {
                    0 => 0,
                    1 => 1,
                    _ => rng.below(5),
                };
                inode.data = match choice {
                    0 => inode.synced.clone(),
                    1 => inode.data.clone(),
                    2 => inode.data[..rng.below(len as u64 + 1) as usize].to_vec(),
                    3 => {
                        let mut torn = inode.data.clone();
                        let block = rng.below(len.div_ceil(4096).max(1) as u64) as usize * 4096;
                        for b in torn.iter_mut().skip(block).take(4096) {
                            *b = 0;
                        }
                        torn
                    }
                    _ => vec![0; len],
                };
            }
            inode.synced = inode.data.clone();
        }
        s
    }
}

impl SimFs {
    /// An empty disk with only `/`.
    pub fn new() -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(State::new())),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An independent copy of this disk as it is now (volatile parts
    /// included), with no lock held.
    pub fn fork(&self) -> SimFs {
        let mut s = self.st().clone();
        s.locks.clear();
        SimFs {
            state: Arc::new(Mutex::new(s)),
        }
    }

    /// The disk after a crash of kind `loss` at this moment.
    pub fn crash(&self, loss: Loss) -> SimFs {
        let s = self.st().after_crash(loss);
        SimFs {
            state: Arc::new(Mutex::new(s)),
        }
    }

    /// Makes everything durable, as a clean shutdown would.
    pub fn settle(&self) {
        let mut st = self.st();
        let s = st.after_crash(Loss::Process);
        let locks = std::mem::take(&mut st.locks);
        *st = s;
        st.locks = locks;
    }

    /// Writes a file directly (fixtures), durable at once.
    pub fn put(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.st();
        let (dir, name) = st.parent_of(path).expect("fixture parent exists");
        let node = match st.dirs[dir].live.get(&name) {
            Some(Node::File(i)) => Node::File(*i),
            _ => Node::File(st.new_inode()),
        };
        if let Node::File(i) = node {
            st.inodes[i].data = bytes.to_vec();
            st.inodes[i].synced = bytes.to_vec();
        }
        let d = &mut st.dirs[dir];
        d.live.insert(name.clone(), node);
        d.durable.insert(name, node);
    }

    /// Removes a file directly (fixtures), durable at once.
    pub fn delete(&self, path: &Path) {
        let mut st = self.st();
        if let Ok((dir, name)) = st.parent_of(path) {
            let d = &mut st.dirs[dir];
            d.live.remove(&name);
            d.durable.remove(&name);
        }
    }

    /// Reads a file directly (checks), `None` when it does not exist.
    pub fn get(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.st();
        match st.lookup(path) {
            Ok(Node::File(i)) => Some(st.inodes[i].data.clone()),
            _ => None,
        }
    }

    /// Every regular file under `dir`, relative path and bytes, sorted.
    pub fn tree(&self, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let st = self.st();
        let mut out = Vec::new();
        let Ok(start) = st.dir_at(dir) else {
            return out;
        };
        let mut stack = vec![(start, PathBuf::new())];
        while let Some((d, rel)) = stack.pop() {
            for (name, node) in &st.dirs[d].live {
                match node {
                    Node::File(i) => out.push((rel.join(name), st.inodes[*i].data.clone())),
                    Node::Dir(sub) => stack.push((*sub, rel.join(name))),
                }
            }
        }
        out.sort();
        out
    }
}

struct SimWrite {
    fs: SimFs,
    inode: usize,
}

impl Write for SimWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fs.st().inodes[self.inode].data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteFile for SimWrite {
    fn sync_all(&mut self) -> io::Result<()> {
        let mut st = self.fs.st();
        let inode = &mut st.inodes[self.inode];
        inode.synced = inode.data.clone();
        Ok(())
    }
}

struct SimLock {
    fs: SimFs,
    path: PathBuf,
}

impl LockHandle for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.st().locks.remove(&self.path);
    }
}

impl Fs for SimFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let mut st = self.st();
        let (dir, name) = st.parent_of(path)?;
        if st.dirs[dir].live.contains_key(&name) {
            return Err(errno(libc::EEXIST));
        }
        let inode = st.new_inode();
        st.change(dir, vec![(name, Some(Node::File(inode)))]);
        Ok(Box::new(SimWrite {
            fs: self.clone(),
            inode,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st();
        let (from_dir, from_name) = st.parent_of(from)?;
        let (to_dir, to_name) = st.parent_of(to)?;
        let node = st.dirs[from_dir]
            .live
            .get(&from_name)
            .copied()
            .ok_or_else(|| not_found(from))?;
        if let (Some(Node::Dir(_)), Node::File(_)) = (st.dirs[to_dir].live.get(&to_name), node) {
            return Err(errno(libc::EISDIR));
        }
        if (from_dir, &from_name) == (to_dir, &to_name) {
            return Ok(());
        }
        if from_dir == to_dir {
            st.change(from_dir, vec![(to_name, Some(node)), (from_name, None)]);
        } else {
            st.change(to_dir, vec![(to_name, Some(node))]);
            st.change(from_dir, vec![(from_name, None)]);
        }
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st();
        let node = st.lookup(from)?;
        if matches!(node, Node::Dir(_)) {
            return Err(errno(libc::EPERM));
        }
        let (to_dir, to_name) = st.parent_of(to)?;
        if st.dirs[to_dir].live.contains_key(&to_name) {
            return Err(errno(libc::EEXIST));
        }
        st.change(to_dir, vec![(to_name, Some(node))]);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let (dir, name) = st.parent_of(path)?;
        match st.dirs[dir].live.get(&name) {
            None => Err(not_found(path)),
            Some(Node::Dir(_)) => Err(errno(libc::EISDIR)),
            Some(Node::File(_)) => {
                st.change(dir, vec![(name, None)]);
                Ok(())
            }
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st();
        let d = st.dir_at(dir)?;
        let dir = &mut st.dirs[d];
        dir.durable = dir.live.clone();
        dir.pending.clear();
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st();
        let mut at = 0;
        for c in dir.components() {
            let Component::Normal(name) = c else {
                continue;
            };
            let name = name.to_str().ok_or_else(|| errno(libc::EINVAL))?;
            at = match st.dirs[at].live.get(name) {
                Some(Node::Dir(d)) => *d,
                Some(Node::File(_)) => return Err(errno(libc::EEXIST)),
                None => {
                    st.dirs.push(Dir::default());
                    let new = st.dirs.len() - 1;
                    st.change(at, vec![(name.to_string(), Some(Node::Dir(new)))]);
                    new
                }
            };
        }
        Ok(())
    }

    fn open_read(&self, path: &Path, max_len: u64) -> io::Result<ReadFile> {
        let st = self.st();
        match st.lookup(path)? {
            Node::Dir(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            )),
            Node::File(i) => {
                let data = st.inodes[i].data.clone();
                let len = data.len() as u64;
                if len > max_len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("is {len} bytes, over the {max_len} byte limit"),
                    ));
                }
                Ok(ReadFile {
                    reader: Box::new(Cursor::new(data)),
                    len,
                })
            }
        }
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntryInfo>> {
        let st = self.st();
        let d = st.dir_at(dir)?;
        Ok(st.dirs[d]
            .live
            .iter()
            .map(|(name, node)| st.info(name.clone(), *node))
            .collect())
    }

    fn entry(&self, path: &Path) -> io::Result<DirEntryInfo> {
        let st = self.st();
        let node = st.lookup(path)?;
        Ok(st.info(name_of(path).unwrap_or_default(), node))
    }

    fn try_lock(&self, path: &Path, holder: &str) -> Result<Box<dyn LockHandle>, LockError> {
        let mut st = self.st();
        let (dir, name) = st.parent_of(path).map_err(LockError::Io)?;
        let inode = match st.dirs[dir].live.get(&name) {
            Some(Node::File(i)) => *i,
            Some(Node::Dir(_)) => return Err(LockError::Io(errno(libc::EISDIR))),
            None => {
                let i = st.new_inode();
                st.change(dir, vec![(name, Some(Node::File(i)))]);
                i
            }
        };
        if let Some(text) = st.locks.get(path) {
            return Err(LockError::Held(text.clone()));
        }
        st.locks.insert(path.to_path_buf(), holder.to_string());
        st.inodes[inode].data = holder.as_bytes().to_vec();
        Ok(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }

    fn lock_holder(&self, path: &Path) -> io::Result<Option<String>> {
        Ok(self.st().locks.get(path).cloned())
    }
}

/// Cuts the power right before step `at`: captures the disk as it is, and
/// from then on every call fails, as if the process were gone (the store's
/// code unwinds; nothing it does after the cut reaches the disk).
pub struct CrashBefore {
    pub at: u64,
    disk: SimFs,
    steps: AtomicU64,
    dead: AtomicBool,
    captured: Mutex<Option<(SimFs, String)>>,
}

impl CrashBefore {
    pub fn new(at: u64, disk: SimFs) -> CrashBefore {
        CrashBefore {
            at,
            disk,
            steps: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            captured: Mutex::new(None),
        }
    }

    /// The disk at the moment of the cut (an independent copy, volatile
    /// parts included) and the step it cut before; `None` when the run
    /// ended first.
    pub fn captured(&self) -> Option<(SimFs, String)> {
        self.captured.lock().ok().and_then(|c| c.clone())
    }
}

impl Hook for CrashBefore {
    fn before(&self, op: &Op) -> io::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(io::Error::other("simulated crash: the process is gone"));
        }
        if op.kind.mutating() {
            let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.at {
                self.dead.store(true, Ordering::SeqCst);
                if let Ok(mut c) = self.captured.lock() {
                    *c = Some((self.disk.fork(), format!("step {n}: {op}")));
                }
                return Err(io::Error::other("simulated crash: the process is gone"));
            }
        }
        Ok(())
    }
}
