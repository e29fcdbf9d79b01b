//! The crate's calls into the C library, in one place so that `unsafe` is denied everywhere else
//! (`[lints.rust]` in Cargo.toml): glibc allocator tuning for the memory store, the password
//! threads' priority, and the open-files limit. Each is a no-op where the platform lacks it, which is still correct there.

#![allow(unsafe_code)]

/// Makes glibc serve every allocation of [`MMAP_THRESHOLD`] or more with its own mapping, which
/// goes back to the OS the moment it is freed. By default glibc raises that threshold to the
/// size of each large block freed (up to 32 MiB): once a shrink has freed a large table, the
/// tables that grow after it come from the heap, and every table a growth replaces stays there
/// as a resident hole (measured: a second million tokens after an expiry cost 163-172 bytes
/// each instead of 146). Setting the threshold fixes it, for the whole process, at a size only
/// big tables reach.
///
/// Because it is process-wide, the program decides, not the store: `tokengate serve` calls it
/// at startup when the store is the memory one (src/main.rs), and so do the benches that build
/// one. Every other large block becomes a fresh mapping too, faulted in and zeroed on each use;
/// `engine::password::argon2id` (its `verify`) documents what that costs argon2 and how it avoids it. Calls
/// after the first do nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn map_large_allocations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: mallopt only sets an allocator parameter; it is thread-safe.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn map_large_allocations() {}

/// 1 MiB: a memory-store table shard reaches it at about 16 000 entries. Smaller blocks stay in
/// the heap, where reuse is cheaper than a system call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: std::ffi::c_int = 1 << 20;

/// Asks glibc to give free memory back to the OS: freeing a large table returns it to malloc,
/// which keeps it in the process (and in RSS) unless it sits at the top of the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it is
    // thread-safe and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

/// The lowest normal priority (nice 19) for the calling thread: Linux applies nice values per
/// thread. Elsewhere, or if refused, the thread runs at normal priority, which is still correct.
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `0` names the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// The open-files limit after raising the soft limit to the hard one: every client connection
/// is a descriptor, and the default soft limit (often 1024) would turn away clients long before
/// memory or CPU run short. `None` where the limit cannot be read; then nothing changed.
#[cfg(target_os = "linux")]
pub fn raise_open_files_limit() -> Option<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through a valid pointer to a local. Raising the
        // soft limit up to the hard one needs no privilege; if refused, the old limit stands.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(OpenFiles {
        before,
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn raise_open_files_limit() -> Option<OpenFiles> {
    None
}

/// The open-files limits (`RLIMIT_NOFILE`); `RLIM_INFINITY` reads as `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now: what the process may open.
    pub soft: u64,
    /// The hard limit: the most the soft one may be raised to without privilege.
    pub hard: u64,
}
