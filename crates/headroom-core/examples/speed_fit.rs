//! Refits the speed model's efficiency factors on ../shared/truth/measured-throughput.csv and
//! prints the leave-one-out error per device class, decode and prefill separately.
//!
//! `cargo run -p headroom-core --example speed_fit` prints; `-- --write` also rewrites
//! `data/efficiency.toml` and the table in BENCHMARKS.md's "Speed model" section; `-- --rows` prints every row's measured and predicted rates.
//! The truth file is found at env `HEADROOM_TRUTH_DIR` or `../shared/truth` from the workspace.

use std::path::PathBuf;

use headroom_core::speed::fit;

fn truth_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let directory = std::env::var_os("HEADROOM_TRUTH_DIR")
        .map_or_else(|| manifest.join("../../../shared/truth"), PathBuf::from);
    directory.join("measured-throughput.csv")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let path = truth_path();
    let text = fs_err::read_to_string(&path)?;
    let truth = fit::read_truth(&path.display().to_string(), &text)?;
    let report = fit::fit(&truth, "shared/truth/measured-throughput.csv");
    if arguments.iter().any(|argument| argument == "--rows") {
        for row in &report.rows {
            let show = |value: Option<(f64, f64, f64)>| {
                value.map_or_else(
                    || "-".to_owned(),
                    |(measured, fitted, held)| {
                        format!(
                            "{measured:.1} fit {fitted:.1} loo {held:.1} ({:+.0}%)",
                            (held / measured - 1.0) * 100.0
                        )
                    },
                )
            };
            println!(
                "line {:3} {:14} {:6} {:9} {:40} {:30} decode {} | prefill {}",
                row.line,
                row.class.name(),
                row.backend.name(),
                row.weights.name(),
                row.hardware.chars().take(40).collect::<String>(),
                row.model.chars().take(30).collect::<String>(),
                show(row.decode),
                show(row.prefill)
            );
        }
    }
    println!(
        "truth rows {}; used for decode {}, prefill {}",
        truth.total_rows,
        report.table.provenance.decode_rows_used,
        report.table.provenance.prefill_rows_used
    );
    for reason in &report.table.provenance.excluded {
        println!("excluded: {reason}");
    }
    println!();
    print!("{}", report.to_markdown());
    println!();
    for entry in &report.table.factors {
        println!(
            "{:16} {:7} {:9} decode eff {:.3} kv {:.3} overhead {:.3} ms/layer | prefill weights {:.3} attention {:.3} | rows {}/{}",
            entry.class.name(),
            entry.backend.name(),
            entry.weights.name(),
            entry.decode_bandwidth_efficiency,
            entry.decode_kv_efficiency,
            entry.decode_layer_overhead_seconds * 1e3,
            entry.prefill_weight_efficiency,
            entry.prefill_attention_efficiency,
            entry.decode_rows,
            entry.prefill_rows
        );
    }
    if arguments.iter().any(|argument| argument == "--write") {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/efficiency.toml");
        fs_err::write(&target, report.to_toml()?)?;
        println!("wrote {}", target.display());
        let benchmarks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../BENCHMARKS.md");
        let text = fs_err::read_to_string(&benchmarks)?;
        let (begin, end) = ("<!-- speed-fit:begin -->", "<!-- speed-fit:end -->");
        let (Some(start), Some(stop)) = (text.find(begin), text.find(end)) else {
            return Err(format!(
                "{}: markers {begin} / {end} not found",
                benchmarks.display()
            )
            .into());
        };
        let block = format!(
            "{begin}\nTruth rows {}; used for decode {}, prefill {} (leave-one-out relative error, |predicted − measured| / measured):\n\n{}{end}",
            truth.total_rows,
            report.table.provenance.decode_rows_used,
            report.table.provenance.prefill_rows_used,
            report.to_markdown()
        );
        let updated = format!("{}{}{}", &text[..start], block, &text[stop + end.len()..]);
        fs_err::write(&benchmarks, updated)?;
        println!("updated {}", benchmarks.display());
    }
    Ok(())
}
