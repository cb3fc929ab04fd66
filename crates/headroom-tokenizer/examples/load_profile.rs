use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let file = headroom_gguf::GgufFile::open(&path).unwrap();
        let parsed = start.elapsed();
        let _t = headroom_tokenizer::Tokenizer::from_gguf(&file).unwrap();
        println!("open {:?} total {:?}", parsed, start.elapsed());
    }
}
