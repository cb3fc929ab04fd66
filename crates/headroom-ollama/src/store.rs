//! Ollama's on-disk model store: where it is, its manifests and digest-named blobs, the layers
//! of a model (model GGUF, params, template, system, adapter, projector, license, messages), and
//! the model blob opened as a GGUF header (never its tensor data).
//!
//! Layout (ollama/ollama v0.33.0-rc2, `manifest/`, `server/images.go`, `types/model/name.go`):
//! `<root>/manifests/<host>/<namespace>/<model>/<tag>` holds a JSON manifest
//! (`schemaVersion`, `mediaType`, `config`, `layers[{mediaType, digest, size, from?}]`), and
//! each digest `sha256:<hex>` is the file `<root>/blobs/sha256-<hex>`.
//! Root: `OLLAMA_MODELS`, else `$HOME/.ollama/models` (`envconfig.Models`). The Linux
//! install script runs the service as user `ollama` with home `/usr/share/ollama`
//! (`scripts/install.sh`: `useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama`), so a
//! systemd install keeps its models in `/usr/share/ollama/.ollama/models`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use headroom_gguf::{GgufError, GgufFile};
use serde::{Deserialize, Serialize};

use crate::name::{ModelName, NameError};

/// Media types of manifest layers (`server/create.go`, `manifest/layer.go`).
pub mod media_type {
    /// The model weights (GGUF).
    pub const MODEL: &str = "application/vnd.ollama.image.model";
    /// A vision projector (mmproj GGUF).
    pub const PROJECTOR: &str = "application/vnd.ollama.image.projector";
    /// A LoRA adapter.
    pub const ADAPTER: &str = "application/vnd.ollama.image.adapter";
    /// A draft model for speculative decoding.
    pub const DRAFT: &str = "application/vnd.ollama.image.draft";
    /// The Go prompt template.
    pub const TEMPLATE: &str = "application/vnd.ollama.image.template";
    /// The legacy prompt template.
    pub const PROMPT: &str = "application/vnd.ollama.image.prompt";
    /// The system prompt.
    pub const SYSTEM: &str = "application/vnd.ollama.image.system";
    /// The PARAMETERs as a JSON object.
    pub const PARAMS: &str = "application/vnd.ollama.image.params";
    /// The MESSAGE history as JSON.
    pub const MESSAGES: &str = "application/vnd.ollama.image.messages";
    /// License text.
    pub const LICENSE: &str = "application/vnd.ollama.image.license";
}

/// The platform whose default store location applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Linux (a user install, or the systemd service user `ollama`).
    Linux,
    /// macOS.
    MacOs,
    /// Windows (`%USERPROFILE%\.ollama\models`).
    Windows,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// The directories Ollama could be using, most likely first: `OLLAMA_MODELS` when set, else
/// `<home>/.ollama/models`, and on Linux also the systemd service's
/// `/usr/share/ollama/.ollama/models`.
pub fn candidate_models_dirs(
    ollama_models: Option<&str>,
    home: Option<&Path>,
    platform: Platform,
) -> Vec<PathBuf> {
    if let Some(models) = ollama_models
        .map(crate::config::trim_env_value)
        .filter(|value| !value.is_empty())
    {
        return vec![PathBuf::from(models)];
    }
    let mut candidates = Vec::new();
    if let Some(home) = home {
        candidates.push(home.join(".ollama").join("models"));
    }
    if platform == Platform::Linux {
        candidates.push(PathBuf::from("/usr/share/ollama/.ollama/models"));
    }
    candidates
}

/// The first candidate that has a `manifests` directory, else the first candidate.
pub fn resolve_models_dir(
    ollama_models: Option<&str>,
    home: Option<&Path>,
    platform: Platform,
) -> Option<PathBuf> {
    let candidates = candidate_models_dirs(ollama_models, home, platform);
    candidates
        .iter()
        .find(|candidate| candidate.join("manifests").is_dir())
        .or_else(|| candidates.first())
        .cloned()
}

