//! Custom deserialisation: values parsed from strings (networks, event patterns) with the
//! string's own span, and a plugin's TOML configuration turned into JSON text.

use std::fmt;

use hookline_core::pattern::Pattern;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

// Values parsed from a string are parsed inside a visitor, not after `String::deserialize`
// returns: the toml deserializer attaches the span of the value being visited to errors
// raised during the visit, so an error names `allowed_networks[1]`, not the whole list.

/// A string parsed by `parse`; errors carry the string's own span.
pub(super) struct ParsedStr<T>(T);

pub(super) trait FromConfigStr: Sized {
    const EXPECTING: &'static str;
    fn from_config_str(s: &str) -> Result<Self, String>;
}

impl<'de, T: FromConfigStr> Deserialize<'de> for ParsedStr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<T: FromConfigStr> serde::de::Visitor<'_> for Visit<T> {
            type Value = ParsedStr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::from_config_str(s).map(ParsedStr).map_err(E::custom)
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

impl FromConfigStr for IpNet {
    const EXPECTING: &'static str = "a network in CIDR notation";

    /// CIDR, or a bare address meaning that one host; host bits are cleared.
    fn from_config_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if let Ok(net) = trimmed.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        if let Ok(addr) = trimmed.parse::<std::net::IpAddr>() {
            return Ok(IpNet::from(addr));
        }
        Err(format!(
            "`{}` is not a network in CIDR notation (like `10.0.0.0/8` or `::1/128`) \
             nor an IP address",
            text.escape_debug()
        ))
    }
}

impl FromConfigStr for Pattern {
    const EXPECTING: &'static str = "an event pattern";

    fn from_config_str(text: &str) -> Result<Self, String> {
        Pattern::parse(text).map_err(|e| e.to_string())
    }
}

pub(super) fn parsed_list<'de, D: Deserializer<'de>, T: FromConfigStr>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<ParsedStr<T>>::deserialize(d)?
        .into_iter()
        .map(|p| p.0)
        .collect())
}

pub(super) fn plugin_config_json<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let table = toml::Table::deserialize(d)?;
    let json = toml_to_json(toml::Value::Table(table)).map_err(serde::de::Error::custom)?;
    Ok(Some(json.to_string()))
}

/// TOML to JSON: datetimes become strings (RFC 3339); NaN and infinities are refused.
pub(super) fn toml_to_json(value: toml::Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("{f} cannot be represented in JSON"))?,
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// The fields serde's derive declared for the struct `T`, in order: the keys a table of that
/// type accepts. (`T::deserialize` is called on a deserializer that records them and stops.)
pub(super) fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}
