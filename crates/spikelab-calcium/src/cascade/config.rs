//! A CASCADE model's `config.yaml`.
//!
//! The files are flat YAML written by `ruamel.yaml` from CASCADE's template: `key: scalar`
//! lines, `key:` followed by `- item` lines, and `#` comments (also indented). This reader
//! accepts exactly that subset and exactly the template's keys; anything else is a
//! [`CalciumError::Model`], so a typo is never silently ignored.

use std::path::Path;

use crate::error::{CalciumError, Result};
use crate::spikenet::SpikeNetArch;

/// The keys of CASCADE's config template (`cascade2p/config.py`).
pub const KNOWN_KEYS: [&str; 20] = [
    "model_name",
    "sampling_rate",
    "training_datasets",
    "placeholder_1",
    "noise_levels",
    "placeholder_2",
    "smoothing",
    "causal_kernel",
    "windowsize",
    "before_frac",
    "filter_sizes",
    "filter_numbers",
    "dense_expansion",
    "loss_function",
    "optimizer",
    "nr_of_epochs",
    "ensemble_size",
    "batch_size",
    "training_finished",
    "verbose",
];

/// The parsed `config.yaml` of a CASCADE model.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeConfig {
    /// `model_name`.
    pub model_name: String,
    /// `sampling_rate`: the frame rate the model was trained for (Hz).
    pub sampling_rate_hz: f64,
    /// `training_datasets`: ground-truth dataset folder names.
    pub training_datasets: Vec<String>,
    /// `noise_levels`: one 5-member ensemble per level (% · Hz^−1/2).
    pub noise_levels: Vec<f64>,
    /// `smoothing`: SD of the target smoothing kernel (s).
    pub smoothing_s: f64,
    /// `causal_kernel`: causal (inverse-Gaussian-like) instead of Gaussian target smoothing.
    pub causal_kernel: bool,
    /// `windowsize`, `before_frac`, `filter_sizes`, `filter_numbers`, `dense_expansion`.
    pub arch: SpikeNetArch,
    /// `loss_function` (CASCADE: `mean_squared_error`).
    pub loss_function: String,
    /// `optimizer` (CASCADE: `Adagrad`).
    pub optimizer: String,
    /// `nr_of_epochs`.
    pub nr_of_epochs: usize,
    /// `ensemble_size`: members per noise level.
    pub ensemble_size: usize,
    /// `batch_size` (training and Keras `predict`; no effect on the numbers here).
    pub batch_size: usize,
    /// `training_finished` (`Yes`, `No`, `Running`).
    pub training_finished: String,
}

#[derive(Debug)]
enum Value {
    Scalar(String),
    List(Vec<String>),
}

fn merr(source: &str, reason: impl Into<String>) -> CalciumError {
    CalciumError::Model {
        source_name: source.to_string(),
        reason: reason.into(),
    }
}

fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

fn parse_entries(text: &str, source: &str) -> Result<Vec<(String, Value)>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let t = line.trim_start();
        if let Some(item) = t
            .strip_prefix("- ")
            .or(if t == "-" { Some("") } else { None })
        {
            match out.last_mut() {
                Some((_, Value::List(v))) => v.push(unquote(item.trim())),
                Some((k, Value::Scalar(s))) if s.is_empty() => {
                    let k = k.clone();
                    *out.last_mut().expect("non-empty") =
                        (k, Value::List(vec![unquote(item.trim())]));
                }
                _ => {
                    return Err(merr(
                        source,
                        format!("line {}: list item without a key: {raw:?}", no + 1),
                    ));
                }
            }
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            return Err(merr(
                source,
                format!("line {}: expected `key: value`, got {raw:?}", no + 1),
            ));
        };
        let key = k.trim().to_string();
        if out.iter().any(|(k, _)| *k == key) {
            return Err(merr(
                source,
                format!("line {}: duplicate key {key:?}", no + 1),
            ));
        }
        out.push((key, Value::Scalar(unquote(v.trim()))));
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

struct Entries<'a> {
    map: Vec<(String, Value)>,
    source: &'a str,
}

impl Entries<'_> {
    fn get(&self, key: &str) -> Result<&Value> {
        self.map
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| merr(self.source, format!("missing key {key:?}")))
    }

    fn scalar(&self, key: &str) -> Result<&str> {
        match self.get(key)? {
            Value::Scalar(s) => Ok(s),
            Value::List(_) => Err(merr(
                self.source,
                format!("{key}: expected a value, got a list"),
            )),
        }
    }

    fn list(&self, key: &str) -> Result<&[String]> {
        match self.get(key)? {
            Value::List(v) => Ok(v),
            Value::Scalar(s) if s.is_empty() || s == "[]" => Ok(&[]),
            Value::Scalar(s) => Err(merr(
                self.source,
                format!("{key}: expected a list, got {s:?}"),
            )),
        }
    }

    fn num<T: std::str::FromStr>(&self, key: &str, s: &str) -> Result<T> {
        s.parse::<T>()
            .map_err(|_| merr(self.source, format!("{key}: {s:?} is not a valid number")))
    }

    fn f64(&self, key: &str) -> Result<f64> {
        let s = self.scalar(key)?;
        self.num(key, s)
    }

    fn usize(&self, key: &str) -> Result<usize> {
        let s = self.scalar(key)?;
        self.num(key, s)
    }

    fn usizes3(&self, key: &str) -> Result<[usize; 3]> {
        let v = self.list(key)?;
        let n: Vec<usize> = v.iter().map(|s| self.num(key, s)).collect::<Result<_>>()?;
        n.try_into().map_err(|n: Vec<usize>| {
            merr(
                self.source,
                format!("{key}: expected 3 values, got {}", n.len()),
            )
        })
    }
}

