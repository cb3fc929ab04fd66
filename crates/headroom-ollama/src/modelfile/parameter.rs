//! The PARAMETER names Ollama knows, their types, and value checks that match Ollama's own.
//!
//! Source: `api/types.go` (`Options`, `Runner`, `FormatParams`) and `parser/parser.go`
//! (`deprecatedParameters`) of ollama/ollama at v0.33.0-rc2 (HEAD `fb30760`). `FormatParams`
//! looks a name up among the JSON tags of `api.Options` (exact, case-sensitive match) and parses
//! the value with Go's `strconv.ParseInt(v, 10, 64)`, `strconv.ParseFloat(v, 32)` or
//! `strconv.ParseBool(v)` by the field's Go type.

use serde::Serialize;

/// The value type of a known parameter, as declared in `api.Options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterKind {
    /// Go `int` (or `*int`): parsed with `strconv.ParseInt(v, 10, 64)`.
    Integer,
    /// Go `float32`: parsed with `strconv.ParseFloat(v, 32)`.
    Float,
    /// Go `*bool`: parsed with `strconv.ParseBool`.
    Boolean,
    /// Go `[]string`: every PARAMETER line adds one element (`stop`).
    StringList,
}

/// One parameter Ollama accepts in a Modelfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KnownParameter {
    /// The name, exactly as the `json` tag in `api.Options`.
    pub name: &'static str,
    /// Its value type.
    pub kind: ParameterKind,
    /// True for `Runner` options, which take effect when the model is loaded (a change reloads it).
    pub load_time: bool,
}

const fn known(name: &'static str, kind: ParameterKind, load_time: bool) -> KnownParameter {
    KnownParameter {
        name,
        kind,
        load_time,
    }
}

/// Every parameter of `api.Options` at Ollama v0.33.0-rc2 (`api/types.go`), in declaration order.
pub const KNOWN_PARAMETERS: &[KnownParameter] = &[
    // `Runner`: set when the model is loaded.
    known("num_ctx", ParameterKind::Integer, true),
    known("num_batch", ParameterKind::Integer, true),
    known("num_gpu", ParameterKind::Integer, true),
    known("main_gpu", ParameterKind::Integer, true),
    known("use_mmap", ParameterKind::Boolean, true),
    known("num_thread", ParameterKind::Integer, true),
    known("draft_num_predict", ParameterKind::Integer, true),
    // Predict options, used per request.
    known("num_keep", ParameterKind::Integer, false),
    known("seed", ParameterKind::Integer, false),
    known("num_predict", ParameterKind::Integer, false),
    known("top_k", ParameterKind::Integer, false),
    known("top_p", ParameterKind::Float, false),
    known("min_p", ParameterKind::Float, false),
    known("typical_p", ParameterKind::Float, false),
    known("repeat_last_n", ParameterKind::Integer, false),
    known("temperature", ParameterKind::Float, false),
    known("repeat_penalty", ParameterKind::Float, false),
    known("presence_penalty", ParameterKind::Float, false),
    known("frequency_penalty", ParameterKind::Float, false),
    known("stop", ParameterKind::StringList, false),
];

/// Parameters Ollama still accepts in a Modelfile but ignores with
/// `warning: parameter X is deprecated` (`parser/parser.go` `deprecatedParameters`, v0.33.0-rc2).
pub const DEPRECATED_PARAMETERS: &[&str] = &[
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
];

/// Looks a parameter up by its exact (case-sensitive) name.
pub fn known_parameter(name: &str) -> Option<&'static KnownParameter> {
    KNOWN_PARAMETERS
        .iter()
        .find(|parameter| parameter.name == name)
}

/// True when Ollama warns about and ignores this parameter.
pub fn is_deprecated(name: &str) -> bool {
    DEPRECATED_PARAMETERS.contains(&name)
}

/// A parameter value after Ollama's type conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// An integer option.
    Integer(i64),
    /// A float option (Go keeps it as `float32`).
    Float(f32),
    /// A boolean option.
    Boolean(bool),
    /// `stop`: one entry per PARAMETER line.
    StringList(Vec<String>),
}

