//! What reading the token settings through `AuthHandle` (a reload can replace them) costs per
//! request, next to authenticating with an `Arc<Authenticator>` fixed at start-up, as before.
//! Run: `cargo bench -p kpi-server --bench auth_cost`; results in docs/benchmarks.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use kpi_access::Role;
use kpi_server::{new_token, AuthHandle, Authenticator};

const CALLS: u32 = 2_000_000;

/// Runs `call` CALLS times on each of `threads` threads at once; nanoseconds per call per
/// thread (wall time over CALLS).
fn per_call(threads: usize, call: impl Fn() + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| (0..CALLS).for_each(|_| call()));
        }
    });
    started.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn main() {
    let issued: Vec<_> = ["viewer", "clerk", "ops"]
        .iter()
        .map(|name| new_token(Role::Recorder, name).unwrap())
        .collect();
    let entries: Vec<_> = issued.iter().map(|issued| issued.entry.clone()).collect();
    let header = format!("Bearer {}", issued[1].token);
    let fixed = Arc::new(Authenticator::new(&entries, false).unwrap());
    let handle = AuthHandle::new(Authenticator::new(&entries, false).unwrap());
    println!("ns per call, {CALLS} calls per thread, 3 tokens configured");
    println!("threads | Arc<Authenticator>.from_header | AuthHandle.current().from_header | current() alone");
    for threads in [1, 2] {
        for _round in 0..3 {
            let fixed = per_call(threads, || {
                black_box(fixed.from_header(Some(&header)).unwrap());
            });
            let reloadable = per_call(threads, || {
                black_box(handle.current().from_header(Some(&header)).unwrap());
            });
            let current = per_call(threads, || {
                black_box(handle.current());
            });
            println!("{threads} | {fixed:.0} | {reloadable:.0} | {current:.1}");
        }
    }
}
