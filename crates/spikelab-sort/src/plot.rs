//! A figure per sorted unit (feature `plot`, plotters): template per channel, inter-spike
//! interval histogram, amplitude over time.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Result, SortError};
use crate::pipeline::SortResult;

/// matplotlib's tab10 (the first four), one per channel.
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn e<T: std::fmt::Display>(x: T) -> SortError {
    SortError::File {
        path: "plot".into(),
        reason: x.to_string(),
    }
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    (lo - pad, hi + pad)
}

impl SortResult {
    /// Draws unit `u` (index) as a 1200 × 400 PNG at `path`.
    ///
    /// Errors: [`SortError::InvalidParameter`] for a unit index out of range;
    /// [`SortError::File`] when the PNG cannot be drawn or written.
    pub fn plot_unit(&self, path: &Path, u: usize) -> Result<()> {
        if u >= self.sorting.n_units() {
            return Err(SortError::InvalidParameter {
                name: "u",
                reason: format!("unit {u} of {}", self.sorting.n_units()),
            });
        }
        let fs = self.sorting.sampling_rate_hz();
        let frames = self.sorting.frames(u);
        let isi_ms: Vec<f64> = frames
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / fs * 1e3)
            .collect();
        let amplitudes: Vec<(f64, f64)> = self
            .sorting
            .spike_vector()
            .iter()
            .zip(&self.amplitudes)
            .filter(|((_, v), _)| *v == u)
            .map(|((f, _), &a)| (*f as f64 / fs, f64::from(a)))
            .collect();
        let template = self.templates.index_axis(ndarray::Axis(0), u);
        let title = format!("unit {u}: {} spikes", frames.len());
        spikelab_core::register_plot_font();
        let root = BitMapBackend::new(path, (1200, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(&title, ("sans-serif", 20)).map_err(e)?;
        let panels = root.split_evenly((1, 3));
        // Template: channel c drawn with an offset of c·span.
        let (t_len, n_ch) = template.dim();
        let span = template
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-6) as f64
            * 2.2;
        let ms = |i: usize| i as f64 / fs * 1e3;
        let mut c = ChartBuilder::on(&panels[0])
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..ms(t_len.max(2) - 1), -span..span * n_ch as f64)
            .map_err(e)?;
        c.configure_mesh()
            .x_desc("time (ms)")
            .y_desc("channel (offset)")
            .draw()
            .map_err(e)?;
        for ch in 0..n_ch {
            let pts: Vec<(f64, f64)> = (0..t_len)
                .map(|i| (ms(i), f64::from(template[[i, ch]]) + ch as f64 * span))
                .collect();
            c.draw_series(LineSeries::new(
                pts,
                COLORS[ch % COLORS.len()].stroke_width(2),
            ))
            .map_err(e)?;
        }
        // ISI histogram.
        let mut bins = [0u32; 50];
        for &v in &isi_ms {
            if (0.0..50.0).contains(&v) {
                bins[v as usize] += 1;
            }
        }
        let top = f64::from(*bins.iter().max().unwrap_or(&1)).max(1.0) * 1.1;
        let mut c = ChartBuilder::on(&panels[1])
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..50.0, 0.0..top)
            .map_err(e)?;
        c.configure_mesh()
            .x_desc("inter-spike interval (ms)")
            .y_desc("count")
            .draw()
            .map_err(e)?;
        c.draw_series(bins.iter().enumerate().map(|(i, &n)| {
            Rectangle::new(
                [(i as f64, 0.0), (i as f64 + 1.0, f64::from(n))],
                COLORS[0].filled(),
            )
        }))
        .map_err(e)?;
        // Amplitudes over time.
        let (x0, x1) = range(amplitudes.iter().map(|p| p.0));
        let (y0, y1) = range(amplitudes.iter().map(|p| p.1));
        let mut c = ChartBuilder::on(&panels[2])
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        c.configure_mesh()
            .x_desc("time (s)")
            .y_desc("amplitude at peak channel")
            .draw()
            .map_err(e)?;
        c.draw_series(
            amplitudes
                .iter()
                .map(|&p| Circle::new(p, 1, COLORS[1].filled())),
        )
        .map_err(e)?;
        root.present().map_err(e)?;
        Ok(())
    }
}
