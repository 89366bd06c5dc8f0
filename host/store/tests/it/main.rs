//! Integration tests of `hookline_store` (one binary, so the link step runs once).

mod store_sqlite;
