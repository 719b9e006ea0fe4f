//! A throwaway PostgreSQL 15 cluster on a loopback port, for the store's tests and benches:
//! `initdb` and `pg_ctl` from Debian's `/usr/lib/postgresql/15/bin` in a temporary
//! directory (as the `postgres` user via `runuser` when run as root, since they refuse
//! root), stopped when the last handle is dropped.
//!
//! [`Cluster::shared`] hands every test of a process the same cluster while one is using it,
//! and [`Cluster::database`] a fresh database in it. Without the binaries it returns `None`
//! after saying so, unless `KPI_POSTGRES_REQUIRED=1` (CI), where it fails instead.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Cluster {
    dir: tempfile::TempDir,
    data: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
    databases: AtomicU32,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

impl Cluster {
    pub fn available() -> bool {
        ["initdb", "pg_ctl", "createdb"]
            .iter()
            .all(|program| Path::new(PG_BIN).join(program).exists())
    }

    /// Whether a test may run on PostgreSQL: the binaries are there; when they are not, says
    /// so and answers `false`, or fails when `KPI_POSTGRES_REQUIRED=1`.
    pub fn usable() -> bool {
        if Self::available() {
            return true;
        }
        let message = format!(
            "PostgreSQL 15 binaries not found under {PG_BIN} (apt-get install -y postgresql-15)"
        );
        assert!(!Self::required(), "KPI_POSTGRES_REQUIRED=1 but {message}");
        eprintln!("skipping the PostgreSQL run of this test: {message}");
        false
    }

    /// Whether the environment demands PostgreSQL tests run (CI).
    pub fn required() -> bool {
        std::env::var("KPI_POSTGRES_REQUIRED").is_ok_and(|value| value == "1")
    }

    /// The cluster of this process, started on first use; `None` (after a message) when
    /// PostgreSQL 15 is not installed and not required.
    pub fn shared() -> Option<Arc<Cluster>> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return Some(cluster);
        }
        if !Self::usable() {
            return None;
        }
        let cluster = Arc::new(Self::start().expect("the test PostgreSQL cluster starts"));
        *shared = Arc::downgrade(&cluster);
        Some(cluster)
    }

    pub fn start() -> Result<Self, String> {
        let as_postgres_user = is_root();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if as_postgres_user {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        let cluster = Self {
            dir,
            data,
            port,
            as_postgres_user,
            databases: AtomicU32::new(0),
        };
        cluster.init()?;
        start_server(as_postgres_user, &cluster.data, port, cluster.dir.path())?;
        Ok(cluster)
    }

    /// The data directory: a copy of a template cluster `initdb` made once for every test
    /// process of this user (`initdb` costs seconds, a copy a fraction of one), or a fresh
    /// `initdb` when the template cannot be had.
    fn init(&self) -> Result<(), String> {
        fresh_data(self.as_postgres_user, &self.data)
    }

    pub fn pg_command(&self, program: &str) -> Command {
        pg_command(self.as_postgres_user, program)
    }

    /// A libpq URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "kpi_test_{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        // Client programs run as anyone; only the server refuses root.
        run(Command::new(Path::new(PG_BIN).join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            &name,
        ]))
        .expect("createdb");
        self.url(&name)
    }

    /// Runs `sql` in database `url` with `psql` (for tests that damage a log on purpose).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        psql(url, sql).unwrap_or_else(|error| panic!("{error}"))
    }
}

/// Runs `sql` in database `url` with `psql`; what it printed (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(Path::new(PG_BIN).join("psql"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-d", url, "-c", sql])
        .output()
        .map_err(|error| format!("psql does not run: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop_server(self.as_postgres_user, &self.data);
    }
}

/// Starts the server of data directory `data` on `127.0.0.1:port`, its socket and log in
/// `dir`, and waits until it accepts connections.
pub fn start_server(
    as_postgres_user: bool,
    data: &Path,
    port: u16,
    dir: &Path,
) -> Result<(), String> {
    let options = format!(
        "-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c synchronous_commit=on \
         -c fsync=on -c max_connections=200",
        socket = dir.display()
    );
    run(pg_command(as_postgres_user, "pg_ctl")
        .arg("-D")
        .arg(data)
        .arg("-o")
        .arg(options)
        .arg("-l")
        .arg(dir.join(format!("server-{port}.log")))
        .args(["-w", "start"]))
}

pub fn stop_server(as_postgres_user: bool, data: &Path) {
    let stopped = run(pg_command(as_postgres_user, "pg_ctl")
        .arg("-D")
        .arg(data)
        // Nothing of a throwaway cluster needs a shutdown checkpoint.
        .args(["-m", "immediate", "-w", "stop"]));
    if let Err(error) = stopped {
        eprintln!("stopping the test PostgreSQL failed: {error}");
    }
}

/// A new data directory at `data`: a copy of the template, or made by `initdb`.
pub fn fresh_data(as_postgres_user: bool, data: &Path) -> Result<(), String> {
    match template(as_postgres_user) {
        Some(template) => run(Command::new("cp").arg("-a").arg(&template).arg(data))
            .and_then(|()| own(as_postgres_user, data)),
        None => initdb(as_postgres_user, data),
    }
}

/// The template data directory, made by the first process that needs it (the others wait
/// for it); `None` when it cannot be made.
fn template(as_postgres_user: bool) -> Option<PathBuf> {
    let user = if as_postgres_user { "root" } else { "user" };
    let base = std::env::temp_dir().join(format!("kpi-ledger-pg15-template-{user}"));
    let ready = base.join("ready");
    let data = base.join("data");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if ready.exists() {
            return Some(data);
        }
        // Whoever creates the directory makes the template.
        match std::fs::create_dir(&base) {
            Ok(()) => {
                let made =
                    own(as_postgres_user, &base).and_then(|()| initdb(as_postgres_user, &data));
                return match made
                    .and_then(|()| std::fs::write(&ready, b"").map_err(|e| e.to_string()))
                {
                    Ok(()) => Some(data),
                    Err(error) => {
                        eprintln!("no template cluster ({error}); running initdb");
                        let _ = std::fs::remove_dir_all(&base);
                        None
                    }
                };
            }
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(_) => return None,
        }
    }
}

pub fn pg_command(as_postgres_user: bool, program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    if as_postgres_user {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn initdb(as_postgres_user: bool, data: &Path) -> Result<(), String> {
    run(pg_command(as_postgres_user, "initdb")
        .arg("-D")
        .arg(data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
        // The catalog of a throwaway cluster need not reach the disk; the log's commits
        // still do (fsync and synchronous_commit stay on).
        .arg("--no-sync"))
}

pub fn own(as_postgres_user: bool, path: &Path) -> Result<(), String> {
    if as_postgres_user {
        run(Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(path))?;
    }
    Ok(())
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

pub fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
