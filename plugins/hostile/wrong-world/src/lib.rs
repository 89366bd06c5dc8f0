//! Test fixture: a well-formed component of the world `test:other/other`, exporting
//! `run: func() -> u32` instead of Hookline's `transform`. `hookline plugin check` and
//! the plugin runtime must refuse it with a clear "not a Hookline plugin" error rather than
//! fail at call time.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs, unreachable_pub)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "other",
    });

    struct Other;

    impl Guest for Other {
        fn run() -> u32 {
            42
        }
    }

    export!(Other);
}
