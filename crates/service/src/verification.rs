//! Whole walks of the hash chain while the ledger serves: one at a time, shared, kept per head,
//! stopped when nobody waits.
//!
//! A walk reads and hash-checks every event, so it costs the whole log (seconds on a million
//! events). Every walk goes through one [`Verifier`]: the `verification` query of any number
//! of callers, and the periodic walk of `serve` (`[ledger] verify_every_secs`).
//!
//! - **One walk at a time.** A single driver runs the walks one after another on a blocking
//!   thread.
//! - **Shared.** A caller who asks while a walk of the same head runs waits for that walk; one
//!   who asks while a walk of an older head runs waits for the *next* walk, which every such
//!   caller shares and which starts at the head of its moment.
//! - **Kept per head.** The answer of the last walk is kept with the head it walked to; a
//!   caller at the same head gets it without a walk. Only the last one is kept (heads only
//!   move forward), so memory does not grow with the callers or the heads.
//! - **Stopped when nobody waits.** A caller who goes away (a request cut off by its time
//!   limit, a closed connection) stops waiting; when the last one of a walk has gone, the walk
//!   stops within one chunk of events. Closing the ledger stops it too.
//!
//! Every walk's answer also updates the ledger's [`Integrity`]: while the last walk failed,
//! appends are refused and the ledger is not ready. Its metrics are in [`crate::metrics`].

use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kpi_store::{EventStore, Head, VerifyFailure};
use tokio::sync::watch;

use crate::error::LedgerError;

/// The answer of one walk of the whole hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The head the walk went up to: the head when it started.
    pub head: Head,
    /// The head it proved, or the first position found wrong and why.
    pub result: Result<Head, VerifyFailure>,
    /// When the walk finished.
    pub finished_at: DateTime<Utc>,
}

impl Verification {
    /// The last position the walk found intact: its head when it passed, else the position
    /// before the first bad one.
    pub fn verified_position(&self) -> u64 {
        match &self.result {
            Ok(head) => head.position,
            Err(failure) => failure.position.saturating_sub(1),
        }
    }
}

/// What the ledger knows of its log's integrity: the last whole walk, if any finished since
/// the ledger opened (a start-up that folded the whole log walked it first).
#[derive(Debug, Clone, Default)]
pub struct Integrity {
    pub last: Option<Arc<Verification>>,
}

impl Integrity {
    /// Why the log is not to be trusted: the last walk's failure.
    pub fn failure(&self) -> Option<&VerifyFailure> {
        self.last
            .as_deref()
            .and_then(|last| last.result.as_ref().err())
    }
}

/// One walk of the log up to a head, asking the callback before each chunk whether to go on;
/// `None` when it was told to stop.
pub(crate) type WalkFn =
    dyn Fn(Head, &mut dyn FnMut(u64) -> bool) -> Option<Result<Head, VerifyFailure>> + Send + Sync;

/// The single-flight verification of one ledger. See the module documentation.
pub(crate) struct Verifier {
    walk: Box<WalkFn>,
    head: Box<dyn Fn() -> Head + Send + Sync>,
    state: Mutex<State>,
    integrity: watch::Sender<Integrity>,
    /// Set when the ledger closes: walks stop and nobody is let in.
    closed: watch::Sender<bool>,
    /// Drivers running (at most one, and for a moment two: one ending, one started).
    drivers: watch::Sender<usize>,
    /// Walks started since the ledger opened (stopped ones included).
    walks: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The answer of the last walk that finished, for its head.
    last: Option<Arc<Verification>>,
    /// The walk running (a driver runs exactly while this is `Some`).
    current: Option<Flight>,
    /// Callers who asked while a walk of an older head ran: they share the next walk.
    next: Option<Flight>,
    flights: u64,
}

/// One walk and those who wait for it.
struct Flight {
    id: u64,
    /// The head it walks to (for the next walk: set when it starts).
    head: Head,
    waiters: usize,
    /// Set when the last waiter left; cleared by a caller who joins before the walk noticed.
    stop: Arc<AtomicBool>,
    answer: watch::Sender<Option<Arc<Verification>>>,
}

impl Flight {
    fn new(id: u64, head: Head) -> Flight {
        Flight {
            id,
            head,
            waiters: 0,
            stop: Arc::new(AtomicBool::new(false)),
            answer: watch::channel(None).0,
        }
    }

