//! Client metadata: the request headers (HTTP) or gRPC metadata that a receiver with
//! `include_metadata: true` keeps with the data it takes in, as otelcol's
//! `client.Info.Metadata`. A `batch` with `metadata_keys` groups by it, and the
//! `headers_setter` extension reads it (`from_context`) to set an export's headers.
//!
//! Invariants:
//! - keys are kept lowercased, and lookups ignore ASCII case (HTTP/2 sends names lowercased;
//!   HTTP/1.1 names are case-insensitive);
//! - an empty `Metadata` holds no allocation: where the feature is not configured (no
//!   `include_metadata`, a `batch` without `metadata_keys`) the data carries
//!   `Metadata::default()` and pays nothing for it;
//! - it stays with its request inside the shard that read it (a request carrying metadata is
//!   never handed to a peer: `receiver::handoff` moves bodies only);
//! - its size is bounded by the transport's header limits (`h2_max_header_list_bytes`, the
//!   HTTP/1.1 head limit): it holds nothing the request head did not.

use std::rc::Rc;

/// One metadata entry: a lowercased name and one of its values.
type Pair = (Box<str>, Box<str>);

/// Metadata of the client request some data came in with; cheap to clone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Metadata(Option<Rc<[Pair]>>);

impl Metadata {
    /// Metadata of `pairs` (name, value), names lowercased; one pair per value, in order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Metadata {
        let pairs: Vec<Pair> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase().into_boxed_str(), v.into()))
            .collect();
        match pairs.is_empty() {
            true => Metadata::default(),
            false => Metadata(Some(pairs.into())),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn pairs(&self) -> &[Pair] {
        self.0.as_deref().unwrap_or_default()
    }

    /// The values of `key`, in the order they came; the key's case does not matter.
    pub fn get<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs()
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| &**v)
    }

    /// Only the values of `keys` (lowercased), key by key in that order: two requests whose
    /// selections are equal belong to the same batch.
    pub fn select(&self, keys: &[String]) -> Metadata {
        if self.is_empty() {
            return Metadata::default();
        }
        let pairs = keys
            .iter()
            .flat_map(|key| self.get(key).map(move |v| (key.as_str(), v)));
        Metadata::from_pairs(pairs)
    }

    /// Every (name, value) pair.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().map(|(k, v)| (&**k, &**v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_every_value() {
        let m = Metadata::from_pairs([("X-Tenant", "a"), ("other", "x"), ("x-tenant", "b")]);
        assert_eq!(m.get("x-TENANT").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("missing").count(), 0);
        assert!(Metadata::from_pairs([]).is_empty());
    }

    /// A missing key and a key with a value are different groups; the order of the
    /// configured keys, not of the headers, decides the selection.
    #[test]
    fn selections_tell_groups_apart() {
        let keys = ["x-tenant".to_owned(), "x-env".to_owned()];
        let a = Metadata::from_pairs([("x-env", "prod"), ("X-Tenant", "a"), ("ua", "1")]);
        let b = Metadata::from_pairs([("x-tenant", "a"), ("x-env", "prod"), ("ua", "2")]);
        let c = Metadata::from_pairs([("x-tenant", "a")]);
        assert_eq!(a.select(&keys), b.select(&keys));
        assert_ne!(a.select(&keys), c.select(&keys));
        assert_eq!(
            a.select(&keys).iter().collect::<Vec<_>>(),
            [("x-tenant", "a"), ("x-env", "prod")]
        );
        assert!(Metadata::default().select(&keys).is_empty());
    }
}
