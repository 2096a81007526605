//! `podrt check`: probe the kernel (see [`crate::check`]) and print the report as a table or
//! JSON. Exits 1 when a feature podrt needs is missing, naming it and the consequence.

use std::io::Write;
use std::path::Path;

use crate::cli::Format;

/// Run every probe, print the report in `format`, return the exit code.
pub fn run(state_root: &Path, format: Format) -> anyhow::Result<i32> {
    let report = crate::check::run(state_root);
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?,
        Format::Table => write!(out, "{}", report.render_table())?,
    }
    out.flush()?;
    for p in report.missing_needed() {
        eprintln!(
            "podrt check: needed feature {} is missing: {} ({})",
            p.feature, p.consequence, p.detail
        );
    }
    Ok(report.exit_code())
}
