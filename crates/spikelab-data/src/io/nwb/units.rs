//! The `Units` table: [`SpikeTrains`] ↔ `/units` (with optional electrodes).

use std::path::Path;

use hdf5::{File, ObjectReference1};
use ndarray::Array2;

use super::h5::*;
use super::session::{NwbWriteOptions, device, write_atomically};
use super::{CORE, Ctx, HDMF, Msg, R, check_name, nwb_err, open};
use crate::SpikeTrains;
use crate::error::{DataError, Result};

/// Electrodes for the `Units` table: one row per electrode in
/// `/general/extracellular_ephys/electrodes`, all in one `ElectrodeGroup` recorded with one
/// `Device`, and for each unit the rows it was recorded on.
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbElectrodes;
/// // Two units on a 3-channel probe: unit 0 on channel 0, unit 1 on channels 1 and 2.
/// let el = NwbElectrodes::new(vec!["CA1".into(); 3], vec![vec![0], vec![1, 2]]);
/// assert_eq!(el.group_name, "shank0");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NwbElectrodes {
    /// Brain location of each electrode (one per table row).
    pub locations: Vec<String>,
    /// For each unit (same order as the spike trains), the electrode rows it was seen on.
    pub unit_electrodes: Vec<Vec<usize>>,
    /// Name of the `ElectrodeGroup` (a plain name, no `/`).
    pub group_name: String,
    /// Description of the group.
    pub group_description: String,
    /// Location attribute of the group.
    pub group_location: String,
    /// Name of the recording `Device` (a plain name, no `/`).
    pub device_name: String,
    /// Description of the device.
    pub device_description: String,
}

impl NwbElectrodes {
    /// Electrodes with the given locations and per-unit rows, group `shank0`, device `probe`.
    pub fn new(locations: Vec<String>, unit_electrodes: Vec<Vec<usize>>) -> Self {
        NwbElectrodes {
            locations,
            unit_electrodes,
            group_name: "shank0".into(),
            group_description: "electrode group written by spikelab".into(),
            group_location: "unknown".into(),
            device_name: "probe".into(),
            device_description: "recording device".into(),
        }
    }

    fn validate(&self, n_units: usize) -> Result<()> {
        check_name("electrodes.group_name", &self.group_name)?;
        check_name("electrodes.device_name", &self.device_name)?;
        if self.unit_electrodes.len() != n_units {
            return Err(DataError::Shape {
                what: "electrodes.unit_electrodes".into(),
                expected: format!("{n_units} entries (one per unit)"),
                got: format!("{} entries", self.unit_electrodes.len()),
            });
        }
        let n = self.locations.len();
        for (u, rows) in self.unit_electrodes.iter().enumerate() {
            if let Some(bad) = rows.iter().find(|&&r| r >= n) {
                return Err(DataError::param(
                    "electrodes.unit_electrodes",
                    format!("unit {u} refers to electrode row {bad}, but the table has {n} rows"),
                ));
            }
        }
        Ok(())
    }
}

/// Writes spike trains as the NWB `Units` table (see the [module docs](super) for the layout).
///
/// Unit ids become `id`; times are written as they are (seconds from
/// `session_start_time`). Errors: [`DataError::AlreadyExists`] unless `opts.overwrite`,
/// [`DataError::InvalidParameter`] for bad metadata (empty description, start time without
/// UTC offset, bad electrode rows), [`DataError::Nwb`] if HDF5 fails.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbElectrodes, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("units.nwb");
/// let st = SpikeTrains::new(vec![vec![0.5, 1.5], vec![2.0]], 0.0, 3.0)?;
/// let mut opts = NwbWriteOptions::new("two units");
/// opts.session_start_time = "2024-01-02T03:04:05+00:00".into();
/// opts.electrodes = Some(NwbElectrodes::new(vec!["CA1".into(), "CA1".into()], vec![vec![0], vec![0, 1]]));
/// nwb::write_units(&path, &st, &opts)?;
/// # spikelab_datasets::collect_nwb(&path);
/// assert_eq!(nwb::read_units(&path)?.train(0), &[0.5, 1.5]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_units(path: &Path, trains: &SpikeTrains, opts: &NwbWriteOptions) -> Result<()> {
    if let Some(el) = &opts.electrodes {
        el.validate(trains.n_units())?;
    }
    if trains.n_units() == 0 {
        return Err(DataError::param(
            "trains",
            "no units to write (an empty NWB Units table fails DANDI's checks)",
        ));
    }
    super::metadata::check_resolution(opts.spike_time_resolution_s)?;
    let resolution_s = opts
        .spike_time_resolution_s
        .or(opts.metadata.spike_time_resolution_s);
    if opts.metadata.dandi
        && resolution_s.is_some_and(|r| r < 1.0)
        && trains.total_spikes() > 0
        && trains.trains().iter().flatten().all(|t| t.fract() == 0.0)
    {
        return Err(DataError::param(
            "trains",
            "every spike time is a whole number of seconds: are they sample indices? Divide by the sampling rate (DANDI's checks reject sample indices)",
        ));
    }
    write_atomically(path, &opts.session(), |file| {
        let el_table = match &opts.electrodes {
            Some(el) => Some(write_electrodes(file, el)?),
            None => None,
        };
        write_units_table(
            file,
            trains,
            opts.electrodes.as_ref(),
            el_table.as_deref(),
            resolution_s,
        )
    })
}

