//! Probe geometry files in the probeinterface JSON format (`.json`, or `.json.gz`).
//!
//! A probeinterface file is `{"specification": "probeinterface", "version": …, "probes": […]}`;
//! each probe holds `ndim`, `si_units` (`"um"`, `"mm"` or `"m"`), `contact_positions`
//! (`[x, y]` per contact), `contact_shapes` (`"circle"`, `"square"`, `"rect"`) with
//! `contact_shape_params` (`{"radius": r}` or `{"width": w, "height": h}`) and optionally
//! `device_channel_indices`, the recording channel each contact is wired to (−1: unwired).
//!
//! [`read_probe`] makes one [`Probe`] out of all the probes in the file, as spikeinterface's
//! `set_probegroup` attaches them to a recording:
//!
//! * with `device_channel_indices` (on every probe), channel `i` of the probe is the contact
//!   wired to device channel `i`; unwired contacts are dropped, and the wired ones must cover
//!   `0..n` exactly once each;
//! * without them (on every probe), the contacts in file order, probe after probe.
//!
//! Positions are converted to µm. [`Probe`] has one contact radius, taken from the first
//! contact in the file that has a shape: its radius for a circle, half its width for a square
//! or a rectangle (the radius of the circle inscribed in a square); 0 when the file gives no
//! shapes. Annotations, contact ids, shank ids,
//! plane axes and contours are not kept.
//!
//! [`write_probe`] writes a [`Probe`] as a one-probe probeinterface file (circles, µm, wired
//! `0..n` in channel order) that `probeinterface.read_probeinterface` reads.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{DataError, Result};
use crate::recording::Probe;

/// The probeinterface format version written by [`write_probe`].
pub const PROBEINTERFACE_VERSION: &str = "0.4.2";

/// Reads a probeinterface JSON file (module docs) into one 2D [`Probe`] in µm, its contacts in
/// recording-channel order.
///
/// Errors: [`DataError::Io`] if the file cannot be read; [`DataError::ProbeFile`] (naming the
/// file, the probe and the fix) for anything that is not a 2D probeinterface probe: not JSON,
/// a missing or mistyped field, `ndim` 3, unknown units, `device_channel_indices` on some probes
/// only, wired to a device channel twice or leaving one out.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("probe.json");
/// std::fs::write(&path, r#"{"specification": "probeinterface", "version": "0.4.2",
///   "probes": [{"ndim": 2, "si_units": "mm",
///     "contact_positions": [[0, 0], [0, 0.025], [0.03, 0.0125]],
///     "contact_shapes": ["circle", "circle", "circle"],
///     "contact_shape_params": [{"radius": 0.006}, {"radius": 0.006}, {"radius": 0.006}],
///     "device_channel_indices": [1, 0, -1]}]}"#)?;
/// let probe = spikelab_data::io::probe::read_probe(&path)?;
/// assert_eq!(probe.n_channels(), 2); // the unwired contact is dropped
/// assert_eq!(probe.positions_um(), &[[0.0, 25.0], [0.0, 0.0]]);
/// assert_eq!(probe.contact_radius_um(), 6.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_probe(path: &Path) -> Result<Probe> {
    let bytes = super::read_bytes_maybe_gz(path)?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(path, format!("not valid JSON ({e})")))?;
    probe_from_json(path, &value)
}

/// Writes `probe` as a probeinterface JSON file (module docs), atomically
/// ([`write_atomic`](super::write_atomic)).
///
/// Errors: [`DataError::AlreadyExists`] if `path` exists and not `overwrite`; [`DataError::Io`].
///
/// ```
/// use spikelab_data::{Probe, io::probe};
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tetrode.json");
/// probe::write_probe(&path, &Probe::tetrode(20.0), false)?;
/// assert_eq!(probe::read_probe(&path)?, Probe::tetrode(20.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_probe(path: &Path, probe: &Probe, overwrite: bool) -> Result<()> {
    let n = probe.n_channels();
    let file = FileOut {
        specification: "probeinterface",
        version: PROBEINTERFACE_VERSION,
        probes: vec![ProbeOut {
            ndim: 2,
            si_units: "um",
            annotations: Annotations {
                model_name: "",
                manufacturer: "",
            },
            contact_positions: probe.positions_um(),
            contact_plane_axes: vec![[[1.0, 0.0], [0.0, 1.0]]; n],
            contact_shapes: vec!["circle"; n],
            contact_shape_params: vec![
                Radius {
                    radius: probe.contact_radius_um()
                };
                n
            ],
            contact_ids: (0..n).map(|c| c.to_string()).collect(),
            device_channel_indices: (0..n).collect(),
        }],
    };
    super::write_json(path, &file, overwrite)
}

#[derive(Serialize)]
struct FileOut<'a> {
    specification: &'static str,
    version: &'static str,
    probes: Vec<ProbeOut<'a>>,
}

