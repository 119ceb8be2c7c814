//! The convSeq figure (feature `plot`): the raster sorted by the learned order of filter 0
//! with the detections, the projections with α, and the training loss, as in the original's
//! figure.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use spikelab_data::SparseRaster;

use crate::error::{ConvSeqError, Result};
use crate::fit::{ConvSeqFit, Detection};

fn plot_err(e: impl std::fmt::Display) -> ConvSeqError {
    ConvSeqError::Plot(e.to_string())
}

/// Draws the figure of `detection` (made by `fit`'s filters on `raster`) as a 1400 × 1000 PNG
/// at `path`, written atomically (temporary sibling + rename); an existing file is an error
/// unless `overwrite`.
///
/// ```
/// use spikelab_convseq::{ConvSeq, ConvSeqParams, AlphaOptions, plot::plot};
/// use spikelab_data::SparseRaster;
/// let ev: Vec<(usize, u64)> = (0..300u64).map(|i| ((i % 6) as usize, (i * 37) % 1000)).collect();
/// let r = SparseRaster::from_events(6, 1000, 0.01, &ev)?;
/// let p = ConvSeqParams { width_bins: 20, epochs: 5,
///     alpha: AlphaOptions { n_samples: 20, ..Default::default() }, ..Default::default() };
/// let fit = ConvSeq::new(p)?.fit(&r)?;
/// let dir = tempfile::tempdir().unwrap();
/// let png = dir.path().join("fig.png");
/// plot(&r, &fit, &fit.detection, &png, false)?;
/// assert!(png.exists());
/// assert!(plot(&r, &fit, &fit.detection, &png, false).is_err());
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn plot(
    raster: &SparseRaster,
    fit: &ConvSeqFit,
    detection: &Detection,
    path: &Path,
    overwrite: bool,
) -> Result<()> {
    spikelab_data::io::check_writable(path, overwrite)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| ConvSeqError::param("path", "has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp.png",
        name.to_string_lossy(),
        std::process::id()
    ));
    let drawn = draw(raster, fit, detection, &tmp);
    let done = drawn.and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| spikelab_data::DataError::io(path, e).into())
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

fn draw(raster: &SparseRaster, fit: &ConvSeqFit, det: &Detection, path: &Path) -> Result<()> {
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let areas = root.split_by_breakpoints::<i32, i32, _, _>([], [560, 820]);
    let (t, n) = (raster.n_bins() as f64, raster.n_neurons());
    let mut row_of = vec![0usize; n];
    for (row, &neuron) in fit.orders[0].iter().enumerate() {
        row_of[neuron] = row;
    }
    let dt = raster.bin_s();
    let half_w = 0.5 * fit.params.width_bins as f64 * dt;
    let mut c = ChartBuilder::on(&areas[0])
        .caption(
            "raster sorted by learned lag (filter 0); detections in red",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t * dt, 0f64..n as f64)
        .map_err(plot_err)?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc("neuron (sorted)")
        .disable_mesh()
        .draw()
        .map_err(plot_err)?;
    c.draw_series(det.events.iter().filter(|e| e.filter == 0).map(|e| {
        Rectangle::new(
            [(e.time_s - half_w, 0.0), (e.time_s + half_w, n as f64)],
            RGBColor(255, 220, 220).filled(),
        )
    }))
    .map_err(plot_err)?;
    let dots = (0..n).flat_map(|i| {
        let y = row_of[i] as f64 + 0.5;
        raster.rows()[i]
            .iter()
            .map(move |&(b, _)| Circle::new((b as f64 * dt, y), 1, BLACK.filled()))
    });
    c.draw_series(dots).map_err(plot_err)?;
    let top = det
        .projections
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(det.alpha.iter().copied().fold(0.0, f64::max));
    let mut c = ChartBuilder::on(&areas[1])
        .caption("projections and α", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t * dt, 0f64..top.max(1e-9) * 1.05)
        .map_err(plot_err)?;
    c.configure_mesh()
        .x_desc("time (s)")
        .disable_mesh()
        .draw()
        .map_err(plot_err)?;
    for k in 0..det.projections.nrows() {
        let col = Palette99::pick(k + 1).to_rgba();
        let row = det.projections.row(k);
        c.draw_series(LineSeries::new(
            row.iter().enumerate().map(|(i, &v)| (i as f64 * dt, v)),
            col,
        ))
        .map_err(plot_err)?;
        c.draw_series(LineSeries::new(
            [(0.0, det.alpha[k]), (t * dt, det.alpha[k])],
            RED,
        ))
        .map_err(plot_err)?;
        c.draw_series(
            det.events
                .iter()
                .filter(|e| e.filter == k)
                .map(|e| TriangleMarker::new((e.time_s, e.height), 5, RED.filled())),
        )
        .map_err(plot_err)?;
    }
    let losses: Vec<f64> = fit.loss_history.iter().map(|l| l.total).collect();
    let (lo, hi) = losses
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if losses.is_empty() {
        (0.0, 1.0)
    } else {
        (lo, hi.max(lo + 1e-9))
    };
    let mut c = ChartBuilder::on(&areas[2])
        .caption("loss", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..losses.len().max(1) as f64, lo..hi)
        .map_err(plot_err)?;
    c.configure_mesh()
        .x_desc("epoch")
        .disable_mesh()
        .draw()
        .map_err(plot_err)?;
    c.draw_series(LineSeries::new(
        losses.iter().enumerate().map(|(i, &v)| (i as f64, v)),
        BLUE,
    ))
    .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}
