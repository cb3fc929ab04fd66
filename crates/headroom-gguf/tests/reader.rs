//! Reader behaviour: real fixtures, writer round trips, and every hostile case from small
//! in-memory byte builders.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use headroom_gguf::{
    Array, GgmlType, GgufError, GgufFile, GgufWriter, Location, TensorData, Value,
};
use proptest::prelude::*;

fn fixtures() -> std::path::PathBuf {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/gguf");
    assert!(
        path.is_dir(),
        "fixtures not found at {} (shared/ must sit beside the repository)",
        path.display()
    );
    path
}

/// A little-endian GGUF byte builder for negative cases.
#[derive(Default)]
struct Bytes(Vec<u8>);

impl Bytes {
    fn header(version: u32, tensors: u64, entries: u64) -> Bytes {
        let mut bytes = Bytes::default();
        bytes.0.extend_from_slice(b"GGUF");
        bytes.u32(version).u64(tensors).u64(entries);
        bytes
    }
    fn u32(&mut self, v: u32) -> &mut Bytes {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Bytes {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn string(&mut self, text: &str) -> &mut Bytes {
        self.u64(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
        self
    }
    fn read(&self) -> Result<GgufFile, GgufError> {
        GgufFile::read_from(&self.0[..], Some(self.0.len() as u64))
    }
    fn read_unsized(&self) -> Result<GgufFile, GgufError> {
        GgufFile::read_from(&self.0[..], None)
    }
}

#[test]
fn reads_every_fixture_completely() {
    let mut count = 0;
    for entry in fs_err::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gguf") {
            let file = GgufFile::open(&path).unwrap();
            assert_eq!(file.version, 3);
            assert!(
                file.get_array("tokenizer.ggml.tokens").unwrap().len() > 1000,
                "{}",
                path.display()
            );
            assert_eq!(file.data_complete(), Some(true));
            count += 1;
        }
    }
    assert_eq!(count, 8);
}

#[test]
fn qwen2_vocabulary_has_its_published_size() {
    let file = GgufFile::open(fixtures().join("ggml-vocab-qwen2.gguf")).unwrap();
    assert_eq!(file.architecture().unwrap(), "qwen2");
    assert_eq!(file.get_str("tokenizer.ggml.pre").unwrap(), "qwen2");
    let tokens = file
        .get_array("tokenizer.ggml.tokens")
        .unwrap()
        .as_strings()
        .unwrap();
    assert_eq!(tokens.len(), 151936);
    assert_eq!(tokens[0], "!");
}

#[test]
fn typed_getters_name_the_key() {
    let file = GgufFile::open(fixtures().join("ggml-vocab-qwen2.gguf")).unwrap();
    let missing = file.get_u64("qwen2.nope").unwrap_err().to_string();
    assert_eq!(missing, "metadata key 'qwen2.nope' is missing");
    let mismatch = file
        .get_u64("general.architecture")
        .unwrap_err()
        .to_string();
    assert_eq!(
        mismatch,
        "metadata key 'general.architecture' is string, expected non-negative integer"
    );
}

fn model_shaped() -> GgufWriter {
    GgufWriter::new()
        .metadata("general.architecture", Value::String("llama".into()))
        .metadata("general.alignment", Value::U32(64))
        .metadata("llama.block_count", Value::U32(2))
        .metadata(
            "test.nested",
            Value::Array(Array::Array(vec![
                Array::I32(vec![-1, 2]),
                Array::String(vec!["x".into()]),
            ])),
        )
        .metadata("test.f64", Value::F64(0.1))
        .metadata("test.bools", Value::Array(Array::Bool(vec![true, false])))
        .tensor(
            "token_embd.weight",
            &[4096, 32000],
            GgmlType::Q4_K,
            TensorData::Zeros,
        )
        .tensor(
            "output_norm.weight",
            &[4096],
            GgmlType::F32,
            TensorData::Bytes(vec![7; 4096 * 4]),
        )
        .tensor(
            "blk.0.attn_q.weight",
            &[4096, 4096],
            GgmlType::Q8_0,
            TensorData::Zeros,
        )
}

#[test]
fn writer_round_trips_metadata_tensors_and_bytes() {
    let mut buffer = Vec::new();
    let size = model_shaped().write_to(&mut buffer).unwrap();
    assert_eq!(size, buffer.len() as u64);
    let file = GgufFile::read_from(&buffer[..], Some(size)).unwrap();
    assert_eq!(file.alignment, 64);
    assert_eq!(file.data_offset % 64, 0);
    assert_eq!(file.get("test.f64"), Some(&Value::F64(0.1)));
    assert_eq!(
        file.get_array("test.nested").unwrap(),
        &Array::Array(vec![
            Array::I32(vec![-1, 2]),
            Array::String(vec!["x".into()])
        ])
    );
    let q4 = file.tensor("token_embd.weight").unwrap();
    assert_eq!(q4.byte_size(), Some(4096 * 32000 / 256 * 144));
    for tensor in &file.tensors {
        assert_eq!(tensor.offset % 64, 0);
    }
    let norm = file.tensor("output_norm.weight").unwrap();
    let start = (file.data_offset + norm.offset) as usize;
    assert_eq!(&buffer[start..start + 16], &[7u8; 16]);
    assert_eq!(file.data_complete(), Some(true));
    assert_eq!(file.parameter_count(), 4096 * 32000 + 4096 + 4096 * 4096);
}

#[test]
fn sparse_files_of_model_size_cost_no_disk() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("big.gguf");
    // About 60 GB of declared data.
    let writer = GgufWriter::new()
        .metadata("general.architecture", Value::String("llama".into()))
        .tensor("a", &[16384, 16384, 120], GgmlType::F16, TensorData::Zeros);
    let size = writer.write_to_path(&path).unwrap();
    assert!(size > 60_000_000_000);
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.file_size, Some(size));
    assert_eq!(file.data_complete(), Some(true));
    assert_eq!(file.weight_bytes(), 16384 * 16384 * 120 * 2);
}