#[derive(Serialize)]
struct ProbeOut<'a> {
    ndim: u8,
    si_units: &'static str,
    annotations: Annotations,
    contact_positions: &'a [[f64; 2]],
    contact_plane_axes: Vec<[[f64; 2]; 2]>,
    contact_shapes: Vec<&'static str>,
    contact_shape_params: Vec<Radius>,
    contact_ids: Vec<String>,
    device_channel_indices: Vec<usize>,
}

#[derive(Serialize)]
struct Annotations {
    model_name: &'static str,
    manufacturer: &'static str,
}

#[derive(Serialize, Clone, Copy)]
struct Radius {
    radius: f64,
}

fn bad(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::ProbeFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One probe of the file: positions in µm, the first contact's radius in µm and its wiring.
struct Part {
    positions_um: Vec<[f64; 2]>,
    radius_um: Option<f64>,
    wiring: Option<Vec<i64>>,
}

fn probe_from_json(path: &Path, value: &Value) -> Result<Probe> {
    let top = value.as_object().ok_or_else(|| {
        bad(
            path,
            "expected a JSON object with \"probes\"; write the file with probeinterface.write_probeinterface",
        )
    })?;
    match top.get("specification") {
        None => {}
        Some(Value::String(s)) if s == "probeinterface" => {}
        Some(other) => {
            return Err(bad(
                path,
                format!(
                    "\"specification\" is {other}, not \"probeinterface\"; give a probeinterface JSON file"
                ),
            ));
        }
    }
    let probes = match top.get("probes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(bad(
                path,
                "\"probes\" is empty; the file must hold at least one probe",
            ));
        }
        _ => {
            return Err(bad(
                path,
                "no \"probes\" array; write the file with probeinterface.write_probeinterface",
            ));
        }
    };
    let parts = probes
        .iter()
        .enumerate()
        .map(|(k, p)| read_part(path, k, p))
        .collect::<Result<Vec<Part>>>()?;
    let radius_um = parts.iter().find_map(|p| p.radius_um).unwrap_or(0.0);
    let wired: Vec<usize> = (0..parts.len())
        .filter(|&k| parts[k].wiring.is_some())
        .collect();
    let positions_um = if wired.is_empty() {
        parts.into_iter().flat_map(|p| p.positions_um).collect()
    } else if wired.len() < parts.len() {
        let k = (0..parts.len()).find(|k| !wired.contains(k)).unwrap_or(0);
        return Err(bad(
            path,
            format!(
                "probe {} has device_channel_indices but probe {k} has none; set them on every probe (probeinterface: ProbeGroup.set_global_device_channel_indices)",
                wired[0]
            ),
        ));
    } else {
        order_by_wiring(path, parts)?
    };
    if positions_um.is_empty() {
        return Err(bad(
            path,
            "no wired contacts; a probe needs at least one contact with a device channel index ≥ 0",
        ));
    }
    Probe::new(positions_um, radius_um).map_err(|e| bad(path, e.to_string()))
}

/// The contacts sorted by device channel, unwired ones (−1) dropped; the device channels
/// must be `0..n`, each once.
fn order_by_wiring(path: &Path, parts: Vec<Part>) -> Result<Vec<[f64; 2]>> {
    // (device channel, probe, contact, position)
    let mut contacts: Vec<(i64, usize, usize, [f64; 2])> = Vec::new();
    for (k, part) in parts.into_iter().enumerate() {
        let wiring = part.wiring.unwrap_or_default();
        for (c, (d, pos)) in wiring.into_iter().zip(part.positions_um).enumerate() {
            if d >= 0 {
                contacts.push((d, k, c, pos));
            }
        }
    }
    contacts.sort_by_key(|&(d, k, c, _)| (d, k, c));
    for w in contacts.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(bad(
                path,
                format!(
                    "device channel {} is wired to two contacts (probe {} contact {}, probe {} contact {}); fix device_channel_indices",
                    w[0].0, w[0].1, w[0].2, w[1].1, w[1].2
                ),
            ));
        }
    }
    for (i, &(d, ..)) in contacts.iter().enumerate() {
        if d != i as i64 {
            return Err(bad(
                path,
                format!(
                    "no contact is wired to device channel {i} (the next wired one is {d}); the wired contacts must cover device channels 0 to n − 1: renumber device_channel_indices, or select the recording's channels to match"
                ),
            ));
        }
    }
    Ok(contacts.into_iter().map(|(.., pos)| pos).collect())
}

