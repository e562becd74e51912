//! glibc's allocator, tuned once for libtorch's large short-lived tensors.
//!
//! By default glibc serves every allocation above its mmap threshold (at most 32 MB, adjusted at
//! run time) with a fresh `mmap` and returns it on free, so each 50–150 MB activation of an image
//! encoder page-faults in again on every layer and every photo. Measured on the SAM 2.1 tiny
//! encoder (2 cores, BENCHMARKS.md): ~15 % of its time. Turning mmap off for the process (big
//! blocks then come from the heap and are reused) and not trimming the heap back removes that
//! cost; the price is that the process keeps its peak heap (it did anyway while a model was
//! loaded). Set once, before the first model loads; skipped when the user tunes malloc through the
//! environment (`GLIBC_TUNABLES`, `MALLOC_*_`), and a no-op off glibc.

/// Applies the tuning once per process (later calls do nothing).
pub fn keep_large_buffers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let user_tuned = std::env::vars_os().any(|(k, _)| {
            k.to_str().is_some_and(|k| k == "GLIBC_TUNABLES" || (k.starts_with("MALLOC_") && k.ends_with('_')))
        });
        if user_tuned {
            tracing::debug!("malloc tuned by the environment; leaving it");
            return;
        }
        apply();
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() {
    // The crate denies unsafe code; this is one of its two exceptions (the other: the PLY memory map).
    // SAFETY: mallopt only changes allocator parameters; it is called once, before libtorch
    // allocates its tensors, and every value below is one glibc documents as valid.
    #[allow(unsafe_code)]
    let ok = unsafe {
        [
            libc::mallopt(libc::M_MMAP_MAX, 0),
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX),
            libc::mallopt(libc::M_TOP_PAD, 64 << 20),
        ]
    };
    if ok.contains(&0) {
        tracing::warn!(?ok, "mallopt refused a setting; large tensors may page-fault on every use");
    } else {
        tracing::debug!("malloc: mmap off, no trimming (large tensor buffers are reused)");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() {}
