//! Sorts a recording folder that holds its ground truth and prints the accuracy, with any
//! `SortParams` field overridden by a JSON object (a parameter sweep from the shell):
//!
//! ```text
//! cargo run --release -p spikelab-sort --example sort_score -- DIR '{"n_pca": 3, "detector": {"threshold_sigma": 5}}'
//! ```
//!
//! DIR is what `spikelab synth recording` writes. Prints the mean accuracy over ground-truth
//! units (spikeinterface's metric), the per-unit accuracies, the unit, peak and cluster counts
//! and the sorting time.
use spikelab_data::io::raw::{RawOptions, RecordingSource, open_recording};
use spikelab_sort::compare::{CompareParams, compare_to_ground_truth};
use spikelab_sort::pipeline::{SortParams, sort};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&args[1]);
    let rec = open_recording(path, &RawOptions::default())
        .unwrap()
        .load()
        .unwrap();
    let gt = spikelab_data::io::open_sorting(path).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(args.get(2).map_or("{}", String::as_str)).unwrap();
    let mut p = serde_json::to_value(SortParams::default()).unwrap();
    fn merge(a: &mut serde_json::Value, b: &serde_json::Value) {
        if let (Some(ao), Some(bo)) = (a.as_object_mut(), b.as_object()) {
            for (k, v) in bo {
                merge(ao.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        } else {
            *a = b.clone();
        }
    }
    merge(&mut p, &cfg);
    let params: SortParams = serde_json::from_value(p).unwrap();
    let t = std::time::Instant::now();
    let r = sort(&rec, &params, &mut spikelab_core::Silent).unwrap();
    let cmp = compare_to_ground_truth(&gt, &r.sorting, &CompareParams::default()).unwrap();
    let acc: Vec<String> = cmp
        .by_unit()
        .iter()
        .map(|p| format!("{:.2}", p.accuracy))
        .collect();
    println!(
        "acc {:.3} [{}] units {} detected {} clusters {} gt_spikes {} {:.1}s",
        cmp.mean_accuracy().unwrap_or(0.0),
        acc.join(" "),
        r.sorting.n_units(),
        r.n_detected,
        r.n_clusters,
        gt.counts().iter().sum::<usize>(),
        t.elapsed().as_secs_f64()
    );
}
