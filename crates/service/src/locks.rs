//! The service's one rule for a lock whose holder panicked: carry on with what it guards.
//!
//! A panic while a lock is held poisons it, and `std` then makes every later `lock()`, `read()`
//! or `write()` return an error. Every value the service guards this way (the live projection,
//! the plans in force, the lifecycle read from the log, the verifier's state) is replaced or
//! updated whole by its one writer, so a reader never sees it half-changed; and a ledger that
//! refused every query after one panic would turn a bug into an outage. So the guard is taken
//! as it is, here, once.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Read-write locks taken even when poisoned; see the module documentation.
pub(crate) trait Unpoisoned<T> {
    type Read<'a>
    where
        Self: 'a;
    type Write<'a>
    where
        Self: 'a;
    /// A read guard, poisoned or not.
    fn read_unpoisoned(&self) -> Self::Read<'_>;
    /// A write guard, poisoned or not.
    fn write_unpoisoned(&self) -> Self::Write<'_>;
}

impl<T> Unpoisoned<T> for RwLock<T> {
    type Read<'a>
        = RwLockReadGuard<'a, T>
    where
        T: 'a;
    type Write<'a>
        = RwLockWriteGuard<'a, T>
    where
        T: 'a;
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T> {
        self.write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// [`Unpoisoned`] for a mutex, which has one kind of guard.
pub(crate) trait LockUnpoisoned<T> {
    /// The guard, poisoned or not.
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T>;
}

impl<T> LockUnpoisoned<T> for Mutex<T> {
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::{LockUnpoisoned, Unpoisoned};
    use std::sync::{Arc, Mutex, RwLock};

    #[test]
    fn a_lock_poisoned_by_a_panicking_holder_is_still_read_and_written() {
        let rw = Arc::new(RwLock::new(1));
        let mutex = Arc::new(Mutex::new(1));
        let (rw2, mutex2) = (rw.clone(), mutex.clone());
        let _ = std::thread::spawn(move || {
            let _r = rw2.write().unwrap();
            let _m = mutex2.lock().unwrap();
            panic!("a holder panics");
        })
        .join();
        assert!(rw.is_poisoned() && mutex.is_poisoned());
        *rw.write_unpoisoned() += 1;
        *mutex.lock_unpoisoned() += 1;
        assert_eq!(*rw.read_unpoisoned(), 2);
        assert_eq!(*mutex.lock_unpoisoned(), 2);
    }
}
