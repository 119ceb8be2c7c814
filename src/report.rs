//! A self-contained HTML report: sections with text, tables and embedded PNG figures.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (for `data:` URIs).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One section of the report.
#[derive(Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// Paragraphs (plain text, escaped on output).
    pub paragraphs: Vec<String>,
    /// Tables: caption, header, rows.
    pub tables: Vec<(String, Vec<String>, Vec<Vec<String>>)>,
    /// Figures: caption and PNG file.
    pub figures: Vec<(String, std::path::PathBuf)>,
}

impl Section {
    /// A section with a title.
    pub fn new(title: &str) -> Self {
        Section {
            title: title.into(),
            ..Default::default()
        }
    }
    /// Adds a paragraph.
    pub fn text(&mut self, s: impl Into<String>) -> &mut Self {
        self.paragraphs.push(s.into());
        self
    }
    /// Adds a table.
    pub fn table(&mut self, caption: &str, header: &[&str], rows: Vec<Vec<String>>) -> &mut Self {
        self.tables.push((
            caption.into(),
            header.iter().map(|s| s.to_string()).collect(),
            rows,
        ));
        self
    }
    /// Adds a figure (a PNG file that exists).
    pub fn figure(&mut self, caption: &str, png: &Path) -> &mut Self {
        self.figures.push((caption.into(), png.to_path_buf()));
        self
    }
}

/// Renders the report to one HTML string with every figure embedded as a `data:` URI, so
/// the file opens offline in any browser and can be mailed on its own.
pub fn render(title: &str, intro: &[String], sections: &[Section]) -> Result<String> {
    let mut h = String::new();
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>\
         body{{font-family:-apple-system,Segoe UI,DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;background:#fff}}\
         h1{{border-bottom:3px solid #1f77b4;padding-bottom:.3em}}h2{{margin-top:2em;border-bottom:1px solid #ccc}}\
         table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #bbb;padding:.3em .7em;text-align:right}}\
         th{{background:#eef3fa}}td:first-child,th:first-child{{text-align:left}}caption{{font-weight:bold;text-align:left;padding:.3em 0}}\
         figure{{margin:1.5em 0}}figure img{{max-width:100%;border:1px solid #ddd}}figcaption{{color:#555;font-size:.95em}}\
         nav a{{margin-right:1em}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(title)
    )?;
    for p in intro {
        writeln!(h, "<p>{}</p>", esc(p))?;
    }
    h.push_str("<nav>");
    for (i, s) in sections.iter().enumerate() {
        write!(h, "<a href=\"#s{i}\">{}</a>", esc(&s.title))?;
    }
    h.push_str("</nav>\n");
    for (i, s) in sections.iter().enumerate() {
        writeln!(h, "<h2 id=\"s{i}\">{}</h2>", esc(&s.title))?;
        for p in &s.paragraphs {
            writeln!(h, "<p>{}</p>", esc(p))?;
        }
        for (cap, head, rows) in &s.tables {
            write!(h, "<table><caption>{}</caption><tr>", esc(cap))?;
            for c in head {
                write!(h, "<th>{}</th>", esc(c))?;
            }
            h.push_str("</tr>");
            for r in rows {
                h.push_str("<tr>");
                for c in r {
                    write!(h, "<td>{}</td>", esc(c))?;
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>\n");
        }
        for (cap, png) in &s.figures {
            let bytes =
                std::fs::read(png).with_context(|| format!("reading figure {}", png.display()))?;
            writeln!(
                h,
                "<figure><img alt=\"{a}\" src=\"data:image/png;base64,{b}\"><figcaption>{a}</figcaption></figure>",
                a = esc(cap),
                b = base64(&bytes)
            )?;
        }
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn html_escapes_and_embeds() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.png");
        std::fs::write(&png, [0x89, b'P', b'N', b'G']).unwrap();
        let mut s = Section::new("A <b>");
        s.text("x & y")
            .table("t", &["a", "b"], vec![vec!["1".into(), "2".into()]])
            .figure("fig", &png);
        let h = render("T", &[], &[s]).unwrap();
        assert!(h.contains("A &lt;b&gt;"));
        assert!(h.contains("x &amp; y"));
        assert!(h.contains("data:image/png;base64,iVBORw=="));
        assert!(
            render(
                "T",
                &[],
                &[{
                    let mut s = Section::new("missing");
                    s.figure("f", &dir.path().join("nope.png"));
                    s
                }]
            )
            .is_err()
        );
    }
}