    fn join(&mut self, verifier: &Arc<Verifier>) -> Waiting {
        self.waiters += 1;
        self.stop.store(false, Ordering::Release);
        Waiting {
            ticket: Ticket {
                verifier: verifier.clone(),
                flight: self.id,
            },
            answer: self.answer.subscribe(),
        }
    }
}

/// A caller's place in a flight; leaving it (drop) may stop the walk.
struct Ticket {
    verifier: Arc<Verifier>,
    flight: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.verifier.leave(self.flight);
    }
}

struct Waiting {
    ticket: Ticket,
    answer: watch::Receiver<Option<Arc<Verification>>>,
}

enum Joined {
    Answered(Arc<Verification>),
    Waiting(Waiting),
}

impl Verifier {
    /// The verifier of `store`'s log.
    pub(crate) fn of(store: EventStore) -> Arc<Verifier> {
        let heads = store.clone();
        Verifier::new(
            Box::new(move || heads.head()),
            Box::new(move |head, proceed| store.verify_to(head, proceed)),
        )
    }

    pub(crate) fn new(head: Box<dyn Fn() -> Head + Send + Sync>, walk: Box<WalkFn>) -> Arc<Self> {
        Arc::new(Verifier {
            walk,
            head,
            state: Mutex::new(State::default()),
            integrity: watch::channel(Integrity::default()).0,
            closed: watch::channel(false).0,
            drivers: watch::channel(0).0,
            walks: AtomicU64::new(0),
        })
    }

    /// The answer of a walk up to the head as it is now (or later): the last walk's when it
    /// reached this head, else the running walk's or the next one's. `fresh_after` refuses a
    /// kept answer that finished before it (the periodic walk reads the disk again).
    pub(crate) async fn verify(
        self: &Arc<Self>,
        fresh_after: Option<DateTime<Utc>>,
    ) -> Result<Arc<Verification>, LedgerError> {
        let Waiting { ticket, mut answer } = match self.join(fresh_after)? {
            Joined::Answered(verification) => return Ok(verification),
            Joined::Waiting(waiting) => waiting,
        };
        let verification = answer
            .wait_for(Option::is_some)
            .await
            .map_err(|_| LedgerError::VerificationStopped)?
            .clone()
            .expect("waited for an answer");
        drop(ticket);
        Ok(verification)
    }

    fn join(self: &Arc<Self>, fresh_after: Option<DateTime<Utc>>) -> Result<Joined, LedgerError> {
        if *self.closed.borrow() {
            return Err(LedgerError::VerificationStopped);
        }
        let head = (self.head)();
        let mut state = self.lock();
        if let Some(last) = &state.last {
            if last.head == head && fresh_after.is_none_or(|after| last.finished_at >= after) {
                return Ok(Joined::Answered(last.clone()));
            }
        }
        state.flights += 1;
        let id = state.flights;
        let State { current, next, .. } = &mut *state;
        let waiting = match current {
            Some(running) if running.head == head => running.join(self),
            // A walk of an older head runs: the next one starts when it ends.
            Some(_) => next.get_or_insert_with(|| Flight::new(id, head)).join(self),
            None => {
                let waiting = current.insert(Flight::new(id, head)).join(self);
                self.drivers.send_modify(|drivers| *drivers += 1);
                let driver = self.clone();
                tokio::task::spawn_blocking(move || driver.drive());
                waiting
            }
        };
        Ok(Joined::Waiting(waiting))
    }

    /// A caller of `flight` went away: the last one stops it.
    fn leave(&self, flight: u64) {
        let mut state = self.lock();
        if let Some(current) = state.current.as_mut().filter(|f| f.id == flight) {
            current.waiters -= 1;
            if current.waiters == 0 {
                current.stop.store(true, Ordering::Release);
            }
        } else if let Some(next) = state.next.as_mut().filter(|f| f.id == flight) {
            next.waiters -= 1;
            if next.waiters == 0 {
                state.next = None;
            }
        }
    }