impl CascadeConfig {
    /// Parses the text of a `config.yaml`; `source` names it in errors.
    ///
    /// ```
    /// use spikelab_calcium::cascade::CascadeConfig;
    /// let text = "model_name: m\nsampling_rate: 30\ntraining_datasets:\n- DS09\n\
    ///     noise_levels:\n- 2\n- 3\nsmoothing: 0.05\ncausal_kernel: 1\nwindowsize: 64\n\
    ///     before_frac: 0.5\nfilter_sizes:\n- 31\n- 19\n- 5\nfilter_numbers:\n- 30\n- 40\n- 50\n\
    ///     dense_expansion: 30\nloss_function: mean_squared_error\noptimizer: Adagrad\n\
    ///     nr_of_epochs: 10\nensemble_size: 5\nbatch_size: 8192\ntraining_finished: Yes\nverbose: 1\n";
    /// let c = CascadeConfig::parse(text, "doc")?;
    /// assert_eq!(c.noise_levels, [2.0, 3.0]);
    /// assert_eq!(c.arch.n_params(), 35_441);
    /// assert!(CascadeConfig::parse(&format!("{text}windowsise: 64\n"), "doc").is_err());
    /// # Ok::<(), spikelab_calcium::CalciumError>(())
    /// ```
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let map = parse_entries(text, source)?;
        for (k, _) in &map {
            if !KNOWN_KEYS.contains(&k.as_str()) {
                return Err(merr(
                    source,
                    format!("unknown key {k:?} (known: {})", KNOWN_KEYS.join(", ")),
                ));
            }
        }
        let e = Entries { map, source };
        let noise_levels: Vec<f64> = e
            .list("noise_levels")?
            .iter()
            .map(|s| e.num("noise_levels", s))
            .collect::<Result<_>>()?;
        if noise_levels.is_empty() || noise_levels.iter().any(|v: &f64| !v.is_finite()) {
            return Err(merr(source, "noise_levels: need at least one finite level"));
        }
        let sampling_rate_hz = e.f64("sampling_rate")?;
        if !(sampling_rate_hz.is_finite() && sampling_rate_hz > 0.0) {
            return Err(merr(
                source,
                format!("sampling_rate must be > 0, got {sampling_rate_hz}"),
            ));
        }
        let smoothing_s = e.f64("smoothing")?;
        if !(smoothing_s.is_finite() && smoothing_s >= 0.0) {
            return Err(merr(
                source,
                format!("smoothing must be ≥ 0, got {smoothing_s}"),
            ));
        }
        let causal_kernel = match e.scalar("causal_kernel")? {
            "0" | "false" | "False" => false,
            "1" | "true" | "True" => true,
            s => {
                return Err(merr(
                    source,
                    format!("causal_kernel must be 0 or 1, got {s:?}"),
                ));
            }
        };
        let arch = SpikeNetArch {
            window: e.usize("windowsize")?,
            before_frac: e.f64("before_frac")?,
            filter_sizes: e.usizes3("filter_sizes")?,
            filter_numbers: e.usizes3("filter_numbers")?,
            dense_expansion: e.usize("dense_expansion")?,
        };
        arch.validate()
            .map_err(|err| merr(source, err.to_string()))?;
        let ensemble_size = e.usize("ensemble_size")?;
        if ensemble_size == 0 {
            return Err(merr(source, "ensemble_size must be ≥ 1"));
        }
        Ok(CascadeConfig {
            model_name: e.scalar("model_name")?.to_string(),
            sampling_rate_hz,
            training_datasets: e.list("training_datasets")?.to_vec(),
            noise_levels,
            smoothing_s,
            causal_kernel,
            arch,
            loss_function: e.scalar("loss_function")?.to_string(),
            optimizer: e.scalar("optimizer")?.to_string(),
            nr_of_epochs: e.usize("nr_of_epochs")?,
            ensemble_size,
            batch_size: e.usize("batch_size")?,
            training_finished: e.scalar("training_finished")?.to_string(),
        })
    }

    /// Reads `path` (a `config.yaml`).
    pub fn load(path: &Path) -> Result<Self> {
        let src = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| merr(&src, e.to_string()))?;
        Self::parse(&text, &src)
    }

    /// Writes the config in the template's layout (keys in template order).
    pub fn to_yaml(&self) -> String {
        let list = |v: &[String]| v.iter().map(|s| format!("- {s}\n")).collect::<String>();
        let nums = |v: &[usize]| v.iter().map(|s| format!("- {s}\n")).collect::<String>();
        let levels: Vec<String> = self.noise_levels.iter().map(|v| fmt_num(*v)).collect();
        format!(
            "model_name: {}\nsampling_rate: {}\ntraining_datasets:\n{}placeholder_1: 0\n\
             noise_levels:\n{}placeholder_2: 0\nsmoothing: {}\ncausal_kernel: {}\n\
             windowsize: {}\nbefore_frac: {}\nfilter_sizes:\n{}filter_numbers:\n{}\
             dense_expansion: {}\nloss_function: {}\noptimizer: {}\nnr_of_epochs: {}\n\
             ensemble_size: {}\nbatch_size: {}\ntraining_finished: {}\nverbose: 1\n",
            self.model_name,
            fmt_num(self.sampling_rate_hz),
            list(&self.training_datasets),
            list(&levels),
            self.smoothing_s,
            u8::from(self.causal_kernel),
            self.arch.window,
            self.arch.before_frac,
            nums(&self.arch.filter_sizes),
            nums(&self.arch.filter_numbers),
            self.arch.dense_expansion,
            self.loss_function,
            self.optimizer,
            self.nr_of_epochs,
            self.ensemble_size,
            self.batch_size,
            self.training_finished,
        )
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
