//! Loads and measured runs: a [`Load`] (clients, requests each, closed loop or paced),
//! [`drive`] running it as one task per client and timing every operation, and [`Measured`]
//! with the rate, percentiles and CPU per operation read from a run; durations as printed.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cpu::CpuUsed;
use crate::metrics::ServerTimings;

/// A workload stops early when it runs this long, so one bench run stays within minutes.
const TIME_CAP: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
pub(crate) struct Load {
    pub(crate) clients: usize,
    /// Requests each client sends.
    pub(crate) each: usize,
    /// `None`: each client sends its next request as soon as the previous one is answered
    /// (closed loop, the server saturated). `Some(period)`: each client sends one request per
    /// period on a fixed schedule, and latency counts from the scheduled instant, so a
    /// server falling behind is charged for the wait (no coordinated omission).
    pub(crate) pace: Option<Duration>,
}

impl Load {
    pub(crate) const fn closed(clients: usize, each: usize) -> Self {
        Self {
            clients,
            each,
            pace: None,
        }
    }

    pub(crate) const fn paced(clients: usize, each: usize, period: Duration) -> Self {
        Self {
            clients,
            each,
            pace: Some(period),
        }
    }
}

/// One measured run: completed operations, their latencies, and the CPU they cost.
pub(crate) struct Measured {
    pub(crate) done: usize,
    elapsed: Duration,
    /// Sorted ascending.
    pub(crate) latencies: Vec<Duration>,
    cpu: CpuUsed,
    /// The server's view of the run, when it went over HTTP.
    pub(crate) server: Option<ServerTimings>,
}

impl Measured {
    fn collect(elapsed: Duration, per_client: Vec<Vec<Duration>>, cpu: CpuUsed) -> Self {
        let mut latencies: Vec<Duration> = per_client.into_iter().flatten().collect();
        latencies.sort_unstable();
        Self {
            done: latencies.len(),
            elapsed,
            latencies,
            cpu,
            server: None,
        }
    }

    pub(crate) fn mean(&self) -> Duration {
        self.latencies.iter().sum::<Duration>() / self.done.max(1) as u32
    }

    /// Process CPU per operation, and the load client's share of it.
    pub(crate) fn cpu_per_op(&self) -> (Duration, Duration) {
        let done = self.done.max(1) as u32;
        (self.cpu.process / done, self.cpu.load_client / done)
    }

    pub(crate) fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile.
    pub(crate) fn percentile(&self, q: f64) -> Duration {
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub(crate) fn capped_note(&self, planned: usize) -> String {
        if self.done < planned {
            format!(
                " (stopped at the {TIME_CAP:?} cap after {} of {planned})",
                self.done
            )
        } else {
            String::new()
        }
    }
}

/// Runs `load.clients` tasks, each doing `load.each` operations one after another (or until
/// the time cap), and times every operation.
pub(crate) async fn drive<F, Fut>(load: Load, operation: F) -> Measured
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + TIME_CAP;
    let cpu = CpuUsed::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..load.clients)
        .map(|client| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(load.each);
                // Paced clients start spread over one period, not all at once.
                let first = load
                    .pace
                    .map(|period| started + period * client as u32 / load.clients as u32);
                for n in 0..load.each {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = match (first, load.pace) {
                        (Some(first), Some(period)) => {
                            let scheduled = first + period * n as u32;
                            if Instant::now() >= scheduled {
                                // Behind schedule: the server's slowness, charged to it.
                                scheduled
                            } else {
                                // Tokio's timer wakes on millisecond ticks; that lateness is
                                // the client's, so timing starts at the actual send.
                                tokio::time::sleep_until(scheduled.into()).await;
                                Instant::now()
                            }
                        }
                        _ => Instant::now(),
                    };
                    operation(client, n).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut per_client = Vec::with_capacity(tasks.len());
    for task in tasks {
        per_client.push(task.await.expect("a load client panicked"));
    }
    let elapsed = started.elapsed();
    Measured::collect(elapsed, per_client, CpuUsed::now().since(cpu))
}

pub(crate) fn us(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

pub(crate) fn or_dash(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".into(), ms)
}
