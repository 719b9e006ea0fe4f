//! CPU accounting: the process's CPU (`getrusage`) and the load client's share of it (the
//! thread CPU clock around every poll of a client task), so CPU per request can be split
//! between the server and the client that shares its cores.

#![allow(unsafe_code)] // the per-thread and per-process CPU clocks are libc calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

/// CPU time used, by the whole process and by the load client. On 2 cores the process
/// cannot go faster than 2 s of CPU per second, so CPU per request bounds throughput.
#[derive(Clone, Copy, Default)]
pub(crate) struct CpuUsed {
    pub(crate) process: Duration,
    pub(crate) load_client: Duration,
}

impl CpuUsed {
    pub(crate) fn now() -> Self {
        Self {
            process: process_cpu(),
            load_client: Duration::from_nanos(CLIENT_CPU_NANOS.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn since(self, earlier: CpuUsed) -> CpuUsed {
        CpuUsed {
            process: self.process.saturating_sub(earlier.process),
            load_client: self.load_client.saturating_sub(earlier.load_client),
        }
    }
}

/// CPU the load client spent sending requests and reading and checking answers.
static CLIENT_CPU_NANOS: AtomicU64 = AtomicU64::new(0);

/// Off while the append ratio is measured: the two `clock_gettime` calls per poll are the
/// bench's own instrumentation (a few µs per request on this machine), not a cost of the
/// path under test, and the ratio table reports only the process's CPU.
pub(crate) static ACCOUNT_CLIENT_CPU: AtomicBool = AtomicBool::new(true);

/// Adds the CPU time of every poll of `F` (its syscalls included) to [`CLIENT_CPU_NANOS`]:
/// the client's share, even when its tasks share threads with the server's.
pub(crate) struct ClientCpu<F>(pub(crate) Pin<Box<F>>);

impl<F: Future> Future for ClientCpu<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        if !ACCOUNT_CLIENT_CPU.load(Ordering::Relaxed) {
            return self.0.as_mut().poll(cx);
        }
        let started = thread_cpu();
        let polled = self.0.as_mut().poll(cx);
        let spent = thread_cpu().saturating_sub(started);
        CLIENT_CPU_NANOS.fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
        polled
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes into `time`, which outlives the call.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// User and system CPU of the whole process, exited threads included.
fn process_cpu() -> Duration {
    // SAFETY: `getrusage` only writes into the struct it is handed, which outlives the call,
    // and an all-zero `rusage` is a valid value of that plain C struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(
            libc::getrusage(libc::RUSAGE_SELF, &mut usage),
            0,
            "getrusage"
        );
        usage
    };
    let seconds = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
