//! The `hookline` binary: argument parsing only; every command calls into the library.

mod cli;

/// mimalloc instead of the system allocator: the hot path allocates small, short-lived
/// buffers on several threads at once, where glibc's malloc spent ~19 % of the daemon's CPU
/// (see BENCHMARKS.md). With the `override` feature it also serves C code's `malloc`
/// (SQLite's).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
