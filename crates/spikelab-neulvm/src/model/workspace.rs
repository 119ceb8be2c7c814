//! Scratch memory of the population sweeps, pooled across evaluations.

/// Scratch memory of one population sweep (tape of the forward pass, adjoint buffers),
/// reused across evaluations so that a call does not allocate and page-fault ~20 MB.
#[derive(Default)]
pub(super) struct Workspace {
    pub(super) tv: Vec<f64>,
    pub(super) tl: Vec<f64>,
    pub(super) te: Vec<f64>,
    pub(super) ts: Vec<f64>,
    pub(super) zbar: Vec<f64>,
    pub(super) zpre: Vec<f64>,
    pub(super) lamt: Vec<f64>,
    pub(super) sumv: Vec<f64>,
    pub(super) messv: Vec<f64>,
    pub(super) lvalid: Vec<bool>,
    pub(super) zr: Vec<f64>,
    pub(super) dzr: Vec<f64>,
    pub(super) vinit: Vec<f64>,
    pub(super) ones: Vec<f64>,
    pub(super) tmp: Vec<f64>,
    pub(super) g: [Vec<f64>; 4],
}

/// Resizes `v` to `n` without caring about its contents (every element is written before it
/// is read).
pub(super) fn scratch<T: Clone + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        v.resize(n, T::default());
    }
    &mut v[..n]
}

/// Pool of [`Workspace`]s shared by the threads of a model (a clone starts an empty pool).
#[derive(Default)]
pub(super) struct WorkspacePool(std::sync::Mutex<Vec<Workspace>>);

impl WorkspacePool {
    pub(super) fn take(&self) -> Workspace {
        self.0
            .lock()
            .map(|mut p| p.pop().unwrap_or_default())
            .unwrap_or_default()
    }
    pub(super) fn put(&self, ws: Workspace) {
        if let Ok(mut p) = self.0.lock() {
            p.push(ws);
        }
    }
}

impl Clone for WorkspacePool {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for WorkspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkspacePool")
    }
}

/// Row `prev` (shared) and row `cur` (mutable) of a row-major buffer with rows of `a`.
pub(super) fn two_rows(buf: &mut [f64], a: usize, prev: usize, cur: usize) -> (&[f64], &mut [f64]) {
    if prev < cur {
        let (lo, hi) = buf.split_at_mut(cur * a);
        (&lo[prev * a..prev * a + a], &mut hi[..a])
    } else {
        let (lo, hi) = buf.split_at_mut(prev * a);
        (&hi[..a], &mut lo[cur * a..cur * a + a])
    }
}
