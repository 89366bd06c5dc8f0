//! Integration tests of the `hookline` package (one test binary, so the link step runs once).

mod daemon;
mod example_config;
