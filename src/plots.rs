//! Figures for the CLI and the demo report (plotters, PNG).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

/// Line colours (matplotlib's tab10, which scientists read without a legend lookup).
pub const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn e<T: std::fmt::Display>(x: T) -> anyhow::Error {
    anyhow!("plot: {x}")
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white PNG canvas with a titled chart over `x × y` and labelled axes.
fn chart<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    mesh: bool,
) -> Result<Chart<'a, 'b>> {
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(e)?;
    let mut m = chart.configure_mesh();
    m.x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .light_line_style(WHITE.mix(0.0));
    if !mesh {
        m.disable_mesh();
    }
    m.draw().map_err(e)?;
    Ok(chart)
}

/// One line of a [`line_plot`].
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points; non-finite y values break the line.
    pub points: Vec<(f64, f64)>,
    /// Index into [`COLORS`].
    pub color: usize,
    /// Draw dots (for events) instead of a line.
    pub dots: bool,
}

/// A line plot with labelled axes and a legend; optional horizontal reference lines
/// (`(label, y)`, drawn dashed-looking in grey).
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    hlines: &[(&str, f64)],
    size: (u32, u32),
) -> Result<()> {
    let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = range(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(hlines.iter().map(|h| h.1)),
    );
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let mut chart = chart(&root, title, (x_label, y_label), x0..x1, y0..y1, true)?;
    for s in series {
        let c = COLORS[s.color % COLORS.len()];
        if s.dots {
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(e)?
                .label(s.label)
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
            continue;
        }
        // Split at non-finite values so NaN padding shows as gaps.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &p in &s.points {
            if p.1.is_finite() {
                segments.last_mut().expect("non-empty").push(p);
            } else if !segments.last().expect("non-empty").is_empty() {
                segments.push(Vec::new());
            }
        }
        let mut first = true;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let drawn = chart
                .draw_series(LineSeries::new(seg, c.stroke_width(1)))
                .map_err(e)?;
            if first && !s.label.is_empty() {
                drawn.label(s.label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
                first = false;
            }
        }
    }
    for (label, y) in hlines {
        let c = RGBColor(90, 90, 90);
        chart
            .draw_series(LineSeries::new(vec![(x0, *y), (x1, *y)], c.stroke_width(1)))
            .map_err(e)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// A spike raster: `(time, row, colour index)` dots, optional vertical markers (e.g.
/// detected or true sequence occurrences) as `(time, colour index)`.
#[allow(clippy::too_many_arguments)]
pub fn raster_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    events: &[(f64, usize, usize)],
    n_rows: usize,
    markers: &[(f64, usize)],
    size: (u32, u32),
) -> Result<()> {
    let (x0, x1) = range(
        events
            .iter()
            .map(|p| p.0)
            .chain(markers.iter().map(|m| m.0)),
    );
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let mut chart = chart(
        &root,
        title,
        (x_label, y_label),
        x0..x1,
        0f64..n_rows.max(1) as f64,
        false,
    )?;
    for &(t, c) in markers {
        let col = COLORS[c % COLORS.len()].mix(0.35);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(t, 0.0), (t, n_rows as f64)],
                col.stroke_width(2),
            )))
            .map_err(e)?;
    }
    chart
        .draw_series(events.iter().map(|&(t, r, c)| {
            Rectangle::new(
                [(t, r as f64), (t + (x1 - x0) / 2000.0, r as f64 + 0.9)],
                COLORS[c % COLORS.len()].filled(),
            )
        }))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_render_to_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.png");
        let s = Series {
            label: "sin",
            points: (0..100)
                .map(|i| {
                    let x = i as f64 / 10.0;
                    (x, if i == 50 { f64::NAN } else { x.sin() })
                })
                .collect(),
            color: 0,
            dots: false,
        };
        line_plot(&p, "t", "x (s)", "y", &[s], &[("zero", 0.0)], (400, 300)).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        let r = dir.path().join("r.png");
        raster_plot(
            &r,
            "raster",
            "time (s)",
            "neuron",
            &[(0.1, 0, 0), (0.5, 3, 1)],
            4,
            &[(0.3, 2)],
            (400, 300),
        )
        .unwrap();
        assert!(std::fs::metadata(&r).unwrap().len() > 1000);
    }
}
