//! The purger gives back memory freed by a thread that then stays idle: without a later call
//! into mimalloc nothing would purge it. Linux only (reads VmRSS).
#![cfg(target_os = "linux")]
#![allow(unsafe_code)] // allocates and sets options through mimalloc's C API.

use std::time::{Duration, Instant};

/// mimalloc's `mi_option_purge_delay`, as in the crate.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MIB: usize = 1024 * 1024;
/// Allocated, touched and freed by the idle thread: far above the test process's own noise.
const BURST: usize = 256 * MIB;

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

#[test]
fn memory_freed_by_an_idle_thread_goes_back_to_the_os() {
    kpi_alloc::configure();
    // A short delay keeps the test short; the mechanism is the same at 10 s.
    // SAFETY: sets an option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 200) };
    let before = rss();

    // A thread allocates and frees a burst, then stays idle without exiting (a thread's exit
    // would hand its pages back by itself).
    let (freed_tx, freed_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let idle = std::thread::spawn(move || {
        let blocks: Vec<*mut u8> = (0..BURST / MIB)
            .map(|_| {
                // SAFETY: a fresh 1 MiB block, written in full so it is resident.
                let block = unsafe { libmimalloc_sys::mi_malloc(MIB) }.cast::<u8>();
                assert!(!block.is_null());
                unsafe { block.write_bytes(1, MIB) };
                block
            })
            .collect();
        let peak = rss();
        for block in blocks {
            // SAFETY: allocated above by mi_malloc, freed once.
            unsafe { libmimalloc_sys::mi_free(block.cast()) };
        }
        freed_tx.send(peak).unwrap();
        let _ = done_rx.recv();
    });
    let peak = freed_rx.recv().unwrap();
    assert!(
        peak >= before + BURST * 3 / 4,
        "the burst was resident: {} MiB before, {} MiB at the peak",
        before / MIB,
        peak / MIB
    );

    kpi_alloc::start_purger().unwrap();
    let started = Instant::now();
    let limit = before + BURST / 4;
    while rss() > limit && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = rss();
    done_tx.send(()).unwrap();
    idle.join().unwrap();
    assert!(
        after <= limit,
        "{} MiB still resident {:?} after freeing a {} MiB burst ({} MiB before it)",
        after / MIB,
        started.elapsed(),
        BURST / MIB,
        before / MIB
    );
}
