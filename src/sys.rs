//! The operating system calls the gateway makes directly, in one small module: the only place in
//! the crate where `unsafe` is allowed, each block with the reason it is sound. Linux only; on
//! other systems each call is a no-op, which is still correct (only slower or hungrier).

#![allow(unsafe_code)]

/// Lowers the calling thread to the lowest normal priority (nice 19): the password hash
/// threads yield the cores to the async workers. Linux applies nice values per thread. If the
/// call is refused the thread keeps its priority, which is still correct.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `0` names the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
