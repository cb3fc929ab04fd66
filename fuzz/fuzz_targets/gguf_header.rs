//! Fuzzes the GGUF header reader: any bytes are read or rejected, never a panic, and never an
//! allocation sized by an untrusted count (libFuzzer's -rss_limit_mb catches those).
#![no_main]

use headroom_gguf::GgufFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // With the size known, counts are checked against it; without, growth follows the bytes.
    if let Ok(file) = GgufFile::read_from(data, Some(data.len() as u64)) {
        let _ = (file.data_complete(), file.type_mix(), file.bits_per_weight());
    }
    let _ = GgufFile::read_from(data, None);
});
