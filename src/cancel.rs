//! Cancellation: a [`Cancel`] token shared by everything a run starts. SIGINT and SIGTERM
//! request it (the binary installs the handlers, see `app`); a library user may request it
//! from any thread. The reader, the writer and `send` look at it between pieces and requests,
//! stop, and clean up; the signal's number becomes the exit status (128 + n).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// A request to stop, and what made it. Clones share one request.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<State>);

#[derive(Debug, Default)]
struct State {
    requested: AtomicBool,
    /// The signal that requested the stop, 0 when none did.
    signal: AtomicI32,
}

impl Cancel {
    /// A token no one has requested yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the run to stop. `signal` is the signal that asked (0 for none); the first one to
    /// ask is kept. Only atomics are touched, so a signal handler may call it.
    pub fn request(&self, signal: i32) {
        // The signal first: whoever sees the request also sees which signal made it.
        let _ = self
            .0
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.0.requested.store(true, Ordering::SeqCst);
    }

    /// Has a stop been requested?
    pub fn is_requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// The signal that requested the stop (0 when none did, or none was requested).
    pub fn signal(&self) -> i32 {
        self.0.signal.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_is_kept_and_clones_share_the_request() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(!b.is_requested());
        a.request(15);
        a.request(2);
        assert!(b.is_requested());
        assert_eq!(b.signal(), 15);
    }
}
