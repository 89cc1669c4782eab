//! Decoding helpers shared by the section modules: typed decoding with key paths, lenient
//! strings, `key:` with a null body meaning "defaults", and warnings for accepted-but-unused keys.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_path_to_error::Segment;
use serde_yaml::{Mapping, Value};

use super::error::ConfigError;

/// Joins a parent key path and a child key with `::`.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// Decodes `value` into `T`, naming the full key path (`path` + where inside) in errors.
///
/// A null body (`batch:` with nothing after it) decodes as an empty mapping, i.e. all defaults.
pub(crate) fn decode<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, ConfigError> {
    let value = if value.is_null() {
        Value::Mapping(Mapping::new())
    } else {
        value
    };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut full = path.to_owned();
        for segment in err.path().iter() {
            match segment {
                Segment::Seq { index } => full.push_str(&format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    full = join(&full, key);
                }
                Segment::Unknown => full = join(&full, "?"),
            }
        }
        let mut message = err.into_inner().to_string();
        // Derived visitors name the internal type ("expected struct RawOtlp"); say what it is.
        if let Some(pos) = message.find("expected struct Raw") {
            message.truncate(pos);
            message.push_str("expected a mapping");
        }
        ConfigError::Decode {
            path: full,
            message,
        }
    })
}

/// For `#[serde(default, deserialize_with = "present")]`: a key that is present with a null
/// body becomes `Some(T::default())`; an absent key stays `None` (via `default`).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// A string-valued setting that also accepts a YAML number or bool as its text, so that
/// `${env:TOKEN}` expanding to `12345` still fits a string field (as in otelcol).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

/// Renders a float the way [`Text`] and env expansion agree on (`1.5`, `100.0`).
pub(crate) fn float_text(v: f64) -> String {
    format!("{v:?}")
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(float_text(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

/// What a warning says about an otelcol key this build accepts but does not act on.
pub(crate) const IGNORED: &str =
    "accepted for otelcol compatibility but not acted on by this build";

/// Warns that `path` is set but this build does not act on it (otelcol keys kept for compatibility).
pub(crate) fn warn_ignored(errs: &mut super::error::Errors, path: &str, value: &Option<Value>) {
    if value.is_some() {
        errs.warn(path, IGNORED);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        size: Option<u64>,
        name: Option<Text>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Outer {
        #[serde(deserialize_with = "present")]
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn null_body_and_null_key_mean_defaults() {
        let o: Outer = decode(Value::Null, "x").unwrap();
        assert!(o.inner.is_none());
        let o: Outer = decode(yaml("inner:"), "x").unwrap();
        assert!(o.inner.is_some());
    }

    #[test]
    fn errors_carry_the_full_path() {
        let err = decode::<Outer>(yaml("inner: {size: x}"), "receivers::otlp").unwrap_err();
        assert_eq!(
            err.to_string(),
            "receivers::otlp::inner::size: invalid type: string \"x\", expected u64"
        );
        let err = decode::<Outer>(yaml("list: [{}, {sise: 1}]"), "a").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("a::list[1]"), "{msg}");
        assert!(msg.contains("unknown field `sise`"), "{msg}");
    }

    #[test]
    fn text_accepts_scalars() {
        let i: Inner = decode(yaml("name: 12345"), "x").unwrap();
        assert_eq!(i.name, Some(Text("12345".into())));
        let i: Inner = decode(yaml("name: true"), "x").unwrap();
        assert_eq!(i.name, Some(Text("true".into())));
        let i: Inner = decode(yaml("name: 1.5"), "x").unwrap();
        assert_eq!(i.name, Some(Text("1.5".into())));
        assert!(decode::<Inner>(yaml("name: [1]"), "x").is_err());
        let m: std::collections::BTreeMap<String, Text> = decode(yaml("a: ~"), "x").unwrap();
        assert_eq!(m["a"], Text(String::new()));
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct RawThing {
        inner: Option<Inner>,
    }

    #[test]
    fn non_mapping_bodies_do_not_leak_type_names() {
        let err = decode::<RawThing>(yaml("5"), "receivers::otlp").unwrap_err();
        assert_eq!(
            err.to_string(),
            "receivers::otlp: invalid type: integer `5`, expected a mapping"
        );
    }
}
