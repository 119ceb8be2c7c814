//! `spikelab.lds`: the Kalman filter, RTS smoother and EM of `spikelab_lds` (time-major:
//! `y` is `[time, output]`, NaN entries missing).

use nalgebra::{DMatrix, DVector};
use ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_core::Observer;
use spikelab_lds::{
    EmOptions, FilterOptions, Lds, Trajectory, filter, fit_em, init_from_data, smooth,
};

use crate::errors;
use crate::observe::{Interruptible, as_f64, shaped};

fn dmatrix(obj: &Bound<'_, PyAny>, name: &str, axes: &str) -> PyResult<DMatrix<f64>> {
    let arr = as_f64(obj)?;
    let m = shaped::<ndarray::Ix2>(&arr, name, axes)?;
    Ok(DMatrix::from_fn(m.nrows(), m.ncols(), |i, j| m[[i, j]]))
}

fn dvector(obj: &Bound<'_, PyAny>, name: &str, axes: &str) -> PyResult<DVector<f64>> {
    let arr = as_f64(obj)?;
    let v = shaped::<ndarray::Ix1>(&arr, name, axes)?;
    Ok(DVector::from_iterator(v.len(), v.iter().copied()))
}

fn to_py2<'py>(py: Python<'py>, m: &DMatrix<f64>) -> Bound<'py, PyArray2<f64>> {
    Array2::from_shape_fn(m.shape(), |(i, j)| m[(i, j)]).into_pyarray(py)
}

fn to_py1<'py>(py: Python<'py>, v: &DVector<f64>) -> Bound<'py, PyArray1<f64>> {
    v.iter().copied().collect::<Vec<_>>().into_pyarray(py)
}

/// The parameters of `lds` as a dict: `A`, `Q`, `C`, `R`, `mu0`, `Sigma0`, `b`, `d`.
pub fn model_dict<'py>(py: Python<'py>, lds: &Lds) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("A", to_py2(py, &lds.a))?;
    out.set_item("Q", to_py2(py, &lds.q))?;
    out.set_item("C", to_py2(py, &lds.c))?;
    out.set_item("R", to_py2(py, &lds.r))?;
    out.set_item("mu0", to_py1(py, &lds.mu0))?;
    out.set_item("Sigma0", to_py2(py, &lds.sigma0))?;
    out.set_item("b", to_py1(py, &lds.b_off))?;
    out.set_item("d", to_py1(py, &lds.d_off))?;
    Ok(out)
}

/// Means `[time, state]`, covariances `[time, state, state]`, log-likelihood.
type Posterior<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray3<f64>>, f64);

/// Filtered (or, with `smoothed`, RTS-smoothed) state means and covariances of `y`
/// `[time, output]` under the model.
#[pyfunction]
#[pyo3(signature = (y, a, q, c, r, mu0, sigma0, b=None, d=None, smoothed=false))]
#[allow(clippy::too_many_arguments)]
pub fn lds_posterior<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    c: &Bound<'py, PyAny>,
    r: &Bound<'py, PyAny>,
    mu0: &Bound<'py, PyAny>,
    sigma0: &Bound<'py, PyAny>,
    b: Option<&Bound<'py, PyAny>>,
    d: Option<&Bound<'py, PyAny>>,
    smoothed: bool,
) -> PyResult<Posterior<'py>> {
    let sq = "[state, state]";
    let mut lds = Lds::new(
        dmatrix(a, "A", sq)?,
        dmatrix(q, "Q", sq)?,
        dmatrix(c, "C", "[output, state]")?,
        dmatrix(r, "R", "[output, output]")?,
        dvector(mu0, "mu0", "[state]")?,
        dmatrix(sigma0, "Sigma0", sq)?,
    )
    .map_err(errors::lds)?;
    if b.is_some() || d.is_some() {
        let b = match b {
            Some(b) => dvector(b, "b", "[state]")?,
            None => DVector::zeros(lds.n_states()),
        };
        let d = match d {
            Some(d) => dvector(d, "d", "[output]")?,
            None => DVector::zeros(lds.n_outputs()),
        };
        lds = lds.with_offsets(b, d).map_err(errors::lds)?;
    }
    let y = dmatrix(y, "y", "[time, output]")?;
    let (means, covs, loglik) = py
        .detach(|| {
            let traj = Trajectory::new(y)?;
            let opts = FilterOptions::default();
            Ok::<_, spikelab_lds::LdsError>(if smoothed {
                let s = smooth(&lds, &traj, &opts)?;
                (s.means, s.covs, s.filtered.loglik)
            } else {
                let f = filter(&lds, &traj, &opts)?;
                (f.means, f.covs, f.loglik)
            })
        })
        .map_err(errors::lds)?;
    let n = lds.n_states();
    let m = Array2::from_shape_fn((means.len(), n), |(t, i)| means[t][i]);
    let p = Array3::from_shape_fn((covs.len(), n, n), |(t, i, j)| covs[t][(i, j)]);
    Ok((m.into_pyarray(py), p.into_pyarray(py), loglik))
}

/// EM from `init_from_data(ys, n_states, seed)`: the fitted parameters (`model_dict`), the
/// log-likelihood trace `loglik` and `converged`.
#[pyfunction]
#[pyo3(signature = (ys, n_states, max_iter, tol, seed, diagonal_r, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn lds_fit_em<'py>(
    py: Python<'py>,
    ys: Vec<Bound<'py, PyAny>>,
    n_states: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    diagonal_r: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ys = ys
        .iter()
        .map(|y| dmatrix(y, "y", "[time, output]"))
        .collect::<PyResult<Vec<_>>>()?;
    let opts = EmOptions {
        max_iter,
        tol,
        diagonal_r,
        ..Default::default()
    };
    let mut observer = Interruptible::new(progress);
    let fit = py.detach(|| {
        let trajs = ys
            .into_iter()
            .map(Trajectory::new)
            .collect::<Result<Vec<_>, _>>()?;
        let init = init_from_data(&trajs, n_states, seed)?;
        fit_em(&init, &trajs, &opts, &mut observer as &mut dyn Observer)
    });
    let fit = observer.finish(fit)?.map_err(errors::lds)?;
    let out = model_dict(py, &fit.lds)?;
    out.set_item("loglik", fit.loglik.into_pyarray(py))?;
    out.set_item("converged", fit.converged)?;
    Ok(out)
}
