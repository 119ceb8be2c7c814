//! Prints the SIMD levels this CPU supports, one per line (CI runs the numeric tests under each).
fn main() {
    for level in spikelab_core::simd::SimdLevel::supported() {
        println!("{level}");
    }
}
