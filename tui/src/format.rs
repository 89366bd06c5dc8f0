//! Short human formats for durations, counts, rates and times.

use hookline_contract::Millis;

/// A duration in ms as `850ms`, `4.2s`, `3m05s`, `2h04m`, `3d04h`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 10_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    age(ms as i64)
}

/// An age or countdown in ms, to the second: `0s`, `42s`, `3m05s`, `2h04m`, `3d04h`.
pub fn age(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A short duration in µs: `850µs`, `12.4ms`, `1.2s`, or `-`.
pub fn micros(us: Option<u64>) -> String {
    match us {
        None => "-".to_owned(),
        Some(us @ 0..1000) => format!("{us}µs"),
        Some(us @ 1000..100_000) => format!("{:.1}ms", us as f64 / 1000.0),
        Some(us) => duration_ms(us / 1000),
    }
}

/// An optional latency: `12ms`, `1.2s`, or `-`.
pub fn latency(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), duration_ms)
}

/// A count: `987`, `12.3k`, `4.56M`.
pub fn count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1}k", n as f64 / 1000.0),
        _ => format!("{:.2}M", n as f64 / 1_000_000.0),
    }
}

/// A rate per second: `0`, `3.5`, `120`, `12.3k`.
pub fn rate(r: f64) -> String {
    if r <= 0.0 {
        "0".to_owned()
    } else if r < 10.0 {
        format!("{r:.1}")
    } else {
        count(r.round() as u64)
    }
}

/// A percentage of `part` in `whole`: `99.5%`, or `-` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p >= 99.95 && part < whole {
        "99.9%".to_owned()
    } else {
        format!("{p:.1}%")
    }
}

/// A time as `2025-01-31 12:00:00.123` (UTC).
pub fn timestamp(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `text` cut to `width` characters, with `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(4200), "4.2s");
        assert_eq!(duration_ms(185_000), "3m05s");
        assert_eq!(age(-5), "0s");
        assert_eq!(age(7_440_000), "2h04m");
        assert_eq!(age(273_600_000), "3d04h");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(4_560_000), "4.56M");
        assert_eq!(rate(3.46), "3.5");
        assert_eq!(rate(5012.4), "5012");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(9999, 10000), "99.9%");
        assert_eq!(percent(0, 0), "-");
        assert_eq!(timestamp(1_738_324_800_123), "2025-01-31 12:00:00.123");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