/// Writes the electrodes table, group and device; returns the table's path.
fn write_electrodes(file: &File, el: &NwbElectrodes) -> R<String> {
    device(file, &el.device_name, &el.device_description)?;
    let general = file.group("general")?;
    let ecephys = group(&general, "extracellular_ephys")?;
    let eg = group(&ecephys, &el.group_name)?;
    typed(&eg, "ElectrodeGroup", CORE)?;
    attr_str(&eg, "description", &el.group_description)?;
    attr_str(&eg, "location", &el.group_location)?;
    eg.link_soft(&format!("/general/devices/{}", el.device_name), "device")
        .ctx(|| "soft link ElectrodeGroup/device".to_string())?;

    let table = group(&ecephys, "electrodes")?;
    typed(&table, "ElectrodesTable", CORE)?;
    attr_str_list(&table, "colnames", &["location", "group", "group_name"])?;
    attr_str(
        &table,
        "description",
        "metadata about extracellular electrodes",
    )?;
    let n = el.locations.len();
    ids(&table, &(0..n as i64).collect::<Vec<_>>())?;
    let locs = el
        .locations
        .iter()
        .map(|s| vlen(s))
        .collect::<R<Vec<_>>>()?;
    vector_data(
        &table,
        "location",
        &locs,
        "the location of channel within the subject e.g. brain region",
        false,
    )?;
    let gref: ObjectReference1 = file.reference(&eg.name())?;
    vector_data(
        &table,
        "group",
        &vec![gref; n],
        "a reference to the ElectrodeGroup this electrode is a part of",
        false,
    )?;
    let gname = vlen(&el.group_name)?;
    vector_data(
        &table,
        "group_name",
        &vec![gname; n],
        "the name of the ElectrodeGroup this electrode is a part of",
        false,
    )?;
    Ok(table.name())
}

fn write_units_table(
    file: &File,
    trains: &SpikeTrains,
    el: Option<&NwbElectrodes>,
    el_table: Option<&str>,
    resolution_s: Option<f64>,
) -> R<()> {
    let units = group(file, "units")?;
    typed(&units, "Units", CORE)?;
    let mut cols = vec!["spike_times", "obs_intervals"];
    if el.is_some() {
        cols.push("electrodes");
    }
    attr_str_list(&units, "colnames", &cols)?;
    attr_str(&units, "description", "units written by spikelab")?;
    ids(&units, trains.unit_ids())?;

    let flat: Vec<f64> = trains.trains().iter().flatten().copied().collect();
    let times = vector_data(
        &units,
        "spike_times",
        &flat,
        "the spike times for each unit in seconds",
        true,
    )?;
    if let Some(r) = resolution_s {
        attr_f64(&times, "resolution", r)?;
    }
    vector_index(file, &units, "spike_times", &ends_of(trains.trains()))?;

    // One observation interval per unit: the recording interval of the SpikeTrains.
    let n = trains.n_units();
    let mut iv = Array2::<f64>::zeros((n, 2));
    for mut row in iv.rows_mut() {
        row[0] = trains.t_start_s();
        row[1] = trains.t_stop_s();
    }
    let ds = mat2(&units, "obs_intervals", &iv, false)?;
    typed(&ds, "VectorData", HDMF)?;
    attr_str(
        &ds,
        "description",
        "the observation intervals for each unit",
    )?;
    vector_index(
        file,
        &units,
        "obs_intervals",
        &(1..=n as u64).collect::<Vec<_>>(),
    )?;

    if let (Some(el), Some(table_path)) = (el, el_table) {
        let rows: Vec<i64> = el
            .unit_electrodes
            .iter()
            .flatten()
            .map(|&r| r as i64)
            .collect();
        let ds = vec1(&units, "electrodes", &rows, false)?;
        typed(&ds, "DynamicTableRegion", HDMF)?;
        attr_str(&ds, "description", "electrode_group")?;
        attr_ref(&ds, "table", file, table_path)?;
        vector_index(file, &units, "electrodes", &ends_of(&el.unit_electrodes))?;
    }
    Ok(())
}

