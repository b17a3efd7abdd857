//! Turning recording off: `no_grad(|| ..)` and the `NoGradGuard` it uses. A thread-local flag, so
//! one thread's inference does not stop another's training. Nothing else lives here.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// False inside [`no_grad`] (or while a [`NoGradGuard`] lives) on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record nothing and return constants. Restores the previous
/// state on drop, so guards nest.
#[must_use = "recording resumes as soon as the guard is dropped"]
pub struct NoGradGuard {
    previous: bool,
    // A guard restores its own thread's flag: keep it on that thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl NoGradGuard {
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous, _not_send: std::marker::PhantomData }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` with recording off (inference, optimizer updates, finite differences).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}
