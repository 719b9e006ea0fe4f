//! The folds a query asks for (as-of and through tables: a fresh fold of the whole log), at
//! most `ledger.max_concurrent_folds` at once. Each holds a whole projection and the events in
//! flight while it runs, so their number, not the number of callers, bounds the memory they
//! take; more could not finish sooner on the cores there are. The rest wait their turn.

use std::num::NonZeroUsize;

use tokio::sync::Semaphore;

pub(crate) struct FoldSlots {
    slots: Semaphore,
}

impl FoldSlots {
    pub(crate) fn new(slots: NonZeroUsize) -> Self {
        Self {
            slots: Semaphore::new(slots.get()),
        }
    }

    /// Runs `fold` on a blocking thread once a slot is free, holding the slot until it ends.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        fold: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the fold slots are never closed");
        tokio::task::spawn_blocking(fold)
            .await
            .expect("a fold panicked")
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_folds_run_at_once_than_there_are_slots() {
        let slots = Arc::new(FoldSlots::new(NonZeroUsize::new(2).unwrap()));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(Mutex::new(0));
        let folds: Vec<_> = (0..6)
            .map(|_| {
                let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    slots
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            {
                                let mut most = most.lock();
                                *most = (*most).max(now);
                            }
                            // Long enough for every caller to be waiting meanwhile.
                            std::thread::sleep(Duration::from_millis(200));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for fold in folds {
            fold.await.unwrap();
        }
        // Six callers, two slots: two ran together, never three.
        assert_eq!(*most.lock(), 2);
    }
}
