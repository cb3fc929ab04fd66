//! The fuzz target's properties on many generated inputs (stable Rust cannot run cargo-fuzz):
//! never a panic; lossless print parses to the same commands; canonical print reads back the
//! same values; an edit of num_ctx keeps every other command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use headroom_ollama::modelfile::{Command, Modelfile};

/// xorshift64*: deterministic, so a failure reproduces.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "FROM ",
    "from ",
    "PARAMETER ",
    "parameter ",
    "TEMPLATE ",
    "SYSTEM ",
    "ADAPTER ",
    "LICENSE ",
    "MESSAGE ",
    "REQUIRES ",
    "DRAFT ",
    "RENDERER ",
    "PARSER ",
    "num_ctx ",
    "stop ",
    "temperature ",
    "user ",
    "assistant ",
    "system ",
    "bot ",
    "\"",
    "\"\"\"",
    "\n",
    "\r\n",
    "\r",
    " ",
    "  ",
    "\t",
    "#",
    "# comment\n",
    "llama3",
    "4096",
    "0.7",
    "{{ .Prompt }}",
    "<|im_end|>",
    "x\"y",
    "é",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "\u{feff}",
    "-",
    "1",
    "_",
    ":",
    "v0.14.0",
];

fn values(modelfile: &Modelfile) -> Vec<(String, Option<String>, Option<&'static str>, String)> {
    modelfile
        .commands()
        .iter()
        .map(|command: &Command| {
            (
                command.instruction.keyword().to_owned(),
                command.parameter.clone(),
                command.role.map(|role| role.as_str()),
                command.value.clone(),
            )
        })
        .collect()
}

#[test]
fn generated_modelfiles_keep_every_property() {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0u32;
    for _ in 0..30_000 {
        let mut text = String::from(if random.next().is_multiple_of(4) {
            ""
        } else {
            "FROM base\n"
        });
        for _ in 0..(random.next() % 24) {
            text.push_str(random.pick(PIECES));
        }
        let Ok(modelfile) = Modelfile::parse(&text) else {
            continue;
        };
        parsed += 1;
        assert_eq!(modelfile.to_string(), text);
        let canonical = modelfile.to_canonical_string();
        let reparsed = Modelfile::parse(&canonical)
            .unwrap_or_else(|error| panic!("{text:?} -> {canonical:?}: {error}"));
        assert_eq!(
            values(&modelfile),
            values(&reparsed),
            "{text:?} -> {canonical:?}"
        );
        let mut edited = modelfile.clone();
        edited
            .set_parameter("num_ctx", "262144")
            .unwrap_or_else(|error| panic!("{text:?}: {error}"));
        assert_eq!(edited.parameter("num_ctx"), Some("262144"), "{text:?}");
        let others = |file: &Modelfile| {
            values(file)
                .into_iter()
                .filter(|command| command.1.as_deref() != Some("num_ctx"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            others(&modelfile),
            others(&edited),
            "{text:?} -> {:?}",
            edited.to_string()
        );
        let _ = modelfile.check();
    }
    // The generator must reach the parser's accepting paths, or this test proves little.
    assert!(parsed > 3_000, "only {parsed} inputs parsed");
}
