//! Tests of the API against a real engine, store and receiver.
