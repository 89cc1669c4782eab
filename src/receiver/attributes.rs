//! An OTLP attribute list as the receivers that translate other formats build one: insertion
//! order kept, one entry per key (a later put replaces, as pdata's `Put*` does).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// An attribute list in insertion order where a key appears once (a later put replaces).
#[derive(Default)]
pub struct Attributes(Vec<KeyValue>);

impl Attributes {
    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: any_value::Value) {
        let value = Some(AnyValue { value: Some(value) });
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.0.push(KeyValue {
                key: key.to_owned(),
                value,
                ..Default::default()
            }),
        }
    }

    /// Sets `key` to a string.
    pub fn put_str(&mut self, key: &str, value: &str) {
        self.put(key, any_value::Value::StringValue(value.to_owned()));
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&any_value::Value> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    /// The value of `key` as a string (empty when unset or not a string, as pdata's `Str`).
    pub fn get_str(&self, key: &str) -> String {
        match self.get(key) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            _ => String::new(),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<any_value::Value> {
        let at = self.0.iter().position(|kv| kv.key == key)?;
        self.0.remove(at).value.and_then(|v| v.value)
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|kv| kv.key == key)
    }

    /// The list.
    pub fn into_vec(self) -> Vec<KeyValue> {
        self.0
    }
}
