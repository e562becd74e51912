//! Background tasks with progress (fraction + message) and cancellation.
//!
//! A pipeline step takes a [`Progress`], reports into it and calls [`Progress::check`] at safe
//! points; [`Task::spawn`] runs such a step on its own thread so the GUI stays responsive, and the
//! CLI draws the same progress on stderr (`src/bin/carve/progress.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The user cancelled the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

#[derive(Default)]
struct Shared {
    fraction_bits: AtomicU32,
    cancelled: AtomicBool,
    message: Mutex<String>,
}

/// A progress reporter and cancel flag, shared between a task and whoever watches it. A
/// [`Progress::sub`] reporter maps its own 0..1 into a slice of its parent's range.
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
    start: f32,
    span: f32,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Progress({:.0}%: {})", self.fraction() * 100.0, self.message())
    }
}

impl Progress {
    pub fn new() -> Self {
        Self { shared: Arc::default(), start: 0.0, span: 1.0 }
    }

    /// A reporter for the part `[from, to]` (fractions of this reporter's range).
    pub fn sub(&self, from: f32, to: f32) -> Self {
        Self { shared: self.shared.clone(), start: self.start + self.span * from, span: self.span * (to - from) }
    }

    /// Reports `fraction` (0..1 of this reporter's range) and a message.
    pub fn set(&self, fraction: f32, message: impl Into<String>) {
        self.set_fraction(fraction);
        if let Ok(mut m) = self.shared.message.lock() {
            *m = message.into();
        }
    }

    /// Reports `fraction` (0..1 of this reporter's range).
    pub fn set_fraction(&self, fraction: f32) {
        let f = (self.start + self.span * fraction.clamp(0.0, 1.0)).clamp(0.0, 1.0);
        self.shared.fraction_bits.store(f.to_bits(), Ordering::Relaxed);
    }

    /// Overall fraction done, 0..1.
    pub fn fraction(&self) -> f32 {
        f32::from_bits(self.shared.fraction_bits.load(Ordering::Relaxed))
    }

    /// The latest message.
    pub fn message(&self) -> String {
        self.shared.message.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Asks the task to stop at its next [`Progress::check`].
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancellation was asked for.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }
}

/// The task's thread panicked (a bug); the message is kept for the error report.
#[derive(Debug, thiserror::Error)]
#[error("task '{label}' crashed: {message}")]
pub struct TaskPanicked {
    pub label: String,
    pub message: String,
}

/// A step running on a background thread.
pub struct Task<T> {
    label: String,
    progress: Progress,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `step` on a new thread, handing it the task's progress reporter.
    pub fn spawn(label: impl Into<String>, step: impl FnOnce(&Progress) -> T + Send + 'static) -> Self {
        let label = label.into();
        let progress = Progress::new();
        let reporter = progress.clone();
        let handle = std::thread::Builder::new().name(format!("carve: {label}")).spawn(move || step(&reporter)).ok();
        Self { label, progress, handle }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn cancel(&self) {
        self.progress.cancel();
    }

    /// Whether the step has returned (or could not start).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The result once finished, without blocking; `None` while running.
    pub fn try_take(&mut self) -> Option<Result<T, TaskPanicked>> {
        if self.is_finished() { Some(self.join()) } else { None }
    }

    /// Blocks until the step returns.
    pub fn wait(mut self) -> Result<T, TaskPanicked> {
        self.join()
    }

    fn join(&mut self) -> Result<T, TaskPanicked> {
        let label = self.label.clone();
        let Some(handle) = self.handle.take() else {
            return Err(TaskPanicked { label, message: "could not start a thread, or already taken".into() });
        };
        handle.join().map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            TaskPanicked { label, message }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sub_progress_maps_into_parent_range() {
        let p = Progress::new();
        let second_half = p.sub(0.5, 1.0);
        second_half.set(0.5, "halfway through part two");
        assert!((p.fraction() - 0.75).abs() < 1e-6);
        assert_eq!(p.message(), "halfway through part two");
        second_half.sub(0.0, 0.5).set_fraction(1.0);
        assert!((p.fraction() - 0.75).abs() < 1e-6);
    }

    #[test]
    fn cancel_stops_a_running_task() {
        let task = Task::spawn("spin", |progress| {
            for i in 0..10_000 {
                progress.check()?;
                progress.set(i as f32 / 10_000.0, "spinning");
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok::<_, Cancelled>(42)
        });
        while task.progress().fraction() == 0.0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        task.cancel();
        assert_eq!(task.wait().unwrap(), Err(Cancelled));
    }

    #[test]
    fn panics_become_errors() {
        let mut task = Task::spawn("boom", |_| -> u32 { panic!("bad step") });
        let result = loop {
            if let Some(r) = task.try_take() {
                break r;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let err = result.unwrap_err();
        assert!(err.to_string().contains("bad step"), "{err}");
    }
}