/// A reference to a blob in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// Media type (see [`media_type`]).
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Blob size in bytes.
    pub size: u64,
    /// For a model layer: the model it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Name (safetensors file layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A model manifest (Docker image manifest v2 layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// 2.
    pub schema_version: u32,
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    #[serde(default)]
    pub media_type: String,
    /// The config blob (`ConfigV2` JSON).
    pub config: Layer,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Layer>,
}

impl Manifest {
    /// The first layer of a media type.
    pub fn layer(&self, media_type: &str) -> Option<&Layer> {
        self.layers
            .iter()
            .find(|layer| layer.media_type == media_type)
    }

    /// Sum of the layer sizes (what `/api/tags` reports as `size`).
    pub fn total_size_bytes(&self) -> u64 {
        self.layers.iter().map(|layer| layer.size).sum()
    }
}

/// The config blob (`ConfigV2`, `types/model/config.go`); unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `gguf` or `safetensors`.
    #[serde(default)]
    pub model_format: String,
    /// Family (`qwen3moe`, `gptoss`, `llama`).
    #[serde(default)]
    pub model_family: String,
    /// Families.
    #[serde(default)]
    pub model_families: Option<Vec<String>>,
    /// Parameter size (`30.5B`).
    #[serde(default)]
    pub model_type: String,
    /// Quantisation (`Q4_K_M`).
    #[serde(default)]
    pub file_type: String,
    /// Renderer name, when the model uses a built-in renderer.
    #[serde(default)]
    pub renderer: Option<String>,
    /// Parser name.
    #[serde(default)]
    pub parser: Option<String>,
    /// Capabilities (`completion`, `tools`, `vision`, …).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Minimum Ollama version.
    #[serde(default)]
    pub requires: Option<String>,
}

/// Why the store could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The model name is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No manifest for that name.
    #[error("model {name} not found: no manifest at {}", path.display())]
    NotFound {
        /// The fully qualified name.
        name: String,
        /// The manifest path looked at.
        path: PathBuf,
    },
    /// Reading a file or directory failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A manifest, config or params blob is not the JSON Ollama writes.
    #[error("{}: invalid JSON at line {line}, column {column}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A digest is not `sha256:<64 hex>`.
    #[error("{}: layer digest {digest:?} is not sha256:<64 hex digits>", manifest.display())]
    BadDigest {
        /// The manifest.
        manifest: PathBuf,
        /// The digest.
        digest: String,
    },
    /// The manifest has no model layer.
    #[error("{}: no {} layer", manifest.display(), media_type::MODEL)]
    NoModelLayer {
        /// The manifest.
        manifest: PathBuf,
    },
    /// A text blob is larger than we read into memory.
    #[error("{}: blob of {size_bytes} bytes is larger than the {limit_bytes}-byte limit for text layers", path.display())]
    TooLarge {
        /// The blob.
        path: PathBuf,
        /// Its size.
        size_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// The model blob is not a readable GGUF.
    #[error(transparent)]
    Gguf(#[from] GgufError),
}

/// Text layers (template, system, params, license, messages) larger than this are refused:
/// they are kilobytes in practice, and the limit keeps a corrupt store from exhausting memory.
pub const MAX_TEXT_LAYER_BYTES: u64 = 64 * 1024 * 1024;

/// An Ollama models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStore {
    root: PathBuf,
}

/// One model of the store with its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    /// Its name.
    pub name: ModelName,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
}

fn json_error(path: &Path, source: serde_json::Error) -> StoreError {
    StoreError::Json {
        path: path.to_owned(),
        line: source.line(),
        column: source.column(),
        source,
    }
}

impl ModelStore {
    /// A store rooted at `root` (the `models` directory).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob path of a digest: `blobs/sha256-<hex>`.
    pub fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .or_else(|| digest.strip_prefix("sha256-"))?;
        (hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .then(|| self.root.join("blobs").join(format!("sha256-{hex}")))
    }

