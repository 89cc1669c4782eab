//! Which fields of its item a compiled condition reads, so a caller can decode only those
//! (the filter processor's fast path decodes a span or log record from just these fields).

use super::ast::Key;
use super::compile::{Arg, Call, Getter};
use super::functions::Func;
use super::paths::Field;

/// What conditions read of their item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Item-level fields read (resource and scope fields are not listed).
    pub fields: Vec<Field>,
    /// Attribute keys read by `attributes["key"]...`; `None` once the whole map is read.
    pub attribute_keys: Option<Vec<String>>,
    /// Whether attributes are read at all.
    pub attributes: bool,
    /// Something that needs the whole item (a field this analysis does not map).
    pub everything: bool,
    /// Whether the resource or scope is read.
    pub outer: bool,
    /// Whether the clock is read (`Now()`): the same item may then give another result.
    pub clock: bool,
}

impl Reads {
    fn path(&mut self, field: Field, keys: &[Key]) {
        use Field as F;
        match field {
            F::Cache => {}
            F::ResourceAttributes
            | F::ResourceDroppedAttributesCount
            | F::ScopeName
            | F::ScopeVersion
            | F::ScopeAttributes
            | F::ScopeDroppedAttributesCount => self.outer = true,
            F::SpanAttributes | F::LogAttributes => {
                let first = match keys.first() {
                    Some(Key::Str(k)) => Some(k.clone()),
                    _ => None,
                };
                match (first, self.attributes) {
                    (Some(k), false) => self.attribute_keys = Some(vec![k]),
                    (Some(k), true) => {
                        if let Some(list) = &mut self.attribute_keys {
                            list.push(k);
                        }
                    }
                    (None, _) => self.attribute_keys = None,
                }
                self.attributes = true;
            }
            other => self.fields.push(other),
        }
    }

    fn call(&mut self, c: &Call) {
        if c.func == Func::IsRootSpan {
            self.fields.push(Field::ParentSpanId(false));
        }
        self.clock |= c.func == Func::Now;
        for a in &c.args {
            match a {
                Arg::Get(g) => self.getter(g),
                Arg::Gets(gs) => gs.iter().for_each(|g| self.getter(g)),
                Arg::Path(_) => self.everything = true,
                _ => {}
            }
        }
    }

    /// Adds what `g` reads.
    pub fn getter(&mut self, g: &Getter) {
        match g {
            Getter::Lit(_) => {}
            Getter::Path(p) => self.path(p.field, &p.keys),
            Getter::Call(c, _) => self.call(c),
            Getter::List(items) => items.iter().for_each(|g| self.getter(g)),
            Getter::Map(entries) => entries.iter().for_each(|(_, g)| self.getter(g)),
            Getter::Cmp(_, a, b) | Getter::Math(_, a, b) | Getter::And(a, b) | Getter::Or(a, b) => {
                self.getter(a);
                self.getter(b);
            }
            Getter::Not(a) => self.getter(a),
        }
    }
}
