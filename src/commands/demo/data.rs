//! Demo stage "data": read every bundled format, convert, read back, check.

use anyhow::Result;
use serde_json::json;
use spikelab_data::io;
use spikelab_datasets::{self as datasets, Split};

use super::{Ctx, StageOut, f};
use crate::plots::{Series, line_plot};
use crate::report::Section;

/// Runs the stage.
pub fn stage(ctx: &Ctx<'_>) -> Result<StageOut> {
    ctx.bar.set_length(5);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut nums = serde_json::Map::new();

    // 1. Spikefinder CSV: calcium + ground truth.
    let cal = io::csv::read_calcium(&datasets::spikefinder_calcium(5, Split::Test)?, 100.0)?;
    let (spk, _) =
        io::csv::read_spike_counts(&datasets::spikefinder_spikes(5, Split::Test)?, 0.01)?;
    rows.push(vec![
        "Spikefinder test 5".into(),
        "CSV (.csv.gz)".into(),
        format!("{} frames × {} neurons", cal.n_frames(), cal.n_neurons()),
        format!("100 Hz, {} GT spikes", spk.total_spikes()),
    ]);
    ctx.bar.inc(1);

    // 2. c2s MATLAB struct file → spike trains.
    let recs = io::mat::read_c2s(&datasets::spikefinder_test_mat(1)?)?;
    let trains = io::mat::c2s_to_spike_trains(&recs)?;
    rows.push(vec![
        "Spikefinder test 1".into(),
        "MATLAB v5 struct (.mat.gz)".into(),
        format!("{} cells", recs.len()),
        format!(
            "{} spikes over {:.0} s",
            trains.total_spikes(),
            trains.duration_s()
        ),
    ]);
    ctx.bar.inc(1);

    // 3. CA1 raster (plain .mat matrix) and the neuLVM recorded spikes (.npy).
    let ca1 = io::mat::read_raster(
        &datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?,
        "neuronal_activity_mat",
        0.05,
    )?;
    rows.push(vec![
        "CA1 (Rubin et al.)".into(),
        "MATLAB v5 uint8 matrix".into(),
        format!("{} neurons × {} bins", ca1.n_neurons(), ca1.n_bins()),
        format!("{} events, 20 Hz", ca1.total_spikes()),
    ]);
    let nl = io::npy::read_any(&datasets::neulvm("spikes_4ms.npy")?)?;
    rows.push(vec![
        "neuLVM 3-population".into(),
        format!("NumPy {}", nl.dtype),
        format!("{:?} [population, bin, neuron]", nl.data.shape()),
        format!(
            "{} spikes in 4-ms bins",
            nl.data.iter().filter(|&&v| v > 0.0).count()
        ),
    ]);
    ctx.bar.inc(1);

    // 4. NWB round trips.
    #[cfg(feature = "hdf5")]
    {
        use io::nwb::{NwbWriteOptions, OphysWriteOptions};
        let ophys = ctx.fig("spikefinder_test5_ophys.nwb");
        io::nwb::write_ophys(
            &ophys,
            &cal,
            &OphysWriteOptions {
                overwrite: true,
                ..OphysWriteOptions::new("Spikefinder test 5 calcium (spikelab demo)")
            },
        )?;
        let back = io::nwb::read_ophys(&ophys)?;
        let max_err = cal
            .data()
            .iter()
            .zip(back.data().iter())
            .filter(|(a, _)| a.is_finite())
            .map(|(a, b)| (a - b).abs() as f32 as f64)
            .fold(0.0, f64::max);
        let units = ctx.fig("spikefinder_test1_units.nwb");
        io::nwb::write_units(
            &units,
            &trains,
            &NwbWriteOptions {
                overwrite: true,
                ..NwbWriteOptions::new("Spikefinder test 1 ground-truth spikes (spikelab demo)")
            },
        )?;
        let back_units = io::nwb::read_units(&units)?;
        let same = back_units.trains() == trains.trains();
        rows.push(vec![
            "CSV → NWB ophys → read".into(),
            "NWB 2.x RoiResponseSeries".into(),
            format!("{} × {}", back.n_frames(), back.n_neurons()),
            format!("max |error| {max_err:.1e}"),
        ]);
        rows.push(vec![
            "MAT → NWB units → read".into(),
            "NWB 2.x /units".into(),
            format!("{} units", back_units.n_units()),
            format!("spike times identical: {same}"),
        ]);
        nums.insert("nwb_ophys_max_abs_error".into(), json!(max_err));
        nums.insert("nwb_units_identical".into(), json!(same));
        anyhow::ensure!(same, "NWB units round trip changed spike times");
    }
    ctx.bar.inc(1);

    // 5. Figure: one calcium trace with its ground-truth spikes.
    let j = 0;
    let n = (60.0 * cal.frame_rate_hz()) as usize;
    let trace = cal.trace(j);
    let pts: Vec<(f64, f64)> = trace
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, &v)| (i as f64 / cal.frame_rate_hz(), v))
        .collect();
    let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let spikes: Vec<(f64, f64)> = spk
        .counts()
        .row(j)
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, &c)| {
            (
                i as f64 * 0.01,
                if c > 0 {
                    lo - 0.5 - 0.3 * c as f64
                } else {
                    f64::NAN
                },
            )
        })
        .collect();
    let fig = ctx.fig("data_trace.png");
    line_plot(
        &fig,
        "Spikefinder test 5, neuron 0: calcium and ground-truth spikes",
        "time (s)",
        "fluorescence (z-scored, a.u.)",
        &[
            Series {
                label: "calcium",
                points: pts,
                color: 0,
                dots: false,
            },
            Series {
                label: "spikes (count, below)",
                points: spikes,
                color: 3,
                dots: true,
            },
        ],
        &[],
        (1000, 360),
    )?;
    ctx.bar.inc(1);

    nums.insert("spikefinder_test5_neurons".into(), json!(cal.n_neurons()));
    nums.insert(
        "spikefinder_test5_gt_spikes".into(),
        json!(spk.total_spikes()),
    );
    nums.insert("c2s_test1_spikes".into(), json!(trains.total_spikes()));
    nums.insert("ca1_events".into(), json!(ca1.total_spikes()));
    nums.insert(
        "ca1_mean_rate_hz".into(),
        json!(ca1.rates_hz().iter().sum::<f64>() / ca1.n_neurons() as f64),
    );
    let mut s = Section::new("data");
    s.text(
        "spikelab-data reads the bundled real recordings in every supported format and converts \
         them losslessly to NWB 2.x, then reads the NWB files back and compares.",
    )
    .table(
        "Bundled datasets and round trips",
        &["dataset", "format", "shape", "content / check"],
        rows,
    )
    .text(format!(
        "CA1 mean event rate {} Hz.",
        f(nums["ca1_mean_rate_hz"].as_f64().unwrap_or(0.0), 3)
    ))
    .figure(
        "Spikefinder test 5, neuron 0: the first 60 s of calcium (blue) and ground-truth spike counts (red, below the trace).",
        &fig,
    );
    Ok(StageOut {
        section: s,
        numbers: serde_json::Value::Object(nums),
    })
}
