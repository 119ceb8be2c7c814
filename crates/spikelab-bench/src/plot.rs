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