#[test]
fn header_only_files_read_with_incomplete_data() {
    let mut buffer = Vec::new();
    model_shaped().write_header_to(&mut buffer).unwrap();
    let file = GgufFile::read_from(&buffer[..], Some(buffer.len() as u64)).unwrap();
    assert_eq!(file.tensors.len(), 3);
    assert_eq!(file.data_complete(), Some(false));
    assert_eq!(
        GgufFile::read_from(&buffer[..], None)
            .unwrap()
            .data_complete(),
        None
    );
}

#[test]
fn rejects_bad_magic() {
    let error = GgufFile::read_from(&b"GGML\x03\0\0\0"[..], Some(8)).unwrap_err();
    assert!(matches!(error, GgufError::BadMagic { found } if &found == b"GGML"));
}

#[test]
fn rejects_version_one_and_unknown_versions() {
    for version in [0, 1, 4, 99] {
        let error = Bytes::header(version, 0, 0).read().unwrap_err();
        assert!(
            matches!(error, GgufError::UnsupportedVersion { version: v } if v == version),
            "{error}"
        );
    }
}

#[test]
fn reads_big_endian_files() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"GGUF");
    bytes.extend_from_slice(&3u32.to_be_bytes());
    bytes.extend_from_slice(&0u64.to_be_bytes());
    bytes.extend_from_slice(&1u64.to_be_bytes());
    bytes.extend_from_slice(&4u64.to_be_bytes());
    bytes.extend_from_slice(b"a.b\0"[..3].as_ref());
    bytes.push(b'c');
    bytes.extend_from_slice(&4u32.to_be_bytes());
    bytes.extend_from_slice(&262144u32.to_be_bytes());
    let file = GgufFile::read_from(&bytes[..], Some(bytes.len() as u64)).unwrap();
    assert_eq!(file.byte_order, headroom_gguf::ByteOrder::BigEndian);
    assert_eq!(file.get_u64("a.bc").unwrap(), 262144);
}

#[test]
fn rejects_array_length_larger_than_file_before_allocating() {
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.string("huge").u32(9).u32(0).u64(1 << 60);
    let error = bytes.read().unwrap_err();
    match error {
        GgufError::CountTooLarge {
            offset,
            location,
            count,
            ..
        } => {
            assert_eq!(count, 1 << 60);
            // Header 24, key 8+4, value type 4, element type 4: the count starts at 44.
            assert_eq!(offset, 44);
            assert_eq!(location, Location::Key("huge".into()));
        }
        other => panic!("unexpected {other}"),
    }
    // Without a known size the reader still allocates only as bytes arrive.
    assert!(matches!(
        bytes.read_unsized().unwrap_err(),
        GgufError::Truncated { .. }
    ));
}

#[test]
fn rejects_huge_string_length_and_counts() {
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.u64(u64::MAX).u64(0).u64(0);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::CountTooLarge {
            what: "string length",
            ..
        }
    ));
    assert!(matches!(
        bytes.read_unsized().unwrap_err(),
        GgufError::Truncated { .. }
    ));
    let many_tensors = Bytes::header(3, u64::MAX / 2, 0);
    assert!(matches!(
        many_tensors.read().unwrap_err(),
        GgufError::CountTooLarge {
            what: "tensor count",
            ..
        }
    ));
    let many_keys = Bytes::header(3, 0, 1 << 40);
    assert!(matches!(
        many_keys.read().unwrap_err(),
        GgufError::CountTooLarge {
            what: "metadata entry count",
            ..
        }
    ));
}

#[test]
fn rejects_truncated_string_with_its_offset_and_key() {
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.string("general.name").u32(8).u64(10);
    bytes.0.extend_from_slice(b"abc");
    let error = bytes.read().unwrap_err();
    assert!(
        error.to_string().contains("metadata key 'general.name'"),
        "{error}"
    );
    assert!(matches!(error, GgufError::CountTooLarge { .. }));
    let error = bytes.read_unsized().unwrap_err();
    assert!(
        matches!(error, GgufError::Truncated { needed: 7, .. }),
        "{error}"
    );
}