    /// Resolves a name and reads its manifest.
    pub fn model(&self, name: &str) -> Result<StoredModel, StoreError> {
        let name = ModelName::parse(name)?;
        let path = self.root.join(name.manifest_relative_path());
        if !path.is_file() {
            return Err(StoreError::NotFound {
                name: name.to_string(),
                path,
            });
        }
        let manifest = read_manifest(&path)?;
        Ok(StoredModel {
            name,
            manifest_path: path,
            manifest,
        })
    }

    /// Every model in the store (manifests four directories deep), sorted by name. Files that
    /// are not valid names or manifests are skipped, as `ollama list` skips them.
    pub fn list(&self) -> Result<Vec<StoredModel>, StoreError> {
        let manifests = self.root.join("manifests");
        let mut models = Vec::new();
        if !manifests.is_dir() {
            return Ok(models);
        }
        for host in read_dir_sorted(&manifests)? {
            for namespace in read_dir_sorted(&host)? {
                for model in read_dir_sorted(&namespace)? {
                    for tag in read_dir_sorted(&model)? {
                        if !tag.is_file() {
                            continue;
                        }
                        let parts: Vec<String> = [&host, &namespace, &model, &tag]
                            .iter()
                            .filter_map(|path| {
                                path.file_name()
                                    .map(|name| name.to_string_lossy().into_owned())
                            })
                            .collect();
                        let [host, namespace, model_name, tag_name] = parts.as_slice() else {
                            continue;
                        };
                        let Ok(name) = ModelName::parse(&format!(
                            "{host}/{namespace}/{model_name}:{tag_name}"
                        )) else {
                            continue;
                        };
                        let Ok(manifest) = read_manifest(&tag) else {
                            continue;
                        };
                        models.push(StoredModel {
                            name,
                            manifest_path: tag.clone(),
                            manifest,
                        });
                    }
                }
            }
        }
        models.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(models)
    }

    /// The path of a model's layer blob of one media type.
    pub fn layer_path(
        &self,
        model: &StoredModel,
        media: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        let Some(layer) = model.manifest.layer(media) else {
            return Ok(None);
        };
        self.blob_path(&layer.digest)
            .map(Some)
            .ok_or_else(|| StoreError::BadDigest {
                manifest: model.manifest_path.clone(),
                digest: layer.digest.clone(),
            })
    }

    /// The text of a layer (template, system, license, params, messages).
    pub fn layer_text(
        &self,
        model: &StoredModel,
        media: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(path) = self.layer_path(model, media)? else {
            return Ok(None);
        };
        read_text(&path).map(Some)
    }

    /// Every license layer (a model may carry several).
    pub fn licenses(&self, model: &StoredModel) -> Result<Vec<String>, StoreError> {
        let mut texts = Vec::new();
        for layer in model
            .manifest
            .layers
            .iter()
            .filter(|layer| layer.media_type == media_type::LICENSE)
        {
            let path = self
                .blob_path(&layer.digest)
                .ok_or_else(|| StoreError::BadDigest {
                    manifest: model.manifest_path.clone(),
                    digest: layer.digest.clone(),
                })?;
            texts.push(read_text(&path)?);
        }
        Ok(texts)
    }

