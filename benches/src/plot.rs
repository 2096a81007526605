//! The SVG plot: one panel per scenario, one row per peer, every run as a dot over a box
//! (p25–p75), a median bar and min–max whiskers, on a log-scale millisecond axis (ratios read
//! as distances). Text is left to the SVG viewer's fonts.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::ScenarioResult;

const WIDTH: u32 = 1000;
const ROW: u32 = 46;
const PANEL_EXTRA: u32 = 90;

fn color(peer: &str, floor: bool) -> RGBColor {
    match peer {
        "podrt" => RGBColor(31, 119, 180),
        "crun" => RGBColor(230, 120, 10),
        "runc" => RGBColor(200, 40, 40),
        "crun-wrapper" => RGBColor(148, 103, 189),
        _ if floor => RGBColor(110, 110, 110),
        _ => RGBColor(44, 160, 44),
    }
}

/// A deterministic spread in -0.5..0.5 (golden-ratio sequence), so dots do not pile up.
#[allow(clippy::cast_precision_loss)]
fn jitter(i: usize) -> f64 {
    let x = (i as f64 * 0.618_033_988_75).fract();
    x - 0.5
}

fn fmt_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Write the plot for every scenario into one SVG file.
#[allow(clippy::cast_possible_truncation)]
pub fn write_svg(path: &Path, scenarios: &[ScenarioResult]) -> Result<()> {
    let heights: Vec<u32> = scenarios
        .iter()
        .map(|s| PANEL_EXTRA + ROW * u32::try_from(s.peers.len()).unwrap_or(1))
        .collect();
    let total: u32 = heights.iter().sum::<u32>().max(1);
    // One x range for every panel, so they read against each other.
    let all: Vec<f64> = scenarios
        .iter()
        .flat_map(|s| s.peers.iter().flat_map(|p| p.totals()))
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3) / 1.3;
    let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 2.0) * 1.6;
    let root = SVGBackend::new(path, (WIDTH, total)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut rest = root.clone();
    for (sc, h) in scenarios.iter().zip(&heights) {
        let (top, bottom) = rest.split_vertically(*h);
        panel(&top, sc, lo, hi)?;
        rest = bottom;
    }
    root.present()?;
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    sc: &ScenarioResult,
    lo: f64,
    hi: f64,
) -> Result<()> {
    let n = sc.peers.len();
    let names: Vec<String> = sc.peers.iter().map(|p| p.name.clone()).collect();
    // Peer i sits at y = n - 1 - i, so the first peer is on top.
    let y_of = |i: usize| (n - 1 - i) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "scenario \u{201c}{}\u{201d}: wall time per run, ms (log scale)",
                sc.name
            ),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(105)
        .build_cartesian_2d((lo..hi).log_scale(), -0.6f64..(n as f64 - 0.4))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| fmt_ms(*x))
        .x_labels(40)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;

    // Peer names left of the plotting area, in the panel's pixel coordinates.
    let base = area.get_base_pixel();
    let name_style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(lo, y_of(i)));
        area.draw_text(name, &name_style, (px - base.0 - 8, py - base.1))?;
    }

    for (i, p) in sc.peers.iter().enumerate() {
        let y = y_of(i);
        let c = color(&p.name, p.floor);
        let s = p.summary();
        chart.draw_series(std::iter::once(Rectangle::new(
            [(s.p25, y - 0.26), (s.p75, y + 0.26)],
            c.mix(0.18).filled(),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(s.p25, y - 0.26), (s.p75, y + 0.26)],
            c.stroke_width(1),
        )))?;
        let whiskers = [
            vec![(s.min, y), (s.p25, y)],
            vec![(s.p75, y), (s.max, y)],
            vec![(s.min, y - 0.12), (s.min, y + 0.12)],
            vec![(s.max, y - 0.12), (s.max, y + 0.12)],
        ];
        chart.draw_series(
            whiskers
                .into_iter()
                .map(|pts| PathElement::new(pts, c.stroke_width(1))),
        )?;
        chart.draw_series(
            p.totals()
                .into_iter()
                .enumerate()
                .map(|(k, v)| Circle::new((v, y + 0.36 * jitter(k)), 2, c.mix(0.65).filled())),
        )?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(s.median, y - 0.34), (s.median, y + 0.34)],
            c.stroke_width(3),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("median {}", fmt_ms(s.median)),
            (s.max * 1.06, y - 0.12),
            ("sans-serif", 12).into_font().color(&c),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PeerResult, Sample};

    #[allow(clippy::cast_precision_loss)]
    fn peer(name: &str, floor: bool, base: f64) -> PeerResult {
        PeerResult {
            name: name.into(),
            command: String::new(),
            floor,
            samples: (0..30)
                .map(|i| Sample {
                    total_ms: base * (1.0 + f64::from(i % 7) / 10.0),
                    ..Sample::default()
                })
                .collect(),
        }
    }

    #[test]
    fn writes_an_svg() {
        let sc = ScenarioResult {
            name: "run".into(),
            description: String::new(),
            peers: vec![
                peer("podrt", false, 9.0),
                peer("crun", false, 11.0),
                peer("exec-true", true, 0.9),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var_os("STARTBENCH_PLOT_TEST_OUT")
            .map_or_else(|| dir.path().join("p.svg"), std::path::PathBuf::from);
        write_svg(
            &path,
            &[
                sc.clone(),
                ScenarioResult {
                    name: "lifecycle".into(),
                    ..sc
                },
            ],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("podrt") && svg.contains("median"));
    }
}
