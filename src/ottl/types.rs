//! Static types the checker knows at config load: a literal's, a field's, a converter's
//! result. `Any` is a value only known when the statement runs (an attribute, a body).

/// A static type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Known only at run time.
    Any,
    /// Nil.
    Nil,
    /// Boolean.
    Bool,
    /// Integer.
    Int,
    /// Float.
    Double,
    /// String.
    Str,
    /// Bytes.
    Bytes,
    /// Map.
    Map,
    /// Slice or list.
    Slice,
    /// Timestamp.
    Time,
    /// Duration.
    Duration,
}

impl Ty {
    /// Its name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Any => "value",
            Ty::Nil => "nil",
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Double => "double",
            Ty::Str => "string",
            Ty::Bytes => "bytes",
            Ty::Map => "map",
            Ty::Slice => "list",
            Ty::Time => "time",
            Ty::Duration => "duration",
        }
    }

    /// Whether a value of this type may be passed where `want` is expected (checked again at
    /// run time when `self` is `Any`).
    pub fn fits(self, want: Ty) -> bool {
        self == want
            || self == Ty::Any
            || want == Ty::Any
            || self == Ty::Nil
            || (want == Ty::Double && self == Ty::Int)
    }
}
