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

// --- Webhook fields ----------------------------------------------------------------------
//
// Each rule returns the reason alone ("must be between 1 and 100, got 0"); the caller names
// the place: the config loader as `file:line:col: `webhooks[0].max_attempts`: …`, the API as
// `{"field": "max_attempts", "message": …}`. So both paths refuse the same values with the
// same words.

/// The longest webhook id.
pub const MAX_WEBHOOK_ID_LEN: usize = 64;
/// A request timeout, in seconds (per webhook or `[delivery] timeout_seconds`).
pub const TIMEOUT_SECONDS: (u64, u64) = (1, 3600);
/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: (u32, u32) = (1, 100);
/// Delays in an explicit retry schedule: at most this many.
pub const MAX_SCHEDULE_LEN: usize = 100;
/// One delay of an explicit retry schedule, in seconds (at most a day).
pub const SCHEDULE_DELAY_SECONDS: (u64, u64) = (0, 24 * 60 * 60);
/// A webhook's rate limit, in requests per second.
pub const RATE_LIMIT_PER_SECOND: (u32, u32) = (1, 1_000_000);
/// Requests in flight at once: the engine-wide worker pool and a webhook's own limit.
pub const MAX_CONCURRENCY: (u32, u32) = (1, 4096);

/// `value` within `(min, max)`, both included: "must be between 1 and 100, got 0".
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    value: T,
    (min, max): (T, T),
) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!("must be between {min} and {max}, got {value}"));
    }
    Ok(())
}

/// A webhook id: 1 to [`MAX_WEBHOOK_ID_LEN`] of `A-Z a-z 0-9 _ . -`.
pub fn check_webhook_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_WEBHOOK_ID_LEN {
        return Err(format!(
            "webhook id must be 1 to {MAX_WEBHOOK_ID_LEN} characters long, got {}",
            id.chars().count()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "webhook id `{}` has the character {c:?}: only ASCII letters, digits, `_`, `.` and `-` are allowed",
            id.escape_debug()
        ));
    }
    Ok(())
}

/// The shape of a webhook URL: absolute, `http` or `https`, with a host, without a fragment.
/// Where it may point (private addresses, the allow-list) is the SSRF guard's rule, checked
/// by the engine against its network policy.
pub fn check_webhook_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("`{}` is not a valid URL: {e}", url.escape_debug()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`{}`: only http and https URLs are allowed, not `{}`",
            url.escape_debug(),
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` has no host", url.escape_debug()));
    }
    if parsed.fragment().is_some() {
        return Err(format!(
            "`{}` has a fragment (`#…`), which is never sent; remove it",
            url.escape_debug()
        ));
    }
    Ok(parsed)
}

/// A webhook's request timeout against the delivery lease: a request still running when its
/// lease ends lets another worker send the delivery again.
pub fn check_timeout(timeout_seconds: u64, lease_seconds: u64) -> Result<(), String> {
    check_range(timeout_seconds, TIMEOUT_SECONDS)?;
    if timeout_seconds >= lease_seconds {
        return Err(format!(
            "must be less than `delivery.lease_seconds` ({lease_seconds}), got \
             {timeout_seconds}: a request still running when its lease ends lets another \
             worker send the delivery again"
        ));
    }
    Ok(())
}

/// An explicit retry schedule: 1 to [`MAX_SCHEDULE_LEN`] delays of at most a day. On error,
/// the index of the offending delay, when one delay is at fault.
pub fn check_schedule(delays: &[u64]) -> Result<(), (Option<usize>, String)> {
    if delays.is_empty() {
        return Err((
            None,
            "must list at least one delay (or be left unset)".to_owned(),
        ));
    }
    if delays.len() > MAX_SCHEDULE_LEN {
        return Err((
            None,
            format!("at most {MAX_SCHEDULE_LEN} delays, got {}", delays.len()),
        ));
    }
    for (i, &delay) in delays.iter().enumerate() {
        check_range(delay, SCHEDULE_DELAY_SECONDS).map_err(|e| (Some(i), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_and_signature_headers_are_refused_with_their_reason() {
        let e = validate_custom_header("Expect", "100-continue").unwrap_err();
        assert_eq!(
            e,
            "header `Expect` is managed by the HTTP client and cannot be set"
        );
        let e = validate_custom_header("webhook-signature", "x").unwrap_err();
        assert!(e.contains("set by Hookline"), "{e}");
        assert!(validate_custom_header("X-Team", "billing").is_ok());
    }

    #[test]
    fn urls_need_http_a_host_and_no_fragment() {
        assert!(check_webhook_url("https://example.com/hook").is_ok());
        assert!(
            check_webhook_url("ftp://example.com/")
                .unwrap_err()
                .contains("only http")
        );
        assert!(
            check_webhook_url("https://example.com/#x")
                .unwrap_err()
                .contains("fragment")
        );
        assert!(
            check_webhook_url("/relative")
                .unwrap_err()
                .contains("not a valid URL")
        );
    }

    #[test]
    fn a_timeout_must_end_before_the_lease() {
        assert!(check_timeout(299, 300).is_ok());
        let e = check_timeout(300, 300).unwrap_err();
        assert!(
            e.starts_with("must be less than `delivery.lease_seconds` (300), got 300"),
            "{e}"
        );
        assert_eq!(
            check_timeout(0, 300).unwrap_err(),
            "must be between 1 and 3600, got 0"
        );
    }

    #[test]
    fn schedules_are_bounded_in_length_and_delay() {
        assert!(check_schedule(&[5, 300]).is_ok());
        assert_eq!(check_schedule(&[]).unwrap_err().0, None);
        assert_eq!(check_schedule(&[0; 101]).unwrap_err().0, None);
        let (at, e) = check_schedule(&[5, 90_000]).unwrap_err();
        assert_eq!(at, Some(1));
        assert_eq!(e, "must be between 0 and 86400, got 90000");
    }

    #[test]
    fn ids_are_short_and_plain() {
        assert!(check_webhook_id("billing-v2.eu_1").is_ok());
        assert!(check_webhook_id("").is_err());
        assert!(check_webhook_id(&"a".repeat(65)).is_err());
        assert!(check_webhook_id("a b").unwrap_err().contains("' '"));
    }
}
