//! The `hookline` binary: argument parsing only; every command calls into the library.

mod cli;

/// mimalloc instead of the system allocator: the hot path allocates small, short-lived
/// buffers on several threads at once, where glibc's malloc spent ~19 % of the daemon's CPU
/// (see BENCHMARKS.md). SQLite keeps the system `malloc`: with mimalloc's `override` its
/// page cache held ~45 MB more at 1,000,000 pending deliveries, for no measurable speed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