#[test]
fn rejects_deep_nesting() {
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.string("deep").u32(9);
    for _ in 0..100 {
        bytes.u32(9).u64(1);
    }
    bytes.u32(0).u64(0);
    let error = bytes.read().unwrap_err();
    assert!(matches!(error, GgufError::NestingTooDeep { .. }), "{error}");
}

#[test]
fn rejects_unknown_value_type() {
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.string("k").u32(13).u32(0);
    let error = bytes.read().unwrap_err();
    assert!(
        matches!(
            error,
            GgufError::UnknownValueType {
                id: 13,
                offset: 33,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rejects_duplicate_keys_and_tensor_names() {
    let mut bytes = Bytes::header(3, 0, 2);
    bytes.string("k").u32(4).u32(1).string("k").u32(4).u32(2);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::DuplicateKey { .. }
    ));
    let mut bytes = Bytes::header(3, 2, 0);
    bytes.string("t").u32(1).u64(32).u32(0).u64(0);
    bytes.string("t").u32(1).u64(32).u32(0).u64(128);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::DuplicateTensor { .. }
    ));
}

#[test]
fn rejects_bad_alignment() {
    for (value_type, value) in [(4u32, 0u32), (4, 48)] {
        let mut bytes = Bytes::header(3, 0, 1);
        bytes.string("general.alignment").u32(value_type).u32(value);
        assert!(matches!(
            bytes.read().unwrap_err(),
            GgufError::BadAlignment { .. }
        ));
    }
    let mut bytes = Bytes::header(3, 0, 1);
    bytes.string("general.alignment").u32(10).u64(32);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::BadAlignment { .. }
    ));
}

#[test]
fn rejects_misaligned_tensor_and_bad_shapes() {
    let mut bytes = Bytes::header(3, 1, 0);
    bytes.string("t").u32(1).u64(32).u32(0).u64(3);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::MisalignedTensor { data_offset: 3, .. }
    ));
    let mut bytes = Bytes::header(3, 1, 0);
    bytes
        .string("t")
        .u32(5)
        .u64(1)
        .u64(1)
        .u64(1)
        .u64(1)
        .u64(1)
        .u32(0)
        .u64(0);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::TooManyDimensions { dimensions: 5, .. }
    ));
    let mut bytes = Bytes::header(3, 1, 0);
    bytes.string("t").u32(2).u64(u64::MAX).u64(3).u32(0).u64(0);
    assert!(matches!(
        bytes.read().unwrap_err(),
        GgufError::BadTensorShape { .. }
    ));
    let mut bytes = Bytes::header(3, 1, 0);
    bytes.string("t").u32(1).u64(100).u32(12).u64(0);
    let error = bytes.read().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a multiple of the Q4_K block size 256"),
        "{error}"
    );
}

#[test]
fn unknown_tensor_types_are_data_not_errors() {
    let mut bytes = Bytes::header(3, 1, 0);
    bytes.string("t").u32(1).u64(32).u32(31).u64(0);
    let file = bytes.read().unwrap();
    assert_eq!(file.tensors[0].ggml_type, GgmlType::Unknown(31));
    assert_eq!(file.unknown_types(), vec![("t".to_string(), 31)]);
    assert_eq!(file.data_complete(), None);
}

proptest! {
    /// Any prefix or corruption of a valid file is read or rejected, never a panic.
    #[test]
    fn never_panics_on_corrupted_input(cut in 0usize..2000, flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..8)) {
        let mut buffer = Vec::new();
        model_shaped().write_header_to(&mut buffer).unwrap();
        for (position, byte) in flips {
            if position < buffer.len() {
                buffer[position] = byte;
            }
        }
        buffer.truncate(cut.min(buffer.len()));
        let _ = GgufFile::read_from(&buffer[..], Some(buffer.len() as u64));
        let _ = GgufFile::read_from(&buffer[..], None);
    }

    /// Whatever metadata is written is read back equal.
    #[test]
    fn metadata_round_trips(values in proptest::collection::vec((any::<u32>(), any::<i64>(), "[a-z]{0,12}", any::<bool>()), 0..20)) {
        let mut writer = GgufWriter::new();
        for (index, (a, b, c, d)) in values.iter().enumerate() {
            writer = writer
                .metadata(format!("u.{index}"), Value::U32(*a))
                .metadata(format!("i.{index}"), Value::I64(*b))
                .metadata(format!("s.{index}"), Value::String(c.clone()))
                .metadata(format!("b.{index}"), Value::Bool(*d));
        }
        let mut buffer = Vec::new();
        writer.write_to(&mut buffer).unwrap();
        let file = GgufFile::read_from(&buffer[..], None).unwrap();
        for (index, (a, b, c, d)) in values.iter().enumerate() {
            prop_assert_eq!(file.get(&format!("u.{index}")), Some(&Value::U32(*a)));
            prop_assert_eq!(file.get(&format!("i.{index}")), Some(&Value::I64(*b)));
            prop_assert_eq!(file.get_str(&format!("s.{index}")).unwrap(), c.as_str());
            prop_assert_eq!(file.get_bool(&format!("b.{index}")).unwrap(), *d);
        }
    }
}
