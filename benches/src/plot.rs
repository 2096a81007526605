//! The SVG plots, one file per scenario, each on its own axis: one row per peer, every run as a
//! dot over a box (p25–p75), a median bar and min–max whiskers, on a log-scale millisecond axis
//! (ratios read as distances) spanning that scenario's own range. `scale` and `pods` get a
//! second panel showing how the cost grows: median time per container against N, and median
//! time of each pod by its index. Text is left to the SVG viewer's fonts.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::ScenarioResult;
use crate::stats;

const WIDTH: u32 = 1000;
const ROW: u32 = 46;
const PANEL_EXTRA: u32 = 90;
const GROWTH_HEIGHT: u32 = 360;

fn color(peer: &str, floor: bool) -> RGBColor {
    // Scenario variants (`podrt seq N=10`, `podman+crun`) take their runtime's colour.
    let first = peer.split([' ', '+']).next().unwrap_or(peer);
    match (peer, first) {
        ("crun-wrapper", _) => RGBColor(148, 103, 189),
        ("podman+crun", _) => RGBColor(140, 86, 75),
        ("podman+runc", _) => RGBColor(227, 119, 194),
        (_, "podrt") => RGBColor(31, 119, 180),
        (_, "crun") => RGBColor(230, 120, 10),
        (_, "runc") => RGBColor(200, 40, 40),
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

/// Tick values for a log axis from `lo` to `hi`: the 1-1.5-2-3-5-7 sequence of each decade,
/// thinned to 1-2-5 and then to powers of ten while there would be more than a dozen.
#[allow(clippy::cast_possible_truncation)]
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return Vec::new();
    }
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    for mantissas in [
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0][..],
        &[1.0, 2.0, 5.0],
        &[1.0],
    ] {
        let v: Vec<f64> = (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|t| *t >= lo && *t <= hi)
            .collect();
        if v.len() <= 12 || mantissas.len() == 1 {
            return v;
        }
    }
    Vec::new()
}

/// The file a scenario's plot goes to.
pub fn file_name(scenario: &str) -> String {
    format!("start-latency-{scenario}.svg")
}

/// Write one SVG per scenario into `dir`; returns (scenario, file name) pairs.
pub fn write_scenario_svgs(
    dir: &Path,
    scenarios: &[ScenarioResult],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for sc in scenarios.iter().filter(|s| !s.peers.is_empty()) {
        let file = file_name(&sc.name);
        write_svg(&dir.join(&file), sc)?;
        out.push((sc.name.clone(), file));
    }
    Ok(out)
}

/// One scenario's plot: the distributions on the scenario's own log axis, plus the growth
/// panel for `scale` and `pods`.
pub fn write_svg(path: &Path, sc: &ScenarioResult) -> Result<()> {
    let dist = PANEL_EXTRA + ROW * u32::try_from(sc.peers.len().max(1)).unwrap_or(1);
    let growth = growth(sc);
    let total = dist + if growth.is_some() { GROWTH_HEIGHT } else { 0 };
    let root = SVGBackend::new(path, (WIDTH, total)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(dist);
    let all: Vec<f64> = sc.peers.iter().flat_map(|p| p.totals()).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3) / 1.3;
    let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 2.0) * 1.6;
    panel(&top, sc, lo, hi)?;
    if let Some(g) = growth {
        growth_panel(&bottom, &g)?;
    }
    root.present()?;
    Ok(())
}

/// One line of a growth panel.
#[derive(Debug)]
struct Line {
    label: String,
    color: RGBColor,
    /// Drawn thin with hollow markers (the concurrent mode of `scale`).
    light: bool,
    points: Vec<(f64, f64)>,
}

#[derive(Debug)]
struct Growth {
    title: String,
    x_desc: String,
    /// x on a log axis (N = 1 … 100) rather than a linear one (pod index).
    log_x: bool,
    lines: Vec<Line>,
}

