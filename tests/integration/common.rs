//! Fixtures: storage directories exactly as the Python application writes
//! them, built by hand here (not with graphvault's writer) so the tests
//! check graphvault against the real format.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use graphvault::store::fs::{DirEntryInfo, Fs, LockError, LockHandle, ReadFile, RealFs, WriteFile};

use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A graph in the application's layout: `indent=2`, no trailing newline,
/// version 1 or 2 key orders, `NaN` in a payload when `nan` is set, an
/// unknown key in a node and at top level.
pub fn app_graph(nodes: usize, version: u32, nan: bool, salt: &str) -> String {
    let mut s = String::from("{\n");
    if version == 2 {
        s.push_str("  \"version\": 2,\n");
    }
    s.push_str("  \"nodes\": {");
    let edge_id = |i: usize| format!("edge_{:08x}", 0x1000_0000 + i);
    for i in 0..nodes {
        let id = format!("N{i}");
        let out: Vec<String> = if i + 1 < nodes {
            vec![edge_id(i)]
        } else {
            vec![]
        };
        let inn: Vec<String> = if i > 0 { vec![edge_id(i - 1)] } else { vec![] };
        let list = |v: &[String]| {
            if v.is_empty() {
                "[]".to_string()
            } else {
                format!("[\n        \"{}\"\n      ]", v.join("\",\n        \""))
            }
        };
        let price = if nan && i == 0 {
            "NaN".to_string()
        } else {
            format!("{}.5", 100 + i)
        };
        let _ = write!(
            s,
            "{}\n    \"{id}\": {{\n      \"id\": \"{id}\",\n      \"type\": \"{}\",\n      \"data\": {{\n        \"symbol\": \"{id}{salt}\",\n        \"price\": {price},\n        \"name\": \"Soci\\u00e9t\\u00e9 {i}\"\n      }},\n      \"created\": \"2025-10-03T00:05:41.999417\",\n      \"modified\": \"2025-10-03T00:05:41.999426\",\n      \"connections_in\": {},\n      \"connections_out\": {},\n      \"metadata\": {{\n        \"access_count\": 0,\n        \"last_accessed\": null,\n        \"confidence\": 1.0\n      }},\n      \"x_custom\": \"kept\"\n    }}",
            if i == 0 { "" } else { "," },
            if i % 2 == 0 { "stock" } else { "sector" },
            list(&inn),
            list(&out),
        );
    }
    s.push_str(if nodes == 0 { "},\n" } else { "\n  },\n" });
    s.push_str("  \"edges\": [");
    for i in 0..nodes.saturating_sub(1) {
        let (from, to) = (format!("N{i}"), format!("N{}", i + 1));
        let head = if version == 2 {
            format!(
                "\"from\": \"{from}\",\n      \"to\": \"{to}\",\n      \"id\": \"{}\"",
                edge_id(i)
            )
        } else {
            format!(
                "\"id\": \"{}\",\n      \"from\": \"{from}\",\n      \"to\": \"{to}\"",
                edge_id(i)
            )
        };
        let _ = write!(
            s,
            "{}\n    {{\n      {head},\n      \"type\": \"sector_peer\",\n      \"strength\": 0.8,\n      \"metadata\": {{}},\n      \"created\": \"2025-10-03T00:05:41.999439\",\n      \"activations\": 0\n    }}",
            if i == 0 { "" } else { "," }
        );
    }
    s.push_str(if nodes > 1 { "\n  ],\n" } else { "],\n" });
    s.push_str("  \"patterns\": {},\n  \"forecasts\": {},\n  \"metadata\": {\n    \"last_saved\": \"2025-10-03T00:05:41.999491\",\n");
    if version == 2 {
        s.push_str("    \"backend\": \"networkx\",\n");
    }
    let edges = nodes.saturating_sub(1);
    let _ = write!(
        s,
        "    \"stats\": {{\n      \"total_nodes\": {nodes},\n      \"total_edges\": {edges},\n      \"total_patterns\": 0,\n      \"node_types\": {{}},\n      \"edge_types\": {{}},\n      \"avg_connections\": 0.5\n    }}\n  }},\n  \"x_top_level\": [\n    1,\n    2\n  ]\n}}"
    );
    s
}

/// The application's meta for `bytes`: legacy zero counts unless `counts`.
pub fn app_meta(bytes: &[u8], counts: Option<(usize, usize)>) -> String {
    let (n, e) = counts.unwrap_or((0, 0));
    format!(
        "{{\n  \"timestamp\": \"2025-10-03T00:04:32.883824\",\n  \"checksum\": \"{}\",\n  \"node_count\": {n},\n  \"edge_count\": {e},\n  \"graph_version\": \"1.0\",\n  \"saved_by\": \"DawsOS PersistenceManager\"\n}}",
        sha256(bytes)
    )
}

/// How a fixture backup's meta is named.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MetaName {
    /// `graph_<ts>.meta`, what the application writes.
    Meta,
    /// `graph_<ts>.json.meta`, what it looked for.
    JsonMeta,
    None,
}

/// A storage directory as the application leaves it.
pub struct AppStore {
    pub dir: tempfile::TempDir,
}

impl AppStore {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn primary(&self) -> PathBuf {
        self.root().join("graph.json")
    }

    pub fn primary_meta(&self) -> PathBuf {
        self.root().join("graph.json.meta")
    }

    pub fn backups(&self) -> PathBuf {
        self.root().join("backups")
    }

    pub fn open(&self) -> graphvault::store::Store {
        graphvault::store::Store::open(self.root()).expect("open store")
    }

