//! The BrainBits audit curve as a PNG (feature `plot`).

use std::path::Path;

use plotters::prelude::*;

use crate::brainbits::AuditReport;
use crate::error::{DecodeError, Result};

impl AuditReport {
    /// Draws the curve (test R² against b on a log axis, with its bootstrap intervals, the
    /// random-input baseline and the ceiling) as a 720 × 480 PNG, written through a temporary
    /// file and a rename; refuses an existing `path` unless `force`.
    pub fn plot(&self, path: &Path, force: bool) -> Result<()> {
        spikelab_data::io::write_atomic(path, force, |tmp| {
            draw(self, tmp).map_err(|e| DecodeError::Plot(format!("{}: {e}", path.display())))
        })
    }
}

fn draw(rep: &AuditReport, path: &Path) -> std::result::Result<(), Box<dyn std::error::Error>> {
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let bmax = rep.points.iter().map(|p| p.b).max().unwrap_or(1) as f64;
    let top = rep
        .points
        .iter()
        .map(|p| p.ci.1.max(p.r2))
        .fold(rep.ceiling.max(rep.ceiling_ci.1), f64::max);
    let lo = rep.random.min(0.0) - 0.05 * top.abs().max(0.1);
    let hi = top * 1.15 + 0.01;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("BrainBits audit ({})", rep.mode),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0.8f64..bmax * 1.25).log_scale(), lo..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("bottleneck b")
        .y_desc("test R²")
        .draw()?;
    let pts: Vec<(f64, f64)> = rep.points.iter().map(|p| (p.b as f64, p.r2)).collect();
    chart
        .draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2)))?
        .label("bottleneck")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart.draw_series(
        rep.points
            .iter()
            .map(|p| PathElement::new(vec![(p.b as f64, p.ci.0), (p.b as f64, p.ci.1)], BLUE)),
    )?;
    let rand: Vec<(f64, f64)> = rep
        .points
        .iter()
        .map(|p| (p.b as f64, p.r2_random))
        .collect();
    chart
        .draw_series(LineSeries::new(rand, RED))?
        .label("random inputs")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    chart
        .draw_series(LineSeries::new(
            vec![(0.8, rep.ceiling), (bmax * 1.25, rep.ceiling)],
            BLACK.stroke_width(1),
        ))?
        .label("ceiling (no bottleneck)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
