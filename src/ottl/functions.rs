//! The functions this build knows: each one's name, whether it is an editor (changes the
//! item, starts a statement) or a converter (returns a value), its parameters and result
//! type, and the contexts it is limited to. The checker reads this table; `editors` and
//! `converters` implement the entries.

use super::context::Context;
use super::types::Ty;

/// A function.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Set,
    DeleteKey,
    DeleteMatchingKeys,
    KeepKeys,
    KeepMatchingKeys,
    Limit,
    MergeMaps,
    ReplacePattern,
    ReplaceAllPatterns,
    ReplaceMatch,
    ReplaceAllMatches,
    TruncateAll,
    Flatten,
    IsMatch,
    Concat,
    Split,
    ConvertCase,
    Int,
    Double,
    String,
    IsString,
    IsInt,
    Len,
    Sha256,
    ParseJson,
    Substring,
    Duration,
    UnixNano,
    Now,
    TraceId,
    SpanId,
    IsRootSpan,
    HasAttrKeyOnDatapoint,
    HasAttrOnDatapoint,
}

/// What an argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A path `set` may write.
    Target,
    /// A path naming a map (attributes, `cache`, a map inside them).
    MapTarget,
    /// A path `set` may write, holding a string.
    StrTarget,
    /// Any expression whose type fits.
    Get(Ty),
    /// A string literal.
    Str,
    /// An integer literal.
    Int,
    /// A string literal compiled as a regular expression.
    Regex,
    /// A string literal compiled as a glob pattern.
    Glob,
    /// A list literal of strings.
    StrList,
    /// A list of expressions.
    GetList,
    /// A string literal, one of these.
    OneOf(&'static [&'static str]),
}

/// One function's signature.
pub struct Spec {
    /// The function.
    pub func: Func,
    /// Its name in statements.
    pub name: &'static str,
    /// Named parameters; the first `required` must be given.
    pub params: &'static [(&'static str, Param)],
    /// How many parameters are required.
    pub required: usize,
    /// The result type (converters).
    pub ret: Ty,
    /// The only context it may be used in, if limited.
    pub only: Option<Context>,
    /// Only the filter processor offers it.
    pub filter_only: bool,
}

const fn spec(
    func: Func,
    name: &'static str,
    params: &'static [(&'static str, Param)],
    required: usize,
    ret: Ty,
) -> Spec {
    Spec {
        func,
        name,
        params,
        required,
        ret,
        only: None,
        filter_only: false,
    }
}

const MODES: &[&str] = &["key", "value"];
const STRATEGIES: &[&str] = &["insert", "update", "upsert"];
const CASES: &[&str] = &["lower", "upper", "snake", "camel"];

