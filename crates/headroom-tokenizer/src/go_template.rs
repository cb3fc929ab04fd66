//! The subset of Go `text/template` that Ollama's library templates use, executed as Ollama's
//! `template.Execute` (ollama `template/template.go`) drives it.
//!
//! Supported: text with `{{- ` / ` -}}` trimming, comments, `if` / `else if` / `else` / `end`,
//! `range` (over lists, with `$i, $x :=` or `$x :=`), `with`, variable declaration and assignment,
//! pipelines with `|`, parenthesised sub-pipelines, fields of `.` and of variables (`$.Messages`,
//! `$m.Content`), string / number / boolean / `nil` literals, and the functions `eq ne lt le gt ge
//! and or not len index slice print printf println json currentDate`. Messages-style templates get
//! `System`, `Messages` (consecutive same-role messages merged with a blank line, as Ollama's
//! `collate` does), empty `Tools`, `Response = ""`, `Think = false`; legacy `.Prompt` / `.Response`
//! templates are executed turn by turn and the last execution is cut after `.Response`, as Ollama does.
//!
//! Not supported (an error names the byte offset): `define` / `template` / `block`, `break` /
//! `continue`, ranging over integers or maps, tool definitions and tool calls (always empty here),
//! images, and `printf` verbs other than `%s %d %v %q`.

use std::collections::BTreeMap;

use crate::{ChatMessage, TokenizerError};

