//! The CPU time of a benchmark program, for its timed phase only (shared by the examples
//! that benches/compare runs).

/// CPU seconds of this process so far, every thread (user + system); NaN where there is
/// no `getrusage`.
#[cfg(not(unix))]
pub fn cpu_seconds() -> f64 {
    f64::NAN
}

/// CPU seconds of this process so far, every thread (user + system).
#[cfg(unix)]
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes a `rusage` into the zeroed value we own, and
    // RUSAGE_SELF is a valid `who`; it cannot fail with these arguments.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