/// Every function, editors (lower case) then converters.
pub const SPECS: &[Spec] = &[
    spec(
        Func::Set,
        "set",
        &[("target", Param::Target), ("value", Param::Get(Ty::Any))],
        2,
        Ty::Nil,
    ),
    spec(
        Func::DeleteKey,
        "delete_key",
        &[("target", Param::MapTarget), ("key", Param::Get(Ty::Str))],
        2,
        Ty::Nil,
    ),
    spec(
        Func::DeleteMatchingKeys,
        "delete_matching_keys",
        &[("target", Param::MapTarget), ("pattern", Param::Regex)],
        2,
        Ty::Nil,
    ),
    spec(
        Func::KeepKeys,
        "keep_keys",
        &[("target", Param::MapTarget), ("keys", Param::StrList)],
        2,
        Ty::Nil,
    ),
    spec(
        Func::KeepMatchingKeys,
        "keep_matching_keys",
        &[("target", Param::MapTarget), ("pattern", Param::Regex)],
        2,
        Ty::Nil,
    ),
    spec(
        Func::Limit,
        "limit",
        &[
            ("target", Param::MapTarget),
            ("limit", Param::Int),
            ("priority_keys", Param::StrList),
        ],
        2,
        Ty::Nil,
    ),
    spec(
        Func::MergeMaps,
        "merge_maps",
        &[
            ("target", Param::MapTarget),
            ("source", Param::Get(Ty::Map)),
            ("strategy", Param::OneOf(STRATEGIES)),
        ],
        3,
        Ty::Nil,
    ),
    spec(
        Func::ReplacePattern,
        "replace_pattern",
        &[
            ("target", Param::StrTarget),
            ("regex", Param::Regex),
            ("replacement", Param::Get(Ty::Str)),
        ],
        3,
        Ty::Nil,
    ),
    spec(
        Func::ReplaceAllPatterns,
        "replace_all_patterns",
        &[
            ("target", Param::MapTarget),
            ("mode", Param::OneOf(MODES)),
            ("regex", Param::Regex),
            ("replacement", Param::Get(Ty::Str)),
        ],
        4,
        Ty::Nil,
    ),
    spec(
        Func::ReplaceMatch,
        "replace_match",
        &[
            ("target", Param::StrTarget),
            ("pattern", Param::Glob),
            ("replacement", Param::Get(Ty::Str)),
        ],
        3,
        Ty::Nil,
    ),
    spec(
        Func::ReplaceAllMatches,
        "replace_all_matches",
        &[
            ("target", Param::MapTarget),
            ("pattern", Param::Glob),
            ("replacement", Param::Get(Ty::Str)),
        ],
        3,
        Ty::Nil,
    ),
    spec(
        Func::TruncateAll,
        "truncate_all",
        &[("target", Param::MapTarget), ("limit", Param::Int)],
        2,
        Ty::Nil,
    ),
    spec(
        Func::Flatten,
        "flatten",
        &[
            ("target", Param::MapTarget),
            ("prefix", Param::Str),
            ("depth", Param::Int),
        ],
        1,
        Ty::Nil,
    ),
    spec(
        Func::IsMatch,
        "IsMatch",
        &[("target", Param::Get(Ty::Any)), ("pattern", Param::Regex)],
        2,
        Ty::Bool,
    ),
    spec(
        Func::Concat,
        "Concat",
        &[("values", Param::GetList), ("delimiter", Param::Str)],
        2,
        Ty::Str,
    ),
    spec(
        Func::Split,
        "Split",
        &[("target", Param::Get(Ty::Str)), ("delimiter", Param::Str)],
        2,
        Ty::Slice,
    ),
    spec(
        Func::ConvertCase,
        "ConvertCase",
        &[
            ("target", Param::Get(Ty::Str)),
            ("toCase", Param::OneOf(CASES)),
        ],
        2,
        Ty::Str,
    ),
    spec(
        Func::Int,
        "Int",
        &[("value", Param::Get(Ty::Any))],
        1,
        Ty::Int,
    ),
    spec(
        Func::Double,
        "Double",
        &[("value", Param::Get(Ty::Any))],
        1,
        Ty::Double,
    ),
    spec(
        Func::String,
        "String",
        &[("value", Param::Get(Ty::Any))],
        1,
        Ty::Str,
    ),
    spec(
        Func::IsString,
        "IsString",
        &[("value", Param::Get(Ty::Any))],
        1,
        Ty::Bool,
    ),
    spec(
        Func::IsInt,
        "IsInt",
        &[("value", Param::Get(Ty::Any))],
        1,
        Ty::Bool,
    ),
    spec(
        Func::Len,
        "Len",
        &[("target", Param::Get(Ty::Any))],
        1,
        Ty::Int,
    ),
    spec(
        Func::Sha256,
        "SHA256",
        &[("value", Param::Get(Ty::Str))],
        1,
        Ty::Str,
    ),
    spec(
        Func::ParseJson,
        "ParseJSON",
        &[("target", Param::Get(Ty::Str))],
        1,
        Ty::Any,
    ),
    spec(
        Func::Substring,
        "Substring",
        &[
            ("target", Param::Get(Ty::Str)),
            ("start", Param::Get(Ty::Int)),
            ("length", Param::Get(Ty::Int)),
        ],
        3,
        Ty::Str,
    ),
    spec(
        Func::Duration,
        "Duration",
        &[("duration", Param::Get(Ty::Str))],
        1,
        Ty::Duration,
    ),
    spec(
        Func::UnixNano,
        "UnixNano",
        &[("time", Param::Get(Ty::Time))],
        1,
        Ty::Int,
    ),
    spec(Func::Now, "Now", &[], 0, Ty::Time),
    spec(
        Func::TraceId,
        "TraceID",
        &[("bytes", Param::Get(Ty::Bytes))],
        1,
        Ty::Bytes,
    ),
    spec(
        Func::SpanId,
        "SpanID",
        &[("bytes", Param::Get(Ty::Bytes))],
        1,
        Ty::Bytes,
    ),
    Spec {
        only: Some(Context::Span),
        ..spec(Func::IsRootSpan, "IsRootSpan", &[], 0, Ty::Bool)
    },
    Spec {
        only: Some(Context::Metric),
        filter_only: true,
        ..spec(
            Func::HasAttrKeyOnDatapoint,
            "HasAttrKeyOnDatapoint",
            &[("key", Param::Str)],
            1,
            Ty::Bool,
        )
    },
    Spec {
        only: Some(Context::Metric),
        filter_only: true,
        ..spec(
            Func::HasAttrOnDatapoint,
            "HasAttrOnDatapoint",
            &[("key", Param::Str), ("expectedVal", Param::Str)],
            2,
            Ty::Bool,
        )
    },
];