    pub fn write_primary(&self, text: &str, meta: bool) {
        fs::write(self.primary(), text).expect("write primary");
        if meta {
            fs::write(self.primary_meta(), app_meta(text.as_bytes(), None)).expect("write meta");
        }
    }

    pub fn add_backup(&self, ts: &str, text: &str, meta: MetaName) -> String {
        let id = format!("graph_{ts}");
        fs::write(self.backups().join(format!("{id}.json")), text).expect("write backup");
        let m = app_meta(text.as_bytes(), None);
        match meta {
            MetaName::Meta => {
                fs::write(self.backups().join(format!("{id}.meta")), m).expect("meta")
            }
            MetaName::JsonMeta => {
                fs::write(self.backups().join(format!("{id}.json.meta")), m).expect("meta")
            }
            MetaName::None => {}
        }
        id
    }

    pub fn mark_sandbox(&self) {
        self.open().mark_sandbox("test").expect("mark sandbox");
    }
}

/// An application storage directory with a primary (5 nodes, v2, NaN),
/// four backups (both meta names, one without meta), and the other things
/// the application leaves in `backups/`.
pub fn app_store() -> AppStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = AppStore { dir };
    fs::create_dir_all(s.backups()).expect("backups dir");
    for other in ["sessions", "workflows", "patterns"] {
        fs::create_dir_all(s.root().join(other)).expect("app dir");
    }
    s.write_primary(&app_graph(5, 2, true, ""), true);
    s.add_backup(
        "20251001_100000",
        &app_graph(2, 1, false, "a"),
        MetaName::Meta,
    );
    s.add_backup(
        "20251002_100000",
        &app_graph(3, 2, false, "b"),
        MetaName::JsonMeta,
    );
    s.add_backup(
        "20251003_100000",
        &app_graph(4, 2, true, "c"),
        MetaName::Meta,
    );
    s.add_backup(
        "20251003_100500",
        &app_graph(4, 2, false, "d"),
        MetaName::None,
    );
    fs::create_dir_all(s.backups().join("20251001_161329")).expect("stray dir");
    fs::create_dir_all(s.backups().join("backup_20251001_161329")).expect("stray dir");
    fs::write(
        s.backups().join("backup_20251001_161329/manifest.json"),
        "{}",
    )
    .expect("manifest");
    fs::write(s.backups().join(".gitkeep"), "").expect("gitkeep");
    s
}

/// A fresh empty store directory.
pub fn empty_store() -> AppStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = AppStore { dir };
    fs::create_dir_all(s.root()).expect("root");
    s
}

/// Every file under `dir`, relative, with its bytes: to prove "nothing changed".
pub fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p.strip_prefix(dir).expect("under dir").to_path_buf();
                // The lock file's holder text changes with every locker,
                // and the memo of verified content is a cache that readers
                // add to (store::memo): neither is the store's content.
                if rel.ends_with(".graphvault/lock") || rel.starts_with(".graphvault/memo") {
                    continue;
                }
                out.push((rel, fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// Runs the `graphvault` binary on `store` with `args`.
pub fn gv(store: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run graphvault")
}

/// The real filesystem with chosen faults: a fixed free space, and a
/// rename onto one path that fails as a full disk would make it fail.
#[derive(Debug, Default)]
pub struct FakeDisk {
    pub free: Option<u64>,
    pub failing_rename_to: Option<PathBuf>,
    /// Hard links into this directory fail (a new backup cannot be
    /// published there).
    pub failing_links_into: Option<PathBuf>,
    /// Every file whose bytes were read, once per opening, in order.
    pub reads: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>,
}

/// A reader that logs its path at its first read of any bytes.
struct LoggedRead {
    inner: Box<dyn std::io::Read + Send>,
    path: Option<PathBuf>,
    log: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>,
}

impl std::io::Read for LoggedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0
            && let Some(path) = self.path.take()
        {
            self.log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(path);
        }
        Ok(n)
    }
}

impl FakeDisk {
    pub fn free(bytes: u64) -> Self {
        FakeDisk {
            free: Some(bytes),
            ..FakeDisk::default()
        }
    }

    pub fn failing_rename_to(path: PathBuf) -> Self {
        FakeDisk {
            failing_rename_to: Some(path),
            ..FakeDisk::default()
        }
    }
}

impl Fs for FakeDisk {
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn WriteFile>> {
        RealFs.create_new(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        if self.failing_rename_to.as_deref() == Some(to) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        RealFs.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        if self.failing_links_into.as_deref() == to.parent() {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        RealFs.hard_link(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn open_read(&self, path: &Path, max_len: u64) -> std::io::Result<ReadFile> {
        let file = RealFs.open_read(path, max_len)?;
        Ok(ReadFile {
            reader: Box::new(LoggedRead {
                inner: file.reader,
                path: Some(path.to_path_buf()),
                log: std::sync::Arc::clone(&self.reads),
            }),
            len: file.len,
        })
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<DirEntryInfo>> {
        RealFs.read_dir(dir)
    }
    fn entry(&self, path: &Path) -> std::io::Result<DirEntryInfo> {
        RealFs.entry(path)
    }
    fn file_stat(&self, path: &Path) -> std::io::Result<graphvault::store::fs::FileStat> {
        RealFs.file_stat(path)
    }
    fn try_lock(&self, path: &Path, holder: &str) -> Result<Box<dyn LockHandle>, LockError> {
        RealFs.try_lock(path, holder)
    }
    fn lock_holder(&self, path: &Path) -> std::io::Result<Option<String>> {
        RealFs.lock_holder(path)
    }
    fn free_space(&self, path: &Path) -> Option<u64> {
        self.free.or_else(|| RealFs.free_space(path))
    }
}