/// Why a PARAMETER value is not accepted; the messages are Ollama's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterValueError {
    /// The name is not a field of `api.Options`.
    #[error("unknown parameter '{name}'")]
    Unknown {
        /// The parameter name as written.
        name: String,
    },
    /// `strconv.ParseInt` rejected the value.
    #[error("invalid int value [{value}]")]
    InvalidInteger {
        /// The value as written.
        value: String,
    },
    /// `strconv.ParseFloat(v, 32)` rejected the value.
    #[error("invalid float value [{value}]")]
    InvalidFloat {
        /// The value as written.
        value: String,
    },
    /// `strconv.ParseBool` rejected the value.
    #[error("invalid bool value [{value}]")]
    InvalidBoolean {
        /// The value as written.
        value: String,
    },
}

/// Converts one PARAMETER value as `api.FormatParams` does.
pub fn parse_parameter_value(
    name: &str,
    value: &str,
) -> Result<ParameterValue, ParameterValueError> {
    let Some(parameter) = known_parameter(name) else {
        return Err(ParameterValueError::Unknown {
            name: name.to_owned(),
        });
    };
    match parameter.kind {
        ParameterKind::Integer => {
            parse_go_int(value)
                .map(ParameterValue::Integer)
                .ok_or_else(|| ParameterValueError::InvalidInteger {
                    value: value.to_owned(),
                })
        }
        ParameterKind::Float => parse_go_float32(value)
            .map(ParameterValue::Float)
            .ok_or_else(|| ParameterValueError::InvalidFloat {
                value: value.to_owned(),
            }),
        ParameterKind::Boolean => parse_go_bool(value)
            .map(ParameterValue::Boolean)
            .ok_or_else(|| ParameterValueError::InvalidBoolean {
                value: value.to_owned(),
            }),
        ParameterKind::StringList => Ok(ParameterValue::StringList(vec![value.to_owned()])),
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII decimal digits, no underscores.
pub fn parse_go_int(value: &str) -> Option<i64> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok()
}

/// Go's `strconv.ParseFloat(s, 32)` for decimal input: finite values beyond `f32` range are an
/// error there (`ErrRange`), `inf`/`infinity`/`nan` in any case are accepted.
/// Hexadecimal floats (`0x1p-2`), which Go also accepts, are rejected here.
pub fn parse_go_float32(value: &str) -> Option<f32> {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let lowered = unsigned.to_ascii_lowercase();
    if lowered == "inf" || lowered == "infinity" || lowered == "nan" {
        return value.parse::<f32>().ok();
    }
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let wide = value.parse::<f64>().ok()?;
    if wide.is_finite() && wide.abs() > f64::from(f32::MAX) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Some(wide as f32)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_parameters_follow_go_parse_int() {
        assert_eq!(
            parse_parameter_value("num_ctx", "131072"),
            Ok(ParameterValue::Integer(131072))
        );
        assert_eq!(
            parse_parameter_value("seed", "-1"),
            Ok(ParameterValue::Integer(-1))
        );
        assert!(parse_parameter_value("num_ctx", "128k").is_err());
        assert!(parse_parameter_value("num_ctx", "1_000").is_err());
        assert!(parse_parameter_value("num_ctx", "4096.0").is_err());
    }

    #[test]
    fn float_parameters_reject_values_beyond_f32() {
        assert_eq!(
            parse_parameter_value("temperature", "0.7"),
            Ok(ParameterValue::Float(0.7))
        );
        assert!(parse_parameter_value("temperature", "1e39").is_err());
        assert!(parse_parameter_value("temperature", "warm").is_err());
    }

    #[test]
    fn bool_parameters_accept_go_spellings_only() {
        assert_eq!(
            parse_parameter_value("use_mmap", "True"),
            Ok(ParameterValue::Boolean(true))
        );
        assert!(parse_parameter_value("use_mmap", "yes").is_err());
    }

    #[test]
    fn unknown_names_are_case_sensitive() {
        assert_eq!(
            parse_parameter_value("NUM_CTX", "4096"),
            Err(ParameterValueError::Unknown {
                name: "NUM_CTX".into()
            })
        );
    }
}
