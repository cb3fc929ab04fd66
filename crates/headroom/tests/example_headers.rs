//! The example bundles' GGUF headers are what the generator writes today: a change to the
//! catalog, the config conversion or the tensor plan that would alter them fails here until
//! `cargo run -p headroom --example make-example-headers` is rerun and the result committed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use headroom_core::headers::{EXAMPLE_HEADERS, catalog_model_header};
use headroom_core::quant::FileType;

#[test]
fn committed_example_headers_match_the_generator() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut stale = Vec::new();
    for (bundle, id, file_name) in EXAMPLE_HEADERS {
        let path = examples.join(bundle).join(file_name);
        let committed = fs_err::read(&path).unwrap();
        let generated = catalog_model_header(id, FileType::Q4_K_M).unwrap();
        if committed != generated.bytes {
            stale.push(format!(
                "{} ({} bytes committed, {} generated)",
                path.display(),
                committed.len(),
                generated.bytes.len()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "stale example headers, rerun `cargo run -p headroom --example make-example-headers`:\n{}",
        stale.join("\n")
    );
}
