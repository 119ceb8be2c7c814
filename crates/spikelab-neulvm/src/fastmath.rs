//! Elementary functions used in the inner loops.

/// e^x (f64). Thin wrapper so that the inner loops can switch implementation in one place.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    x.exp()
}
