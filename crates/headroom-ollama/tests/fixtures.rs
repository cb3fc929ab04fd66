//! One test per fixture file: Modelfiles (parse, snapshot, print/parse round trips, edit) and
//! server logs (events snapshot). A completeness test fails when a fixture has no test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use headroom_ollama::log::{Event, LogEvents};
use headroom_ollama::modelfile::{Command, Diagnostic, Modelfile};
use serde::Serialize;

fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
        .join(name)
}

#[derive(Serialize)]
struct ModelfileSnapshot<'a> {
    commands: &'a [Command],
    check: Vec<Diagnostic>,
    canonical: String,
}

fn command_values(modelfile: &Modelfile) -> Vec<(String, Option<String>, Option<String>, String)> {
    modelfile
        .commands()
        .iter()
        .map(|command| {
            (
                command.instruction.keyword().to_owned(),
                command.parameter.clone(),
                command.role.map(|role| role.as_str().to_owned()),
                command.value.clone(),
            )
        })
        .collect()
}

fn check_modelfile(name: &str) {
    let bytes = fs_err::read(fixture("modelfiles", name)).unwrap();
    let modelfile = Modelfile::parse_bytes(&bytes).unwrap();
    // Lossless: the text prints back byte for byte.
    assert_eq!(
        modelfile.to_string().as_bytes(),
        bytes.as_slice(),
        "{name}: lossless print"
    );
    // Canonical print -> parse gives the same commands, and printing again is stable.
    let canonical = modelfile.to_canonical_string();
    let reparsed = Modelfile::parse(&canonical).unwrap();
    assert_eq!(
        command_values(&modelfile),
        command_values(&reparsed),
        "{name}: canonical round trip"
    );
    assert_eq!(
        reparsed.to_canonical_string(),
        canonical,
        "{name}: canonical print is stable"
    );
    // Edit: set num_ctx; only that changes.
    let mut edited = modelfile.clone();
    edited.set_parameter("num_ctx", "262144").unwrap();
    assert_eq!(edited.parameter("num_ctx"), Some("262144"));
    let before: Vec<_> = command_values(&modelfile)
        .into_iter()
        .filter(|command| command.1.as_deref() != Some("num_ctx"))
        .collect();
    let after: Vec<_> = command_values(&edited)
        .into_iter()
        .filter(|command| command.1.as_deref() != Some("num_ctx"))
        .collect();
    assert_eq!(before, after, "{name}: edit touched other commands");
    let text = modelfile.to_string();
    let edited_text = edited.to_string();
    let common_prefix = text
        .bytes()
        .zip(edited_text.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let common_suffix = text
        .bytes()
        .rev()
        .zip(edited_text.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let changed = &edited_text
        [common_prefix..edited_text.len() - common_suffix.min(edited_text.len() - common_prefix)];
    assert!(
        changed.len() <= "PARAMETER num_ctx 262144\r\n".len(),
        "{name}: edit changed {changed:?}"
    );

    insta::assert_yaml_snapshot!(
        format!("modelfile__{name}"),
        ModelfileSnapshot {
            commands: modelfile.commands(),
            check: modelfile.check(),
            canonical
        }
    );
}

fn check_log(name: &str) {
    let file = fs_err::File::open(fixture("logs", name)).unwrap();
    let events: Vec<Event> = LogEvents::new(std::io::BufReader::new(file))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!events.is_empty(), "{name}: no events");
    insta::assert_yaml_snapshot!(format!("log__{name}"), events);
}

macro_rules! fixture_tests {
    ($check:ident, $list:ident, { $($test:ident => $file:literal,)* }) => {
        $(
            #[test]
            fn $test() {
                $check($file);
            }
        )*
        const $list: &[&str] = &[$($file),*];
    };
}

fixture_tests!(check_modelfile, MODELFILE_FIXTURES, {
    modelfile_docs_api_show_llava => "docs-api-show-llava.Modelfile",
    modelfile_docs_basic_mario => "docs-basic-mario.Modelfile",
    modelfile_docs_message_history => "docs-message-history.Modelfile",
    modelfile_docs_show_llama3_2 => "docs-show-llama3.2.Modelfile",
    modelfile_example_modelfile_mario => "example-modelfile-mario.Modelfile",
    modelfile_example_python_dockerit => "example-python-dockerit.Modelfile",
    modelfile_example_python_loganalysis => "example-python-loganalysis.Modelfile",
    modelfile_show_gemma3 => "show-gemma3.Modelfile",
    modelfile_show_llama3_1 => "show-llama3.1.Modelfile",
    modelfile_show_qwen3_coder_v_128k => "show-qwen3-coder-v-128k.Modelfile",
    modelfile_synthetic_every_instruction => "synthetic-every-instruction.Modelfile",
});

fixture_tests!(check_log, LOG_FIXTURES, {
    log_story_qwen3_coder => "story-qwen3-coder.log",
    log_v0_12_macos_server => "v0.12-macos-server.log",
    log_v0_15_5_windows_server => "v0.15.5-windows-server.log",
    log_v0_3_cpp_runner_stderr => "v0.3-cpp-runner-stderr.log",
    log_v0_30_llama_server_journalctl => "v0.30-llama-server-journalctl.log",
    log_v0_4_0_go_runner_stderr => "v0.4.0-go-runner-stderr.log",
    log_v0_6_journalctl => "v0.6-journalctl.log",
});

#[test]
fn every_fixture_file_has_a_test() {
    for (kind, listed, extension) in [
        ("modelfiles", MODELFILE_FIXTURES, "Modelfile"),
        ("logs", LOG_FIXTURES, "log"),
    ] {
        let mut found: Vec<String> = fs_err::read_dir(fixture(kind, ""))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(extension))
            .collect();
        found.sort();
        let mut listed: Vec<String> = listed.iter().map(|name| (*name).to_owned()).collect();
        listed.sort();
        assert_eq!(found, listed, "{kind}: add a test line for each fixture");
    }
}
