//! Signature checks written from the documented wire format, independently of Hookline's own
//! signing code: HMAC-SHA256 straight from `hmac` and `sha2`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The origin's `X-Webhook-Signature`: `sha256=` + lowercase hex of
/// HMAC-SHA256(key = the secret's UTF-8 bytes, message = `<timestamp>.<body>`).
pub fn marionette_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(tag))
}

/// The Standard Webhooks `v1` signature: `v1,` + base64 of HMAC-SHA256(key = base64-decoded
/// part of the `whsec_` secret, message = `<id>.<timestamp>.<body>`).
pub fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let encoded = secret
        .strip_prefix("whsec_")
        .unwrap_or_else(|| panic!("a Standard Webhooks secret starts with whsec_: {secret}"));
    let key = BASE64
        .decode(encoded)
        .unwrap_or_else(|e| panic!("whsec_ secret is not base64 ({e}): {secret}"));
    let tag = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(tag))
}

/// Whether a `webhook-signature` header (space-separated `v1,<base64>` entries) holds the
/// signature `expected`.
pub fn standard_header_contains(header: &str, expected: &str) -> bool {
    header.split(' ').any(|sig| sig == expected)
}
