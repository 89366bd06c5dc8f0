//! Test fixture: a plugin that panics. Built with `panic = "abort"`, the panic is a trap:
//! the host must fail the delivery with a trap error kind (the SDK first logs the panic
//! message, `plugin panicked at …: hostile fixture: deliberate panic`, through the host).

use hookline_guest::{Event, Outcome, Plugin, Webhook};

/// The panic message.
pub const MESSAGE: &str = "hostile fixture: deliberate panic";

/// Panics on every event.
#[derive(Debug)]
pub struct Trap;

impl Plugin for Trap {
    fn transform(event: Event, _webhook: Webhook, _config: &str) -> Outcome {
        // Depend on the input so the call is not folded away.
        if std::hint::black_box(!event.id.is_empty() || event.id.is_empty()) {
            panic!("{MESSAGE}");
        }
        Outcome::skip("unreachable")
    }
}

hookline_guest::export_plugin!(Trap);
