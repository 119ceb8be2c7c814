//! The font of every plot the workspace draws, embedded: DejaVu Sans (Bitstream Vera licence,
//! `assets/DejaVuSans.LICENSE`), registered with plotters' `ab_glyph` text backend, so PNGs
//! need no system fonts and binaries do not link libfontconfig or libfreetype.

use plotters::style::{FontStyle, register_font};

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `"sans-serif"` family (every style) once per
/// process; call before drawing text. Idempotent and cheap after the first call.
///
/// ```
/// use plotters::prelude::*;
/// spikelab_core::register_plot_font();
/// let mut png = vec![0u8; 200 * 100 * 3];
/// {
///     let root = BitMapBackend::with_buffer(&mut png, (200, 100)).into_drawing_area();
///     root.fill(&WHITE).unwrap();
///     root.draw_text("spikelab", &("sans-serif", 20).into_text_style(&root), (10, 40)).unwrap();
/// }
/// assert!(png.iter().any(|&v| v < 128)); // the text was drawn
/// ```
pub fn register_plot_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            // The embedded bytes are a valid TrueType font (the doctest draws with them).
            let _ = register_font("sans-serif", style, DEJAVU_SANS);
        }
    });
}
