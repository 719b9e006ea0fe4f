//! A PostgreSQL 15 primary with a synchronous standby on two loopback ports, for failover
//! tests: the test plays the failover manager (what Patroni does in production). It takes a
//! base backup of the primary for the standby (`pg_basebackup -R`), makes the standby
//! synchronous (`synchronous_standby_names = '*'`, `synchronous_commit = on`), kills the
//! primary's whole process tree with SIGKILL (the machine lost), promotes the standby, and
//! rebuilds the lost node as the new standby for the next cycle.
//!
//! Built on [`super::cluster`]'s node start and stop; skipped without PostgreSQL 15 as the
//! cluster is ([`Cluster::usable`]).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::cluster::{
    free_port, fresh_data, is_root, own, pg_command, psql, run, start_server, stop_server, Cluster,
    PG_BIN,
};

/// How long a standby may take to stream and become synchronous.
const SYNC_WITHIN: Duration = Duration::from_secs(60);

pub struct Replicated {
    dir: tempfile::TempDir,
    as_postgres_user: bool,
    ports: [u16; 2],
    /// Which node is the primary.
    primary: usize,
    /// Which nodes have a server running (or killed but not yet cleaned).
    running: [bool; 2],
}

impl Replicated {
    /// A primary alone (no standby yet); `None` when PostgreSQL 15 is not installed and not
    /// required.
    pub fn start() -> Option<Replicated> {
        if !Cluster::usable() {
            return None;
        }
        let as_postgres_user = is_root();
        let dir = tempfile::tempdir().expect("a temporary directory");
        own(as_postgres_user, dir.path()).expect("the directory is the postgres user's");
        let ports = [free_port().expect("a port"), free_port().expect("a port")];
        let mut pair = Replicated {
            dir,
            as_postgres_user,
            ports,
            primary: 0,
            running: [false; 2],
        };
        fresh_data(as_postgres_user, &pair.data(0)).expect("the primary's data directory");
        // A port found free may be taken before the server binds it (another test's cluster
        // or client; one CI run lost the primary's start this way): the first start tries
        // again on another port, which no URL has named yet.
        for attempt in 1.. {
            let started = start_server(
                as_postgres_user,
                &pair.data(0),
                pair.ports[0],
                pair.dir.path(),
            );
            match started {
                Ok(()) => break,
                Err(error) if attempt < 3 => {
                    eprintln!("node 0 did not start on port {}: {error}", pair.ports[0]);
                    pair.ports[0] = free_port().expect("a port");
                }
                Err(error) => panic!("node 0 starts: {error}"),
            }
        }
        pair.running[0] = true;
        Some(pair)
    }

