//! Ollama's own parser test cases (`parser/parser_test.go`, ollama/ollama v0.33.0-rc2), ported:
//! same inputs, same expected commands in Ollama's `{Name, Args}` form, same error kinds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use headroom_ollama::modelfile::{Instruction, Modelfile, ModelfileError};

/// Ollama's `Command{Name, Args}`: FROM is "model", a PARAMETER is named by the parameter,
/// a MESSAGE's args are "role: text".
fn ollama_commands(modelfile: &Modelfile) -> Vec<(String, String)> {
    modelfile
        .commands()
        .iter()
        .map(|command| match command.instruction {
            Instruction::From => ("model".to_owned(), command.value.clone()),
            Instruction::Parameter => (command.parameter.clone().unwrap(), command.value.clone()),
            Instruction::Message => (
                "message".to_owned(),
                format!("{}: {}", command.role.unwrap().as_str(), command.value),
            ),
            other => (other.keyword().to_ascii_lowercase(), command.value.clone()),
        })
        .collect()
}

fn expect(input: &str, expected: &[(&str, &str)]) {
    let modelfile = Modelfile::parse(input).unwrap_or_else(|error| panic!("{input:?}: {error}"));
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(name, args)| ((*name).to_owned(), (*args).to_owned()))
        .collect();
    assert_eq!(ollama_commands(&modelfile), expected, "{input:?}");
}

#[derive(Debug, PartialEq)]
enum Kind {
    MissingFrom,
    UnexpectedEof,
    Parser,
}

fn expect_error(input: &str, kind: Kind) {
    let error = Modelfile::parse(input).expect_err(input);
    let found = match error {
        ModelfileError::MissingFrom => Kind::MissingFrom,
        ModelfileError::UnexpectedEof { .. } => Kind::UnexpectedEof,
        ModelfileError::InvalidCommand { .. } | ModelfileError::InvalidMessageRole { .. } => {
            Kind::Parser
        }
        ModelfileError::TruncatedUtf16 { .. } => panic!("{input:?}: {error}"),
    };
    assert_eq!(found, kind, "{input:?}");
}

#[test]
fn trim_space() {
    let input = "\nFROM \"     model 1\"\nADAPTER      adapter3\nLICENSE \"MIT       \"\nPARAMETER param1        value1\nPARAMETER param2    value2\nTEMPLATE \"\"\"   {{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>   \"\"\"    \n";
    expect(
        input,
        &[
            ("model", "     model 1"),
            ("adapter", "adapter3"),
            ("license", "MIT       "),
            ("param1", "value1"),
            ("param2", "value2"),
            (
                "template",
                "   {{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>   ",
            ),
        ],
    );
}

#[test]
fn from() {
    expect("FROM \"FOO  BAR  \"", &[("model", "FOO  BAR  ")]);
    expect(
        "FROM \"FOO BAR\"\nPARAMETER param1 value1",
        &[("model", "FOO BAR"), ("param1", "value1")],
    );
    expect("FROM     FOOO BAR    ", &[("model", "FOOO BAR")]);
    expect("FROM /what/is/the path ", &[("model", "/what/is/the path")]);
    expect("FROM foo", &[("model", "foo")]);
    expect("FROM /path/to/model", &[("model", "/path/to/model")]);
    expect(
        "FROM /path/to/model/fp16.bin",
        &[("model", "/path/to/model/fp16.bin")],
    );
    expect("FROM llama3:latest", &[("model", "llama3:latest")]);
    expect(
        "FROM llama3:7b-instruct-q4_K_M",
        &[("model", "llama3:7b-instruct-q4_K_M")],
    );
    expect_error("", Kind::MissingFrom);
    expect_error("PARAMETER param1 value1", Kind::MissingFrom);
    expect(
        "PARAMETER param1 value1\nFROM foo",
        &[("param1", "value1"), ("model", "foo")],
    );
    expect(
        "PARAMETER what the \nFROM lemons make lemonade ",
        &[("what", "the"), ("model", "lemons make lemonade")],
    );
}

#[test]
fn parameter_missing_value_and_bad_command() {
    expect_error("\nFROM foo\nPARAMETER param1\n", Kind::UnexpectedEof);
    expect_error("\nFROM foo\nBADCOMMAND param1 value1\n", Kind::Parser);
}

#[test]
fn renderer_and_parser() {
    expect(
        "\nFROM foo\nRENDERER renderer1\n",
        &[("model", "foo"), ("renderer", "renderer1")],
    );
    expect(
        "\nFROM foo\nPARSER parser1\n",
        &[("model", "foo"), ("parser", "parser1")],
    );
    expect(
        "\nFROM foo\nDRAFT ./draft.gguf\n",
        &[("model", "foo"), ("draft", "./draft.gguf")],
    );
}

#[test]
fn messages() {
    expect(
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n",
        &[
            ("model", "foo"),
            (
                "message",
                "system: You are a file parser. Always parse things.",
            ),
        ],
    );
    expect(
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
        &[
            ("model", "foo"),
            (
                "message",
                "system: You are a file parser. Always parse things.",
            ),
        ],
    );
    expect(
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        &[
            ("model", "foo"),
            (
                "message",
                "system: You are a file parser. Always parse things.",
            ),
            ("message", "user: Hey there!"),
            (
                "message",
                "assistant: Hello, I want to parse all the things!",
            ),
        ],
    );
    expect(
        "\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n\"\"\"\n\t\t\t",
        &[
            ("model", "foo"),
            (
                "message",
                "system: \nYou are a multiline file parser. Always parse things.\n",
            ),
        ],
    );
    expect_error("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", Kind::Parser);
    expect_error("\nFROM foo\nMESSAGE system\n", Kind::UnexpectedEof);
    expect_error("\nFROM foo\nMESSAGE system", Kind::UnexpectedEof);
}

