//! Power-cut test of the event store: what `kill -9` cannot show. A killed process leaves
//! its writes in the kernel's page cache, so a flush that never reached the disk still
//! passes the SIGKILL test (`crash.rs`). Here the store runs on `powercut_fs`, a FUSE
//! filesystem (in the manner of LazyFS) that keeps every write in memory until the file is
//! fsynced or fdatasynced and drops whatever is unsynced when the power is cut.
//!
//! Each cycle mounts the filesystem over a backing directory, runs the appending child
//! (`crash_appender`: 8 concurrent tasks, batches of 1 to 3 events, now and then an event
//! large enough for sled to keep it in a blob file, every acknowledged envelope printed) on
//! it, cuts the power at a random moment while it appends, then kills it: the backing
//! directory holds exactly what a disk would have kept. The store is reopened
//! from it and must verify, hold every acknowledged event once, unchanged, at its position,
//! and no partial batch. `the_layer_drops_unsynced_writes` shows that the filesystem really
//! loses unsynced data, so that the store test can fail.
//!
//! Needs root and `/dev/fuse`; without them both tests say so and skip (they fail instead when
//! `KPI_POWERCUT_REQUIRED` is set, as `.ci/run` does). 20 cycles by default;
//! `KPI_POWERCUT_CYCLES=200 cargo nextest run -p kpi-tests --test powercut` for more.
//! Results: docs/reliability.md.

#![allow(unsafe_code)] // geteuid, umount2 and kill are libc calls.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kpi_store::Envelope;
use kpi_tests::crash::{check_store, read_output, record, spawn_appender};
use rand::Rng as _;

const DEFAULT_CYCLES: usize = 20;
/// One cycle in this many cuts the power this long after the appender started, inside
/// opening (recovering, and in the first cycle creating) the store or just after it.
const EARLY_ONE_IN: u32 = 5;
const EARLY_CUT_MS: std::ops::Range<u64> = 0..300;
/// The others cut it this long after the appender reported the store open.
const CUT_AFTER_OPEN_MS: std::ops::Range<u64> = 20..800;
/// How long the appender may take to open the store (a slow, loaded CI machine).
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// Every this many appends, one task appends an event of about 160 KiB, which sled keeps in
/// a blob file of its own: that path has its own syncs.
const LARGE_EVERY: &str = "25";

fn cycles() -> usize {
    match std::env::var("KPI_POWERCUT_CYCLES") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("KPI_POWERCUT_CYCLES={text:?} is not a count")),
        Err(_) => DEFAULT_CYCLES,
    }
}

/// Why FUSE cannot be used here, if it cannot: the only reason these tests skip.
fn fuse_unavailable() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (powercut_fs mounts with mount(2), which needs root)");
    }
    None
}

/// Skips the test, saying why, when FUSE is unavailable, unless `KPI_POWERCUT_REQUIRED`
/// is set (CI sets it: there the test must run).
macro_rules! require_fuse {
    ($test:literal) => {
        if let Some(reason) = fuse_unavailable() {
            if std::env::var_os("KPI_POWERCUT_REQUIRED").is_some() {
                panic!(
                    "{}: FUSE is unavailable ({reason}) but KPI_POWERCUT_REQUIRED is set",
                    $test
                );
            }
            eprintln!("SKIPPED {}: FUSE is unavailable: {reason}", $test);
            return;
        }
    };
}

/// What the filesystem said it dropped at the power cut.
#[derive(Debug, Default)]
struct Cut {
    unsynced_bytes: u64,
    unsynced_files: u64,
    syncs: u64,
}

/// A mounted `powercut_fs`. Dropping it without `cut` kills it and detaches the mount.
struct Mount {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    mountpoint: PathBuf,
}

impl Mount {
    fn new(backing: &Path, mountpoint: &Path) -> Mount {
        let mut child = Command::new(env!("CARGO_BIN_EXE_powercut_fs"))
            .arg(backing)
            .arg(mountpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("powercut_fs starts");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "MOUNTED",
            "powercut_fs did not mount (its error is above); exit: {:?}",
            child.wait()
        );
        Mount {
            child,
            stdin,
            stdout,
            mountpoint: mountpoint.to_owned(),
        }
    }

