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
    let random = random
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    encode(prefix, (time_bits(unix_ms) << 80) | random)
}

/// The smallest id [`new_id_at`] can make with `prefix` at `unix_ms`: every id made earlier
/// sorts below it, every id made then or later does not.
pub fn id_floor(prefix: &str, unix_ms: i64) -> String {
    encode(prefix, time_bits(unix_ms) << 80)
}

fn time_bits(unix_ms: i64) -> u128 {
    (unix_ms.max(0) as u128) & ((1u128 << 48) - 1)
}

fn encode(prefix: &str, value: u128) -> String {
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

    #[test]
    fn the_floor_of_a_millisecond_splits_ids_made_before_from_the_rest() {
        let floor = id_floor("dlv", 1_700_000_000_000);
        for _ in 0..100 {
            assert!(new_id_at("dlv", 1_699_999_999_999) < floor);
            assert!(new_id_at("dlv", 1_700_000_000_000) >= floor);
        }
        assert_eq!(floor.len(), 30);
    }
}
