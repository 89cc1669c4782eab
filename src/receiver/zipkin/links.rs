//! What OTLP-to-Zipkin exporters pack into strings, unpacked: span links in `otlp.link.N`
//! tags (`traceId|spanId|traceState|{json attributes}|dropped count`, N from 0 up to the
//! first missing, at most 128) and event attributes in annotation values
//! (`name|{json attributes}|dropped count`). The JSON part may itself contain `|`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};

use super::attributes::json_attributes;
use super::model::{Annotation, DecodeError};

/// Most `otlp.link.N` tags read, as the translator does.
const LINKS_MAX: usize = 128;

/// Takes the `otlp.link.N` tags out of `tags` as links.
pub fn links(index: usize, tags: &mut BTreeMap<String, String>) -> Result<Vec<Link>, DecodeError> {
    let mut links = Vec::new();
    for n in 0..LINKS_MAX {
        let Some(value) = tags.remove(&format!("otlp.link.{n}")) else {
            break;
        };
        let parts: Vec<&str> = value.split('|').collect();
        if parts.len() < 5 {
            continue;
        }
        let bad = |what: String| DecodeError::Encoded { index, what };
        let last = parts.len() - 1;
        let json = parts[3..last].join("|");
        links.push(Link {
            trace_id: hex_id::<16>(parts[0]).map_err(|e| bad(format!("otlp.link.{n}: {e}")))?,
            span_id: hex_id::<8>(parts[1]).map_err(|e| bad(format!("otlp.link.{n}: {e}")))?,
            trace_state: parts[2].to_owned(),
            attributes: json_attributes(&json)
                .map_err(|e| bad(format!("otlp.link.{n} attributes: {e}")))?,
            dropped_attributes_count: parts[last]
                .parse()
                .map_err(|e| bad(format!("otlp.link.{n} dropped count: {e}")))?,
            ..Default::default()
        });
    }
    Ok(links)
}

/// Annotations as span events.
pub fn events(index: usize, annotations: Vec<Annotation>) -> Result<Vec<Event>, DecodeError> {
    annotations
        .into_iter()
        .map(|a| {
            let time_unix_nano = a.timestamp_us.saturating_mul(1000);
            let parts: Vec<&str> = a.value.split('|').collect();
            if parts.len() < 3 {
                return Ok(Event {
                    time_unix_nano,
                    name: a.value,
                    ..Default::default()
                });
            }
            let bad = |what: String| DecodeError::Encoded { index, what };
            let last = parts.len() - 1;
            let json = parts[1..last].join("|");
            Ok(Event {
                time_unix_nano,
                name: parts[0].to_owned(),
                attributes: json_attributes(&json)
                    .map_err(|e| bad(format!("annotation {:?}: {e}", parts[0])))?,
                dropped_attributes_count: parts[last]
                    .parse()
                    .map_err(|e| bad(format!("annotation {:?} dropped count: {e}", parts[0])))?,
            })
        })
        .collect()
}

/// An id of `N` bytes from hex, maybe in quotes; empty is no id.
fn hex_id<const N: usize>(text: &str) -> Result<Vec<u8>, String> {
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.len() != N * 2 {
        return Err(format!("id {text:?} is not {} hex digits", N * 2));
    }
    (0..N)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| format!("id {text:?} is not hex"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    use super::*;

    #[test]
    fn links_unpack_until_the_first_gap() {
        let mut tags = BTreeMap::from([
            (
                "otlp.link.0".to_owned(),
                "0102030405060708090a0b0c0d0e0f10|0102030405060708|k=v|{\"a\":\"x|y\",\"n\":2}|1"
                    .to_owned(),
            ),
            ("otlp.link.2".to_owned(), "not read".to_owned()),
        ]);
        let links = links(0, &mut tags).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].trace_id[15], 0x10);
        assert_eq!(links[0].trace_state, "k=v");
        assert_eq!(links[0].dropped_attributes_count, 1);
        assert_eq!(links[0].attributes.len(), 2);
        assert!(tags.contains_key("otlp.link.2"));
        let mut bad = BTreeMap::from([("otlp.link.0".to_owned(), "zz|01|||0".to_owned())]);
        assert!(super::links(0, &mut bad).is_err());
    }

    #[test]
    fn annotations_unpack_attributes() {
        let events = events(
            0,
            vec![
                Annotation {
                    timestamp_us: 5,
                    value: "plain".into(),
                },
                Annotation {
                    timestamp_us: 6,
                    value: "ev|{\"k\":1.5,\"b\":true}|3".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(events[0].name, "plain");
        assert_eq!(events[0].time_unix_nano, 5000);
        assert_eq!(events[1].name, "ev");
        assert_eq!(events[1].dropped_attributes_count, 3);
        let values: Vec<_> = events[1]
            .attributes
            .iter()
            .map(|kv| kv.value.clone().unwrap().value.unwrap())
            .collect();
        assert!(values.contains(&Value::DoubleValue(1.5)));
        assert!(values.contains(&Value::BoolValue(true)));
        let bad = vec![Annotation {
            timestamp_us: 1,
            value: "ev|{not json|3".into(),
        }];
        assert!(super::events(0, bad).is_err());
    }
}