    fn data(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("node-{node}"))
    }

    fn start_node(&mut self, node: usize) {
        start_server(
            self.as_postgres_user,
            &self.data(node),
            self.ports[node],
            self.dir.path(),
        )
        .unwrap_or_else(|error| panic!("node {node} starts: {error}"));
        self.running[node] = true;
    }

    fn standby(&self) -> usize {
        1 - self.primary
    }

    /// A URL of database `name` on node `node` alone.
    pub fn node_url(&self, node: usize, name: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{name}",
            self.ports[node]
        )
    }

    /// The URL the gateways use: both hosts, and only a primary accepted.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/{name}\
             ?target_session_attrs=read-write&connect_timeout=2",
            self.ports[0], self.ports[1]
        )
    }

    /// A URL of database `name` on the current primary.
    pub fn primary_url(&self, name: &str) -> String {
        self.node_url(self.primary, name)
    }

    /// Creates database `name` on the primary (before the standby is attached, or it
    /// arrives by replication).
    pub fn create_database(&self, name: &str) {
        run(Command::new(Path::new(PG_BIN).join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.ports[self.primary].to_string(),
            "-U",
            "postgres",
            name,
        ]))
        .expect("createdb");
    }

    /// Makes the other node a synchronous standby of the primary: a base backup into a
    /// fresh data directory (what was there, a killed primary's, is thrown away), started,
    /// named synchronous on the primary, and waited for until it streams as `sync` and has
    /// flushed everything the primary had committed by then.
    pub fn attach_standby(&mut self) {
        let standby = self.standby();
        let data = self.data(standby);
        if self.running[standby] {
            stop_server(self.as_postgres_user, &data);
            self.running[standby] = false;
        }
        if data.exists() {
            std::fs::remove_dir_all(&data).expect("the old node's data directory is removed");
        }
        run(pg_command(self.as_postgres_user, "pg_basebackup")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.ports[self.primary].to_string())
            .args(["-U", "postgres", "-R", "-X", "stream", "-c", "fast"]))
        .expect("pg_basebackup");
        self.start_node(standby);
        let primary = self.primary_url("postgres");
        psql(&primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
            .and_then(|_| psql(&primary, "SELECT pg_reload_conf()"))
            .expect("the standby is named synchronous");
        let started = Instant::now();
        let mut flushed_to: Option<String> = None;
        loop {
            let state = psql(
                &primary,
                "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'",
            )
            .unwrap_or_default();
            if state == "sync" {
                // Everything committed before the standby became synchronous must be on it
                // too before the primary may be lost.
                let target = flushed_to.get_or_insert_with(|| {
                    psql(&primary, "SELECT pg_current_wal_lsn()").expect("the primary's LSN")
                });
                let caught_up = psql(
                    &primary,
                    &format!("SELECT flush_lsn >= '{target}'::pg_lsn FROM pg_stat_replication"),
                )
                .unwrap_or_default();
                if caught_up == "t" {
                    return;
                }
            }
            assert!(
                started.elapsed() < SYNC_WITHIN,
                "the standby is not synchronous within {SYNC_WITHIN:?} (sync_state {state:?})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replication stalls, as over a broken network: the primary's WAL senders are stopped
    /// (SIGSTOP) until the primary is killed. With a synchronous standby, commits on the
    /// primary wait meanwhile and none is acknowledged; with an asynchronous one they would be
    /// acknowledged and lost with the primary.
    pub fn stall_replication(&self) {
        let senders: Vec<u32> = self
            .process_tree(self.primary)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("walsender"))
            })
            .collect();
        assert!(!senders.is_empty(), "the primary has a WAL sender");
        signal("STOP", &senders);
    }

    /// The postmaster of `node` and its children.
    fn process_tree(&self, node: usize) -> Vec<u32> {
        let pid = std::fs::read_to_string(self.data(node).join("postmaster.pid"))
            .expect("the node's postmaster.pid")
            .lines()
            .next()
            .and_then(|line| line.trim().parse::<u32>().ok())
            .expect("a pid on the first line of postmaster.pid");
        let mut tree = vec![pid];
        tree.extend(children_of(pid));
        tree
    }

    /// The primary's machine is lost: the postmaster and every backend stopped at once
    /// (SIGSTOP, so none finishes anything), then SIGKILL. Killing only the postmaster would
    /// leave backends that notice its death late, and one waiting for the synchronous
    /// standby would then end its transaction visibly to the others without the standby
    /// having it.
    pub fn kill_primary(&mut self) {
        let tree = self.process_tree(self.primary);
        let pid = tree[0];
        // The postmaster first, so it starts no process the list would miss.
        signal("STOP", &[pid]);
        let tree = self.process_tree(self.primary);
        signal("STOP", &tree);
        signal("KILL", &tree);
        let started = Instant::now();
        while tree
            .iter()
            .any(|pid| stat(*pid).is_some_and(|(state, _)| state != 'Z'))
            && started.elapsed() < SYNC_WITHIN
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The node is down; its directory is replaced at the next `attach_standby`.
        self.running[self.primary] = false;
    }

    /// `pg_ctl promote` of the standby, which becomes the primary and commits without a
    /// standby until the next [`attach_standby`](Self::attach_standby) names one.
    pub fn promote(&mut self) {
        let standby = self.standby();
        run(pg_command(self.as_postgres_user, "pg_ctl")
            .arg("-D")
            .arg(self.data(standby))
            .args(["-w", "-t", "60", "promote"]))
        .expect("pg_ctl promote");
        self.primary = standby;
        let primary = self.primary_url("postgres");
        psql(&primary, "ALTER SYSTEM RESET synchronous_standby_names")
            .and_then(|_| psql(&primary, "SELECT pg_reload_conf()"))
            .expect("the new primary waits for no standby");
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for node in 0..2 {
            if self.running[node] {
                stop_server(self.as_postgres_user, &self.data(node));
            }
        }
    }
}

/// Sends signal `name` to each of `pids` (processes this test started, by id).
fn signal(name: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .status();
}

/// The processes whose parent is `pid` (a postmaster's backends and workers).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| stat(*child).is_some_and(|(_, parent)| parent == pid))
        .collect()
}

/// The state (`Z` for a zombie, dead but not reaped) and parent of process `pid`, if it
/// exists.
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces, so read after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}