/// Reads the `/units` table into [`SpikeTrains`] (ids from `id`).
///
/// The interval `[t_start, t_stop]` is the union of the `obs_intervals` column and the spike
/// times when the file has that column (so files written by [`write_units`] round-trip
/// exactly); otherwise it is `[min(0, first spike), max(0, last spike)]`, i.e. `[0, last
/// spike]` for the usual pynwb file. Trains are sorted if the file stores them unsorted.
///
/// Errors ([`DataError::Nwb`], naming the file): not HDF5, no `/units`, no `spike_times` or
/// `spike_times_index`, an index whose ends are inconsistent, non-finite spike times.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("u.nwb");
/// nwb::write_units(&path, &SpikeTrains::new(vec![vec![1.25], vec![]], 0.0, 5.0)?, &NwbWriteOptions::default())?;
/// # spikelab_datasets::collect_nwb(&path);
/// let st = nwb::read_units(&path)?;
/// assert_eq!((st.n_units(), st.t_stop_s()), (2, 5.0));
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_units(path: &Path) -> Result<SpikeTrains> {
    let file = open(path)?;
    read_units_in(&file).map_err(|Msg(m)| nwb_err(path, m))
}

pub(super) fn read_units_in(file: &File) -> R<SpikeTrains> {
    let units = file
        .group("units")
        .map_err(|_| Msg("no /units table in this file".into()))?;
    let ids = ds_1d_i64(&units, "id")?;
    let n = ids.len();
    let times = if units.link_exists("spike_times") {
        ds_1d_f64(&units, "spike_times")?
    } else if n == 0 {
        Vec::new()
    } else {
        return Err("/units has no spike_times column".into());
    };
    if !units.link_exists("spike_times_index") {
        return Err(Msg(format!(
            "/units/spike_times_index is missing: cannot tell which of the {} spike times belong to which of the {n} units",
            times.len()
        )));
    }
    let ends = read_index(&units, "spike_times_index", n, times.len())?;
    let mut trains = Vec::with_capacity(n);
    let mut start = 0;
    for &end in &ends {
        trains.push(times[start..end].to_vec());
        start = end;
    }
    if let Some((u, t)) = trains
        .iter()
        .enumerate()
        .find_map(|(u, t)| t.iter().find(|x| !x.is_finite()).map(|x| (u, *x)))
    {
        return Err(Msg(format!(
            "unit {u} (id {}) has a non-finite spike time {t}",
            ids[u]
        )));
    }
    // Spike extremes (trains may be unsorted here; they are sorted below).
    let lo = trains
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = trains
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    // Recording interval from obs_intervals when the file has them.
    let mut obs = (f64::INFINITY, f64::NEG_INFINITY);
    if units.link_exists("obs_intervals") {
        let ds = units.dataset("obs_intervals")?;
        if ds.ndim() == 2 && ds.shape()[1] == 2 {
            let v = read_checked::<f64>(&ds)?;
            for pair in v.chunks_exact(2) {
                if pair[0].is_finite() && pair[1].is_finite() {
                    obs = (obs.0.min(pair[0]), obs.1.max(pair[1]));
                }
            }
        }
    }
    let (t_start, t_stop) = if obs.0 <= obs.1 {
        (obs.0.min(lo), obs.1.max(hi))
    } else {
        (lo.min(0.0), hi.max(0.0))
    };
    SpikeTrains::sorted_from(trains, ids, t_start, t_stop).map_err(|e| Msg(e.to_string()))
}
