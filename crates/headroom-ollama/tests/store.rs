//! A model store laid out exactly as Ollama lays it out (JSON manifests, digest-named blobs, a
//! GGUF model blob written by headroom-gguf), built in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use headroom_gguf::{GgmlType, GgufWriter, TensorData, Value};
use headroom_ollama::store::{ModelStore, StoreError, media_type, trained_context_length};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Writes a blob under its sha256 name and returns the manifest layer for it.
fn blob(root: &Path, media: &str, bytes: &[u8]) -> serde_json::Value {
    let hex = format!("{:x}", Sha256::digest(bytes));
    fs_err::create_dir_all(root.join("blobs")).unwrap();
    fs_err::write(root.join("blobs").join(format!("sha256-{hex}")), bytes).unwrap();
    json!({ "mediaType": media, "digest": format!("sha256:{hex}"), "size": bytes.len() })
}

fn gguf(architecture: &str, context_length: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    GgufWriter::new()
        .metadata("general.architecture", Value::String(architecture.into()))
        .metadata(
            format!("{architecture}.context_length"),
            Value::U32(context_length),
        )
        .metadata(format!("{architecture}.block_count"), Value::U32(48))
        .tensor(
            "token_embd.weight",
            &[64, 8],
            GgmlType::F16,
            TensorData::Zeros,
        )
        .write_to(&mut bytes)
        .unwrap();
    bytes
}

fn add_model(
    root: &Path,
    [host, namespace, model, tag]: [&str; 4],
    params: Option<serde_json::Value>,
    family: &str,
    trained: u32,
) {
    let mut layers = vec![blob(root, media_type::MODEL, &gguf(family, trained))];
    layers.push(blob(root, media_type::TEMPLATE, b"{{ .Prompt }}"));
    layers.push(blob(
        root,
        media_type::SYSTEM,
        b"You are a coding assistant.",
    ));
    layers.push(blob(root, media_type::LICENSE, b"Apache License 2.0"));
    layers.push(blob(
        root,
        media_type::MESSAGES,
        br#"[{"role":"user","content":"Is Toronto in Canada?"},{"role":"assistant","content":"yes"}]"#,
    ));
    layers.push(blob(root, media_type::PROJECTOR, &gguf("clip", 0)));
    if let Some(params) = params {
        layers.push(blob(
            root,
            media_type::PARAMS,
            params.to_string().as_bytes(),
        ));
    }
    let config = json!({ "model_format": "gguf", "model_family": family, "model_families": [family], "model_type": "30.5B", "file_type": "Q4_K_M" });
    let config_layer = blob(
        root,
        "application/vnd.docker.container.image.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": config_layer,
        "layers": layers,
    });
    let directory = root
        .join("manifests")
        .join(host)
        .join(namespace)
        .join(model);
    fs_err::create_dir_all(&directory).unwrap();
    fs_err::write(directory.join(tag), manifest.to_string()).unwrap();
}

fn story_store() -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    add_model(
        root,
        ["registry.ollama.ai", "library", "qwen3-coder", "v-128k"],
        Some(json!({"num_ctx": 131072, "stop": ["<|im_end|>"], "temperature": 0.7})),
        "qwen3moe",
        262_144,
    );
    add_model(
        root,
        ["registry.ollama.ai", "library", "llama3.1", "latest"],
        None,
        "llama",
        131_072,
    );
    add_model(
        root,
        [
            "hf.co",
            "unsloth",
            "Qwen3-Coder-30B-A3B-Instruct-GGUF",
            "Q4_K_M",
        ],
        None,
        "qwen3moe",
        262_144,
    );
    directory
}

#[test]
fn resolves_short_names_to_the_default_registry() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let model = store.model("qwen3-coder:v-128k").unwrap();
    assert_eq!(
        model.name.to_string(),
        "registry.ollama.ai/library/qwen3-coder:v-128k"
    );
    assert_eq!(store.model("library/llama3.1").unwrap().name.tag, "latest");
    assert_eq!(
        store
            .model("registry.ollama.ai/library/llama3.1:latest")
            .unwrap()
            .name
            .model,
        "llama3.1"
    );
    assert_eq!(
        store
            .model("hf.co/unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q4_K_M")
            .unwrap()
            .name
            .host,
        "hf.co"
    );
}

#[test]
fn reads_params_layers_and_config() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let model = store.model("qwen3-coder:v-128k").unwrap();
    assert_eq!(store.params_num_ctx(&model).unwrap(), Some(131_072));
    assert_eq!(store.params(&model).unwrap()["stop"], json!(["<|im_end|>"]));
    assert_eq!(
        store
            .layer_text(&model, media_type::TEMPLATE)
            .unwrap()
            .as_deref(),
        Some("{{ .Prompt }}")
    );
    assert_eq!(
        store
            .layer_text(&model, media_type::SYSTEM)
            .unwrap()
            .as_deref(),
        Some("You are a coding assistant.")
    );
    assert_eq!(
        store.licenses(&model).unwrap(),
        vec!["Apache License 2.0".to_owned()]
    );
    assert_eq!(store.layer_text(&model, media_type::ADAPTER).unwrap(), None);
    let messages = store.messages(&model).unwrap();
    assert_eq!(
        (messages[1].role.as_str(), messages[1].content.as_str()),
        ("assistant", "yes")
    );
    let projector = store
        .open_layer_gguf(&model, media_type::PROJECTOR)
        .unwrap()
        .unwrap();
    assert_eq!(projector.architecture().unwrap(), "clip");
    assert!(
        store
            .open_layer_gguf(&model, media_type::ADAPTER)
            .unwrap()
            .is_none()
    );
    assert_eq!(store.config(&model).unwrap().model_family, "qwen3moe");
    let llama = store.model("llama3.1").unwrap();
    assert_eq!(store.params_num_ctx(&llama).unwrap(), None);
}

#[test]
fn opens_the_model_blob_as_gguf() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let model = store.model("qwen3-coder:v-128k").unwrap();
    let file = store.open_gguf(&model).unwrap();
    assert_eq!(trained_context_length(&file), Some(262_144));
    assert_eq!(file.tensors.len(), 1);
}

#[test]
fn lists_every_model_sorted() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let names: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|model| model.name.display_shortest())
        .collect();
    assert_eq!(
        names,
        vec![
            "hf.co/unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q4_K_M",
            "llama3.1:latest",
            "qwen3-coder:v-128k"
        ]
    );
}

#[test]
fn missing_model_and_bad_manifest_name_the_file() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let error = store.model("mistral").unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("manifests/registry.ollama.ai/library/mistral/latest"),
        "{error}"
    );
    let manifest = directory
        .path()
        .join("manifests/registry.ollama.ai/library/llama3.1/latest");
    fs_err::write(&manifest, "{\n  \"schemaVersion\": 2,\n  \"config\": 7\n}").unwrap();
    let error = store.model("llama3.1").unwrap_err();
    assert!(matches!(error, StoreError::Json { line: 3, .. }), "{error}");
    assert!(error.to_string().contains("llama3.1/latest"), "{error}");
    assert!(matches!(
        store.model("bad name!").unwrap_err(),
        StoreError::Name(_)
    ));
}

#[test]
fn corrupt_model_blob_is_a_gguf_error_not_a_panic() {
    let directory = story_store();
    let store = ModelStore::new(directory.path());
    let model = store.model("llama3.1").unwrap();
    let path = store
        .layer_path(&model, media_type::MODEL)
        .unwrap()
        .unwrap();
    fs_err::write(&path, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    assert!(matches!(store.open_gguf(&model), Err(StoreError::Gguf(_))));
}
