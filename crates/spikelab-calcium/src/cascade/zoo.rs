//! The CASCADE model zoo: the models bundled with spikelab and the names the CASCADE authors
//! publish for download (`Pretrained_models/available_models.yaml` of the upstream repository;
//! names only), with indicator, frame rate and smoothing read from each name.

/// A model of the zoo.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownModel {
    /// The model name (= folder name).
    pub name: &'static str,
    /// Indicator / cell-type family from the name prefix (`Global_EXC`, `GC8`, `OGB_zf_pDp`, …).
    pub family: String,
    /// Frame rate in Hz.
    pub frame_rate_hz: f64,
    /// Target smoothing SD in ms (`None` if the name gives none).
    pub smoothing_ms: Option<f64>,
    /// Causal smoothing kernel.
    pub causal_kernel: bool,
    /// Whether spikelab bundles it (`datasets/models/cascade/`).
    pub bundled: bool,
}

/// Models whose weights are in the repository's `datasets/models/cascade/` (OGB: noise levels
/// 2 and 7 only).
pub const BUNDLED: [&str; 2] = [
    "Global_EXC_30Hz_smoothing50ms_causalkernel",
    "OGB_zf_pDp_7.5Hz_smoothing200ms",
];

/// Names of the pretrained models CASCADE's authors publish (upstream catalogue, commit
/// `213fd12`, "Last update: May 8th 2026").
pub const NAMES: [&str; 156] = [
    "Global_EXC_1Hz_smoothing500ms",
    "Global_EXC_1Hz_smoothing1000ms",
    "Zebrafish_1Hz_smoothing1000ms",
    "Global_EXC_2Hz_smoothing300ms",
    "Global_EXC_2Hz_smoothing500ms",
    "Global_EXC_2Hz_smoothing1000ms",
    "Global_EXC_2.5Hz_smoothing400ms_high_noise",
    "Global_EXC_3Hz_smoothing400ms",
    "Global_EXC_3Hz_smoothing400ms_high_noise",
    "Global_EXC_3Hz_smoothing400ms_causalkernel",
    "Global_EXC_4.25Hz_smoothing300ms",
    "Global_EXC_4.25Hz_smoothing300ms_high_noise",
    "Global_EXC_4.25Hz_smoothing300ms_causalkernel",
    "Global_EXC_5Hz_smoothing200ms",
    "Global_EXC_5Hz_smoothing200ms_causalkernel",
    "Global_EXC_6Hz_smoothing200ms",
    "Global_EXC_6Hz_smoothing200ms_causalkernel",
    "Global_EXC_7Hz_smoothing200ms",
    "Global_EXC_7Hz_smoothing200ms_causalkernel",
    "Global_EXC_7.5Hz_smoothing200ms_high_noise",
    "Global_EXC_7.5Hz_smoothing200ms",
    "Global_EXC_7.5Hz_smoothing200ms_causalkernel",
    "OGB_zf_pDp_7.5Hz_smoothing200ms",
    "OGB_zf_pDp_7.5Hz_smoothing200ms_causalkernel",
    "OGB_zf_pDp_7.5Hz_smoothing100ms",
    "OGB_zf_pDp_7.5Hz_smoothing150ms",
    "OGB_zf_pDp_7.5Hz_smoothing66ms",
    "Global_EXC_10Hz_smoothing50ms",
    "Global_EXC_10Hz_smoothing50ms_causalkernel",
    "Global_EXC_10Hz_smoothing100ms",
    "Global_EXC_10Hz_smoothing100ms_causalkernel",
    "Global_EXC_10Hz_smoothing200ms",
    "Global_EXC_10Hz_smoothing200ms_causalkernel",
    "Global_EXC_12.5Hz_smoothing100ms",
    "Global_EXC_12.5Hz_smoothing100ms_causalkernel",
    "Global_EXC_12.5Hz_smoothing200ms",
    "Global_EXC_12.5Hz_smoothing200ms_causalkernel",
    "Global_EXC_15Hz_smoothing50ms",
    "Global_EXC_15Hz_smoothing50ms_causalkernel",
    "Global_EXC_15Hz_smoothing100ms_high_noise",
    "Global_EXC_15Hz_smoothing100ms",
    "Global_EXC_15Hz_smoothing100ms_causalkernel",
    "Global_EXC_15Hz_smoothing200ms",
    "Global_EXC_15Hz_smoothing200ms_causalkernel",
    "Global_INH_15Hz_smoothing100ms",
    "Global_EXC_17.5Hz_smoothing100ms",
    "Global_EXC_17.5Hz_smoothing100ms_causalkernel",
    "Global_EXC_17.5Hz_smoothing200ms",
    "Global_EXC_17.5Hz_smoothing200ms_causalkernel",
    "Global_EXC_20Hz_smoothing100ms",
    "Global_EXC_20Hz_smoothing100ms_causalkernel",
    "Global_EXC_20Hz_smoothing200ms",
    "Global_EXC_20Hz_smoothing200ms_causalkernel",
    "Global_EXC_25Hz_smoothing100ms",
    "Global_EXC_25Hz_smoothing100ms_causalkernel",
    "Global_EXC_25Hz_smoothing50ms",
    "Global_EXC_25Hz_smoothing50ms_causalkernel",
    "Global_EXC_30Hz_smoothing25ms",
    "Global_EXC_30Hz_smoothing25ms_causalkernel",
    "Global_EXC_30Hz_smoothing50ms",
    "Global_EXC_30Hz_smoothing50ms_high_noise",
    "Global_EXC_30Hz_smoothing50ms_causalkernel",
    "Global_EXC_30Hz_smoothing100ms",
    "Global_EXC_30Hz_smoothing100ms_causalkernel",
    "Global_EXC_30Hz_smoothing200ms",
    "Global_EXC_30Hz_smoothing100ms_causalkernel_high_noise",
    "Global_EXC_30Hz_smoothing100ms_high_noise",
    "Global_EXC_30Hz_smoothing200ms_causalkernel_high_noise",
    "Global_EXC_40Hz_smoothing25ms_causalkernel",
    "Global_EXC_40Hz_smoothing25ms",
    "Global_EXC_40Hz_smoothing25ms_high_noise",
    "Global_EXC_40Hz_smoothing50ms",
    "Global_EXC_40Hz_smoothing50ms_high_noise",
    "Global_EXC_40Hz_smoothing50ms_causalkernel",
    "Global_INH_30Hz_smoothing50ms",
    "Global_INH_30Hz_smoothing100ms",
    "Global_EXC_30Hz_smoothing50ms_asymmetric_window_1_frame",
    "Global_EXC_30Hz_smoothing50ms_asymmetric_window_2_frames",
    "Global_EXC_30Hz_smoothing50ms_asymmetric_window_4_frames",
    "Global_EXC_30Hz_smoothing50ms_asymmetric_window_6_frames",
    "Global_EXC_30Hz_smoothing50ms_asymmetric_window_8_frames",
    "GCaMP6f_mouse_30Hz_smoothing200ms",
    "Spinal_cord_excitatory_30Hz_smoothing50ms",
    "Spinal_cord_inhibitory_30Hz_smoothing50ms",
    "Spinal_cord_excitatory_3Hz_smoothing400ms_high_noise",
    "Spinal_cord_inhibitory_3Hz_smoothing400ms_high_noise",
    "Spinal_cord_excitatory_2.5Hz_smoothing400ms",
    "Spinal_cord_inhibitory_2.5Hz_smoothing400ms",
    "GC8_EXC_3Hz_smoothing500ms_high_noise",
    "GC8_EXC_3Hz_smoothing250ms_high_noise",
    "GC8_EXC_5Hz_smoothing400ms_high_noise",
    "GC8_EXC_5Hz_smoothing800ms_high_noise",
    "GC8_EXC_7.5Hz_smoothing100ms_high_noise",
    "GC8_EXC_7.5Hz_smoothing200ms_high_noise",
    "GC8_EXC_10Hz_smoothing150ms_high_noise",
    "GC8_EXC_10Hz_smoothing75ms_high_noise",
    "GC8_EXC_15Hz_smoothing100ms_high_noise",
    "GC8_EXC_15Hz_smoothing50ms_high_noise",
    "GC8_EXC_20Hz_smoothing60ms_high_noise",
    "GC8_EXC_20Hz_smoothing30ms_high_noise",
    "GC8_EXC_30Hz_smoothing25ms_high_noise",
    "GC8_EXC_30Hz_smoothing50ms_high_noise",
    "GC8_EXC_40Hz_smoothing15ms_high_noise",
    "GC8_EXC_40Hz_smoothing30ms_high_noise",
    "GC8s_EXC_3Hz_smoothing500ms_high_noise",
    "GC8s_EXC_3Hz_smoothing250ms_high_noise",
    "GC8s_EXC_7.5Hz_smoothing200ms_high_noise",
    "GC8s_EXC_7.5Hz_smoothing100ms_high_noise",
    "GC8s_EXC_20Hz_smoothing60ms_high_noise",
    "GC8s_EXC_20Hz_smoothing30ms_high_noise",
    "GC8s_EXC_30Hz_smoothing50ms_high_noise",
    "GC8s_EXC_30Hz_smoothing25ms_high_noise",
    "GC8s_EXC_15Hz_smoothing50ms_high_noise",
    "GC8s_EXC_15Hz_smoothing100ms_high_noise",
    "GC8m_EXC_7.5Hz_smoothing200ms_high_noise",
    "GC8m_EXC_7.5Hz_smoothing100ms_high_noise",
    "GC8m_EXC_30Hz_smoothing50ms_high_noise",
    "GC8m_EXC_30Hz_smoothing25ms_high_noise",
    "GC8m_EXC_15Hz_smoothing50ms_high_noise",
    "GC8m_EXC_15Hz_smoothing100ms_high_noise",
    "GC8f_EXC_7.5Hz_smoothing200ms_high_noise",
    "GC8f_EXC_7.5Hz_smoothing100ms_high_noise",
    "GC8f_EXC_30Hz_smoothing50ms_high_noise",
    "GC8f_EXC_30Hz_smoothing25ms_high_noise",
    "GC8f_EXC_20Hz_smoothing40ms_high_noise",
    "GC8f_EXC_15Hz_smoothing50ms_high_noise",
    "GC8f_EXC_15Hz_smoothing100ms_high_noise",
    "GC8s_EXC_45Hz_smoothing20ms",
    "GC8s_EXC_45Hz_smoothing50ms",
    "GC8s_EXC_45Hz_smoothing100ms",
    "GC8_EXC_100Hz_smoothing10ms",
    "GC8f_EXC_100Hz_smoothing10ms",
    "Interneurons_GC8+_7.5Hz_smoothing100ms_high_noise",
    "Interneurons_GC8+_7.5Hz_smoothing200ms_high_noise",
    "Interneurons_GC8+_30Hz_smoothing25ms_high_noise",
    "Interneurons_GC8+_30Hz_smoothing50ms_high_noise",
    "Online_model_30Hz_integration_100ms_smoothing_25ms_GCaMP6",
    "Online_model_30Hz_integration_100ms_smoothing_25ms_GCaMP8",
    "Online_model_30Hz_integration_133ms_smoothing_25ms_GCaMP6",
    "Online_model_30Hz_integration_133ms_smoothing_25ms_GCaMP8",
    "Online_model_30Hz_integration_166ms_smoothing_25ms_GCaMP6",
    "Online_model_30Hz_integration_166ms_smoothing_25ms_GCaMP8",
    "Online_model_30Hz_integration_200ms_smoothing_25ms_GCaMP6",
    "Online_model_30Hz_integration_200ms_smoothing_25ms_GCaMP8",
    "Online_model_30Hz_integration_66ms_smoothing_25ms_GCaMP6",
    "Online_model_30Hz_integration_66ms_smoothing_25ms_GCaMP8",
    "Online_model_60Hz_integration_100ms_smoothing_12ms_GCaMP6",
    "Online_model_60Hz_integration_100ms_smoothing_12ms_GCaMP8",
    "Online_model_60Hz_integration_33ms_smoothing_12ms_GCaMP6",
    "Online_model_60Hz_integration_33ms_smoothing_12ms_GCaMP8",
    "Online_model_60Hz_integration_50ms_smoothing_12ms_GCaMP6",
    "Online_model_60Hz_integration_50ms_smoothing_12ms_GCaMP8",
    "Online_model_60Hz_integration_66ms_smoothing_12ms_GCaMP6",
    "Online_model_60Hz_integration_66ms_smoothing_12ms_GCaMP8",
    "Online_model_60Hz_integration_83ms_smoothing_12ms_GCaMP6",
    "Online_model_60Hz_integration_83ms_smoothing_12ms_GCaMP8",
];

