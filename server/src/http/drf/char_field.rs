//! DRF's `CharField` validation.

use super::pystr::{py_float_repr, py_strip};
use super::values::Val;
use super::Trim;

const REQUIRED: &str = "This field is required.";
const BLANK: &str = "This field may not be blank.";
const NULL: &str = "This field may not be null.";
const INVALID: &str = "Not a valid string.";

/// `CharField(trim_whitespace=...).run_validation(field.get_value(data))`.
pub(super) fn char_field(value: Option<&Val>, trim: Trim) -> Result<String, Vec<String>> {
    let trim = trim == Trim::Yes;
    let err = |message: &str| Err(vec![message.to_owned()]);
    // `run_validation` tests blankness on `str(data)` before anything else, so a file
    // whose name is blank is "blank", and `None`/lists/numbers never are.
    let Some(value) = value else {
        return err(REQUIRED);
    };
    match value {
        Val::Null => err(NULL),
        Val::Bool(_) | Val::Array(_) | Val::Object(_) => err(INVALID),
        Val::File(name) if trim && py_strip(name).is_empty() => err(BLANK),
        Val::File(_) => err(INVALID),
        Val::Int(digits) => Ok(digits.clone()),
        Val::Float(f) => Ok(py_float_repr(*f)),
        Val::Str(s) => {
            if s.text.is_empty() || (trim && py_strip(&s.text).is_empty()) {
                return err(BLANK);
            }
            let value = if trim { py_strip(&s.text) } else { &s.text };
            // `run_validators` collects every validator's error.
            let mut errors = Vec::new();
            if value.contains('\0') {
                errors.push("Null characters are not allowed.".to_owned());
            }
            if let Some(code) = s.surrogate {
                errors.push(format!("Surrogate characters are not allowed: U+{code:X}."));
            }
            if errors.is_empty() {
                Ok(value.to_owned())
            } else {
                Err(errors)
            }
        }
    }
}
