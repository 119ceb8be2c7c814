//! Guards for reading HDF5 files that may be corrupt: a dataset's or attribute's declared size
//! checked against the file's size before anything is allocated for it, and text from
//! libhdf5/hdf5-metno (error messages, names, strings) that hdf5-metno does not check for UTF-8.
//!
//! Shared by this crate's NWB and CaImAn readers and by spikelab-calcium's Keras weight reader.

use hdf5::{Container, Dataset};

/// The most a dataset's filter pipeline is assumed to shrink it: deflate's maximum ratio
/// (about 1032:1). Shuffle, Fletcher-32 and LZF stay below it.
pub const MAX_FILTER_RATIO: u64 = 1032;

/// Checks that the file can hold the dataset it declares: its elements × stored element size
/// at most the file's size, times [`MAX_FILTER_RATIO`] when the dataset is filtered
/// (compressed). The `Err` says why, for the caller to name the dataset and file.
///
/// Run before `read_raw` and the like, which allocate the declared size up front: a corrupt
/// file declaring 10¹² elements is then an error instead of an allocation failure.
pub fn check_dataset_size(ds: &Dataset) -> Result<(), String> {
    let ratio = if ds.filters().is_empty() {
        1
    } else {
        MAX_FILTER_RATIO
    };
    check_size(ds, ratio)
}

/// [`check_dataset_size`] for an attribute (never filtered) or any container read whole;
/// `max_ratio` bounds how much smaller than its data the container may be stored.
pub fn check_size(c: &Container, max_ratio: u64) -> Result<(), String> {
    let shape = c.shape();
    let elem_bytes = c.dtype().map_or(1, |t| t.size() as u64).max(1);
    let file_bytes = c.file().map_or(0, |f| f.size());
    let limit = file_bytes.saturating_mul(max_ratio.max(1));
    let declared = shape
        .iter()
        .try_fold(elem_bytes, |acc, &d| acc.checked_mul(d as u64));
    match declared {
        Some(bytes) if bytes <= limit => Ok(()),
        _ => Err(format!(
            "declares shape {shape:?} of {elem_bytes}-byte elements, more than the {file_bytes}-byte file can hold{}",
            if max_ratio > 1 {
                " even compressed"
            } else {
                ""
            }
        )),
    }
}

/// An hdf5 error's message, with bytes that are not UTF-8 replaced (U+FFFD): hdf5-metno
/// copies libhdf5's C strings into `String`s unchecked, and formatting such a string with
/// `{:?}` or slicing it can panic.
pub fn error_text(e: &hdf5::Error) -> String {
    utf8(e.to_string().as_bytes())
}

/// Bytes read from a file as text, with sequences that are not UTF-8 replaced (U+FFFD). For
/// the `as_bytes()` of hdf5-metno's string types, whose `as_str()` does not check the bytes.
pub fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
