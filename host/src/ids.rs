//! Identifiers: a short prefix and 26 Crockford base32 characters encoding a 48-bit
//! millisecond timestamp and 80 random bits (ULID layout), e.g. `dlv_01JD3M…`.
//!
//! Ids sort by creation time (to the millisecond), which makes them good cursors.

use rand::RngCore;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new id `"{prefix}_{ulid}"` for the given creation time (Unix ms).
pub fn new_id_at(prefix: &str, unix_ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    let time = (unix_ms.max(0) as u128) & ((1u128 << 48) - 1);
    let value = (time << 80)
        | random
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        let digit = ((value >> (i * 5)) & 0x1f) as usize;
        out.push(char::from(ALPHABET[digit]));
    }
    out
}

/// A new id for now.
pub fn new_id(prefix: &str) -> String {
    new_id_at(prefix, chrono::Utc::now().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_layout_and_sort_by_time() {
        let a = new_id_at("dlv", 1_700_000_000_000);
        let b = new_id_at("dlv", 1_700_000_000_001);
        assert_eq!(a.len(), 30);
        assert!(a.starts_with("dlv_"));
        assert!(a < b);
        assert_ne!(new_id_at("x", 5), new_id_at("x", 5));
    }
}