fn read_part(path: &Path, k: usize, value: &Value) -> Result<Part> {
    let p = value
        .as_object()
        .ok_or_else(|| bad(path, format!("probe {k} is not a JSON object")))?;
    let field = |name: &str| {
        p.get(name).ok_or_else(|| {
            bad(
                path,
                format!(
                    "probe {k} has no \"{name}\"; write the file with probeinterface.write_probeinterface, or add the field"
                ),
            )
        })
    };
    let ndim = field("ndim")?
        .as_u64()
        .ok_or_else(|| bad(path, format!("probe {k}: \"ndim\" must be 2")))?;
    if ndim == 3 {
        return Err(bad(
            path,
            format!(
                "probe {k} is 3D (ndim 3); spikelab needs 2D contact positions: convert it with probeinterface's probe.to_2d(axes=\"xy\")"
            ),
        ));
    }
    if ndim != 2 {
        return Err(bad(
            path,
            format!("probe {k}: \"ndim\" is {ndim}, must be 2"),
        ));
    }
    let units = field("si_units")?;
    let scale = match units.as_str() {
        Some("um") => 1.0,
        Some("mm") => 1e3,
        Some("m") => 1e6,
        _ => {
            return Err(bad(
                path,
                format!("probe {k}: \"si_units\" is {units}; use \"um\", \"mm\" or \"m\""),
            ));
        }
    };
    let positions = field("contact_positions")?.as_array().ok_or_else(|| {
        bad(
            path,
            format!("probe {k}: \"contact_positions\" must be a list"),
        )
    })?;
    let positions_um = positions
        .iter()
        .enumerate()
        .map(|(c, xy)| {
            match xy.as_array().map(|a| a.as_slice()) {
                Some([x, y]) => match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => Ok([x * scale, y * scale]),
                    _ => Err(()),
                },
                _ => Err(()),
            }
            .map_err(|()| {
                bad(
                    path,
                    format!("probe {k}: contact_positions[{c}] is {xy}; expected [x, y] numbers"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let n = positions_um.len();
    let radius_um = if n == 0 {
        None
    } else {
        first_radius(path, k, p, n)?.map(|r| r * scale)
    };
    let wiring = match p.get("device_channel_indices") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let a = v
                .as_array()
                .filter(|a| a.len() == n)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "probe {k}: \"device_channel_indices\" must be a list of {n} integers (one per contact, −1 for unwired)"
                        ),
                    )
                })?;
            let w = a
                .iter()
                .enumerate()
                .map(|(c, d)| match d.as_i64() {
                    Some(d) if d >= -1 => Ok(d),
                    _ => Err(bad(
                        path,
                        format!(
                            "probe {k}: device_channel_indices[{c}] is {d}; use a channel index ≥ 0, or −1 for an unwired contact"
                        ),
                    )),
                })
                .collect::<Result<Vec<i64>>>()?;
            Some(w)
        }
    };
    Ok(Part {
        positions_um,
        radius_um,
        wiring,
    })
}

/// The first contact's radius in the file's units: a circle's radius, a square's or
/// rectangle's half width; `None` when the probe gives no shapes.
fn first_radius(path: &Path, k: usize, p: &Map<String, Value>, n: usize) -> Result<Option<f64>> {
    let Some(shapes) = p.get("contact_shapes") else {
        return Ok(None);
    };
    let shapes = shapes.as_array().filter(|a| a.len() == n).ok_or_else(|| {
        bad(
            path,
            format!("probe {k}: \"contact_shapes\" must be a list of {n} strings"),
        )
    })?;
    let params = p
        .get("contact_shape_params")
        .and_then(Value::as_array)
        .filter(|a| a.len() == n)
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "probe {k}: \"contact_shape_params\" must be a list of {n} objects such as {{\"radius\": 6}} or {{\"width\": 12}}"
                ),
            )
        })?;
    let shape = shapes[0].as_str().unwrap_or_default();
    let key = match shape {
        "circle" => "radius",
        "square" | "rect" => "width",
        _ => {
            return Err(bad(
                path,
                format!(
                    "probe {k}: contact shape {} is not \"circle\", \"square\" or \"rect\"",
                    shapes[0]
                ),
            ));
        }
    };
    let v = params[0]
        .get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "probe {k}: contact 0 is a {shape} but contact_shape_params[0] has no \"{key}\" ≥ 0 (it is {})",
                    params[0]
                ),
            )
        })?;
    Ok(Some(if key == "width" { v / 2.0 } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Result<Probe> {
        let value: Value = serde_json::from_str(text).unwrap();
        probe_from_json(Path::new("p.json"), &value)
    }

    #[test]
    fn without_wiring_keeps_file_order_across_probes() {
        let p = read_str(
            r#"{"probes": [
              {"ndim": 2, "si_units": "um", "contact_positions": [[0, 0], [0, 20]]},
              {"ndim": 2, "si_units": "um", "contact_positions": [[100, 0]],
               "contact_shapes": ["square"], "contact_shape_params": [{"width": 12}]}]}"#,
        )
        .unwrap();
        assert_eq!(p.positions_um(), &[[0.0, 0.0], [0.0, 20.0], [100.0, 0.0]]);
        // The first probe gives no shapes, the second's first contact is a 12-µm square.
        assert_eq!(p.contact_radius_um(), 6.0);
    }
}
