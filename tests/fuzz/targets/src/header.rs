//! Target 4: the check a plugin's returned headers go through before they are sent
//! (`check_outcome` in host/plugin calls [`validate_custom_header`] on each, and checks the
//! content type as a header value). The webhook config and API use the same rule.

use hookline_core::rules::{
    TRANSPORT_HEADERS, is_sensitive, is_signature_header, parse_custom_header,
    validate_custom_header,
};

/// Input: `name \0 value`.
///
/// Asserts: [`parse_custom_header`] and [`validate_custom_header`] agree; an accepted header
/// keeps its name (lower-cased) and value byte for byte, is marked sensitive exactly when
/// [`is_sensitive`] says, and is none of the headers Hookline or the HTTP client set; a
/// refusal's reason does not depend on the value (so never quotes it).
pub fn plugin_header(data: &[u8]) {
    let (name, value) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let name = String::from_utf8_lossy(name);
    let value = String::from_utf8_lossy(value);
    let parsed = parse_custom_header(&name, &value);
    assert_eq!(
        parsed.is_ok(),
        validate_custom_header(&name, &value).is_ok()
    );
    match parsed {
        Ok((header_name, header_value)) => {
            let lower = header_name.as_str();
            assert_eq!(lower, name.to_ascii_lowercase());
            assert_eq!(header_value.as_bytes(), value.as_bytes());
            assert_eq!(header_value.is_sensitive(), is_sensitive(lower));
            assert!(!is_signature_header(lower));
            assert_ne!(lower, "content-type");
            assert!(!TRANSPORT_HEADERS.contains(&lower));
            // What the HTTP client will send: a valid header pair.
            let mut map = http::HeaderMap::new();
            map.insert(header_name.clone(), header_value);
            assert_eq!(map.len(), 1);
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            // A refused value may be a credential, so the reason must not depend on it (it
            // cannot quote it): the same as for a value that is always refused.
            let always_refused = parse_custom_header(&name, "\n").map(drop).unwrap_err();
            assert_eq!(reason, always_refused, "the reason depends on the value");
        }
    }
}