/// The spec named `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

impl Spec {
    /// Whether it edits the item (editors start statements; converters return values).
    pub fn is_editor(&self) -> bool {
        self.name.starts_with(|c: char| c.is_ascii_lowercase())
    }
}

/// OTTL's enum names and their values.
pub fn enum_value(name: &str) -> Option<i64> {
    const SPAN_KINDS: [&str; 6] = [
        "UNSPECIFIED",
        "INTERNAL",
        "SERVER",
        "CLIENT",
        "PRODUCER",
        "CONSUMER",
    ];
    const STATUS: [&str; 3] = ["UNSET", "OK", "ERROR"];
    const METRIC_TYPES: [&str; 6] = [
        "NONE",
        "GAUGE",
        "SUM",
        "HISTOGRAM",
        "EXPONENTIAL_HISTOGRAM",
        "SUMMARY",
    ];
    const TEMPORALITY: [&str; 3] = ["UNSPECIFIED", "DELTA", "CUMULATIVE"];
    let pos = |list: &[&str], s: &str| list.iter().position(|x| *x == s).map(|p| p as i64);
    if let Some(s) = name.strip_prefix("SPAN_KIND_") {
        return pos(&SPAN_KINDS, s);
    }
    if let Some(s) = name.strip_prefix("STATUS_CODE_") {
        return pos(&STATUS, s);
    }
    if let Some(s) = name.strip_prefix("METRIC_DATA_TYPE_") {
        return pos(&METRIC_TYPES, s);
    }
    if let Some(s) = name.strip_prefix("AGGREGATION_TEMPORALITY_") {
        return pos(&TEMPORALITY, s);
    }
    if let Some(s) = name.strip_prefix("SEVERITY_NUMBER_") {
        return severity(s);
    }
    match name {
        "FLAG_NONE" => Some(0),
        "FLAG_NO_RECORDED_VALUE" => Some(1),
        _ => None,
    }
}

fn severity(s: &str) -> Option<i64> {
    if s == "UNSPECIFIED" {
        return Some(0);
    }
    let (base, step) = match s.char_indices().last() {
        Some((i, c @ '2'..='4')) => (&s[..i], i64::from(c as u8 - b'1')),
        _ => (s, 0),
    };
    let start = match base {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    };
    Some(start + step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_have_otlp_numbers() {
        assert_eq!(enum_value("SPAN_KIND_SERVER"), Some(2));
        assert_eq!(enum_value("STATUS_CODE_ERROR"), Some(2));
        assert_eq!(enum_value("SEVERITY_NUMBER_WARN"), Some(13));
        assert_eq!(enum_value("SEVERITY_NUMBER_ERROR3"), Some(19));
        assert_eq!(enum_value("METRIC_DATA_TYPE_SUM"), Some(2));
        assert_eq!(enum_value("SPAN_KIND_NOPE"), None);
    }
}
