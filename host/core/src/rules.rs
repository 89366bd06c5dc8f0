//! The rules of a valid webhook, in one place: which headers a webhook may set and which
//! Hookline owns, which header values are credentials, and the payload limit. Config, the
//! API and plugin output all call these; each caller adds only its own provenance (a file
//! and line, a JSON field, a plugin name).

use http::{HeaderName, HeaderValue};

use crate::signing::Scheme;

/// The origin's maximum payload: 10 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Lowercase forms of every header [`crate::signing::signature_headers`] may set, so their
/// `HeaderName`s are built without allocating (`HeaderName::from_static` needs lowercase).
/// A unit test keeps this list aligned with [`Scheme::reserved_headers`].
pub const SIGNATURE_HEADERS: &[&str] = &[
    "x-webhook-id",
    "x-webhook-timestamp",
    "x-webhook-signature",
    "x-webhook-signature-previous",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// Headers whose values are signatures.
pub const SIGNATURE_VALUE_HEADERS: &[&str] = &[
    "x-webhook-signature",
    "x-webhook-signature-previous",
    "webhook-signature",
];

/// Headers the HTTP client manages: framing, routing and connection handling.
pub const TRANSPORT_HEADERS: &[&str] = &[
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-connection",
];

/// Header names whose values are always redacted in stored headers.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// A header name containing one of these (case-insensitively) holds a credential.
pub const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "key",
    "auth",
    "signature",
    "password",
    "passwd",
    "credential",
    "session",
];

/// Whether `lower` (a lowercase header name) is one Hookline sets to sign a delivery.
pub fn is_signature_header(lower: &str) -> bool {
    SIGNATURE_HEADERS.contains(&lower)
        || Scheme::Marionette
            .reserved_headers()
            .iter()
            .chain(Scheme::Standard.reserved_headers())
            .any(|h| h.eq_ignore_ascii_case(lower))
}

/// Whether the value of header `lower` (lowercase) is a credential: redacted wherever shown.
pub fn is_sensitive(lower: &str) -> bool {
    SIGNATURE_VALUE_HEADERS.contains(&lower)
        || SECRET_HEADERS.contains(&lower)
        || SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// Checks a custom header a webhook wants sent, for the config loader and the API to reject
/// bad ones with a reason. Refused: invalid names or values, the signature headers of both
/// schemes and `Content-Type` (Hookline sets them), and headers the HTTP client manages
/// (`Content-Length`, `Host`, `Transfer-Encoding`, `Connection`…). The value is never
/// quoted in the message: it may be a credential.
pub fn validate_custom_header(name: &str, value: &str) -> Result<(), String> {
    parse_custom_header(name, value).map(drop)
}

/// [`validate_custom_header`], returning the parsed name and value (marked sensitive when
/// [`is_sensitive`]).
pub fn parse_custom_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    if name.is_empty() {
        return Err("a header name is empty".to_owned());
    }
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("header `{name}`: not a valid HTTP header name"))?;
    let lower = header_name.as_str();
    if is_signature_header(lower) || lower == "content-type" {
        return Err(format!(
            "header `{name}` is set by Hookline on every delivery and cannot be overridden"
        ));
    }
    if TRANSPORT_HEADERS.contains(&lower) {
        return Err(format!(
            "header `{name}` is managed by the HTTP client and cannot be set"
        ));
    }
    let mut header_value = HeaderValue::from_str(value).map_err(|_| {
        format!("header `{name}`: the value contains characters not allowed in a header (such as a line break)")
    })?;
    header_value.set_sensitive(is_sensitive(lower));
    Ok((header_name, header_value))
}
