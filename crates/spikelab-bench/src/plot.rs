//! Log-log scaling plots (PNG) of benchmark series, with the fitted exponent in the legend.

use std::path::Path;

use plotters::prelude::*;

use crate::{BenchError, Report, Result, fit_exponent};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn perr<E: std::fmt::Display>(e: E) -> BenchError {
    BenchError::Plot(e.to_string())
}

/// Draws time (median, s) against size for the records named in `names` (all if empty) on
/// log-log axes, one line per name, and writes a PNG of `width × height` pixels.
/// Refuses to overwrite an existing file unless `overwrite`.
///
/// ```
/// use spikelab_bench::{Device, Record, Report, Timing, plot::scaling_plot};
/// let mut r = Report::new("example");
/// for n in [1e3, 1e4, 1e5] {
///     let t = Timing::from_samples(vec![n * 1e-8]).unwrap();
///     r.push(Record::new("op", Device::Cpu, "n", n, t));
/// }
/// let dir = tempfile::tempdir().unwrap();
/// let png = dir.path().join("scaling.png");
/// scaling_plot(&r, &[], "items", &png, (640, 480), false).unwrap();
/// assert!(std::fs::metadata(&png).unwrap().len() > 1000);
/// ```
pub fn scaling_plot(
    report: &Report,
    names: &[&str],
    x_label: &str,
    path: &Path,
    (width, height): (u32, u32),
    overwrite: bool,
) -> Result<()> {
    if path.exists() && !overwrite {
        return Err(BenchError::Io {
            path: path.into(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists; pass overwrite/--force to replace it",
            ),
        });
    }
    let all = report.names();
    let chosen: Vec<String> = if names.is_empty() {
        all
    } else {
        all.into_iter()
            .filter(|n| names.iter().any(|m| m == n))
            .collect()
    };
    let series: Vec<(String, Vec<(f64, f64)>)> = chosen
        .iter()
        .map(|name| {
            let mut v = report.series_named(name);
            v.retain(|&(x, y)| x > 0.0 && y > 0.0);
            (name.clone(), v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if series.is_empty() {
        return Err(BenchError::InvalidParameter {
            name: "names",
            reason: "no records to plot".into(),
        });
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, v) in &series {
        for &(x, y) in v {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let (x0, x1) = (x0 / 1.5, x1 * 1.5);
    let (y0, y1) = (y0 / 2.0, y1 * 2.0);

    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&report.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(perr)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("time per run (s, median)")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(perr)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let label = match fit_exponent(pts) {
            Ok(k) => format!("{name} (k = {k:.2})"),
            Err(_) => name.clone(),
        };
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(perr)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(perr)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(perr)?;
    root.present().map_err(perr)?;
    Ok(())
}

/// Colour of `v` in [0, 1] (clamped) on a white → blue ramp; NaN is grey.
fn ramp(v: f64) -> RGBColor {
    if !v.is_finite() {
        return RGBColor(200, 200, 200);
    }
    let t = v.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// Heat maps of a detection sweep ([`crate::detection::summarise`]d): one row of panels per
/// mode and metric (mean event F1, mean order ρ), one column per jitter; within a panel,
/// sequence length runs left to right and dropout bottom to top, each cell coloured by its
/// value on [0, 1] (negative ρ as 0) and labelled with it. Written atomically; refuses to
/// overwrite an existing file unless `overwrite`.
///
/// ```
/// use spikelab_bench::{detection::CellSummary, plot::detection_heatmap};
/// let mut cells = Vec::new();
/// for mode in ["faithful", "robust"] {
///     for seqlen in [40, 80] {
///         for p_drop in [0.1, 0.3] {
///             cells.push(CellSummary {
///                 mode: mode.into(), seqlen, p_drop, jitter_bins: 20.0, n_seeds: 2,
///                 f1_mean: 0.5, rho_mean: 0.4, recovered: 1,
///             });
///         }
///     }
/// }
/// let dir = tempfile::tempdir().unwrap();
/// let png = dir.path().join("sweep.png");
/// detection_heatmap(&cells, "sweep", &png, false).unwrap();
/// assert!(std::fs::metadata(&png).unwrap().len() > 1000);
/// assert!(detection_heatmap(&cells, "sweep", &png, false).is_err());
/// ```
pub fn detection_heatmap(
    summary: &[crate::detection::CellSummary],
    title: &str,
    path: &Path,
    overwrite: bool,
) -> Result<()> {
    fn uniq<T: PartialEq + Copy>(it: impl Iterator<Item = T>) -> Vec<T> {
        let mut v = Vec::new();
        for x in it {
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    }
    let modes = uniq(summary.iter().map(|s| s.mode.as_str()));
    let mut seqlens = uniq(summary.iter().map(|s| s.seqlen));
    let mut drops = uniq(summary.iter().map(|s| s.p_drop));
    let mut jitters = uniq(summary.iter().map(|s| s.jitter_bins));
    if modes.is_empty() {
        return Err(BenchError::InvalidParameter {
            name: "summary",
            reason: "no cells to plot".into(),
        });
    }
    seqlens.sort_unstable();
    drops.sort_by(f64::total_cmp);
    jitters.sort_by(f64::total_cmp);
    let rows = 2 * modes.len();
    let (pw, ph) = (300u32, 240u32);
    let size = (pw * jitters.len() as u32, ph * rows as u32 + 40);
    spikelab_data::io::write_atomic(path, overwrite, |tmp| {
        draw_heatmap(
            summary,
            title,
            tmp,
            size,
            (&modes, &seqlens, &drops, &jitters),
        )
        .map_err(|e| spikelab_data::DataError::param("plot", e.to_string()))
    })?;
    Ok(())
}

type Axes<'a> = (&'a [&'a str], &'a [usize], &'a [f64], &'a [f64]);

fn draw_heatmap(
    summary: &[crate::detection::CellSummary],
    title: &str,
    path: &Path,
    size: (u32, u32),
    (modes, seqlens, drops, jitters): Axes<'_>,
) -> Result<()> {
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(perr)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(perr)?;
    let panels = root.split_evenly((2 * modes.len(), jitters.len()));
    let (nx, ny) = (seqlens.len(), drops.len());
    for (k, panel) in panels.iter().enumerate() {
        let (row, col) = (k / jitters.len(), k % jitters.len());
        let (mode, rho) = (modes[row / 2], row % 2 == 1);
        let jitter = jitters[col];
        let metric = if rho { "order ρ" } else { "F1" };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{mode}, {metric}, jitter {jitter:.0}"),
                ("sans-serif", 15),
            )
            .margin(6)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..nx as f64, 0.0..ny as f64)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nx * 2 + 1)
            .y_labels(ny * 2 + 1)
            .x_label_formatter(&|x| label_at(*x, seqlens.iter().map(|s| s.to_string())))
            .y_label_formatter(&|y| label_at(*y, drops.iter().map(|d| format!("{d:.2}"))))
            .x_desc("seqlen")
            .y_desc("p_drop")
            .draw()
            .map_err(perr)?;
        for (i, &seqlen) in seqlens.iter().enumerate() {
            for (j, &p_drop) in drops.iter().enumerate() {
                let v = summary
                    .iter()
                    .find(|s| {
                        s.mode == mode
                            && s.seqlen == seqlen
                            && s.p_drop == p_drop
                            && s.jitter_bins == jitter
                    })
                    .map_or(f64::NAN, |s| if rho { s.rho_mean } else { s.f1_mean });
                let (x, y) = (i as f64, j as f64);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        ramp(v).filled(),
                    )))
                    .map_err(perr)?;
                let ink = if v.is_finite() && v > 0.55 {
                    WHITE
                } else {
                    BLACK
                };
                let text = if v.is_finite() {
                    format!("{v:.2}")
                } else {
                    "—".into()
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (x + 0.35, y + 0.6),
                        ("sans-serif", 14).into_font().color(&ink),
                    )))
                    .map_err(perr)?;
            }
        }
    }
    root.present().map_err(perr)?;
    Ok(())
}

/// The label of the cell whose centre is at `x` (cells `[i, i + 1)`), blank between centres.
fn label_at(x: f64, labels: impl Iterator<Item = String>) -> String {
    let i = x - 0.5;
    if i < 0.0 || (i - i.round()).abs() > 1e-6 {
        return String::new();
    }
    labels
        .into_iter()
        .nth(i.round() as usize)
        .unwrap_or_default()
}
