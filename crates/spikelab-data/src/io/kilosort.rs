//! Kilosort/phy output folders (work in progress).
