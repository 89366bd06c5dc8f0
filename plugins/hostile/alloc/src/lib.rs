//! Test fixture: a plugin that allocates 1 GiB and writes to every 4 KiB page of it, so the
//! memory is really used, not just reserved. The host's memory cap must refuse the growth:
//! the allocation fails, which aborts (traps), and the delivery fails with a clear error
//! kind. If the allocation were allowed, the plugin would send the number of pages it touched.

use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};

/// How much the plugin asks for.
pub const BYTES: usize = 1 << 30;

/// Allocates [`BYTES`] and touches it.
#[derive(Debug)]
pub struct Alloc;

impl Plugin for Alloc {
    fn transform(_event: Event, _webhook: Webhook, _config: &str) -> Outcome {
        // Not `vec![0; n]`: a zeroed allocation may be served by fresh pages without a
        // single write. `resize` with a non-zero byte writes every page.
        let mut v: Vec<u8> = Vec::with_capacity(BYTES);
        v.resize(BYTES, 0xA5);
        let v = std::hint::black_box(v);
        let touched = v.iter().step_by(4096).filter(|&&b| b == 0xA5).count();
        Outcome::send(Request::json(&touched))
    }
}

hookline_guest::export_plugin!(Alloc);