    /// The power cut: the filesystem drops everything unsynced, detaches and exits. Any
    /// operation still in flight through it fails.
    fn cut(mut self) -> Cut {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(b"CUT\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "powercut_fs at the cut: {status}");
        let mut cut = Cut::default();
        for field in line
            .trim()
            .strip_prefix("CUT ")
            .expect("a CUT line")
            .split(' ')
        {
            let (name, value) = field.split_once('=').unwrap();
            let value = value.parse().unwrap();
            match name {
                "unsynced_bytes" => cut.unsynced_bytes = value,
                "unsynced_files" => cut.unsynced_files = value,
                "syncs" => cut.syncs = value,
                other => panic!("unknown field {other} in {line:?}"),
            }
        }
        cut
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A dead FUSE daemon leaves its mount behind; a cut one has detached it already.
        if let Ok(path) = CString::new(self.mountpoint.as_os_str().as_bytes()) {
            // SAFETY: a valid C string; failing (nothing mounted) is fine.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn sync_file_range(file: &File) {
    // What sled 0.34.7 ran after each write in place of fsync (vendor/sled/PATCHED.md).
    // SAFETY: a valid descriptor; the whole file.
    let ret = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            0,
            0,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
    };
    assert_eq!(
        ret,
        0,
        "sync_file_range: {}",
        std::io::Error::last_os_error()
    );
}

/// The control: without it a filesystem that kept everything would pass the store test.
/// Only fsync/fdatasync make data durable; unsynced appends, overwrites, truncations, new
/// files and `sync_file_range` are lost at the cut, while reads before it see them.
#[test]
fn the_layer_drops_unsynced_writes() {
    require_fuse!("the_layer_drops_unsynced_writes");
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("backing");
    let mnt = dir.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();

    let mount = Mount::new(&backing, &mnt);
    {
        let mut synced = File::create(mnt.join("synced")).unwrap();
        synced.write_all(b"durable").unwrap();
        synced.sync_all().unwrap();
        synced.write_all(b" and then lost").unwrap();
        synced.write_all_at(b"D", 0).unwrap();

        let mut data_synced = File::create(mnt.join("data_synced")).unwrap();
        data_synced.write_all(&big).unwrap();
        data_synced.sync_data().unwrap();
        data_synced.set_len(100).unwrap();

        let mut never = File::create(mnt.join("never_synced")).unwrap();
        never.write_all(b"never synced").unwrap();

        fs::create_dir(mnt.join("dir")).unwrap();
        let mut ranged = File::create(mnt.join("dir/range_synced")).unwrap();
        ranged.write_all(&big).unwrap();
        sync_file_range(&ranged);

        // Before the cut every write is visible.
        assert_eq!(
            fs::read(mnt.join("synced")).unwrap(),
            b"Durable and then lost"
        );
        assert_eq!(fs::read(mnt.join("data_synced")).unwrap(), &big[..100]);
        assert_eq!(fs::read(mnt.join("never_synced")).unwrap(), b"never synced");
        assert_eq!(fs::read(mnt.join("dir/range_synced")).unwrap(), big);
        // Nothing unsynced has reached the backing directory.
        assert_eq!(fs::read(backing.join("synced")).unwrap(), b"durable");
        assert_eq!(fs::read(backing.join("data_synced")).unwrap(), big);
    }
    let cut = mount.cut();
    assert_eq!(cut.unsynced_files, 4, "{cut:?}");
    assert!(cut.unsynced_bytes > 0, "{cut:?}");
    assert_eq!(cut.syncs, 2, "{cut:?}");

    let survived = |root: &Path| {
        assert_eq!(fs::read(root.join("synced")).unwrap(), b"durable");
        assert_eq!(fs::read(root.join("data_synced")).unwrap(), big);
        // Created entries are kept (metadata is not modelled), their data is not.
        assert_eq!(fs::read(root.join("never_synced")).unwrap(), b"");
        assert_eq!(fs::read(root.join("dir/range_synced")).unwrap(), b"");
    };
    survived(&backing);
    // Mounted again, the filesystem shows the same.
    let mount = Mount::new(&backing, &mnt);
    survived(&mnt);
    // And a sync after the remount makes new writes durable.
    {
        let mut file = OpenOptions::new()
            .append(true)
            .open(mnt.join("synced"))
            .unwrap();
        file.write_all(b" again").unwrap();
        file.sync_all().unwrap();
    }
    let cut = mount.cut();
    assert_eq!(cut.unsynced_files, 0, "{cut:?}");
    assert_eq!(fs::read(backing.join("synced")).unwrap(), b"durable again");
}

#[test]
fn acknowledged_events_survive_power_cuts() {
    require_fuse!("acknowledged_events_survive_power_cuts");
    let cycles = cycles();
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("backing");
    let mnt = dir.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let mut rng = rand::thread_rng();
    let mut acknowledged: BTreeMap<u64, Envelope> = BTreeMap::new();
    let mut cycles_with_acks = 0;
    let mut cycles_with_unsynced = 0;
    let mut syncs = 0;
    let started = Instant::now();
    for cycle in 0..cycles {
        let mount = Mount::new(&backing, &mnt);
        let mut child = spawn_appender(
            env!("CARGO_BIN_EXE_crash_appender"),
            &mnt.join("store"),
            &format!("run{cycle}"),
            &[("CRASH_APPENDER_LARGE_EVERY", LARGE_EVERY)],
        );
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (opened_tx, opened_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || read_output(stdout, Some(opened_tx)));
        let when = if rng.gen_ratio(1, EARLY_ONE_IN) {
            let after = Duration::from_millis(rng.gen_range(EARLY_CUT_MS));
            std::thread::sleep(after);
            format!("{after:?} after start")
        } else {
            // An Err here is a child that died or hung before opening: reported below.
            let _ = opened_rx.recv_timeout(OPEN_TIMEOUT);
            let after = Duration::from_millis(rng.gen_range(CUT_AFTER_OPEN_MS));
            std::thread::sleep(after);
            format!("{after:?} after open")
        };
        if let Some(status) = child.try_wait().unwrap() {
            let mut message = String::new();
            stderr.read_to_string(&mut message).unwrap();
            panic!("cycle {cycle}: crash_appender exited by itself ({status}): {message}");
        }
        // The power goes while the appender runs, whatever it is writing or syncing; from
        // then on its every file operation fails. Then it is killed.
        let cut = mount.cut();
        child.kill().expect("SIGKILL is delivered");
        child.wait().unwrap();
        let output = reader.join().expect("the output reader finished");
        if !output.acknowledged.is_empty() {
            cycles_with_acks += 1;
        }
        if cut.unsynced_bytes > 0 {
            cycles_with_unsynced += 1;
        }
        syncs += cut.syncs;
        let opened = output.opened;
        let acked_now = output.acknowledged.len();
        record(&mut acknowledged, output, cycle);
        // The backing directory is the disk after the power came back.
        let last = check_store(&backing.join("store"), &acknowledged, cycle);
        eprintln!(
            "cycle {cycle}: cut {when} (opened: {opened}), {acked_now} acknowledged, \
             {} bytes in {} files dropped, {} syncs; log has {last} events, {} acknowledged so \
             far, none lost",
            cut.unsynced_bytes,
            cut.unsynced_files,
            cut.syncs,
            acknowledged.len()
        );
    }
    assert!(
        cycles_with_acks * 2 >= cycles,
        "only {cycles_with_acks} of {cycles} cycles acknowledged anything; the test proved little"
    );
    let large = acknowledged
        .values()
        .filter(|e| e.payload.get("padding").is_some())
        .count();
    assert!(
        large > 0 || cycles < 5,
        "no large event was acknowledged: sled's blob path went untested"
    );
    eprintln!(
        "powercut: {cycles} cycles in {:?}: {} events acknowledged ({large} large), 0 lost; \
         unsynced data dropped in {cycles_with_unsynced} cycles; {syncs} syncs",
        started.elapsed(),
        acknowledged.len()
    );
}
