//! Test fixture: a plugin whose `transform` never returns. The host's fuel budget (or its
//! wall-clock deadline) must stop it and fail the delivery with a timeout-like error kind,
//! leaving the host and other deliveries unharmed.

use hookline_guest::{Event, Outcome, Plugin, Webhook};

/// Spins forever.
#[derive(Debug)]
pub struct Loop;

impl Plugin for Loop {
    fn transform(_event: Event, _webhook: Webhook, _config: &str) -> Outcome {
        let mut n = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving anything about the loop.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

hookline_guest::export_plugin!(Loop);
