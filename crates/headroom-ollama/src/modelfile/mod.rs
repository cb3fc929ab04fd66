//! Ollama Modelfiles: a parser that accepts exactly what Ollama's parser accepts, a lossless
//! printer, Ollama's canonical printer, checks of PARAMETER values, and a lossless edit API.
//!
//! The grammar is the state machine of `parser/parser.go` (`ParseFile`, `parseRuneForState`,
//! `unquote`, `quote`) in ollama/ollama v0.33.0-rc2 (HEAD `fb30760`), ported rune for rune:
//! * a line is `INSTRUCTION args`; instruction names are ASCII letters, case-insensitive;
//! * `#` starts a comment only where an instruction could start;
//! * a value runs to the end of the line, trimmed, and may be wrapped in `"…"` or `"""…"""`;
//!   while the quotes are unbalanced newlines are kept (multi-line TEMPLATE, SYSTEM, …);
//! * non-printable characters outside that path are dropped (Go's `strconv.IsPrint`).
//!
//! Every command keeps its byte span in the source text, so the text prints back byte-for-byte
//! and an edit (`set_parameter("num_ctx", "262144")`) touches only the bytes it must.
//!
//! Differences from Ollama, all in error reporting only: errors carry our own 1-based line and
//! column of the offending character (Ollama counts a newline before reporting it), and an
//! unterminated quote reports where the value started.

mod parameter;

use std::fmt;
use std::ops::Range;

use serde::Serialize;

pub use parameter::{
    DEPRECATED_PARAMETERS, KNOWN_PARAMETERS, KnownParameter, ParameterKind, ParameterValue,
    ParameterValueError, is_deprecated, known_parameter, parse_go_bool, parse_go_float32,
    parse_go_int, parse_parameter_value,
};

/// One of the instructions a Modelfile may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Instruction {
    /// `FROM`: the base model name, or a local GGUF/safetensors path (required).
    From,
    /// `PARAMETER name value`.
    Parameter,
    /// `TEMPLATE`: the Go prompt template.
    Template,
    /// `SYSTEM`: the system prompt.
    System,
    /// `ADAPTER`: a LoRA adapter path or name.
    Adapter,
    /// `LICENSE`: license text (repeatable).
    License,
    /// `MESSAGE role text`: a message of the conversation history.
    Message,
    /// `REQUIRES`: the minimum Ollama version (semver, `v` optional).
    Requires,
    /// `DRAFT`: a draft model for speculative decoding.
    Draft,
    /// `RENDERER`: a built-in prompt renderer name.
    Renderer,
    /// `PARSER`: a built-in output parser name.
    Parser,
}

impl Instruction {
    /// The instruction for a name as written, ignoring ASCII case (`isValidCommand`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "from" => Self::From,
            "parameter" => Self::Parameter,
            "template" => Self::Template,
            "system" => Self::System,
            "adapter" => Self::Adapter,
            "license" => Self::License,
            "message" => Self::Message,
            "requires" => Self::Requires,
            "draft" => Self::Draft,
            "renderer" => Self::Renderer,
            "parser" => Self::Parser,
            _ => return None,
        })
    }

    /// The upper-case keyword, as Ollama prints it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::From => "FROM",
            Self::Parameter => "PARAMETER",
            Self::Template => "TEMPLATE",
            Self::System => "SYSTEM",
            Self::Adapter => "ADAPTER",
            Self::License => "LICENSE",
            Self::Message => "MESSAGE",
            Self::Requires => "REQUIRES",
            Self::Draft => "DRAFT",
            Self::Renderer => "RENDERER",
            Self::Parser => "PARSER",
        }
    }
}

/// A role of a `MESSAGE` line (`isValidMessageRole`; case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// `system`.
    System,
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
}

impl MessageRole {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "system" => Some(Self::System),
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }

    /// The role as written in a Modelfile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}, column {}", self.line, self.column)
    }
}

