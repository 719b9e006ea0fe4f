//! Reading the whole log keeps no more in memory than `cache_capacity_bytes` says.
//!
//! Chunks of large events make leaves larger than sled's blob threshold (128 KiB), and sled
//! counted such a page at the size of its blob pointer, so a chain walk kept every leaf it
//! read (vendor/sled/PATCHED.md, "Cache budget"). This test binary counts live heap bytes
//! with its own allocator: nextest runs each test in a process of its own, so the count is
//! this test's alone.

#![allow(unsafe_code)] // a counting global allocator wraps the system's.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::stream;
use kpi_store::{EventStore, ExpectedVersion, NewEvent, Occurred, StoreConfig};
use serde_json::json;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc(layout);
        if !pointer.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = System.realloc(pointer, layout, new_size);
        if !moved.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;
const EVENTS: u32 = 50_000;
/// Text of 64 letters, 6 bits of entropy each: compression takes little off it.
const NOTE_CHARS: usize = 800;
const LETTERS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn large_event(n: u32, seed: &mut u64) -> NewEvent {
    let mut note = String::with_capacity(NOTE_CHARS);
    while note.len() < NOTE_CHARS {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        note.extend((0..10).map(|i| LETTERS[(*seed >> (6 * i)) as usize % 64] as char));
    }
    NewEvent::new(
        "SeminarHeld",
        "2024-06-14".parse::<Occurred>().unwrap(),
        "clerk:industry-policy",
        json!({"attendees": n, "note": note}),
    )
}

#[tokio::test]
async fn a_walk_of_the_whole_log_keeps_no_more_than_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        cache_capacity_bytes: 2 * MIB as u64,
        ..StoreConfig::default()
    };
    let store = EventStore::open(dir.path(), config.clone()).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    for group in 0..EVENTS / 1_000 {
        let events = (0..1_000)
            .map(|n| large_event(group * 1_000 + n, &mut seed))
            .collect();
        store
            .append(&stream(&format!("s-{group}")), ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    store.close().await;

    let store = EventStore::open(dir.path(), config).unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    let head = store.verify().expect("the log verifies");
    assert_eq!(head.position, u64::from(EVENTS));
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(before);

    let log_bytes = EVENTS as usize * NOTE_CHARS;
    // The walk read about 40 MiB of events. Besides the 2 MiB cache, pages paged out wait for
    // sled's epoch-based reclamation in bags of 64 (a few MiB of leaves); not the log.
    assert!(
        kept < log_bytes / 2,
        "a walk over {} MiB of events kept {:.1} MiB with a 2 MiB cache",
        log_bytes / MIB,
        kept as f64 / MIB as f64
    );
    store.close().await;
}
