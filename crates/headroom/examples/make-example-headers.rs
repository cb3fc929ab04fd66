//! Regenerates the header-only GGUF files of the example bundles in `examples/`:
//! `cargo run -p headroom --example make-example-headers`.
//!
//! Each header is `headroom_core::headers::catalog_model_header` of a catalog model at Q4_K_M
//! (metadata and tensor infos, no tensor data, no tokenizer arrays). The test
//! `crates/headroom/tests/example_headers.rs` fails when a committed header differs from what
//! this writes.

use std::path::{Path, PathBuf};

use anyhow::bail;
use headroom_core::headers::{EXAMPLE_HEADERS, catalog_model_header};
use headroom_core::quant::FileType;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn main() -> anyhow::Result<()> {
    for (bundle, id, file_name) in EXAMPLE_HEADERS {
        let header = catalog_model_header(id, FileType::Q4_K_M)?;
        let directory = examples_dir().join(bundle);
        if !directory.is_dir() {
            bail!("{} does not exist", directory.display());
        }
        let path = directory.join(file_name);
        fs_err::write(&path, &header.bytes)?;
        println!(
            "{}: {} ({} tensors, {} header bytes)",
            path.display(),
            header.name,
            header.tensor_count,
            header.bytes.len()
        );
    }
    Ok(())
}