/// One parsed instruction with where it sits in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// Which instruction.
    pub instruction: Instruction,
    /// For `PARAMETER`: the parameter name, case kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// For `MESSAGE`: the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<MessageRole>,
    /// The value after unquoting and trimming.
    pub value: String,
    /// Where the instruction keyword starts.
    pub position: Position,
    /// Byte range of the whole command, from the keyword to the end of the value.
    #[serde(skip)]
    pub span: Range<usize>,
    /// Byte range of the value as written (quotes included), the part an edit replaces.
    #[serde(skip)]
    pub value_span: Range<usize>,
    /// Byte range of the lines the command occupies, leading indentation and line break included.
    #[serde(skip)]
    pub line_span: Range<usize>,
}

/// Why a Modelfile was rejected; the messages are Ollama's own, with our position added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelfileError {
    /// A word where an instruction was expected is not one (`errInvalidCommand`).
    #[error(
        "{position}: command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\" (found {found:?})"
    )]
    InvalidCommand {
        /// Where the word starts.
        position: Position,
        /// The word as read.
        found: String,
    },
    /// `MESSAGE` with a role other than system, user, assistant (`errInvalidMessageRole`).
    #[error(
        "{position}: message role must be one of \"system\", \"user\", or \"assistant\" (found {found:?})"
    )]
    InvalidMessageRole {
        /// Where the role starts.
        position: Position,
        /// The role as written.
        found: String,
    },
    /// Ollama's `unexpected EOF`: an unbalanced quote at the end of the file, an instruction
    /// with no value, or a character not allowed in a PARAMETER name or MESSAGE role.
    #[error("{position}: unexpected EOF: {detail}")]
    UnexpectedEof {
        /// Where the unfinished part starts, or the offending character.
        position: Position,
        /// What was unfinished.
        detail: String,
    },
    /// No `FROM` instruction (`errMissingFrom`).
    #[error("no FROM line")]
    MissingFrom,
    /// The input is UTF-16 with an odd number of bytes.
    #[error("byte offset {offset}: truncated UTF-16 input")]
    TruncatedUtf16 {
        /// Length of the input in bytes.
        offset: usize,
    },
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A PARAMETER name must be `[A-Za-z0-9_]+` to be parsed back.
    #[error("parameter name {name:?} is not [A-Za-z0-9_]+")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The value does not pass Ollama's type check for that parameter.
    #[error("parameter {name}: {source}")]
    InvalidValue {
        /// The parameter name.
        name: String,
        /// Ollama's reason.
        #[source]
        source: ParameterValueError,
    },
    /// No Modelfile syntax reads back as this value (e.g. it holds control characters).
    #[error("value {value:?} cannot be written in a Modelfile")]
    Unrepresentable {
        /// The value given.
        value: String,
    },
    /// The edited text no longer parses (a bug: every edit is re-parsed to be sure).
    #[error("edited Modelfile does not parse: {source}")]
    Reparse {
        /// The parse error.
        #[source]
        source: ModelfileError,
    },
}

/// How serious a finding of [`Modelfile::check`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `ollama create` would fail.
    Error,
    /// `ollama create` would print a warning and go on.
    Warning,
}

/// A finding about a parsed Modelfile that `ollama create` would report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where the offending command starts.
    pub position: Position,
    /// Ollama's message.
    pub message: String,
}

/// A parsed Modelfile that remembers its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modelfile {
    text: String,
    commands: Vec<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Nil,
    Name,
    Value,
    Parameter,
    Message,
    Comment,
}

enum StepError {
    InvalidCommand,
    UnexpectedEof,
}

fn is_alpha(character: char) -> bool {
    character.is_ascii_alphabetic()
}

fn is_space(character: char) -> bool {
    character == ' ' || character == '\t'
}

fn is_newline(character: char) -> bool {
    character == '\r' || character == '\n'
}

