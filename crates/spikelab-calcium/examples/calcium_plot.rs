//! Plots a calcium trace, its ground-truth spikes and the Elephant CNN's prediction to a PNG.
//!
//! ```text
//! cargo run -p spikelab-calcium --release --example calcium_plot -- [OUT.png] [test set] [neuron] [start_s] [len_s]
//! ```
//! Defaults: `calcium_plot.png`, test set 4, neuron 1, 60 s from 100 s.

use plotters::prelude::*;
use spikelab_calcium::ElephantCnn;
use spikelab_calcium::calibration::Calibration;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let out = a
        .get(1)
        .cloned()
        .unwrap_or_else(|| "calcium_plot.png".into());
    let set_n: u32 = a.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let neuron: usize = a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let start_s: f64 = a.get(4).map(|s| s.parse()).transpose()?.unwrap_or(100.0);
    let len_s: f64 = a.get(5).map(|s| s.parse()).transpose()?.unwrap_or(60.0);

    let set = spikelab_datasets::calcium::spikefinder_test(set_n)?;
    anyhow::ensure!(
        neuron < set.spikes.ncols(),
        "test {set_n} has {} neurons",
        set.spikes.ncols()
    );
    let cnn = ElephantCnn::embedded(1)?;
    let pred = cnn.predict(&set.calcium)?;
    let cal = Calibration::embedded(1)?;
    let rates = cal.rates_hz(&pred, 100.0);

    let i0 = (start_s * 100.0) as usize;
    let i1 = ((start_s + len_s) * 100.0) as usize;
    let i1 = i1.min(set.calcium.valid_lengths()[neuron]);
    anyhow::ensure!(i0 + 10 < i1, "window outside the recording");
    let t = |i: usize| i as f64 / 100.0;
    let ca: Vec<(f64, f64)> = (i0..i1)
        .map(|i| (t(i), set.calcium.data()[[i, neuron]]))
        .collect();
    let sp: Vec<(f64, f64)> = (i0..i1)
        .filter(|&i| set.spikes[[i, neuron]] > 0.0)
        .map(|i| (t(i), set.spikes[[i, neuron]]))
        .collect();
    let pr: Vec<(f64, f64)> = (i0..i1)
        .filter(|&i| rates[[i, neuron]].is_finite())
        .map(|i| (t(i), rates[[i, neuron]]))
        .collect();

    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(&out, (1400, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let range = |v: &[(f64, f64)]| {
        let lo = v.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = v.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if hi > lo { lo..hi } else { lo - 1.0..lo + 1.0 }
    };
    let x = t(i0)..t(i1);
    let mut c = ChartBuilder::on(&panels[0])
        .caption(
            format!("Spikefinder test {set_n}, neuron {neuron}: calcium (as given)"),
            ("sans-serif", 20),
        )
        .margin(8)
        .x_label_area_size(25)
        .y_label_area_size(50)
        .build_cartesian_2d(x.clone(), range(&ca))?;
    c.configure_mesh().x_desc("time (s)").draw()?;
    c.draw_series(LineSeries::new(ca, &BLUE))?;
    let mut c = ChartBuilder::on(&panels[1])
        .caption("ground-truth spikes per 10-ms frame", ("sans-serif", 20))
        .margin(8)
        .x_label_area_size(25)
        .y_label_area_size(50)
        .build_cartesian_2d(
            x.clone(),
            0.0..sp.iter().map(|p| p.1).fold(1.0, f64::max) + 0.5,
        )?;
    c.configure_mesh().x_desc("time (s)").draw()?;
    c.draw_series(
        sp.iter()
            .map(|&(ts, n)| PathElement::new(vec![(ts, 0.0), (ts, n)], BLACK.stroke_width(2))),
    )?;
    let mut c = ChartBuilder::on(&panels[2])
        .caption(
            format!(
                "Elephant CNN (model1.h5), calibrated rate (Hz): a = {:.4}, b = {:.4} spikes/frame",
                cal.intercept, cal.slope
            ),
            ("sans-serif", 20),
        )
        .margin(8)
        .x_label_area_size(25)
        .y_label_area_size(50)
        .build_cartesian_2d(x, range(&pr))?;
    c.configure_mesh().x_desc("time (s)").draw()?;
    c.draw_series(LineSeries::new(pr, &RED))?;
    root.present()?;
    println!("wrote {out}");
    Ok(())
}
