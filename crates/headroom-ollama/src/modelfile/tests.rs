use super::*;

fn parse(text: &str) -> Modelfile {
    Modelfile::parse(text).unwrap()
}

#[test]
fn instructions_are_case_insensitive() {
    let modelfile = parse("from llama3.2\nParameter num_ctx 8192\nsYsTeM be brief\n");
    assert_eq!(modelfile.from(), Some("llama3.2"));
    assert_eq!(modelfile.parameter("num_ctx"), Some("8192"));
    assert_eq!(modelfile.last_value(Instruction::System), Some("be brief"));
}

#[test]
fn comment_only_at_line_start_hash_inside_value_is_kept() {
    let modelfile = parse("# a comment\n  # indented comment\nFROM llama3 # not a comment\n");
    assert_eq!(modelfile.from(), Some("llama3 # not a comment"));
    assert_eq!(modelfile.commands().len(), 1);
}

#[test]
fn triple_quoted_value_spans_lines() {
    let text = "FROM x\nTEMPLATE \"\"\"{{ if .System }}<|system|>\n{{ .System }}{{ end }}\n\"\"\"\nPARAMETER stop <|end|>\n";
    let modelfile = parse(text);
    assert_eq!(
        modelfile.last_value(Instruction::Template),
        Some("{{ if .System }}<|system|>\n{{ .System }}{{ end }}\n")
    );
    assert_eq!(modelfile.parameter("stop"), Some("<|end|>"));
}

#[test]
fn single_quoted_value_spans_lines_and_keeps_inner_quotes() {
    let modelfile = parse("FROM x\nSYSTEM \"You are\n\"Mario\" from Nintendo\"\n");
    assert_eq!(
        modelfile.last_value(Instruction::System),
        Some("You are\n\"Mario\" from Nintendo")
    );
}

#[test]
fn unbalanced_quote_continues_until_a_line_ends_with_a_quote() {
    // Ollama's unquote only looks at the first and last characters of the trimmed buffer.
    let modelfile = parse("FROM x\nSYSTEM \"a\"b\nstill system\"\nPARAMETER seed 1\n");
    assert_eq!(
        modelfile.last_value(Instruction::System),
        Some("a\"b\nstill system")
    );
    assert_eq!(modelfile.parameter("seed"), Some("1"));
}

#[test]
fn message_keeps_role_and_text() {
    let modelfile = parse("FROM x\nMESSAGE user Is Toronto in Canada?\nMESSAGE assistant yes\n");
    let messages: Vec<_> = modelfile.messages().collect();
    assert_eq!(
        messages,
        vec![
            (MessageRole::User, "Is Toronto in Canada?"),
            (MessageRole::Assistant, "yes")
        ]
    );
}