/// `parseRuneForState`: the next state and the rune to keep (None where Go returns 0).
fn step(character: char, state: State) -> Result<(State, Option<char>), StepError> {
    match state {
        State::Nil => {
            if character == '#' {
                Ok((State::Comment, None))
            } else if is_space(character) || is_newline(character) {
                Ok((State::Nil, None))
            } else {
                Ok((State::Name, Some(character)))
            }
        }
        State::Name => {
            if is_alpha(character) {
                Ok((State::Name, Some(character)))
            } else if is_space(character) {
                Ok((State::Value, None))
            } else {
                Err(StepError::InvalidCommand)
            }
        }
        State::Value => {
            if is_newline(character) || is_space(character) {
                Ok((State::Nil, Some(character)))
            } else {
                Ok((State::Value, Some(character)))
            }
        }
        State::Parameter => {
            if is_alpha(character) || character.is_ascii_digit() || character == '_' {
                Ok((State::Parameter, Some(character)))
            } else if is_space(character) {
                Ok((State::Value, None))
            } else {
                Err(StepError::UnexpectedEof)
            }
        }
        State::Message => {
            if is_alpha(character) {
                Ok((State::Message, Some(character)))
            } else if is_space(character) {
                Ok((State::Value, None))
            } else {
                Err(StepError::UnexpectedEof)
            }
        }
        State::Comment => {
            if is_newline(character) {
                Ok((State::Nil, None))
            } else {
                Ok((State::Comment, None))
            }
        }
    }
}

