//! The HTML view of a review's attribution: one self-contained page (inline CSS and a few lines of
//! inline JavaScript, no network) with every token the model read shaded by its attribution (red:
//! evidence for the target class, blue: against; opacity by |value| / max), the value on hover and
//! in a status line on click, and the prediction, the target and the completeness delta above.
//! Every text goes through `html_escape`. Rendering only.

use super::picture::diverging;
use super::text::{scale_of, ShownToken};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:900px}\
.review{line-height:2.1;font-size:17px}.tok{padding:2px 3px;border-radius:3px;cursor:pointer}\
.oov{font-style:italic}table{border-collapse:collapse;margin:8px 0 16px}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}\
#status{margin-top:14px;font-family:monospace;min-height:1.2em}\
.key span{padding:2px 8px;margin-right:6px}";

const SCRIPT: &str = "document.querySelectorAll('.tok').forEach(function(t){t.addEventListener('click',\
function(){document.getElementById('status').textContent=t.textContent+': '+t.dataset.attr;});});";

/// What the page says about the prediction.
pub struct ReviewView<'a> {
    pub title: &'a str,
    pub method: &'a str,
    pub tokens: &'a [ShownToken],
    /// One value per token, summed over the embedding dimension.
    pub values: &'a [f64],
    /// Rows of the summary table (label, value), e.g. prediction, target, delta.
    pub facts: &'a [(String, String)],
}

/// The whole page.
pub fn render_review(v: &ReviewView) -> String {
    let scale = scale_of(v.values);
    let mut page = String::new();
    let w = &mut page;
    let _ = write!(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = writeln!(w, "<title>{}</title><style>{STYLE}</style></head><body>", text(v.title));
    let _ = writeln!(w, "<h1>{}</h1>", text(v.title));
    let _ = writeln!(w, "<table class=\"facts\">");
    for (label, value) in v.facts {
        let _ = writeln!(w, "<tr><th>{}</th><td>{}</td></tr>", text(label), text(value));
    }
    let _ = writeln!(w, "<tr><th>method</th><td>{}</td></tr></table>", text(v.method));
    let [r, g, b] = diverging(1.0);
    let [r2, g2, b2] = diverging(-1.0);
    let _ = writeln!(
        w,
        "<p class=\"key\"><span style=\"background:rgb({r},{g},{b})\">for the target</span>\
         <span style=\"background:rgb({r2},{g2},{b2})\">against</span> shade: |attribution| / {scale:.4}; \
         click a word for its value</p>"
    );
    let _ = write!(w, "<div class=\"review\" id=\"review\">");
    for (t, &a) in v.tokens.iter().zip(v.values) {
        let [r, g, b] = diverging(a / scale);
        let class = if t.known { "tok" } else { "tok oov" };
        let value = format!("{a:.6}");
        let _ = write!(
            w,
            "<span class=\"{class}\" style=\"background:rgb({r},{g},{b})\" title=\"{}\" data-attr=\"{}\">{}</span> ",
            attr(&value),
            attr(&value),
            text(&t.text)
        );
    }
    let _ = writeln!(w, "</div>\n<div id=\"status\"></div>");
    let _ = writeln!(w, "<script>{SCRIPT}</script></body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped_shaded_and_nothing_is_fetched() {
        let tokens: Vec<ShownToken> = ["a", "<b>", "film"]
            .iter()
            .map(|w| ShownToken { text: w.to_string(), id: 2, known: *w != "<b>" })
            .collect();
        let facts = [("prediction".to_string(), "positive (0.93) & more".to_string())];
        let page = render_review(&ReviewView {
            title: "review",
            method: "ig",
            tokens: &tokens,
            values: &[0.5, -1.0, 0.0],
            facts: &facts,
        });
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("&lt;b&gt;</span>"));
        assert!(page.contains("positive (0.93) &amp; more"));
        assert!(page.contains("class=\"tok oov\""));
        assert!(page.contains(&format!(
            "rgb({},{},{})\" title=\"-1.000000\"",
            diverging(-1.0)[0],
            diverging(-1.0)[1],
            diverging(-1.0)[2]
        )));
        assert!(page.contains("rgb(255,255,255)\" title=\"0.000000\""));
        for remote in ["http://", "https://", "<link", "src="] {
            assert!(!page.contains(remote), "{remote}");
        }
    }
}