#[test]
fn rejects_unknown_message_role() {
    let error = Modelfile::parse("FROM x\nMESSAGE bot hello\n").unwrap_err();
    assert!(
        matches!(
            error,
            ModelfileError::InvalidMessageRole {
                position: Position { line: 2, column: 9 },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rejects_unknown_instruction_with_position() {
    let error = Modelfile::parse("FROM x\n\nPARAMETR num_ctx 1\n").unwrap_err();
    assert_eq!(
        error,
        ModelfileError::InvalidCommand {
            position: Position { line: 3, column: 1 },
            found: "PARAMETR".into()
        }
    );
}

#[test]
fn rejects_instruction_without_value() {
    assert!(matches!(
        Modelfile::parse("FROM x\nSYSTEM\n"),
        Err(ModelfileError::InvalidCommand { .. })
    ));
    assert!(matches!(
        Modelfile::parse("FROM"),
        Err(ModelfileError::UnexpectedEof { .. })
    ));
}

#[test]
fn rejects_bad_parameter_name_character() {
    let error = Modelfile::parse("FROM x\nPARAMETER num-ctx 1\n").unwrap_err();
    assert!(
        matches!(
            error,
            ModelfileError::UnexpectedEof {
                position: Position {
                    line: 2,
                    column: 14
                },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rejects_unterminated_quote_at_end_of_file() {
    let error = Modelfile::parse("FROM x\nTEMPLATE \"\"\"{{ .Prompt }}\n").unwrap_err();
    assert!(
        matches!(
            error,
            ModelfileError::UnexpectedEof {
                position: Position {
                    line: 2,
                    column: 10
                },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rejects_missing_from() {
    assert_eq!(
        Modelfile::parse("PARAMETER num_ctx 1\n"),
        Err(ModelfileError::MissingFrom)
    );
}

#[test]
fn drops_non_printable_characters_like_go() {
    let modelfile = parse("FROM x\u{0007}y\n");
    assert_eq!(modelfile.from(), Some("xy"));
}

#[test]
fn utf8_bom_and_utf16_are_decoded() {
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), b"FROM llama3\n"].concat();
    assert_eq!(
        Modelfile::parse_bytes(&with_bom).unwrap().from(),
        Some("llama3")
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in "FROM llama3\n".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(
        Modelfile::parse_bytes(&utf16).unwrap().from(),
        Some("llama3")
    );
}

#[test]
fn canonical_print_reads_back_the_same_commands() {
    let text = "from x\nsystem \"  padded  \"\nTEMPLATE \"\"\"say \"hi\"\n\"\"\"\nPARAMETER stop \"\"abc\"\nMESSAGE user \"\"\"\"quoted\" start\"\"\"\n";
    let first = parse(text);
    let printed = first.to_canonical_string();
    let second = parse(&printed);
    let values = |modelfile: &Modelfile| {
        modelfile
            .commands()
            .iter()
            .map(|c| (c.instruction, c.parameter.clone(), c.role, c.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&first), values(&second), "{printed}");
}

#[test]
fn display_is_byte_for_byte() {
    let text = "# header\r\nFROM x\r\n\r\nPARAMETER   num_ctx   4096  \r\n";
    assert_eq!(parse(text).to_string(), text);
}

#[test]
fn set_parameter_replaces_only_the_value() {
    let text = "# keep me\nFROM qwen3-coder:30b\nPARAMETER num_ctx   131072   # tail\nPARAMETER temperature 0.7\n";
    let mut modelfile = parse(text);
    // The value of that line is "131072   # tail" (a comment is part of the value): replace it.
    modelfile.set_parameter("temperature", "0.2").unwrap();
    assert_eq!(
        modelfile.to_string(),
        "# keep me\nFROM qwen3-coder:30b\nPARAMETER num_ctx   131072   # tail\nPARAMETER temperature 0.2\n"
    );
}

#[test]
fn set_parameter_keeps_alignment_and_crlf() {
    let mut modelfile = parse("FROM x\r\nPARAMETER num_ctx    131072\r\nSYSTEM hi\r\n");
    modelfile.set_parameter("num_ctx", "262144").unwrap();
    assert_eq!(
        modelfile.to_string(),
        "FROM x\r\nPARAMETER num_ctx    262144\r\nSYSTEM hi\r\n"
    );
}

#[test]
fn set_parameter_inserts_after_last_parameter_or_from() {
    let mut modelfile = parse("FROM x\nPARAMETER stop a\nSYSTEM s\n");
    modelfile.set_parameter("num_ctx", "262144").unwrap();
    assert_eq!(
        modelfile.to_string(),
        "FROM x\nPARAMETER stop a\nPARAMETER num_ctx 262144\nSYSTEM s\n"
    );
    let mut bare = parse("FROM x");
    bare.set_parameter("num_ctx", "8192").unwrap();
    assert_eq!(bare.to_string(), "FROM x\nPARAMETER num_ctx 8192");
}

#[test]
fn set_parameter_removes_later_duplicates() {
    let mut modelfile =
        parse("FROM x\nPARAMETER num_ctx 1\n  PARAMETER num_ctx 2\nPARAMETER seed 3\n");
    modelfile.set_parameter("num_ctx", "4").unwrap();
    assert_eq!(
        modelfile.to_string(),
        "FROM x\nPARAMETER num_ctx 4\nPARAMETER seed 3\n"
    );
}

#[test]
fn set_parameter_rejects_bad_values() {
    let mut modelfile = parse("FROM x\n");
    assert!(matches!(
        modelfile.set_parameter("num_ctx", "128k"),
        Err(EditError::InvalidValue { .. })
    ));
    assert!(matches!(
        modelfile.set_parameter("num-ctx", "1"),
        Err(EditError::InvalidName { .. })
    ));
    assert!(matches!(
        modelfile.set_parameter("stop", "a\u{0001}"),
        Err(EditError::Unrepresentable { .. })
    ));
    assert_eq!(modelfile.to_string(), "FROM x\n");
}

#[test]
fn set_parameter_quotes_when_needed() {
    let mut modelfile = parse("FROM x\n");
    modelfile.set_parameter("stop", " <|im_end|>").unwrap();
    assert_eq!(modelfile.parameter("stop"), Some(" <|im_end|>"));
    assert_eq!(
        modelfile.to_string(),
        "FROM x\nPARAMETER stop \" <|im_end|>\"\n"
    );
}

#[test]
fn remove_parameter_removes_whole_lines() {
    let mut modelfile = parse("FROM x\nPARAMETER stop a\nPARAMETER stop b\r\nSYSTEM s\n");
    assert_eq!(modelfile.remove_parameter("stop").unwrap(), 2);
    assert_eq!(modelfile.to_string(), "FROM x\nSYSTEM s\n");
}

#[test]
fn check_reports_unknown_bad_and_deprecated_parameters() {
    let modelfile = parse(
        "FROM x\nPARAMETER num_ctx 128k\nPARAMETER mirostat 1\nPARAMETER tfs_z 1\nREQUIRES 0.14\nREQUIRES v0.14.0-rc1\nREQUIRES 01.2.3\n",
    );
    let findings: Vec<(Severity, usize, String)> = modelfile
        .check()
        .into_iter()
        .map(|d| (d.severity, d.position.line, d.message))
        .collect();
    assert_eq!(
        findings,
        vec![
            (Severity::Error, 2, "invalid int value [128k]".to_owned()),
            (
                Severity::Warning,
                3,
                "warning: parameter mirostat is deprecated".to_owned()
            ),
            (Severity::Error, 4, "unknown parameter 'tfs_z'".to_owned()),
            (
                Severity::Error,
                7,
                "requires must be a valid semver (e.g. 0.14.0)".to_owned()
            ),
        ]
    );
}

#[test]
fn typed_parameters_accumulate_stop_and_keep_last_scalar() {
    let modelfile = parse(
        "FROM x\nPARAMETER stop a\nPARAMETER num_ctx 1\nPARAMETER stop b\nPARAMETER num_ctx 2\n",
    );
    assert_eq!(
        modelfile.typed_parameters().unwrap(),
        vec![
            (
                "stop".to_owned(),
                ParameterValue::StringList(vec!["a".into(), "b".into()])
            ),
            ("num_ctx".to_owned(), ParameterValue::Integer(2)),
        ]
    );
}

#[test]
fn quote_value_round_trips_awkward_values() {
    for value in [
        "",
        " x",
        "x ",
        "a\nb",
        "\"q",
        "\"\"q",
        "a\"\nb",
        "say \"hi\"\n",
        "\"\"\"",
    ] {
        if let Some(written) = quote_value(value) {
            let parsed = parse(&format!("FROM x\nSYSTEM {written}\n"));
            assert_eq!(
                parsed.last_value(Instruction::System),
                Some(value),
                "{written:?}"
            );
        }
    }
    assert!(quote_value("tab\there").is_some());
}