/// Go's `unicode.IsPrint` approximated without Unicode category tables: letters, marks,
/// numbers, punctuation, symbols and U+0020 are printable; controls, format characters,
/// separators other than U+0020, private-use and surrogates are not. Unassigned code points,
/// which Go also treats as non-printable, are kept here (no table of assigned code points).
pub fn is_go_printable(character: char) -> bool {
    if character == ' ' {
        return true;
    }
    if character.is_control() || character.is_whitespace() {
        return false;
    }
    let code = u32::from(character);
    let format = matches!(code,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F);
    let private_use = matches!(code, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let noncharacter = (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE;
    !(format || private_use || noncharacter)
}

/// `unquote`: strips `"""…"""` or `"…"`; false while the quotes are unbalanced.
fn unquote(value: &str) -> Option<&str> {
    if let Some(rest) = value.strip_prefix("\"\"\"") {
        if value.len() >= 6 && value.ends_with("\"\"\"") {
            return rest.get(..rest.len() - 3);
        }
        return None;
    }
    if let Some(rest) = value.strip_prefix('"') {
        if value.len() >= 2 && value.ends_with('"') {
            return rest.get(..rest.len() - 1);
        }
        return None;
    }
    Some(value)
}

/// Go's `strings.TrimSpace` (Unicode white space, same set as Rust's `char::is_whitespace`).
fn trim_go(value: &str) -> &str {
    value.trim_matches(char::is_whitespace)
}

struct Cursor {
    line: usize,
    column: usize,
    /// The previous character was `\r`: a following `\n` ends the same line.
    after_carriage_return: bool,
}

impl Cursor {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }
}

struct Pending {
    instruction: Option<Instruction>,
    parameter: Option<String>,
    role: Option<MessageRole>,
    start: usize,
    position: Position,
    line_start: usize,
    value_start: usize,
    value_position: Position,
}

impl Modelfile {
    /// Parses Modelfile bytes as Ollama reads them: a UTF-8 BOM is dropped, a UTF-16 BOM selects
    /// UTF-16, invalid UTF-8 becomes U+FFFD. The decoded text is what [`Modelfile::text`] keeps.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, ModelfileError> {
        let text = decode(bytes)?;
        Self::parse(&text)
    }

    /// Parses Modelfile text.
    pub fn parse(text: &str) -> Result<Self, ModelfileError> {
        let mut commands = Vec::new();
        let mut state = State::Nil;
        let mut buffer = String::new();
        let mut cursor = Cursor {
            line: 1,
            column: 0,
            after_carriage_return: false,
        };
        let mut line_start = 0usize;
        let mut pending = Pending {
            instruction: None,
            parameter: None,
            role: None,
            start: 0,
            position: Position { line: 1, column: 1 },
            line_start: 0,
            value_start: 0,
            value_position: Position { line: 1, column: 1 },
        };
        let mut name_position = Position { line: 1, column: 1 };

        for (offset, character) in text.char_indices() {
            cursor.column += 1;
            let here = cursor.position();
            let after = offset + character.len_utf8();

            let (mut next, kept) = match step(character, state) {
                Ok(result) => result,
                Err(StepError::InvalidCommand) => {
                    return Err(ModelfileError::InvalidCommand {
                        position: here,
                        found: buffer.clone(),
                    });
                }
                Err(StepError::UnexpectedEof) => {
                    return Err(ModelfileError::UnexpectedEof {
                        position: here,
                        detail: format!("unexpected {character:?} after {buffer:?}"),
                    });
                }
            };

            if next != state {
                match state {
                    State::Name => {
                        let Some(instruction) = Instruction::from_name(&buffer) else {
                            return Err(ModelfileError::InvalidCommand {
                                position: pending.position,
                                found: buffer.clone(),
                            });
                        };
                        pending.instruction = Some(instruction);
                        match instruction {
                            Instruction::Parameter => next = State::Parameter,
                            Instruction::Message => next = State::Message,
                            _ => {}
                        }
                    }
                    State::Parameter => pending.parameter = Some(buffer.clone()),
                    State::Message => {
                        let Some(role) = MessageRole::from_name(&buffer) else {
                            return Err(ModelfileError::InvalidMessageRole {
                                position: name_position,
                                found: buffer.clone(),
                            });
                        };
                        pending.role = Some(role);
                    }
                    State::Comment | State::Nil => {}
                    State::Value => {
                        let unquoted = unquote(trim_go(&buffer));
                        match unquoted {
                            Some(value) if !is_space(character) => {
                                commands.push(finish(text, &pending, value, offset, after));
                            }
                            _ => {
                                buffer.push(character);
                                advance_line(&mut cursor, &mut line_start, character, after);
                                continue;
                            }
                        }
                    }
                }
                buffer.clear();
                match next {
                    State::Name => {
                        pending = Pending {
                            instruction: None,
                            parameter: None,
                            role: None,
                            start: offset,
                            position: here,
                            line_start,
                            value_start: after,
                            value_position: here,
                        };
                    }
                    State::Parameter | State::Message => {
                        name_position = Position {
                            line: here.line,
                            column: here.column + 1,
                        };
                    }
                    State::Value => {
                        pending.value_start = after;
                        pending.value_position = Position {
                            line: here.line,
                            column: here.column + 1,
                        };
                    }
                    State::Nil | State::Comment => {}
                }
                state = next;
            }

            if let Some(kept) = kept
                && is_go_printable(kept)
            {
                buffer.push(kept);
            }
            advance_line(&mut cursor, &mut line_start, character, after);
        }

        match state {
            State::Comment | State::Nil => {}
            State::Value => match unquote(trim_go(&buffer)) {
                Some(value) => {
                    let end = text.len();
                    commands.push(Command {
                        instruction: pending.instruction.unwrap_or(Instruction::From),
                        parameter: pending.parameter.clone(),
                        role: pending.role,
                        value: value.to_owned(),
                        position: pending.position,
                        span: pending.start..end,
                        value_span: trimmed_span(text, pending.value_start, end),
                        line_span: pending.line_start..end,
                    });
                }
                None => {
                    return Err(ModelfileError::UnexpectedEof {
                        position: pending.value_position,
                        detail: "unterminated quoted value".to_owned(),
                    });
                }
            },
            State::Name | State::Parameter | State::Message => {
                return Err(ModelfileError::UnexpectedEof {
                    position: pending.position,
                    detail: format!("instruction {buffer:?} has no value"),
                });
            }
        }

        if !commands
            .iter()
            .any(|command| command.instruction == Instruction::From)
        {
            return Err(ModelfileError::MissingFrom);
        }
        Ok(Self {
            text: text.to_owned(),
            commands,
        })
    }

    /// The source text (after any edits), byte for byte.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The commands in file order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The first `FROM` value (the base model or path).
    pub fn from(&self) -> Option<&str> {
        self.values(Instruction::From).next()
    }

    /// Values of every command of one instruction, in order.
    pub fn values(&self, instruction: Instruction) -> impl Iterator<Item = &str> {
        self.commands
            .iter()
            .filter(move |command| command.instruction == instruction)
            .map(|command| command.value.as_str())
    }

    /// The value of the last command of one instruction (Ollama keeps the last TEMPLATE, SYSTEM…).
    pub fn last_value(&self, instruction: Instruction) -> Option<&str> {
        self.values(instruction).last()
    }

    /// The value of a PARAMETER as written; with repeats, the last one wins (as in Ollama).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.commands
            .iter()
            .rev()
            .find(|command| {
                command.instruction == Instruction::Parameter
                    && command.parameter.as_deref() == Some(name)
            })
            .map(|command| command.value.as_str())
    }

    /// All PARAMETER lines as (name, value), in order.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.commands
            .iter()
            .filter(|command| command.instruction == Instruction::Parameter)
            .map(|command| {
                (
                    command.parameter.as_deref().unwrap_or_default(),
                    command.value.as_str(),
                )
            })
    }

    /// The MESSAGE lines as (role, text).
    pub fn messages(&self) -> impl Iterator<Item = (MessageRole, &str)> {
        self.commands.iter().filter_map(|command| {
            command
                .role
                .filter(|_| command.instruction == Instruction::Message)
                .map(|role| (role, command.value.as_str()))
        })
    }

    /// Ollama's printed form (`Modelfile.String`): one command per line, keywords upper-case,
    /// values quoted where needed. Unlike Ollama, a value is quoted whenever the bare form would
    /// not read back the same (Ollama prints `FROM` unquoted and misses values starting with `"`).
    pub fn to_canonical_string(&self) -> String {
        let mut out = String::new();
        for command in &self.commands {
            out.push_str(&canonical_command(command));
            out.push('\n');
        }
        out
    }

    /// What `ollama create` would report: unknown parameters, bad values, deprecated
    /// parameters, an invalid REQUIRES version (`CreateRequest`, `FormatParams`).
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut findings = Vec::new();
        for command in &self.commands {
            match command.instruction {
                Instruction::Parameter => {
                    let name = command.parameter.as_deref().unwrap_or_default();
                    if is_deprecated(name) {
                        findings.push(Diagnostic {
                            severity: Severity::Warning,
                            position: command.position,
                            message: format!("warning: parameter {name} is deprecated"),
                        });
                    } else if let Err(error) = parse_parameter_value(name, &command.value) {
                        findings.push(Diagnostic {
                            severity: Severity::Error,
                            position: command.position,
                            message: error.to_string(),
                        });
                    }
                }
                Instruction::Requires => {
                    let version = command.value.strip_prefix('v').unwrap_or(&command.value);
                    if !is_valid_semver(version) {
                        findings.push(Diagnostic {
                            severity: Severity::Error,
                            position: command.position,
                            message: "requires must be a valid semver (e.g. 0.14.0)".to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
        findings
    }

    /// The typed parameters as `ollama create` stores them in the params layer: repeated
    /// `stop` accumulate, other repeats keep the last value, deprecated ones are skipped.
    pub fn typed_parameters(&self) -> Result<Vec<(String, ParameterValue)>, ParameterValueError> {
        let mut out: Vec<(String, ParameterValue)> = Vec::new();
        for (name, value) in self.parameters() {
            if is_deprecated(name) {
                continue;
            }
            let parsed = parse_parameter_value(name, value)?;
            match out.iter_mut().find(|(existing, _)| existing == name) {
                Some((_, ParameterValue::StringList(list))) => {
                    if let ParameterValue::StringList(more) = parsed {
                        list.extend(more);
                    }
                }
                Some((_, slot)) => *slot = parsed,
                None => out.push((name.to_owned(), parsed)),
            }
        }
        Ok(out)
    }

    /// Sets a PARAMETER, touching nothing else: the first line for `name` gets the new value
    /// (keyword and spacing kept), later lines for `name` are removed, and when there is none a
    /// `PARAMETER name value` line is added after the last PARAMETER line (or after FROM).
    /// Known parameters are type-checked like `ollama create` does.
    pub fn set_parameter(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        check_parameter_name(name)?;
        if known_parameter(name).is_some() {
            parse_parameter_value(name, value).map_err(|source| EditError::InvalidValue {
                name: name.to_owned(),
                source,
            })?;
        }
        let written = quote_value(value).ok_or_else(|| EditError::Unrepresentable {
            value: value.to_owned(),
        })?;
        let matching: Vec<&Command> = self.parameter_commands(name).collect();
        let mut text = self.text.clone();
        if let Some((first, rest)) = matching.split_first() {
            // Remove later duplicates back to front so earlier spans stay valid.
            for command in rest.iter().rev() {
                text.replace_range(command.line_span.clone(), "");
            }
            text.replace_range(first.value_span.clone(), &written);
        } else {
            let anchor = self
                .commands
                .iter()
                .rev()
                .find(|command| command.instruction == Instruction::Parameter)
                .or_else(|| {
                    self.commands
                        .iter()
                        .find(|command| command.instruction == Instruction::From)
                });
            let newline = if self.text.contains("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            let line = format!("PARAMETER {name} {written}");
            match anchor {
                Some(command) => {
                    let end = command.line_span.end;
                    let ends_with_break =
                        self.text[..end].ends_with('\n') || self.text[..end].ends_with('\r');
                    if ends_with_break {
                        text.insert_str(end, &format!("{line}{newline}"));
                    } else {
                        text.insert_str(end, &format!("{newline}{line}"));
                    }
                }
                None => {
                    text.push_str(&line);
                    text.push_str(newline);
                }
            }
        }
        self.replace_text(text)
    }

    /// Removes every PARAMETER line for `name` (with its line break); returns how many.
    pub fn remove_parameter(&mut self, name: &str) -> Result<usize, EditError> {
        let spans: Vec<Range<usize>> = self
            .parameter_commands(name)
            .map(|command| command.line_span.clone())
            .collect();
        if spans.is_empty() {
            return Ok(0);
        }
        let mut text = self.text.clone();
        for span in spans.iter().rev() {
            text.replace_range(span.clone(), "");
        }
        self.replace_text(text)?;
        Ok(spans.len())
    }

    fn parameter_commands<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Command> + 'a {
        self.commands.iter().filter(move |command| {
            command.instruction == Instruction::Parameter
                && command.parameter.as_deref() == Some(name)
        })
    }

    fn replace_text(&mut self, text: String) -> Result<(), EditError> {
        let parsed = Self::parse(&text).map_err(|source| EditError::Reparse { source })?;
        *self = parsed;
        Ok(())
    }
}

impl fmt::Display for Modelfile {
    /// The source text, byte for byte (edits included).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl std::str::FromStr for Modelfile {
    type Err = ModelfileError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

fn finish(text: &str, pending: &Pending, value: &str, end: usize, after: usize) -> Command {
    // The command's lines run through its terminating line break (`\r\n` counts as one).
    let line_end = if text[..after].ends_with('\r') && text[after..].starts_with('\n') {
        after + 1
    } else {
        after
    };
    Command {
        instruction: pending.instruction.unwrap_or(Instruction::From),
        parameter: pending.parameter.clone(),
        role: pending.role,
        value: value.to_owned(),
        position: pending.position,
        span: pending.start..end,
        value_span: trimmed_span(text, pending.value_start, end),
        line_span: pending.line_start..line_end,
    }
}

/// The value as written without the white space around it (an edit keeps that white space).
fn trimmed_span(text: &str, start: usize, end: usize) -> Range<usize> {
    let raw = &text[start..end];
    let leading = raw.len() - raw.trim_start_matches(char::is_whitespace).len();
    let trimmed_end = start + raw.trim_end_matches(char::is_whitespace).len();
    (start + leading).min(trimmed_end)..trimmed_end
}

fn advance_line(cursor: &mut Cursor, line_start: &mut usize, character: char, after: usize) {
    // `\r\n` counts as one line break (Ollama counts two, which shifts its line numbers).
    let crlf_tail = character == '\n' && cursor.after_carriage_return;
    cursor.after_carriage_return = character == '\r';
    if is_newline(character) {
        if !crlf_tail {
            cursor.line += 1;
        }
        cursor.column = 0;
        *line_start = after;
    }
}

fn check_parameter_name(name: &str) -> Result<(), EditError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        return Err(EditError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn canonical_command(command: &Command) -> String {
    let quoted =
        quote_value(&command.value).unwrap_or_else(|| format!("\"\"\"{}\"\"\"", command.value));
    match command.instruction {
        Instruction::Parameter => format!(
            "PARAMETER {} {quoted}",
            command.parameter.as_deref().unwrap_or_default()
        ),
        Instruction::Message => format!(
            "MESSAGE {} {quoted}",
            command.role.map_or("user", MessageRole::as_str)
        ),
        instruction => format!("{} {quoted}", instruction.keyword()),
    }
}

fn value_characters_survive(value: &str) -> bool {
    value
        .chars()
        .all(|character| is_go_printable(character) || is_space(character) || is_newline(character))
}

/// The shortest way to write `value` so that Ollama's parser reads back exactly `value`: bare,
/// `"…"` or `"""…"""`; `None` when no form does (control characters, or quotes that would close
/// the value early on some line).
pub fn quote_value(value: &str) -> Option<String> {
    if !value_characters_survive(value) {
        return None;
    }
    let bare_ok = !value.is_empty()
        && !value.contains(['\n', '\r'])
        && trim_go(value) == value
        && !value.starts_with('"');
    if bare_ok {
        return Some(value.to_owned());
    }
    for quote in ["\"", "\"\"\""] {
        let written = format!("{quote}{value}{quote}");
        if reads_back(&written, value) {
            return Some(written);
        }
    }
    None
}

/// Replays the value state of the parser on `written`: it must not close before its end and
/// must unquote to `expected`.
fn reads_back(written: &str, expected: &str) -> bool {
    let mut buffer = String::new();
    for character in written.chars() {
        if is_newline(character) && unquote(trim_go(&buffer)).is_some() {
            return false;
        }
        buffer.push(character);
    }
    unquote(trim_go(&buffer)) == Some(expected)
}

/// `golang.org/x/mod/semver.IsValid` on `v` + version: MAJOR[.MINOR[.PATCH]][-pre][+build],
/// numbers without leading zeros.
fn is_valid_semver(version: &str) -> bool {
    let (core_and_pre, build) = match version.split_once('+') {
        Some((head, build)) => (head, Some(build)),
        None => (version, None),
    };
    let (core, prerelease) = match core_and_pre.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (core_and_pre, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|byte| byte.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    if numbers.is_empty() || numbers.len() > 3 || !numbers.iter().all(|part| numeric(part)) {
        return false;
    }
    // x/mod/semver allows the shorthands vMAJOR and vMAJOR.MINOR only without suffixes.
    if numbers.len() < 3 && (prerelease.is_some() || build.is_some()) {
        return false;
    }
    let identifiers_ok = |text: &str, numeric_rule: bool| {
        text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
                && (!numeric_rule
                    || !part.bytes().all(|byte| byte.is_ascii_digit())
                    || numeric(part))
        })
    };
    prerelease.is_none_or(|pre| identifiers_ok(pre, true))
        && build.is_none_or(|build| identifiers_ok(build, false))
}

fn decode(bytes: &[u8]) -> Result<String, ModelfileError> {
    // unicode.BOMOverride: a BOM picks the encoding; without one the input is UTF-8.
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return Ok(String::from_utf8_lossy(rest).into_owned());
    }
    let utf16 = |rest: &[u8], little_endian: bool| {
        if !rest.len().is_multiple_of(2) {
            return Err(ModelfileError::TruncatedUtf16 {
                offset: bytes.len(),
            });
        }
        let units = rest.chunks_exact(2).map(|pair| {
            if little_endian {
                u16::from_le_bytes([pair[0], pair[1]])
            } else {
                u16::from_be_bytes([pair[0], pair[1]])
            }
        });
        Ok(char::decode_utf16(units)
            .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect())
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests;
