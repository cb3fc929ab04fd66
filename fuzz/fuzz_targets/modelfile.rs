//! Fuzz the Modelfile parser: it must never panic, printing must round-trip, and an edit of
//! `num_ctx` must leave a parseable file.

#![no_main]

use headroom_ollama::modelfile::Modelfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(modelfile) = Modelfile::parse_bytes(data) else {
        return;
    };
    let text = modelfile.to_string();
    let again = Modelfile::parse(&text).expect("lossless text must parse again");
    assert_eq!(again.commands().len(), modelfile.commands().len());
    let canonical = modelfile.to_canonical_string();
    let reparsed = Modelfile::parse(&canonical).expect("canonical text must parse");
    let values = |file: &Modelfile| {
        file.commands()
            .iter()
            .map(|command| (command.instruction, command.parameter.clone(), command.role, command.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&modelfile), values(&reparsed));
    let mut edited = modelfile.clone();
    if edited.set_parameter("num_ctx", "262144").is_ok() {
        assert_eq!(edited.parameter("num_ctx"), Some("262144"));
    }
    let _ = modelfile.check();
});
