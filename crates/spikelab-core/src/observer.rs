//! Progress reporting for long-running calls.

/// What an observer asks of the call that reported progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Stop at the next safe point and return what was computed so far (the call documents what
    /// an early stop returns; it never returns a half-updated state).
    Stop,
}

/// One progress report: which stage of the call, the step within it, the number of steps when
/// known, and named metrics of that step (for example `("loss", -2.87)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress<'a> {
    /// The stage, e.g. `"em"`, `"epoch"`, `"restart"`.
    pub stage: &'a str,
    /// Zero-based step within the stage.
    pub step: usize,
    /// Number of steps of the stage, when known in advance.
    pub total: Option<usize>,
    /// Named metrics of this step.
    pub metrics: Vec<(&'a str, f64)>,
}

impl<'a> Progress<'a> {
    /// A report of `step` in `stage`, with no total and no metrics.
    pub fn new(stage: &'a str, step: usize) -> Self {
        Self {
            stage,
            step,
            total: None,
            metrics: Vec::new(),
        }
    }

    /// Sets the number of steps of the stage.
    pub fn with_total(mut self, total: usize) -> Self {
        self.total = Some(total);
        self
    }

    /// Adds a named metric.
    pub fn with_metric(mut self, name: &'a str, value: f64) -> Self {
        self.metrics.push((name, value));
        self
    }

    /// The value of the metric `name`, if reported.
    ///
    /// ```
    /// use spikelab_core::Progress;
    /// let p = Progress::new("em", 3).with_metric("loglik", -12.5);
    /// assert_eq!(p.metric("loglik"), Some(-12.5));
    /// assert_eq!(p.metric("loss"), None);
    /// ```
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }
}

/// Receives progress from long-running calls and may ask them to stop.
///
/// Every long-running call of the spikelab crates takes `&mut impl Observer` (or `&mut dyn
/// Observer`). Closures `FnMut(&Progress) -> Flow` are observers; [`Silent`] ignores everything.
pub trait Observer {
    /// Called once per step; the answer says whether to go on.
    fn observe(&mut self, progress: &Progress<'_>) -> Flow;
}

impl<F: FnMut(&Progress<'_>) -> Flow> Observer for F {
    fn observe(&mut self, progress: &Progress<'_>) -> Flow {
        self(progress)
    }
}

/// An observer that ignores every report and never stops a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn observe(&mut self, _progress: &Progress<'_>) -> Flow {
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: usize, observer: &mut dyn Observer) -> usize {
        for step in 0..steps {
            if observer.observe(&Progress::new("t", step).with_total(steps)) == Flow::Stop {
                return step;
            }
        }
        steps
    }

    #[test]
    fn silent_never_stops_and_closures_can() {
        assert_eq!(run(5, &mut Silent), 5);
        let mut stop_at_3 = |p: &Progress<'_>| {
            if p.step == 3 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        };
        assert_eq!(run(5, &mut stop_at_3), 3);
    }
}