/// `scale`: median ms per container against N, one line per runtime and mode. `pods`: median
/// ms of the k-th pod against k, one line per N.
#[allow(clippy::cast_precision_loss)]
fn growth(sc: &ScenarioResult) -> Option<Growth> {
    match sc.name.as_str() {
        "scale" => {
            let mut lines: Vec<Line> = Vec::new();
            for p in &sc.peers {
                let mut words = p.name.split(' ');
                let (Some(rt), Some(mode), Some(n)) = (words.next(), words.next(), words.next())
                else {
                    continue;
                };
                let Some(n) = n.strip_prefix("N=").and_then(|n| n.parse::<f64>().ok()) else {
                    continue;
                };
                let label = format!("{rt} {mode}");
                let y = p.summary().median;
                match lines.iter_mut().find(|l| l.label == label) {
                    Some(l) => l.points.push((n, y)),
                    None => lines.push(Line {
                        label,
                        color: color(rt, false),
                        light: mode == "conc",
                        points: vec![(n, y)],
                    }),
                }
            }
            for l in &mut lines {
                l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            (!lines.is_empty()).then(|| Growth {
                title: "scenario \u{201c}scale\u{201d}: median ms per container against N \
                        (solid: one after another, thin: all at once)"
                    .into(),
                x_desc: "N containers (log scale)".into(),
                log_x: true,
                lines,
            })
        }
        "pods" => {
            let palette = [
                RGBColor(120, 170, 220),
                RGBColor(31, 119, 180),
                RGBColor(10, 50, 110),
            ];
            let lines: Vec<Line> = sc
                .peers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let n = p.samples.first().map_or(0, |s| s.steps.len());
                    Line {
                        label: p.name.clone(),
                        color: palette[i.min(palette.len() - 1)],
                        light: false,
                        points: (1..=n)
                            .filter_map(|k| {
                                let v: Vec<f64> = p
                                    .samples
                                    .iter()
                                    .filter_map(|s| s.steps.get(k - 1).map(|x| x.1))
                                    .collect();
                                (!v.is_empty()).then(|| (k as f64, stats::median(&v)))
                            })
                            .collect(),
                    }
                })
                .collect();
            (!lines.is_empty()).then(|| Growth {
                title: "scenario \u{201c}pods\u{201d}: median ms of the k-th pod, the earlier \
                        ones still running"
                    .into(),
                x_desc: "pod index k".into(),
                log_x: false,
                lines,
            })
        }
        _ => None,
    }
}

fn growth_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, g: &Growth) -> Result<()> {
    let xs = g.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let x_max = xs.clone().fold(1.0, f64::max);
    let y_max = g
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.6; // headroom for the legend in the upper right
    let mut b = ChartBuilder::on(area);
    b.caption(&g.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    if g.log_x {
        let mut chart = b.build_cartesian_2d((0.8f64..x_max * 1.25).log_scale(), 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc(g.x_desc.as_str())
            .y_desc("ms")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        draw_lines(&mut chart, g)?;
    } else {
        let mut chart = b.build_cartesian_2d(0.5f64..x_max + 0.5, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc(g.x_desc.as_str())
            .y_desc("ms")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        draw_lines(&mut chart, g)?;
    }
    Ok(())
}

fn draw_lines<'a, 'b: 'a, X>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    g: &Growth,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
{
    for l in &g.lines {
        let width = if l.light { 1 } else { 2 };
        let c = l.color;
        chart
            .draw_series(std::iter::once(PathElement::new(
                l.points.clone(),
                l.color.stroke_width(width),
            )))?
            .label(l.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(width))
            });
        if l.light {
            chart.draw_series(
                l.points
                    .iter()
                    .map(|&p| TriangleMarker::new(p, 5, l.color.stroke_width(1))),
            )?;
        } else {
            chart.draw_series(
                l.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, l.color.filled())),
            )?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
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
    let what = match sc.name.as_str() {
        "scale" => "mean ms per container",
        "pods" => "mean ms per pod",
        _ => "wall time per run, ms",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("scenario \u{201c}{}\u{201d}: {what} (log scale)", sc.name),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(130)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            -0.6f64..(n as f64 - 0.4),
        )?;
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
    fn ticks() {
        assert_eq!(
            log_ticks(3.0, 40.0),
            vec![3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0]
        );
        assert_eq!(
            log_ticks(0.7, 600.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
        );
        assert_eq!(
            log_ticks(0.5, 20000.0),
            vec![1.0, 10.0, 100.0, 1000.0, 10000.0]
        );
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn writes_one_svg_per_scenario_with_growth_panels() {
        let run = ScenarioResult {
            name: "run".into(),
            description: String::new(),
            peers: vec![
                peer("podrt", false, 9.0),
                peer("crun", false, 11.0),
                peer("exec-true", true, 0.9),
            ],
            not_measured: Vec::new(),
        };
        let mut scale_peers = Vec::new();
        for mode in ["seq", "conc"] {
            for n in [1, 10, 100] {
                scale_peers.push(peer(
                    &format!("podrt {mode} N={n}"),
                    false,
                    5.0 + f64::from(n) / 50.0,
                ));
            }
        }
        let scale = ScenarioResult {
            name: "scale".into(),
            description: String::new(),
            peers: scale_peers,
            not_measured: Vec::new(),
        };
        let mut pods = peer("podrt N=3", false, 20.0);
        for s in &mut pods.samples {
            s.steps = (1..=3)
                .map(|k| (format!("pod {k}"), 20.0 + f64::from(k)))
                .collect();
        }
        let pods = ScenarioResult {
            name: "pods".into(),
            description: String::new(),
            peers: vec![pods],
            not_measured: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let out = std::env::var_os("STARTBENCH_PLOT_TEST_OUT")
            .map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
        let files = write_scenario_svgs(&out, &[run, scale, pods]).unwrap();
        assert_eq!(
            files.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
            ["run", "scale", "pods"]
        );
        let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
        let svg = read(&files[0].1);
        assert!(svg.starts_with("<svg") && svg.contains("podrt") && svg.contains("median"));
        assert!(!svg.contains("against N"));
        assert!(read(&files[1].1).contains("podrt conc"));
        assert!(read(&files[2].1).contains("k-th pod"));
    }
}
