//! Labelled time intervals (events with an onset and an end, and per-event columns): what NWB
//! stores as a `TimeIntervals` table, e.g. convSeq's detected sequence occurrences.

use crate::error::{DataError, Result};

/// The values of one column, one entry per interval.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ColumnValues {
    /// One float per interval.
    F64(Vec<f64>),
    /// One integer per interval.
    I64(Vec<i64>),
    /// A list of integers per interval (a ragged column, e.g. member unit ids).
    RaggedI64(Vec<Vec<i64>>),
}

impl ColumnValues {
    fn len(&self) -> usize {
        match self {
            ColumnValues::F64(v) => v.len(),
            ColumnValues::I64(v) => v.len(),
            ColumnValues::RaggedI64(v) => v.len(),
        }
    }
}

/// A named, described column of a [`TimeIntervals`] table.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalColumn {
    /// Column name (no `/`; not `start_time`, `stop_time` or `id`).
    pub name: String,
    /// What the column holds, with units.
    pub description: String,
    /// The values.
    pub values: ColumnValues,
}

/// A table of time intervals in seconds with extra columns.
///
/// Invariants (checked by [`TimeIntervals::new`] and [`TimeIntervals::with_column`]): times
/// finite and ≥ 0, `stop_s[i] ≥ start_s[i]`, rows sorted by start time, every column as long as
/// the table, float columns finite, column names unique.
///
/// # Example
/// ```
/// use spikelab_data::{ColumnValues, TimeIntervals};
/// let t = TimeIntervals::new("events", "two events", vec![0.5, 2.0], vec![0.8, 2.4])?
///     .with_column("height", "peak height (a.u.)", ColumnValues::F64(vec![3.1, 2.7]))?
///     .with_column("members", "unit ids", ColumnValues::RaggedI64(vec![vec![1, 4], vec![2]]))?;
/// assert_eq!(t.len(), 2);
/// assert!(TimeIntervals::new("bad", "stop before start", vec![1.0], vec![0.5]).is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TimeIntervals {
    name: String,
    description: String,
    start_s: Vec<f64>,
    stop_s: Vec<f64>,
    columns: Vec<IntervalColumn>,
}

impl TimeIntervals {
    /// A table named `name` (no `/`) with these start and stop times (seconds).
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        start_s: Vec<f64>,
        stop_s: Vec<f64>,
    ) -> Result<Self> {
        let name = name.into();
        check_column_name("TimeIntervals name", &name)?;
        if start_s.len() != stop_s.len() {
            return Err(DataError::Shape {
                what: "stop_s".into(),
                expected: format!("{} stop times (one per start time)", start_s.len()),
                got: format!("{}", stop_s.len()),
            });
        }
        for (i, (&a, &b)) in start_s.iter().zip(&stop_s).enumerate() {
            if !(a.is_finite() && b.is_finite() && a >= 0.0 && b >= a) {
                return Err(DataError::param(
                    "TimeIntervals",
                    format!(
                        "interval {i} is [{a}, {b}]: times must be finite, ≥ 0 and stop ≥ start"
                    ),
                ));
            }
        }
        if let Some(i) = start_s.windows(2).position(|w| w[1] < w[0]) {
            return Err(DataError::param(
                "TimeIntervals",
                format!(
                    "start times must be sorted; interval {} starts before interval {i}",
                    i + 1
                ),
            ));
        }
        Ok(TimeIntervals {
            name,
            description: description.into(),
            start_s,
            stop_s,
            columns: Vec::new(),
        })
    }

    /// Adds a column (one value per interval).
    pub fn with_column(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        values: ColumnValues,
    ) -> Result<Self> {
        let name = name.into();
        check_column_name("column name", &name)?;
        if ["start_time", "stop_time", "id"].contains(&name.as_str())
            || self.columns.iter().any(|c| c.name == name)
        {
            return Err(DataError::param(
                "column name",
                format!("{name:?} is taken (start_time, stop_time, id or an earlier column)"),
            ));
        }
        if values.len() != self.len() {
            return Err(DataError::Shape {
                what: format!("column {name}"),
                expected: format!("{} values (one per interval)", self.len()),
                got: format!("{}", values.len()),
            });
        }
        if let ColumnValues::F64(v) = &values
            && let Some(i) = v.iter().position(|x| !x.is_finite())
        {
            return Err(DataError::param(
                "column values",
                format!("column {name:?} holds {} at row {i}", v[i]),
            ));
        }
        self.columns.push(IntervalColumn {
            name,
            description: description.into(),
            values,
        });
        Ok(self)
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.start_s.len()
    }

    /// No intervals.
    pub fn is_empty(&self) -> bool {
        self.start_s.is_empty()
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Table description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Start times (s).
    pub fn start_s(&self) -> &[f64] {
        &self.start_s
    }

    /// Stop times (s).
    pub fn stop_s(&self) -> &[f64] {
        &self.stop_s
    }

    /// The extra columns, in the order added.
    pub fn columns(&self) -> &[IntervalColumn] {
        &self.columns
    }
}

/// A name usable as an HDF5 object name: non-empty, no `/`, not `.` or `..`.
pub(crate) fn check_column_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(DataError::param(
            what,
            format!("{name:?} must be non-empty and contain no '/'"),
        ));
    }
    Ok(())
}
