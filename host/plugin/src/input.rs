//! What a plugin receives, as the WIT records of the world.

use hookline_core::transform::TransformInput;

use super::bindings::hookline::plugin::types as wit;

/// The WIT records, by move.
pub(super) fn into_wit(input: TransformInput) -> (wit::Event, wit::Webhook, String) {
    let r = input.event.resource;
    let event = wit::Event {
        id: input.event.id,
        type_: input.event.event_type,
        timestamp: input.event.timestamp,
        resource: wit::Resource {
            id: r.id,
            type_: r.resource_type,
            labels: r.labels,
            annotations: r.annotations,
        },
        data: input.event.data,
    };
    let webhook = wit::Webhook {
        id: input.webhook_id,
        url: input.webhook_url,
    };
    (event, webhook, input.config)
}
