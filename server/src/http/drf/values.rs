//! Values: a top-level field value and a Python `str` as Python holds them.

/// A top-level value as Python holds it. Nested containers only keep whether they are
/// empty (all that truthiness and `CharField` need), which bounds memory to the input.
#[derive(Debug, Clone)]
pub(super) enum Val {
    Null,
    Bool(bool),
    /// `str(int)`: the JSON digits (`-0` becomes `0`).
    Int(String),
    Float(f64),
    Str(PyStr),
    /// Non-empty?
    Array(bool),
    /// Non-empty?
    Object(bool),
    /// An uploaded file, by its sanitized name (only its blankness matters).
    File(String),
}

impl Val {
    pub(super) fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Int(digits) => digits != "0",
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.text.is_empty(),
            Val::Array(non_empty) | Val::Object(non_empty) => *non_empty,
            // `File.__bool__` is `bool(self.name)`; a kept file always has a name.
            Val::File(_) => true,
        }
    }

    pub(super) fn python_type(&self) -> &'static str {
        match self {
            Val::Null => "NoneType",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float",
            Val::Str(_) => "str",
            Val::Array(_) => "list",
            Val::Object(_) => "dict",
            Val::File(_) => "InMemoryUploadedFile",
        }
    }
}

/// A Python `str`, which (from JSON `\uD800` escapes) may hold lone surrogates that a Rust
/// `String` cannot: they are stored as U+FFFD and the first one is remembered for DRF's
/// `ProhibitSurrogateCharactersValidator`. Neither is whitespace, so trimming and blank
/// checks see the same thing Python does.
#[derive(Debug, Clone, Default)]
pub(super) struct PyStr {
    pub(super) text: String,
    pub(super) surrogate: Option<u32>,
}

impl PyStr {
    pub(super) fn push_code(&mut self, code: u32) {
        match char::from_u32(code) {
            Some(c) => self.text.push(c),
            None => {
                self.surrogate.get_or_insert(code);
                self.text.push('\u{FFFD}');
            }
        }
    }

    /// A key with a lone surrogate can never equal a field name.
    pub(super) fn into_valid(self) -> Option<String> {
        match self.surrogate {
            None => Some(self.text),
            Some(_) => None,
        }
    }
}
