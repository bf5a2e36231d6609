//! The synchronisation primitives of Block-STM's concurrent structures (the scheduler, the
//! lowest-writer tables, the lazy-write index), named in one place so that the model checker
//! can swap them: the `parevm-model` crate compiles those structures' own source files with
//! `cfg(parevm_model)`, which puts shuttle's atomics, mutex and yields here, and explores the
//! interleavings of two or three workers. The engine itself always builds the first set.

#[cfg(not(parevm_model))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(parevm_model))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};

/// Lets a waiting thread's core go to another thread.
#[cfg(not(parevm_model))]
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

/// A hint that the calling thread is spinning on a value another thread will change.
#[cfg(not(parevm_model))]
pub(crate) fn spin_loop() {
    std::hint::spin_loop();
}

#[cfg(parevm_model)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};

/// Under the model checker a spin is a yield: the checker runs one thread at a time, and a
/// spinning thread that never yields would never let the one it waits for run.
#[cfg(parevm_model)]
pub(crate) fn yield_now() {
    shuttle::thread::yield_now();
}

/// See [`yield_now`].
#[cfg(parevm_model)]
pub(crate) fn spin_loop() {
    shuttle::thread::yield_now();
}

/// shuttle's mutex with `parking_lot`'s interface (no poisoning).
#[cfg(parevm_model)]
pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

#[cfg(parevm_model)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(shuttle::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .expect("no poisoning: a panic ends the model run")
    }

    pub(crate) fn try_lock(&self) -> Option<shuttle::sync::MutexGuard<'_, T>> {
        self.0.try_lock().ok()
    }
}
