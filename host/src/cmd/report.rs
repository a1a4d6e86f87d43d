//! `tzhost report RUN_DIR [RUN_DIR ...] [--out DIR]`: plots of one or more
//! runs overlaid, the success matrices of planned runs, consolidated JSON.

use std::path::PathBuf;

use anyhow::{bail, Result};

use tz_report::run_report::{self, ReportOptions};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run directories (each holds metrics.jsonl); their names are the legend.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Output directory [default: RUN_DIR/report for one run, ./report for several].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Size of the line plots in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "960x600", value_name = "WxH")]
    pub size: String,
    /// Trailing moving average over N steps for the per-step curves (1 = raw).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub smooth: usize,
}

/// `WIDTHxHEIGHT`, each 100..=8000.
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let parsed =
        s.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
    match parsed {
        Some((w, h)) if (100..=8000).contains(&w) && (100..=8000).contains(&h) => Ok((w, h)),
        _ => bail!("--size '{s}': expected WIDTHxHEIGHT between 100 and 8000 pixels, e.g. 960x600"),
    }
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let size = parse_size(&args.size)?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None if args.runs.len() == 1 => args.runs[0].join("report"),
        None => PathBuf::from("report"),
    };
    let files = run_report::report(
        &args.runs,
        &ReportOptions { out: out.clone(), size, smooth: args.smooth.max(1) },
    )?;
    for p in &files.plots {
        println!("plot     {}", p.display());
    }
    if let Some(p) = &files.success_matrix {
        println!("matrix   {}", p.display());
    }
    if let Some(p) = &files.weight_change {
        println!("weights  {}", p.display());
    }
    for p in &files.summaries {
        println!("summary  {}", p.display());
    }
    println!("metrics  {}", files.consolidated.display());
    if !files.skipped.is_empty() {
        println!("(no run logged {})", files.skipped.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_name_the_flag() {
        assert_eq!(parse_size("800x500").unwrap(), (800, 500));
        assert_eq!(parse_size("1200X700").unwrap(), (1200, 700));
        for bad in ["800", "0x500", "axb", "800x99999"] {
            assert!(parse_size(bad).unwrap_err().to_string().starts_with("--size"), "{bad}");
        }
    }
}
