//! Stopping a running server: a cloneable handle that asks every loop of
//! one server (accept loop, background work) to stop, and a guard that asks
//! when its owner goes away.

use std::sync::Arc;

use tokio::sync::watch;

/// Asks a running server to stop; cheap to clone, safe to use more than once.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// A handle and the receiver its server's loops watch (see [`crate::stopped`]).
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (sender, receiver) = watch::channel(false);
        (
            Self {
                sender: Arc::new(sender),
            },
            receiver,
        )
    }

    /// Stop accepting connections, let in-flight requests finish (within the
    /// grace period) and stop the server's background loops. Returns at once;
    /// the server's own `stopped()` tells when it is done.
    pub fn shutdown(&self) {
        self.sender.send_replace(true);
    }
}

/// Shuts its server down when dropped, so a forgotten (or panicking) owner
/// does not leave a server running.
#[derive(Debug)]
pub struct StopOnDrop(pub ShutdownHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_asks_every_clone_to_stop() {
        let (handle, receiver) = ShutdownHandle::new();
        let other = handle.clone();
        assert!(!*receiver.borrow());
        drop(StopOnDrop(handle));
        assert!(*receiver.borrow());
        // Asking again is harmless.
        other.shutdown();
        assert!(*receiver.borrow());
    }
}
