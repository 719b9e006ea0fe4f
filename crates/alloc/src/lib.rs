//! kpi-alloc: the allocator of the kpi-ledger process (and of the benchmarks, so they measure
//! what the binary runs).
//!
//! mimalloc, because a replay and every request allocate many short strings, where glibc's
//! allocator costs a third of a cold replay (docs/benchmarks.md). [`configure`] makes it keep
//! freed memory instead of returning it to the OS a second later (mimalloc v3's default): with transparent huge pages,
//! each page given back and taken again is a 2 MiB page zeroed by the kernel, which cost a
//! sixth of the CPU of the append path (sled allocates a zeroed I/O buffer per flush). The
//! price is that the process keeps its peak heap (e.g. after the start-up replay) as resident
//! memory, reused for later allocations. `MIMALLOC_PURGE_DELAY` (milliseconds; `-1` never)
//! in the environment overrides this default.

#![allow(unsafe_code)] // mimalloc's options are set and read through its C API.

/// Install with `#[global_allocator] static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;`
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers; the crate
/// names only some options).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's defaults; call first thing in `main`, before other threads start.
pub fn configure() {
    // SAFETY: sets a default option value; mimalloc reads options atomically and the
    // environment variable still takes precedence.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_default_becomes_never() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        // purge_delay's default in mimalloc v3 (src/options.c) is 1000 ms: the index is the
        // right option.
        assert_eq!(get(), 1000);
        super::configure();
        assert_eq!(get(), -1);
    }
}