#[test]
fn quoted() {
    expect(
        "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\n\"\"\"\n\t\t\t",
        &[
            ("model", "foo"),
            ("system", "\nThis is a\nmultiline system.\n"),
        ],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\"\"\"\n\t\t\t",
        &[
            ("model", "foo"),
            ("system", "\nThis is a\nmultiline system."),
        ],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\"This is a\nmultiline system.\"\"\"\n\t\t\t",
        &[("model", "foo"), ("system", "This is a\nmultiline system.")],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\"\n\t\t\t",
        &[("model", "foo"), ("system", "This is a multiline system.")],
    );
    expect_error(
        "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n\t\t\t",
        Kind::UnexpectedEof,
    );
    expect_error("\nFROM foo\nSYSTEM \"\n\t\t\t", Kind::UnexpectedEof);
    expect(
        "\nFROM foo\nSYSTEM \"\"\"\nThis is a multiline system with \"quotes\".\n\"\"\"\n",
        &[
            ("model", "foo"),
            ("system", "\nThis is a multiline system with \"quotes\".\n"),
        ],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\"\"\"\"\n",
        &[("model", "foo"), ("system", "")],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\n",
        &[("model", "foo"), ("system", "")],
    );
    expect(
        "\nFROM foo\nSYSTEM \"'\"\n",
        &[("model", "foo"), ("system", "'")],
    );
    expect(
        "\nFROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n",
        &[
            ("model", "foo"),
            ("system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'"),
        ],
    );
    expect(
        "\nFROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\"",
        &[("model", "foo"), ("template", "\n{{ .Prompt }}\n")],
    );
}

#[test]
fn parameters() {
    for (line, name, value) in [
        ("numa true", "numa", "true"),
        ("num_ctx 1", "num_ctx", "1"),
        ("num_batch 1", "num_batch", "1"),
        ("num_gqa 1", "num_gqa", "1"),
        ("num_gpu 1", "num_gpu", "1"),
        ("main_gpu 1", "main_gpu", "1"),
        ("use_mmap true", "use_mmap", "true"),
        ("num_thread 1", "num_thread", "1"),
        ("num_keep 1", "num_keep", "1"),
        ("seed 1", "seed", "1"),
        ("num_predict 1", "num_predict", "1"),
        ("top_k 1", "top_k", "1"),
        ("top_p 1.0", "top_p", "1.0"),
        ("min_p 0.05", "min_p", "0.05"),
        ("typical_p 1.0", "typical_p", "1.0"),
        ("repeat_last_n 1", "repeat_last_n", "1"),
        ("temperature 1.0", "temperature", "1.0"),
        ("repeat_penalty 1.0", "repeat_penalty", "1.0"),
        ("presence_penalty 1.0", "presence_penalty", "1.0"),
        ("frequency_penalty 1.0", "frequency_penalty", "1.0"),
        ("penalize_newline true", "penalize_newline", "true"),
        ("stop ### User:", "stop", "### User:"),
        ("stop ### User: ", "stop", "### User:"),
        ("stop \"### User:\"", "stop", "### User:"),
        ("stop \"### User: \"", "stop", "### User: "),
        ("stop \"\"\"### User:\"\"\"", "stop", "### User:"),
        ("stop \"\"\"### User:\n\"\"\"", "stop", "### User:\n"),
        ("stop <|endoftext|>", "stop", "<|endoftext|>"),
        ("stop <|eot_id|>", "stop", "<|eot_id|>"),
        ("stop </s>", "stop", "</s>"),
    ] {
        expect(
            &format!("FROM foo\nPARAMETER {line}\n"),
            &[("model", "foo"), (name, value)],
        );
    }
}

#[test]
fn comments() {
    expect("\n# comment\nFROM foo\n\t", &[("model", "foo")]);
}

#[test]
fn format_then_parse_is_identical() {
    for input in [
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE \"\"\"\nVery long and boring legal text.\nBlah blah blah.\n\"Oh look, a quote!\"\n\"\"\"\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nSYSTEM \"\"\n",
    ] {
        let first = Modelfile::parse(input).unwrap();
        let second = Modelfile::parse(&first.to_canonical_string()).unwrap();
        assert_eq!(
            ollama_commands(&first),
            ollama_commands(&second),
            "{input:?}"
        );
    }
}

#[test]
fn utf16_and_multibyte() {
    let data =
        "FROM bob\nPARAMETER param1 1\nPARAMETER param2 4096\nSYSTEM You are a utf16 file.\n";
    let expected = [
        ("model", "bob"),
        ("param1", "1"),
        ("param2", "4096"),
        ("system", "You are a utf16 file."),
    ];
    for big_endian in [false, true] {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in data.encode_utf16() {
            bytes.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        let modelfile = Modelfile::parse_bytes(&bytes).unwrap();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, args)| ((*name).to_owned(), (*args).to_owned()))
            .collect();
        assert_eq!(ollama_commands(&modelfile), expected);
    }
    expect(
        "FROM test\n\tSYSTEM 你好👋",
        &[("model", "test"), ("system", "你好👋")],
    );
}
