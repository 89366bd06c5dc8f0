//! Test fixture: a plugin that returns a body bigger than the host's payload limit: a valid
//! JSON string of `bytes` bytes (config `{"bytes": N}`), by default 10 MiB + 1 byte, one
//! byte over the origin's default limit of 10 MiB. The host must refuse to send it and fail
//! the delivery with its output error kind.
//!
//! The default stays well under a plugin memory cap of a few tens of MiB, so that the
//! host's size check, not its memory cap, is what stops it; `{"bytes": 67108864}` asks for
//! 64 MiB (which a 64 MiB memory cap stops first). Writing the body costs about one unit of
//! fuel per byte.

use hookline_guest::serde::Deserialize;
use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};

/// The default body size: 10 MiB + 1 byte.
pub const DEFAULT_BYTES: usize = (10 << 20) + 1;

#[derive(Debug, Deserialize)]
#[serde(crate = "hookline_guest::serde", default, deny_unknown_fields)]
struct Config {
    bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bytes: DEFAULT_BYTES,
        }
    }
}

/// Returns an oversized body.
#[derive(Debug)]
pub struct Oversized;

impl Plugin for Oversized {
    fn transform(_event: Event, _webhook: Webhook, config: &str) -> Outcome {
        let cfg: Config = match hookline_guest::config(config) {
            Ok(cfg) => cfg,
            Err(e) => return Outcome::fail(e),
        };
        Outcome::send(Request::new(body(cfg.bytes)))
    }
}

hookline_guest::export_plugin!(Oversized);

/// `"xxx…"`: a JSON string exactly `bytes` bytes long (at least the two quotes).
fn body(bytes: usize) -> Vec<u8> {
    let mut body = vec![b'x'; bytes.max(2)];
    body[0] = b'"';
    if let Some(last) = body.last_mut() {
        *last = b'"';
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_body_is_one_byte_over_10_mib_of_valid_json() {
        let out = Oversized::transform(Event::new("e", "x", "t"), Webhook::default(), "{}");
        let req = out.request().unwrap();
        assert_eq!(req.body.len(), DEFAULT_BYTES);
        assert!(req.body.len() > 10 << 20);
        let s: String = req.body_json().unwrap();
        assert_eq!(s.len(), DEFAULT_BYTES - 2);
    }

    #[test]
    fn size_comes_from_the_config() {
        let out = Oversized::transform(
            Event::new("e", "x", "t"),
            Webhook::default(),
            r#"{"bytes": 5}"#,
        );
        assert_eq!(out.request().unwrap().body, br#""xxx""#);
        assert_eq!(body(0), br#""""#);
    }
}