    /// The params layer as a JSON object (`{"num_ctx": 131072, "stop": ["…"]}`); empty when
    /// the model has none.
    pub fn params(
        &self,
        model: &StoredModel,
    ) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        let Some(path) = self.layer_path(model, media_type::PARAMS)? else {
            return Ok(BTreeMap::new());
        };
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|source| json_error(&path, source))
    }

    /// `num_ctx` from the params layer, when set.
    pub fn params_num_ctx(&self, model: &StoredModel) -> Result<Option<u64>, StoreError> {
        Ok(self
            .params(model)?
            .get("num_ctx")
            .and_then(serde_json::Value::as_u64))
    }

    /// The config blob.
    pub fn config(&self, model: &StoredModel) -> Result<ModelConfig, StoreError> {
        let path = self
            .blob_path(&model.manifest.config.digest)
            .ok_or_else(|| StoreError::BadDigest {
                manifest: model.manifest_path.clone(),
                digest: model.manifest.config.digest.clone(),
            })?;
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|source| json_error(&path, source))
    }

    /// The MESSAGE history layer (`[{"role": "user", "content": "…"}]`); empty when absent.
    pub fn messages(
        &self,
        model: &StoredModel,
    ) -> Result<Vec<crate::api::ShowMessage>, StoreError> {
        let Some(path) = self.layer_path(model, media_type::MESSAGES)? else {
            return Ok(Vec::new());
        };
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|source| json_error(&path, source))
    }

    /// Opens the GGUF header of a binary layer (projector, adapter, draft), when present.
    pub fn open_layer_gguf(
        &self,
        model: &StoredModel,
        media: &str,
    ) -> Result<Option<GgufFile>, StoreError> {
        match self.layer_path(model, media)? {
            Some(path) => Ok(Some(GgufFile::open(&path)?)),
            None => Ok(None),
        }
    }

    /// Opens the model blob's GGUF header (metadata and tensor infos, no tensor data).
    pub fn open_gguf(&self, model: &StoredModel) -> Result<GgufFile, StoreError> {
        let path =
            self.layer_path(model, media_type::MODEL)?
                .ok_or_else(|| StoreError::NoModelLayer {
                    manifest: model.manifest_path.clone(),
                })?;
        Ok(GgufFile::open(&path)?)
    }
}

/// The trained context length of a GGUF: `<general.architecture>.context_length`.
pub fn trained_context_length(file: &GgufFile) -> Option<u64> {
    let architecture = file.architecture().ok()?;
    file.get_u64(&format!("{architecture}.context_length")).ok()
}

fn read_manifest(path: &Path) -> Result<Manifest, StoreError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|source| json_error(path, source))
}

fn read_text(path: &Path) -> Result<String, StoreError> {
    let file = fs_err::File::open(path)?;
    let size_bytes = file.metadata()?.len();
    if size_bytes > MAX_TEXT_LAYER_BYTES {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            size_bytes,
            limit_bytes: MAX_TEXT_LAYER_BYTES,
        });
    }
    let mut text = String::new();
    file.take(MAX_TEXT_LAYER_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

fn read_dir_sorted(path: &Path) -> Result<Vec<PathBuf>, StoreError> {
    if !path.is_dir() {
        return Ok(Vec::new());
    }
    let mut entries: Vec<PathBuf> = fs_err::read_dir(path)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_models_wins_over_platform_defaults() {
        let home = Path::new("/home/ada");
        assert_eq!(
            candidate_models_dirs(Some(" '/data/models' "), Some(home), Platform::Linux),
            vec![PathBuf::from("/data/models")]
        );
        assert_eq!(
            candidate_models_dirs(None, Some(home), Platform::Linux),
            vec![
                PathBuf::from("/home/ada/.ollama/models"),
                PathBuf::from("/usr/share/ollama/.ollama/models")
            ]
        );
        assert_eq!(
            candidate_models_dirs(Some(""), Some(Path::new("/Users/ada")), Platform::MacOs),
            vec![PathBuf::from("/Users/ada/.ollama/models")]
        );
    }

    #[test]
    fn blob_paths_need_a_sha256_digest() {
        let store = ModelStore::new("/m");
        let hex = "a".repeat(64);
        assert_eq!(
            store.blob_path(&format!("sha256:{hex}")),
            Some(PathBuf::from(format!("/m/blobs/sha256-{hex}")))
        );
        assert_eq!(store.blob_path("sha256:../../etc/passwd"), None);
        assert_eq!(store.blob_path("md5:abc"), None);
    }
}
