//! kpi-alloc: the allocator of the kpi-ledger process (and of the benchmarks, so they measure
//! what the binary runs).
//!
//! mimalloc (libmimalloc-sys 0.1.49 builds mimalloc 3.3.2), because a replay and every request
//! allocate many short strings, where glibc's allocator costs a third of a cold replay
//! (docs/benchmarks.md).
//!
//! Freed memory goes back to the OS ("purged") once it has stayed unused for
//! [`PURGE_DELAY_MS`] (10 s; [`configure`] sets it, mimalloc's own default is 1 s), so a heavy
//! request, a start-up replay or an export leaves no lasting peak behind. mimalloc only
//! purges when some thread calls into it after the delay has passed; a server that has gone
//! quiet makes no such call, so `serve` also runs [`start_purger`], a thread that does so
//! every [`PURGE_CHECK`]. Memory still held by a thread's own free pages comes back when that
//! thread allocates again or exits (Tokio's blocking threads exit after 10 s idle), and then
//! after the delay. `MIMALLOC_PURGE_DELAY` (milliseconds; `-1` never, `0` at once) in the
//! environment overrides the delay.
//!
//! Until 2026-12 the delay was "never": giving pages back with transparent huge pages cost a
//! sixth of the append path's CPU then (kernel page zeroing). With the durable flush of today's
//! store the same measurement shows no difference between never, 1 s and 10 s, and never kept
//! every peak resident for good (docs/benchmarks.md, "Memory").

#![allow(unsafe_code)] // mimalloc's options are set and read through its C API.

use std::time::Duration;

/// Install with `#[global_allocator] static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;`
pub use mimalloc::MiMalloc as Allocator;

/// How long freed memory stays unused before it goes back to the OS: 10 s.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// How often [`start_purger`]'s thread lets mimalloc purge what has passed its delay.
pub const PURGE_CHECK: Duration = Duration::from_secs(1);

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers; the crate
/// names only some options).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's defaults; call first thing in `main`, before other threads start.
pub fn configure() {
    // SAFETY: sets a default option value; mimalloc reads options atomically and the
    // environment variable still takes precedence.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS as _) };
}

/// For a batch command (`import`): freed memory goes back to the OS at once, so the process's
/// peak is what it holds rather than what it churned through in the last 10 s (at 1,000,000
/// imported events, 601 MiB against 873 MiB with the server's delay). A server keeps
/// [`PURGE_DELAY_MS`]: it reuses what it frees. `MIMALLOC_PURGE_DELAY` still wins.
pub fn purge_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    }
}

/// The purge delay in force, in milliseconds (negative: never): `MIMALLOC_PURGE_DELAY` if set,
/// else [`PURGE_DELAY_MS`] once [`configure`] ran, else mimalloc's default.
#[allow(clippy::useless_conversion)] // a C long is an i64 here, an i32 on some targets
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads an option.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }.into()
}

/// Gives back to the OS the freed memory that has stayed unused for the purge delay, and
/// returns the calling thread's empty pages to the shared arenas (where they wait out the
/// delay in turn). Cheap when there is nothing to do.
pub fn purge_expired() {
    // SAFETY: `mi_collect(false)` only frees pages without live blocks and purges expired
    // arena ranges; it is meant to be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

/// Starts a thread (`kpi-alloc-purge`) that calls [`purge_expired`] every [`PURGE_CHECK`] for
/// the rest of the process, so memory freed before the process went idle still goes back.
pub fn start_purger() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("kpi-alloc-purge".into())
        .spawn(|| {
            // A thread that never allocated has no heap of its own, and mimalloc's collect
            // returns early on such a thread: give it one.
            // SAFETY: initialises the calling thread's allocator state; idempotent.
            unsafe { libmimalloc_sys::mi_thread_init() };
            loop {
                std::thread::sleep(PURGE_CHECK);
                purge_expired();
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn configure_sets_the_purge_delay_unless_the_environment_does() {
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(value) => {
                let value: i64 = value
                    .trim()
                    .parse()
                    .expect("MIMALLOC_PURGE_DELAY is a number of milliseconds");
                super::configure();
                // The operator's setting wins over the default.
                assert_eq!(super::purge_delay_ms(), value);
            }
            Err(_) => {
                // purge_delay's default in mimalloc v3 (src/options.c) is 1000 ms: the index is
                // the right option.
                assert_eq!(super::purge_delay_ms(), 1000);
                super::configure();
                assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
                super::purge_at_once();
                assert_eq!(super::purge_delay_ms(), 0);
            }
        }
    }
}