    /// Runs the walks, one after another, while anyone waits for one. Runs on a blocking
    /// thread, exactly while `State::current` is set.
    fn drive(self: Arc<Self>) {
        /// Counts the driver out however it ends; a walk that panicked leaves no flight
        /// behind (its waiters are told it stopped).
        struct Ending<'a>(&'a Verifier);
        impl Drop for Ending<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut state = self.0.lock();
                    state.current = None;
                    state.next = None;
                }
                self.0.drivers.send_modify(|drivers| *drivers -= 1);
            }
        }
        let _ending = Ending(&self);
        loop {
            let (head, stop) = {
                let state = self.lock();
                let current = state.current.as_ref().expect("a driver runs with a walk");
                (current.head, current.stop.clone())
            };
            self.walks.fetch_add(1, Ordering::Relaxed);
            let walked = (self.walk)(head, &mut |_| {
                !stop.load(Ordering::Acquire) && !*self.closed.borrow()
            });
            let mut state = self.lock();
            match walked {
                Some(result) => {
                    let verification = Arc::new(Verification {
                        head,
                        result,
                        finished_at: Utc::now(),
                    });
                    let flight = state.current.take().expect("the walk's flight");
                    flight.answer.send_replace(Some(verification.clone()));
                    if verification
                        .result
                        .as_ref()
                        .is_err_and(VerifyFailure::is_storage_failure)
                    {
                        // The storage failed under the walk: nothing is known of the log,
                        // so nothing is kept and the integrity stays as it was.
                        crate::metrics::count_verification_walk("unavailable");
                        tracing::debug!(
                            position = head.position,
                            "verification cut short by the storage"
                        );
                    } else {
                        state.last = Some(verification.clone());
                        self.record(&verification);
                    }
                }
                None => {
                    crate::metrics::count_verification_walk("stopped");
                    let revived = state
                        .current
                        .as_ref()
                        .is_some_and(|current| !current.stop.load(Ordering::Acquire));
                    if revived && !*self.closed.borrow() {
                        // Someone joined after the last waiter left: walk again for them.
                        continue;
                    }
                    state.current = None;
                    tracing::debug!(position = head.position, "verification stopped");
                }
            }
            if *self.closed.borrow() {
                // Whoever still waits is told the verification stopped (their answer
                // channel closes).
                state.current = None;
                state.next = None;
                return;
            }
            while let Some(mut flight) = state.next.take() {
                let head = (self.head)();
                match &state.last {
                    Some(last) if last.head == head => {
                        flight.answer.send_replace(Some(last.clone()));
                    }
                    _ => {
                        flight.head = head;
                        state.current = Some(flight);
                    }
                }
            }
            if state.current.is_none() {
                return;
            }
        }
    }

    /// Takes a walk's answer into the ledger's integrity, the metrics and the log.
    fn record(&self, verification: &Arc<Verification>) {
        crate::metrics::record_verification(verification);
        let previous = self.integrity.send_replace(Integrity {
            last: Some(verification.clone()),
        });
        match &verification.result {
            Err(failure) => tracing::error!(
                position = failure.position,
                reason = %failure.reason,
                head = verification.head.position,
                "the log fails verification: appends are refused and /readyz answers 503 \
                 while it does; run `kpi-ledger verify` on the stopped server and restore \
                 the latest archive"
            ),
            Ok(head) if previous.failure().is_some() => tracing::warn!(
                position = head.position,
                "the log verifies again; appends are accepted"
            ),
            Ok(head) => tracing::debug!(position = head.position, "log verified"),
        }
    }

    /// Takes the answer of a walk made without the verifier (start-up's, of the whole log)
    /// as the last walk's.
    pub(crate) fn seed(&self, verification: Verification) {
        let verification = Arc::new(verification);
        self.lock().last = Some(verification.clone());
        self.record(&verification);
    }

    pub(crate) fn integrity(&self) -> Integrity {
        self.integrity.borrow().clone()
    }

    pub(crate) fn integrity_changes(&self) -> watch::Receiver<Integrity> {
        self.integrity.subscribe()
    }

    pub(crate) fn walks(&self) -> u64 {
        self.walks.load(Ordering::Relaxed)
    }

    /// Stops the running walk (within one chunk) and lets nobody in any more; resolves once
    /// no walk runs, so the store is no longer read.
    pub(crate) async fn close(&self) {
        self.close_now();
        let mut drivers = self.drivers.subscribe();
        let _ = drivers.wait_for(|drivers| *drivers == 0).await;
    }

    pub(crate) fn close_now(&self) {
        self.closed.send_replace(true);
    }

    /// Walks the whole log now and then: first right away, then every `every`, each time
    /// reading the disk again (a kept answer is not reused). Ends when the ledger closes.
    pub(crate) async fn verify_periodically(self: Arc<Self>, every: Duration) {
        let mut closed = self.closed.subscribe();
        loop {
            let asked = Utc::now();
            tokio::select! {
                _ = closed.wait_for(|closed| *closed) => return,
                answer = self.verify(Some(asked)) => match answer {
                    Ok(verification) => {
                        if verification.result.is_ok() {
                            tracing::info!(
                                position = verification.head.position,
                                "periodic verification: the log is intact"
                            );
                        }
                    }
                    Err(_) => return,
                },
            }
            tokio::select! {
                _ = closed.wait_for(|closed| *closed) => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc;

    use futures::FutureExt;
    use kpi_store::{Hash, VerifyReason};
    use tokio::sync::mpsc as async_mpsc;

    use super::*;

    /// A log whose walks the test drives: a walk says when it starts, then takes two steps,
    /// each when the test permits it and after asking whether to go on; it tells how it
    /// ended. The position of the head is the test's to move.
    struct Scripted {
        verifier: Arc<Verifier>,
        position: Arc<AtomicU64>,
        started: async_mpsc::UnboundedReceiver<u64>,
        ended: async_mpsc::UnboundedReceiver<Option<u64>>,
        permits: mpsc::Sender<()>,
        fail_at: Arc<AtomicU64>,
    }

    fn head(position: u64) -> Head {
        Head {
            position,
            hash: Hash::genesis(),
        }
    }

    fn scripted() -> Scripted {
        let position = Arc::new(AtomicU64::new(5));
        let fail_at = Arc::new(AtomicU64::new(0));
        let (started_tx, started) = async_mpsc::unbounded_channel();
        let (ended_tx, ended) = async_mpsc::unbounded_channel();
        let (permits, permitted) = mpsc::channel::<()>();
        let permitted = Mutex::new(permitted);
        let heads = position.clone();
        let failing = fail_at.clone();
        let verifier = Verifier::new(
            Box::new(move || head(heads.load(Ordering::SeqCst))),
            Box::new(move |head: Head, proceed: &mut dyn FnMut(u64) -> bool| {
                started_tx.send(head.position).unwrap();
                for step in 1..=2 {
                    permitted.lock().recv().unwrap();
                    if !proceed(step) {
                        ended_tx.send(None).unwrap();
                        return None;
                    }
                }
                ended_tx.send(Some(head.position)).unwrap();
                Some(match failing.load(Ordering::SeqCst) {
                    0 => Ok(head),
                    position => Err(VerifyFailure {
                        position,
                        reason: VerifyReason::Missing,
                    }),
                })
            }),
        );
        Scripted {
            verifier,
            position,
            started,
            ended,
            permits,
            fail_at,
        }
    }

    impl Scripted {
        fn permit(&self, steps: usize) {
            for _ in 0..steps {
                self.permits.send(()).unwrap();
            }
        }

        fn move_head(&self, position: u64) {
            self.position.store(position, Ordering::SeqCst);
        }
    }

    type Asking = Pin<Box<dyn Future<Output = Result<Arc<Verification>, LedgerError>> + Send>>;

    /// A caller who has asked (its future polled once, so it joined a walk) and waits.
    fn ask(verifier: &Arc<Verifier>) -> Asking {
        let mut asking: Asking = Box::pin({
            let verifier = verifier.clone();
            async move { verifier.verify(None).await }
        });
        assert!(asking.as_mut().now_or_never().is_none(), "it has to wait");
        asking
    }

    #[tokio::test]
    async fn callers_at_one_head_share_one_walk_and_a_repeat_is_answered_without_one() {
        let mut log = scripted();
        let callers: Vec<Asking> = (0..50).map(|_| ask(&log.verifier)).collect();
        assert_eq!(log.started.recv().await, Some(5));
        log.permit(2);
        let answers = futures::future::join_all(callers).await;
        let first = answers[0].as_ref().unwrap();
        assert_eq!(first.result, Ok(head(5)));
        assert!(answers
            .iter()
            .all(|answer| Arc::ptr_eq(answer.as_ref().unwrap(), first)));
        assert_eq!(log.verifier.walks(), 1);

        // The same head again: the kept answer, at once.
        let again = log.verifier.verify(None).now_or_never().unwrap().unwrap();
        assert!(Arc::ptr_eq(&again, first));
        assert_eq!(log.verifier.walks(), 1);
        // The periodic walk reads the disk again even at the same head.
        let fresh = ask_fresh(&log.verifier);
        assert_eq!(log.started.recv().await, Some(5));
        log.permit(2);
        assert!(!Arc::ptr_eq(&fresh.await.unwrap(), first));
        assert_eq!(log.verifier.walks(), 2);

        // A later head is walked anew.
        log.move_head(6);
        let later = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(6));
        log.permit(2);
        assert_eq!(later.await.unwrap().result, Ok(head(6)));
        assert_eq!(log.verifier.walks(), 3);
    }

    fn ask_fresh(verifier: &Arc<Verifier>) -> Asking {
        let asked = Utc::now();
        let mut asking: Asking = Box::pin({
            let verifier = verifier.clone();
            async move { verifier.verify(Some(asked)).await }
        });
        assert!(asking.as_mut().now_or_never().is_none(), "it has to wait");
        asking
    }

    #[tokio::test]
    async fn callers_at_a_later_head_share_the_next_walk_which_starts_at_its_own_head() {
        let mut log = scripted();
        let early = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(5));
        log.move_head(6);
        let later: Vec<Asking> = (0..3).map(|_| ask(&log.verifier)).collect();
        log.move_head(7);
        let latest = ask(&log.verifier);
        // One walk at a time: the next has not started.
        assert!(log.started.try_recv().is_err());
        log.permit(2);
        assert_eq!(early.await.unwrap().result, Ok(head(5)));
        assert_eq!(log.started.recv().await, Some(7));
        log.permit(2);
        for answer in futures::future::join_all(later).await {
            assert_eq!(answer.unwrap().result, Ok(head(7)));
        }
        assert_eq!(latest.await.unwrap().result, Ok(head(7)));
        assert_eq!(log.verifier.walks(), 2);
    }

    #[tokio::test]
    async fn a_walk_stops_when_its_last_caller_goes_away() {
        let mut log = scripted();
        let first = ask(&log.verifier);
        let second = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(5));
        drop(first);
        log.permit(1);
        // One caller still waits: the walk goes on.
        log.permit(1);
        assert_eq!(log.ended.recv().await, Some(Some(5)));
        assert_eq!(second.await.unwrap().result, Ok(head(5)));

        log.move_head(6);
        let gone = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(6));
        drop(gone);
        log.permit(1);
        assert_eq!(
            log.ended.recv().await,
            Some(None),
            "stopped at its next step"
        );
        // Nothing was kept for head 6: the next caller walks again.
        let next = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(6));
        log.permit(2);
        assert_eq!(next.await.unwrap().result, Ok(head(6)));
        assert_eq!(log.verifier.walks(), 3);
    }

    #[tokio::test]
    async fn a_failed_walk_marks_the_log_damaged_until_a_walk_passes() {
        let mut log = scripted();
        let mut changes = log.verifier.integrity_changes();
        assert!(log.verifier.integrity().last.is_none());
        log.fail_at.store(3, Ordering::SeqCst);
        let caller = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(5));
        log.permit(2);
        let answer = caller.await.unwrap();
        assert_eq!(answer.verified_position(), 2);
        changes.changed().await.unwrap();
        assert_eq!(log.verifier.integrity().failure().unwrap().position, 3);

        log.fail_at.store(0, Ordering::SeqCst);
        log.move_head(6);
        let caller = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(6));
        log.permit(2);
        assert_eq!(caller.await.unwrap().verified_position(), 6);
        assert!(log.verifier.integrity().failure().is_none());
    }

    #[tokio::test]
    async fn closing_stops_the_walk_and_tells_its_callers() {
        let mut log = scripted();
        let caller = ask(&log.verifier);
        assert_eq!(log.started.recv().await, Some(5));
        log.verifier.close_now();
        log.permit(1);
        assert!(matches!(
            caller.await,
            Err(LedgerError::VerificationStopped)
        ));
        log.verifier.close().await;
        assert!(matches!(
            log.verifier.verify(None).await,
            Err(LedgerError::VerificationStopped)
        ));
        assert_eq!(log.ended.recv().await, Some(None));
    }
}
