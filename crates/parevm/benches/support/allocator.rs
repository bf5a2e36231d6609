//! The `parevm` binary's allocator set-up (mimalloc, freed memory kept for reuse), shared by
//! the criterion benches and the profiling example so that their figures are comparable with
//! `parevm bench`. Included with `#[path]`; see `crates/parevm-cli/src/main.rs` for why.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed memory back to the kernel (call first thing).
pub(crate) fn configure() {
    // SAFETY: sets a plain integer option; mimalloc reads options at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
