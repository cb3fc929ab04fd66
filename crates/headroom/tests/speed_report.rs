//! The `--html` report renders in headless Chromium and the screenshot is not blank.
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`); without it the test FAILS, unless
//! HEADROOM_SKIP_CHROMIUM=1, in which case it prints that it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as CargoCommand;

fn chromium() -> Option<String> {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
        {
            return Some(candidate.to_owned());
        }
    }
    None
}

/// Non-white pixels of a PNG.
fn non_white_pixels(path: &Path) -> (u64, u64) {
    let decoder = png::Decoder::new(fs_err::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let bytes = &buffer[..info.buffer_size()];
    let mut total = 0;
    let mut coloured = 0;
    for pixel in bytes.chunks(channels * (info.bit_depth as usize / 8).max(1)) {
        total += 1;
        if pixel.iter().take(3.min(channels)).any(|&value| value < 240) {
            coloured += 1;
        }
    }
    (coloured, total)
}

#[test]
fn html_report_renders_with_charts() {
    let Some(browser) = chromium() else {
        if std::env::var("HEADROOM_SKIP_CHROMIUM").as_deref() == Ok("1") {
            eprintln!("SKIPPED: chromium not installed (HEADROOM_SKIP_CHROMIUM=1)");
            return;
        }
        panic!(
            "chromium is not installed: `apt-get install -y chromium` (or set HEADROOM_SKIP_CHROMIUM=1 to skip this test)"
        );
    };
    let directory = tempfile::tempdir().unwrap();
    let report = directory.path().join("report.html");
    CargoCommand::cargo_bin("headroom")
        .unwrap()
        .args([
            "speed",
            "qwen3-coder-30b-a3b",
            "--hardware",
            "mac-64gb",
            "--context",
            "131072",
            "--html",
        ])
        .arg(&report)
        .assert()
        .success();
    let html = fs_err::read_to_string(&report).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "memory and speed charts embedded"
    );
    assert!(!html.contains("<script"), "self-contained, no scripts");
    let screenshot = directory.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1200,900")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "chromium exited with {}: {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let (coloured, total) = non_white_pixels(&screenshot);
    assert!(
        total == 1200 * 900,
        "screenshot is 1200x900, got {total} pixels"
    );
    // Charts, axes and text: well over 1 % of the page is ink.
    assert!(
        coloured * 100 > total,
        "screenshot looks blank: {coloured} of {total} pixels not white"
    );
}
