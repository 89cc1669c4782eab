//! Probes of the kernel settings a shard depends on, so startup can fail with a clear reason.

/// What `kernel.io_uring_disabled` says (Linux 6.6+; absent means allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoUringPolicy {
    /// io_uring is available to every process.
    Enabled,
    /// Only processes in `kernel.io_uring_group` (or with CAP_SYS_ADMIN) may use it.
    GroupOnly,
    /// io_uring is off for everyone.
    Disabled,
}

/// Reads `/proc/sys/kernel/io_uring_disabled`.
pub fn io_uring_policy() -> IoUringPolicy {
    match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        Some("1") => IoUringPolicy::GroupOnly,
        Some("2") => IoUringPolicy::Disabled,
        _ => IoUringPolicy::Enabled,
    }
}

/// The soft RLIMIT_MEMLOCK in bytes (`None` = unlimited).
pub fn memlock_limit_bytes() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

/// Whether the process runs as root, which lifts the memlock limit (CAP_IPC_LOCK).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The kernel thread id of the calling thread (for logs and pinning checks).
pub fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    i64::from(unsafe { libc::gettid() })
}

/// Lets the calling thread run on `cpus` only (and the threads it starts later, which inherit
/// the mask): how helper threads of client libraries are kept off the shards' cores.
pub fn set_current_thread_cpus(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value of this plain C struct.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let limit = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus.iter().filter(|&&cpu| cpu < limit) {
        // SAFETY: `cpu` is below the set's capacity in bits, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; the set pointer and size describe one cpu_set_t.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Hands memory the allocator holds free back to the kernel, so RSS shows live data again
/// after a burst (glibc keeps freed chunks of its per-thread arenas resident otherwise).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes the arena locks
    // itself and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The host name the kernel holds (`/proc/sys/kernel/hostname`, as `os.Hostname` reads it).
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// The fully qualified name of `host`: the canonical name its address lookup gives
/// (getaddrinfo with `AI_CANONNAME`, as resolvers and otelcol's `dns` hostname source do).
/// A blocking lookup: call it off the shards.
pub fn canonical_name(host: &str) -> Option<String> {
    let node = std::ffi::CString::new(host).ok()?;
    // SAFETY: zeroed `addrinfo` is a valid hints value (all pointers null); only flags set.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `node` is a valid C string, `hints` a valid addrinfo, `result` an out pointer;
    // on success the list is freed below with freeaddrinfo, exactly once.
    let rc = unsafe { libc::getaddrinfo(node.as_ptr(), std::ptr::null(), &hints, &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: `result` is the non-null head getaddrinfo returned; `ai_canonname` is either
    // null or a NUL-terminated string owned by the list, copied before the list is freed.
    let name = unsafe {
        let canon = (*result).ai_canonname;
        let name = if canon.is_null() {
            None
        } else {
            std::ffi::CStr::from_ptr(canon)
                .to_str()
                .ok()
                .map(str::to_owned)
        };
        libc::freeaddrinfo(result);
        name
    };
    name.filter(|n| !n.is_empty())
}