fn parse_name(name: &'static str) -> Option<KnownModel> {
    let parts: Vec<&str> = name.split('_').collect();
    let rate_pos = parts
        .iter()
        .position(|p| p.ends_with("Hz") && p[..p.len() - 2].parse::<f64>().is_ok())?;
    let frame_rate_hz: f64 = parts[rate_pos][..parts[rate_pos].len() - 2].parse().ok()?;
    let family = parts[..rate_pos].join("_");
    let rest = &parts[rate_pos + 1..];
    let smoothing_ms = rest.iter().enumerate().find_map(|(i, p)| {
        let v = p.strip_prefix("smoothing").unwrap_or(p);
        let v = if p.starts_with("smoothing") && v.is_empty() {
            rest.get(i + 1)?
        } else if p.starts_with("smoothing") {
            v
        } else {
            return None;
        };
        v.strip_suffix("ms")?.parse::<f64>().ok()
    });
    Some(KnownModel {
        name,
        family,
        frame_rate_hz,
        smoothing_ms,
        causal_kernel: name.contains("causalkernel"),
        bundled: BUNDLED.contains(&name),
    })
}

/// Every known model with its name-derived properties, in catalogue order.
///
/// ```
/// use spikelab_calcium::cascade::zoo;
/// let all = zoo::known_models();
/// let g = all.iter().find(|m| m.name == "Global_EXC_30Hz_smoothing50ms_causalkernel").unwrap();
/// assert_eq!((g.frame_rate_hz, g.smoothing_ms, g.causal_kernel, g.bundled), (30.0, Some(50.0), true, true));
/// assert_eq!(all.len(), zoo::NAMES.len());
/// ```
pub fn known_models() -> Vec<KnownModel> {
    NAMES
        .iter()
        .map(|n| {
            parse_name(n).unwrap_or(KnownModel {
                name: n,
                family: n.to_string(),
                frame_rate_hz: f64::NAN,
                smoothing_ms: None,
                causal_kernel: false,
                bundled: false,
            })
        })
        .collect()
}

/// The `n` known models whose frame rate is closest to `rate_hz` (bundled first on ties).
pub fn closest_models(rate_hz: f64, n: usize) -> Vec<KnownModel> {
    let mut all: Vec<KnownModel> = known_models()
        .into_iter()
        .filter(|m| m.frame_rate_hz.is_finite() && m.family.starts_with("Global_EXC"))
        .collect();
    all.sort_by(|a, b| {
        let da = (a.frame_rate_hz - rate_hz).abs();
        let db = (b.frame_rate_hz - rate_hz).abs();
        da.total_cmp(&db).then(b.bundled.cmp(&a.bundled))
    });
    all.truncate(n);
    all
}
