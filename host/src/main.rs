//! The `hookline` binary: argument parsing only; every command calls into the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
