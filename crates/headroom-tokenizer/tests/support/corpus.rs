//! The comparison corpus: real source code and text installed on this machine (the Python standard
//! library; Rust's library sources when `rust-src` is installed) plus deterministic Unicode-heavy
//! text, cut into files of about `CHUNK_BYTES` so each `llama-tokenize` run stays short.

use std::path::{Path, PathBuf};

/// Bytes of real source and text taken from the machine.
pub const SOURCE_BYTES: usize = 1_600_000;
/// Bytes of generated Unicode-heavy text.
pub const UNICODE_BYTES: usize = 400_000;
/// Target size of one corpus file.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Directories searched for real text, in order.
fn source_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(output) = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
    {
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let rust_source = Path::new(&sysroot).join("lib/rustlib/src/rust/library");
        if rust_source.is_dir() {
            roots.push(rust_source);
        }
    }
    roots.push(PathBuf::from("/root/.pyenv/versions/3.11.7/lib/python3.11"));
    roots
}

fn collect_files(directory: &Path, extensions: &[&str], out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = fs_err::read_dir(directory) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Skip test data and vendored binaries: they are not representative prompt text.
            if depth < 3
                && !matches!(
                    name.as_str(),
                    "test" | "tests" | "site-packages" | "__pycache__" | "idlelib"
                )
            {
                collect_files(&path, extensions, out, depth + 1);
            }
        } else if path
            .extension()
            .is_some_and(|extension| extensions.iter().any(|wanted| extension == *wanted))
        {
            out.push(path);
        }
    }
}

/// Real text: whole UTF-8 files until `SOURCE_BYTES`.
pub fn source_text() -> (String, Vec<PathBuf>) {
    let mut text = String::new();
    let mut used = Vec::new();
    for root in source_roots() {
        let mut files = Vec::new();
        collect_files(&root, &["rs", "py", "txt", "md", "rst"], &mut files, 0);
        for file in files {
            if text.len() >= SOURCE_BYTES {
                break;
            }
            let Ok(bytes) = fs_err::read(&file) else {
                continue;
            };
            let Ok(content) = String::from_utf8(bytes) else {
                continue;
            };
            text.push_str(&content);
            used.push(file);
        }
    }
    (text, used)
}

/// Deterministic multilingual text: many scripts, emoji with ZWJ and modifiers, combining marks,
/// unusual whitespace and digits, mixed with ASCII code-like text.
pub fn unicode_text() -> String {
    const SAMPLES: &[&str] = &[
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق",
        "דג סקרן שט בים מאוכזב ולפתע מצא חברה",
        "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम",
        "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
        "我能吞下玻璃而不伤身体。敏捷的棕色狐狸跳过了懒狗。",
        "いろはにほへと ちりぬるを わかよたれそ つねならむ カタカナ ﾊﾝｶｸ",
        "다람쥐 헌 쳇바퀴에 타고파. 키스의 고유조건은 입술끼리 만나야 하고",
        "Ŋ̃ a\u{0301} e\u{0300}\u{0323} o\u{0308}\u{0304} Z\u{0351}\u{0352}\u{0353}a\u{036B}l\u{0350}g\u{0364}o",
        "Ça déjà vu, naïve façade — crème brûlée; Straße, Æsir, Øresund, ŒUVRE",
        "👩\u{200D}👩\u{200D}👧\u{200D}👦 👍🏽 🇯🇵🇫🇷 🏳\u{FE0F}\u{200D}🌈 🦙🚀✅❤\u{FE0F}🔥",
        "½ ¾ ² ³ ٣٤٥ ١٢٣ ০১২ ๓๔ Ⅻ ⅷ 𝟙𝟚𝟛 ①②",
        "∀x∈ℝ: x²≥0 ⇒ √x ∈ ℂ; ∑ᵢ aᵢ ≤ ∫₀^∞ f(t) dt ≈ π",
        "\u{00A0}non\u{00A0}breaking\u{2003}em\u{3000}ideographic\u{2009}thin\u{202F}narrow\u{205F}",
        "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ！？（）",
        "I'm sure you'll see they've said it's 'quoted' — DON'T SHOUT, WE'LL HEAR",
        "    indented\n\t\ttabs\r\nwindows\r\n\n\n   trailing   \n",
        "fn main() { let x: Vec<u8> = vec![0x1F, 255]; println!(\"{x:?}\"); }",
        "def f(α, β=2.5e-3): return α**β  # комментарий 注释",
        "1234567890 12 345 6789 0.000001 -42 3,14159 1e10",
        "ǅungla ǈudi ǋo ΐ ΰ ﬁ ﬂ ﬀ K Å",
        "ᚠᛇᚻ᛫ᛒᛦᚦ ᛖᚱᚨ ⠓⠑⠇⠇⠕ 𐌰𐌱𐌲 ꧁꧂ ◌́",
        "Tiếng Việt có dấu: Người đẹp trời ơi, chữ Quốc ngữ",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        // xorshift64*: deterministic and dependency-free.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let separators = [
        " ",
        " ",
        "\n",
        "  ",
        "\t",
        "\n\n",
        ", ",
        ". ",
        "\r\n",
        " \u{3000}",
    ];
    let mut text = String::new();
    while text.len() < UNICODE_BYTES {
        let sample = SAMPLES[(next() % SAMPLES.len() as u64) as usize];
        let words: Vec<&str> = sample.split(' ').collect();
        let first = (next() % words.len() as u64) as usize;
        let count = 1 + (next() % 6) as usize;
        for word in words.iter().skip(first).take(count) {
            text.push_str(word);
            text.push_str(separators[(next() % separators.len() as u64) as usize]);
        }
    }
    text
}

/// Cuts text into pieces of about `CHUNK_BYTES` at line ends (char boundaries).
pub fn chunk(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK_BYTES).min(text.len());
        while end < text.len() && !(text.is_char_boundary(end) && text.as_bytes()[end - 1] == b'\n')
        {
            end += 1;
        }
        pieces.push(text[start..end].to_owned());
        start = end;
    }
    pieces
}

/// Writes the corpus files into `directory` and returns their paths.
pub fn write_corpus(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    fs_err::create_dir_all(directory)?;
    let (source, _) = source_text();
    let mut paths = Vec::new();
    for (index, piece) in chunk(&source)
        .iter()
        .chain(chunk(&unicode_text()).iter())
        .enumerate()
    {
        let path = directory.join(format!("corpus-{index:02}.txt"));
        fs_err::write(&path, piece)?;
        paths.push(path);
    }
    Ok(paths)
}