fn error(offset: usize, message: impl Into<String>) -> TokenizerError {
    TokenizerError::GoTemplate {
        offset,
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(value) => *value,
            Value::Int(value) => *value != 0,
            Value::Float(value) => *value != 0.0,
            Value::Str(value) => !value.is_empty(),
            Value::List(value) => !value.is_empty(),
            Value::Map(value) => !value.is_empty(),
        }
    }

    fn render(&self) -> String {
        match self {
            Value::Nil => "<no value>".to_owned(),
            Value::Bool(value) => value.to_string(),
            Value::Int(value) => value.to_string(),
            Value::Float(value) => value.to_string(),
            Value::Str(value) => value.clone(),
            Value::List(values) => format!(
                "[{}]",
                values
                    .iter()
                    .map(Value::render)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Value::Map(map) => format!(
                "map[{}]",
                map.iter()
                    .map(|(key, value)| format!("{key}:{}", value.render()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Int(value) => serde_json::json!(value),
            Value::Float(value) => serde_json::json!(value),
            Value::Str(value) => serde_json::Value::String(value.clone()),
            Value::List(values) => {
                serde_json::Value::Array(values.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum Operand {
    Dot,
    /// `.A.B` relative to dot.
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone is the root).
    Variable(String, Vec<String>),
    Literal(Value),
    Function(String),
    Pipeline(Box<Pipeline>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    offset: usize,
    declare: Vec<String>,
    assign: bool,
    commands: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

/// One `{{ … }}` after lexing, or a run of text.
enum Item {
    Text(String),
    Action { offset: usize, body: String },
}

fn lex(source: &str) -> Result<Vec<Item>, TokenizerError> {
    let mut items = Vec::new();
    let mut position = 0;
    let mut trim_next = false;
    while position < source.len() {
        let Some(found) = source[position..].find("{{") else {
            let mut text = &source[position..];
            if trim_next {
                text = text.trim_start();
            }
            items.push(Item::Text(text.to_owned()));
            break;
        };
        let open = position + found;
        let mut text = &source[position..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut body_start = open + 2;
        // Go's trim marker is "{{- " (the space is required: "{{-3}}" is a number).
        if source[body_start..].starts_with("- ")
            || source[body_start..].starts_with("-\n")
            || source[body_start..].starts_with("-\t")
        {
            text = text.trim_end();
            body_start += 1;
        }
        items.push(Item::Text(text.to_owned()));
        // Find the closing braces outside string literals.
        let bytes = source.as_bytes();
        let mut index = body_start;
        let mut quote: Option<u8> = None;
        let close = loop {
            if index + 1 >= bytes.len() {
                return Err(error(open, "unclosed action"));
            }
            match quote {
                Some(q) => {
                    if bytes[index] == b'\\' && q == b'"' {
                        index += 1;
                    } else if bytes[index] == q {
                        quote = None;
                    }
                }
                None => {
                    if bytes[index] == b'"' || bytes[index] == b'`' {
                        quote = Some(bytes[index]);
                    } else if source[index..].starts_with("/*") {
                        match source[index..].find("*/") {
                            Some(end) => index += end + 1,
                            None => return Err(error(index, "unclosed comment")),
                        }
                    } else if source[index..].starts_with("}}") {
                        break index;
                    }
                }
            }
            index += 1;
        };
        let mut body_end = close;
        trim_next = false;
        let before = &source[body_start..close];
        if before.ends_with(" -") || before.ends_with("\n-") || before.ends_with("\t-") {
            body_end -= 1;
            trim_next = true;
        }
        let body = source[body_start..body_end].trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            items.push(Item::Action {
                offset: open,
                body: body.to_owned(),
            });
        }
        position = close + 2;
    }
    Ok(items)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Field(Vec<String>),
    Variable(String, Vec<String>),
    Literal(Value),
    Open,
    Close,
    Pipe,
    Declare,
    Assign,
    Comma,
}

fn tokenize(body: &str, offset: usize) -> Result<Vec<Token>, TokenizerError> {
    let characters: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let identifier = |index: &mut usize| -> String {
        let start = *index;
        while *index < characters.len()
            && (characters[*index].is_alphanumeric() || characters[*index] == '_')
        {
            *index += 1;
        }
        characters[start..*index].iter().collect()
    };
    let fields = |index: &mut usize| -> Vec<String> {
        let mut path = Vec::new();
        while *index < characters.len()
            && characters[*index] == '.'
            && characters
                .get(*index + 1)
                .is_some_and(|c| c.is_alphabetic() || *c == '_')
        {
            *index += 1;
            path.push(identifier(index));
        }
        path
    };
    while index < characters.len() {
        let character = characters[index];
        match character {
            ' ' | '\t' | '\n' | '\r' => index += 1,
            '(' => {
                tokens.push(Token::Open);
                index += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                index += 1;
                // A field chained on a parenthesised value is not supported.
            }
            '|' => {
                tokens.push(Token::Pipe);
                index += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                index += 1;
            }
            ':' if characters.get(index + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                index += 2;
            }
            '=' => {
                tokens.push(Token::Assign);
                index += 1;
            }
            '.' => {
                let path = fields(&mut index);
                if path.is_empty() {
                    index += 1;
                }
                tokens.push(Token::Field(path));
            }
            '$' => {
                index += 1;
                let name = identifier(&mut index);
                let path = fields(&mut index);
                tokens.push(Token::Variable(name, path));
            }
            '"' => {
                let start = index;
                index += 1;
                let mut text = String::new();
                loop {
                    let Some(&next) = characters.get(index) else {
                        return Err(error(offset, "unterminated string"));
                    };
                    index += 1;
                    match next {
                        '"' => break,
                        '\\' => {
                            let escaped = characters.get(index).copied().unwrap_or('\\');
                            index += 1;
                            text.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        other => text.push(other),
                    }
                }
                let _ = start;
                tokens.push(Token::Literal(Value::Str(text)));
            }
            '`' => {
                index += 1;
                let start = index;
                while index < characters.len() && characters[index] != '`' {
                    index += 1;
                }
                tokens.push(Token::Literal(Value::Str(
                    characters[start..index].iter().collect(),
                )));
                index += 1;
            }
            c if c.is_ascii_digit()
                || (c == '-' && characters.get(index + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = index;
                index += 1;
                while index < characters.len()
                    && (characters[index].is_ascii_digit() || characters[index] == '.')
                {
                    index += 1;
                }
                let text: String = characters[start..index].iter().collect();
                let value = match text.parse::<i64>() {
                    Ok(number) => Value::Int(number),
                    Err(_) => Value::Float(
                        text.parse()
                            .map_err(|_| error(offset, format!("bad number {text}")))?,
                    ),
                };
                tokens.push(Token::Literal(value));
            }
            c if c.is_alphabetic() || c == '_' => {
                let word = identifier(&mut index);
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "nil" => Token::Literal(Value::Nil),
                    _ => Token::Word(word),
                });
            }
            other => {
                return Err(error(
                    offset,
                    format!("unexpected character {other:?} in action"),
                ));
            }
        }
    }
    Ok(tokens)
}

fn parse_pipeline(tokens: &[Token], offset: usize) -> Result<Pipeline, TokenizerError> {
    let mut position = 0;
    let mut declare = Vec::new();
    let mut assign = false;
    // `$a, $b :=` or `$a :=` / `$a =` prefix.
    let declaration_end = tokens
        .iter()
        .position(|token| matches!(token, Token::Declare | Token::Assign));
    if let Some(end) = declaration_end
        && tokens[..end].iter().all(|token| {
            matches!(token, Token::Variable(_, path) if path.is_empty()) || *token == Token::Comma
        })
    {
        for token in &tokens[..end] {
            if let Token::Variable(name, _) = token {
                declare.push(name.clone());
            }
        }
        assign = tokens[end] == Token::Assign;
        position = end + 1;
    }
    let mut commands = Vec::new();
    let mut command = Vec::new();
    let mut rest = &tokens[position..];
    while let Some((token, tail)) = rest.split_first() {
        rest = tail;
        match token {
            Token::Pipe => commands.push(std::mem::take(&mut command)),
            Token::Open => {
                let mut depth = 1;
                let mut end = 0;
                for (index, token) in rest.iter().enumerate() {
                    match token {
                        Token::Open => depth += 1,
                        Token::Close => {
                            depth -= 1;
                            if depth == 0 {
                                end = index;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    return Err(error(offset, "unbalanced parentheses"));
                }
                command.push(Operand::Pipeline(Box::new(parse_pipeline(
                    &rest[..end],
                    offset,
                )?)));
                rest = &rest[end + 1..];
            }
            Token::Field(path) if path.is_empty() => command.push(Operand::Dot),
            Token::Field(path) => command.push(Operand::Field(path.clone())),
            Token::Variable(name, path) => {
                command.push(Operand::Variable(name.clone(), path.clone()))
            }
            Token::Literal(value) => command.push(Operand::Literal(value.clone())),
            Token::Word(word) => command.push(Operand::Function(word.clone())),
            other => return Err(error(offset, format!("unexpected {other:?}"))),
        }
    }
    commands.push(command);
    if commands.iter().any(Vec::is_empty) {
        return Err(error(offset, "empty command in pipeline"));
    }
    Ok(Pipeline {
        offset,
        declare,
        assign,
        commands,
    })
}

/// The keyword that ended a block, the rest of its action, and its byte offset.
type Stop = Option<(String, String, usize)>;

/// Parses items into nodes until one of `stops` (returned with its pipeline text).
fn parse_nodes(
    items: &[Item],
    position: &mut usize,
    stops: &[&str],
) -> Result<(Vec<Node>, Stop), TokenizerError> {
    let mut nodes = Vec::new();
    while *position < items.len() {
        let item = &items[*position];
        *position += 1;
        match item {
            Item::Text(text) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.clone()));
                }
            }
            Item::Action { offset, body } => {
                let (keyword, rest) = match body.split_once(char::is_whitespace) {
                    Some((keyword, rest)) => (keyword, rest.trim()),
                    None => (body.as_str(), ""),
                };
                if stops.contains(&keyword) {
                    return Ok((nodes, Some((keyword.to_owned(), rest.to_owned(), *offset))));
                }
                match keyword {
                    "if" | "with" => {
                        let mut branches = vec![(
                            parse_pipeline(&tokenize(rest, *offset)?, *offset)?,
                            Vec::new(),
                        )];
                        let mut otherwise = Vec::new();
                        loop {
                            let (body, stop) = parse_nodes(items, position, &["else", "end"])?;
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            match stop {
                                Some((word, rest, offset)) if word == "else" => {
                                    let chained = rest.strip_prefix(keyword).map(str::trim);
                                    match chained {
                                        Some(condition) if !rest.is_empty() => {
                                            branches.push((
                                                parse_pipeline(
                                                    &tokenize(condition, offset)?,
                                                    offset,
                                                )?,
                                                Vec::new(),
                                            ));
                                        }
                                        _ if rest.is_empty() => {
                                            let (body, stop) =
                                                parse_nodes(items, position, &["end"])?;
                                            if stop.is_none() {
                                                return Err(error(offset, "missing {{end}}"));
                                            }
                                            otherwise = body;
                                            break;
                                        }
                                        _ => {
                                            return Err(error(
                                                offset,
                                                format!("unsupported 'else {rest}'"),
                                            ));
                                        }
                                    }
                                }
                                Some(_) => break,
                                None => {
                                    return Err(error(
                                        *offset,
                                        format!("missing {{{{end}}}} for {keyword}"),
                                    ));
                                }
                            }
                        }
                        nodes.push(if keyword == "if" {
                            Node::If {
                                branches,
                                otherwise,
                            }
                        } else {
                            Node::With {
                                branches,
                                otherwise,
                            }
                        });
                    }
                    "range" => {
                        let pipeline = parse_pipeline(&tokenize(rest, *offset)?, *offset)?;
                        let (body, stop) = parse_nodes(items, position, &["else", "end"])?;
                        let otherwise = match stop {
                            Some((word, _, offset)) if word == "else" => {
                                let (otherwise, stop) = parse_nodes(items, position, &["end"])?;
                                if stop.is_none() {
                                    return Err(error(offset, "missing {{end}} for range"));
                                }
                                otherwise
                            }
                            Some(_) => Vec::new(),
                            None => return Err(error(*offset, "missing {{end}} for range")),
                        };
                        nodes.push(Node::Range {
                            pipeline,
                            body,
                            otherwise,
                        });
                    }
                    "end" | "else" => {
                        return Err(error(*offset, format!("unexpected {{{{{keyword}}}}}")));
                    }
                    "define" | "template" | "block" | "break" | "continue" => {
                        return Err(error(*offset, format!("'{keyword}' is not supported")));
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(
                        &tokenize(body, *offset)?,
                        *offset,
                    )?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse(source: &str) -> Result<Vec<Node>, TokenizerError> {
    let items = lex(source)?;
    let mut position = 0;
    let (nodes, stop) = parse_nodes(&items, &mut position, &[])?;
    if let Some((word, _, offset)) = stop {
        return Err(error(offset, format!("unexpected {{{{{word}}}}}")));
    }
    Ok(nodes)
}

struct Executor<'a> {
    root: &'a Value,
    variables: Vec<(String, Value)>,
    out: String,
}

fn field(value: &Value, path: &[String], offset: usize) -> Result<Value, TokenizerError> {
    let mut current = value.clone();
    for name in path {
        current = match current {
            Value::Map(map) => map.get(name).cloned().unwrap_or(Value::Nil),
            Value::Nil => Value::Nil,
            other => {
                return Err(error(
                    offset,
                    format!("can't evaluate field {name} in {}", other.render()),
                ));
            }
        };
    }
    Ok(current)
}

fn compare(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

impl Executor<'_> {
    fn variable(&self, name: &str, offset: usize) -> Result<Value, TokenizerError> {
        if name.is_empty() {
            return Ok(self.root.clone());
        }
        self.variables
            .iter()
            .rev()
            .find(|(variable, _)| variable == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| error(offset, format!("undefined variable ${name}")))
    }

    fn operand(
        &mut self,
        operand: &Operand,
        dot: &Value,
        offset: usize,
    ) -> Result<Value, TokenizerError> {
        match operand {
            Operand::Dot => Ok(dot.clone()),
            Operand::Field(path) => field(dot, path, offset),
            Operand::Variable(name, path) => field(&self.variable(name, offset)?, path, offset),
            Operand::Literal(value) => Ok(value.clone()),
            Operand::Function(name) => self.call(name, Vec::new(), offset),
            Operand::Pipeline(pipeline) => self.pipeline(pipeline, dot),
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: Vec<Value>,
        offset: usize,
    ) -> Result<Value, TokenizerError> {
        let argument = |index: usize| {
            args.get(index)
                .cloned()
                .ok_or_else(|| error(offset, format!("{name}: missing argument")))
        };
        Ok(match name {
            "eq" => {
                let first = argument(0)?;
                Value::Bool(
                    args[1..]
                        .iter()
                        .any(|other| compare(&first, other) == Some(std::cmp::Ordering::Equal)),
                )
            }
            "ne" => Value::Bool(
                compare(&argument(0)?, &argument(1)?) != Some(std::cmp::Ordering::Equal),
            ),
            "lt" => {
                Value::Bool(compare(&argument(0)?, &argument(1)?) == Some(std::cmp::Ordering::Less))
            }
            "le" => Value::Bool(matches!(
                compare(&argument(0)?, &argument(1)?),
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            )),
            "gt" => Value::Bool(
                compare(&argument(0)?, &argument(1)?) == Some(std::cmp::Ordering::Greater),
            ),
            "ge" => Value::Bool(matches!(
                compare(&argument(0)?, &argument(1)?),
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            )),
            "and" => args
                .iter()
                .find(|value| !value.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Nil),
            "or" => args
                .iter()
                .find(|value| value.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Nil),
            "not" => Value::Bool(!argument(0)?.truthy()),
            "len" => Value::Int(match argument(0)? {
                Value::Str(text) => text.len() as i64,
                Value::List(list) => list.len() as i64,
                Value::Map(map) => map.len() as i64,
                Value::Nil => 0,
                other => return Err(error(offset, format!("len of {}", other.render()))),
            }),
            "index" => {
                let mut current = argument(0)?;
                for key in &args[1..] {
                    current = match (current, key) {
                        (Value::List(list), Value::Int(index)) => list
                            .get(*index as usize)
                            .cloned()
                            .ok_or_else(|| error(offset, "index out of range"))?,
                        (Value::Map(map), Value::Str(key)) => {
                            map.get(key).cloned().unwrap_or(Value::Nil)
                        }
                        _ => return Err(error(offset, "index of unsupported value")),
                    };
                }
                current
            }
            "slice" => {
                let bound = |index: usize| match args.get(index) {
                    Some(Value::Int(value)) => Ok(Some(*value as usize)),
                    None => Ok(None),
                    Some(_) => Err(error(offset, "slice bound is not an integer")),
                };
                let (start, end) = (bound(1)?.unwrap_or(0), bound(2)?);
                match argument(0)? {
                    Value::List(list) => {
                        let end = end.unwrap_or(list.len());
                        Value::List(
                            list.get(start..end)
                                .ok_or_else(|| error(offset, "slice out of range"))?
                                .to_vec(),
                        )
                    }
                    Value::Str(text) => {
                        let end = end.unwrap_or(text.len());
                        Value::Str(
                            text.get(start..end)
                                .ok_or_else(|| error(offset, "slice out of range"))?
                                .to_owned(),
                        )
                    }
                    _ => return Err(error(offset, "slice of unsupported value")),
                }
            }
            "print" => Value::Str(args.iter().map(Value::render).collect::<Vec<_>>().join("")),
            "println" => Value::Str(format!(
                "{}\n",
                args.iter().map(Value::render).collect::<Vec<_>>().join(" ")
            )),
            "printf" => {
                let Value::Str(format) = argument(0)? else {
                    return Err(error(offset, "printf format is not a string"));
                };
                let mut out = String::new();
                let mut rest = args[1..].iter();
                let mut characters = format.chars();
                while let Some(character) = characters.next() {
                    if character != '%' {
                        out.push(character);
                        continue;
                    }
                    match characters.next() {
                        Some('%') => out.push('%'),
                        Some('s' | 'd' | 'v') => {
                            out.push_str(&rest.next().map(Value::render).unwrap_or_default())
                        }
                        Some('q') => out.push_str(
                            &serde_json::Value::String(
                                rest.next().map(Value::render).unwrap_or_default(),
                            )
                            .to_string(),
                        ),
                        other => {
                            return Err(error(
                                offset,
                                format!("printf verb %{} is not supported", other.unwrap_or(' ')),
                            ));
                        }
                    }
                }
                Value::Str(out)
            }
            "json" => Value::Str(argument(0)?.to_json().to_string()),
            // Ollama's currentDate: time.Now().Format("2006-01-02").
            "currentDate" => Value::Str(crate::chat::strftime_utc(
                "%Y-%m-%d",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|duration| duration.as_secs())
                    .unwrap_or(0),
            )),
            other => {
                return Err(error(
                    offset,
                    format!("function '{other}' is not supported"),
                ));
            }
        })
    }

    fn pipeline(&mut self, pipeline: &Pipeline, dot: &Value) -> Result<Value, TokenizerError> {
        let mut previous: Option<Value> = None;
        for command in &pipeline.commands {
            let value = match &command[0] {
                Operand::Function(name) => {
                    let mut args = Vec::new();
                    for operand in &command[1..] {
                        args.push(self.operand(operand, dot, pipeline.offset)?);
                    }
                    if let Some(value) = previous.take() {
                        args.push(value);
                    }
                    self.call(name, args, pipeline.offset)?
                }
                operand => {
                    if command.len() > 1 || previous.is_some() {
                        return Err(error(pipeline.offset, "arguments to a non-function"));
                    }
                    self.operand(operand, dot, pipeline.offset)?
                }
            };
            previous = Some(value);
        }
        let value = previous.unwrap_or(Value::Nil);
        for name in &pipeline.declare {
            if pipeline.assign {
                match self
                    .variables
                    .iter_mut()
                    .rev()
                    .find(|(variable, _)| variable == name)
                {
                    Some(slot) => slot.1 = value.clone(),
                    None => {
                        return Err(error(
                            pipeline.offset,
                            format!("undefined variable ${name}"),
                        ));
                    }
                }
            } else {
                self.variables.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TokenizerError> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipeline) => {
                    let value = self.pipeline(pipeline, dot)?;
                    if pipeline.declare.is_empty() {
                        self.out.push_str(&value.render());
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                }
                | Node::With {
                    branches,
                    otherwise,
                } => {
                    let scope = self.variables.len();
                    let is_with = matches!(node, Node::With { .. });
                    let mut taken = false;
                    for (pipeline, body) in branches {
                        let value = self.pipeline(pipeline, dot)?;
                        if value.truthy() {
                            let inner = if is_with { value } else { dot.clone() };
                            self.nodes(body, &inner)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.nodes(otherwise, dot)?;
                    }
                    self.variables.truncate(scope);
                }
                Node::Range {
                    pipeline,
                    body,
                    otherwise,
                } => {
                    let scope = self.variables.len();
                    let mut plain = pipeline.clone();
                    plain.declare.clear();
                    let value = self.pipeline(&plain, dot)?;
                    let items = match value {
                        Value::List(items) => items,
                        Value::Nil => Vec::new(),
                        other => {
                            return Err(error(
                                pipeline.offset,
                                format!("range over {} is not supported", other.render()),
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.nodes(otherwise, dot)?;
                    }
                    for (index, item) in items.iter().enumerate() {
                        let inner = self.variables.len();
                        match pipeline.declare.as_slice() {
                            [] => {}
                            [element] => self.variables.push((element.clone(), item.clone())),
                            [position, element] => {
                                self.variables
                                    .push((position.clone(), Value::Int(index as i64)));
                                self.variables.push((element.clone(), item.clone()));
                            }
                            _ => return Err(error(pipeline.offset, "too many range variables")),
                        }
                        self.nodes(body, item)?;
                        self.variables.truncate(inner);
                    }
                    self.variables.truncate(scope);
                }
            }
        }
        Ok(())
    }
}

fn execute(nodes: &[Node], root: &Value) -> Result<String, TokenizerError> {
    let mut executor = Executor {
        root,
        variables: Vec::new(),
        out: String::new(),
    };
    executor.nodes(nodes, root)?;
    Ok(executor.out)
}

fn mentions(nodes: &[Node], name: &str) -> bool {
    fn operand_mentions(operand: &Operand, name: &str) -> bool {
        match operand {
            Operand::Field(path) | Operand::Variable(_, path) => {
                path.iter().any(|field| field == name)
            }
            Operand::Pipeline(pipeline) => pipeline_mentions(pipeline, name),
            _ => false,
        }
    }
    fn pipeline_mentions(pipeline: &Pipeline, name: &str) -> bool {
        pipeline
            .commands
            .iter()
            .flatten()
            .any(|operand| operand_mentions(operand, name))
    }
    nodes.iter().any(|node| match node {
        Node::Text(_) => false,
        Node::Action(pipeline) => pipeline_mentions(pipeline, name),
        Node::If {
            branches,
            otherwise,
        }
        | Node::With {
            branches,
            otherwise,
        } => {
            branches
                .iter()
                .any(|(pipeline, body)| pipeline_mentions(pipeline, name) || mentions(body, name))
                || mentions(otherwise, name)
        }
        Node::Range {
            pipeline,
            body,
            otherwise,
        } => pipeline_mentions(pipeline, name) || mentions(body, name) || mentions(otherwise, name),
    })
}

/// Ollama's `deleteNode` with its `Response` predicate: keep everything up to and including the
/// first `.Response` field (branch conditions are not searched), drop everything after it.
fn cut_after_response(nodes: &[Node], cut: &mut bool) -> Vec<Node> {
    let mut kept = Vec::new();
    for node in nodes {
        if *cut {
            break;
        }
        match node {
            Node::Text(_) => kept.push(node.clone()),
            Node::Action(pipeline) => {
                let mut commands = Vec::new();
                for command in &pipeline.commands {
                    let mut args = Vec::new();
                    for operand in command {
                        if *cut {
                            break;
                        }
                        if matches!(operand, Operand::Field(path) if path.iter().any(|field| field == "Response"))
                        {
                            *cut = true;
                        }
                        args.push(operand.clone());
                    }
                    if args.is_empty() {
                        break;
                    }
                    commands.push(args);
                }
                if !commands.is_empty() {
                    kept.push(Node::Action(Pipeline {
                        commands,
                        ..pipeline.clone()
                    }));
                }
            }
            Node::If {
                branches,
                otherwise,
            }
            | Node::With {
                branches,
                otherwise,
            } => {
                let branches: Vec<(Pipeline, Vec<Node>)> = branches
                    .iter()
                    .map(|(pipeline, body)| (pipeline.clone(), cut_after_response(body, cut)))
                    .collect();
                let otherwise = cut_after_response(otherwise, cut);
                kept.push(if matches!(node, Node::If { .. }) {
                    Node::If {
                        branches,
                        otherwise,
                    }
                } else {
                    Node::With {
                        branches,
                        otherwise,
                    }
                });
            }
            Node::Range {
                pipeline,
                body,
                otherwise,
            } => {
                let body = cut_after_response(body, cut);
                let otherwise = cut_after_response(otherwise, cut);
                kept.push(Node::Range {
                    pipeline: pipeline.clone(),
                    body,
                    otherwise,
                });
            }
        }
    }
    kept
}

fn message_value(message: &ChatMessage) -> Value {
    let mut map = BTreeMap::new();
    map.insert("Role".to_owned(), Value::Str(message.role.clone()));
    map.insert("Content".to_owned(), Value::Str(message.content.clone()));
    map.insert("Thinking".to_owned(), Value::Str(String::new()));
    map.insert("ToolCalls".to_owned(), Value::List(Vec::new()));
    map.insert("Images".to_owned(), Value::List(Vec::new()));
    map.insert("ToolName".to_owned(), Value::Str(String::new()));
    Value::Map(map)
}

/// Ollama's `collate`: system messages joined; consecutive same-role messages merged (not tool).
fn collate(messages: &[ChatMessage]) -> (String, Vec<ChatMessage>) {
    let mut system = Vec::new();
    let mut collated: Vec<ChatMessage> = Vec::new();
    for message in messages {
        if message.role == "system" {
            system.push(message.content.clone());
        }
        match collated.last_mut() {
            Some(last) if last.role == message.role && message.role != "tool" => {
                last.content.push_str("\n\n");
                last.content.push_str(&message.content);
            }
            _ => collated.push(message.clone()),
        }
    }
    (system.join("\n\n"), collated)
}

fn root(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// Renders `messages` through an Ollama template as Ollama's `Template.Execute` does.
pub(crate) fn render(source: &str, messages: &[ChatMessage]) -> Result<String, TokenizerError> {
    let nodes = parse(source)?;
    let (system, collated) = collate(messages);
    if mentions(&nodes, "Messages") {
        let data = root(vec![
            ("System", Value::Str(system)),
            (
                "Messages",
                Value::List(collated.iter().map(message_value).collect()),
            ),
            ("Tools", Value::List(Vec::new())),
            ("Response", Value::Str(String::new())),
            ("Think", Value::Bool(false)),
            ("IsThinkSet", Value::Bool(false)),
            ("Query", Value::Str(String::new())),
            ("Document", Value::Str(String::new())),
            ("Instruction", Value::Str(String::new())),
        ]);
        return execute(&nodes, &data);
    }
    let turn = |system: &str, prompt: &str, response: &str| {
        root(vec![
            ("System", Value::Str(system.to_owned())),
            ("Prompt", Value::Str(prompt.to_owned())),
            ("Response", Value::Str(response.to_owned())),
            ("Think", Value::Bool(false)),
            ("IsThinkSet", Value::Bool(false)),
        ])
    };
    let mut out = String::new();
    let (mut system, mut prompt, mut response) = (String::new(), String::new(), String::new());
    for message in &collated {
        let flush = match message.role.as_str() {
            "system" => !prompt.is_empty() || !response.is_empty(),
            "user" => !response.is_empty(),
            _ => false,
        };
        if flush {
            out.push_str(&execute(&nodes, &turn(&system, &prompt, &response))?);
            system.clear();
            prompt.clear();
            response.clear();
        }
        match message.role.as_str() {
            "system" => system = message.content.clone(),
            "user" => prompt = message.content.clone(),
            "assistant" => response = message.content.clone(),
            _ => {}
        }
    }
    let mut cut = false;
    let last = cut_after_response(&nodes, &mut cut);
    out.push_str(&execute(&last, &turn(&system, &prompt, &response))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ollama's library template for qwen2.5 (messages style, tools removed for brevity).
    const CHATML_MESSAGES: &str = "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}\n{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n{{ .Content }}{{ if not $last }}<|im_end|>\n{{ end }}\n{{- end }}\n{{- if and (ne .Role \"assistant\") $last }}<|im_start|>assistant\n{{ end }}\n{{- end }}";

    /// A legacy Prompt/Response template (Ollama's older ChatML).
    const CHATML_LEGACY: &str = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n";

    #[test]
    fn messages_template_renders_chatml_with_generation_prompt() {
        let messages = [
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi"),
            ChatMessage::new("assistant", "Hello"),
            ChatMessage::new("user", "Bye"),
        ];
        let text = render(CHATML_MESSAGES, &messages).unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn legacy_template_is_cut_after_the_last_response() {
        let messages = [
            ChatMessage::new("system", "S"),
            ChatMessage::new("user", "Q1"),
            ChatMessage::new("assistant", "A1"),
            ChatMessage::new("user", "Q2"),
        ];
        let text = render(CHATML_LEGACY, &messages).unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn unsupported_constructs_name_their_offset() {
        let result = render("ab{{ template \"x\" }}", &[]);
        assert!(
            matches!(result, Err(TokenizerError::GoTemplate { offset: 2, .. })),
            "{result:?}"
        );
        assert!(render("{{ if .System }}x", &[]).is_err());
    }

    #[test]
    fn functions_and_variables_work() {
        let text = render("{{ $n := len .Messages }}{{ printf \"%d messages\" $n }}{{ range .Messages }} {{ .Role | printf \"%q\" }}{{ end }}{{ json .System }}", &[ChatMessage::new("user", "x")]).unwrap();
        assert_eq!(text, "1 messages \"user\"\"\"");
    }
}
