//! Reports of `labelnoise reproduce`: `report.md` (figures linked) and `report.html` (one
//! self-contained page, figures inline as base64 PNG).

use crate::experiment::{Claim, ClaimKind};

/// A figure written to the output directory.
pub struct RenderedFigure {
    /// File stem.
    pub name: String,
    /// Caption.
    pub caption: String,
    /// PNG bytes (inlined in the HTML page).
    pub png: Vec<u8>,
}

/// One experiment's section of a report.
pub struct Section {
    /// Experiment name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Paragraphs before the claims (markdown: only `code`, no other markup).
    pub intro: Vec<String>,
    /// The claims.
    pub claims: Vec<Claim>,
    /// The figures.
    pub figures: Vec<RenderedFigure>,
    /// Paragraphs after the figures (observations).
    pub notes: Vec<String>,
}

impl Section {
    /// Whether every claim of the paper passed (open questions answered "no" do not
    /// fail a section).
    pub fn pass(&self) -> bool {
        !self.claims.iter().any(Claim::fails)
    }

    /// "passed/total" over the paper's claims, and the open questions' answers beside.
    fn tally(&self) -> String {
        let paper: Vec<&Claim> = self
            .claims
            .iter()
            .filter(|c| c.kind == ClaimKind::Paper)
            .collect();
        let passed = paper.iter().filter(|c| c.pass).count();
        let questions: Vec<&Claim> = self
            .claims
            .iter()
            .filter(|c| c.kind == ClaimKind::Question)
            .collect();
        if questions.is_empty() {
            format!("{passed}/{}", paper.len())
        } else {
            let yes = questions.iter().filter(|c| c.pass).count();
            format!(
                "{passed}/{} (open questions: {yes} yes, {} no)",
                paper.len(),
                questions.len() - yes
            )
        }
    }
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `code` spans of a paragraph as HTML.
fn inline_html(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in html_escape(s).split('`').enumerate() {
        if k % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// The measured numbers, compactly (floats to 4 significant digits).
pub fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f == 0.0 || (1e-3..1e5).contains(&f.abs()) {
                    format!("{}", (f * 1e4).round() / 1e4)
                } else {
                    format!("{f:.3e}")
                }
            }
            _ => n.to_string(),
        },
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(compact).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}: {}", compact(v)))
                .collect();
            items.join("; ")
        }
        other => other.to_string(),
    }
}

/// report.md.
pub fn markdown(title: &str, header: &[String], sections: &[Section]) -> String {
    let mut md = format!("# {title}\n\n");
    for p in header {
        md.push_str(p);
        md.push_str("\n\n");
    }
    if sections.len() > 1 {
        md.push_str("| experiment | result | claims passed | wall time (s) |\n|---|---|---|---|\n");
        for s in sections {
            md.push_str(&format!(
                "| {} | {} | {} | {:.1} |\n",
                s.name,
                verdict(s.pass()),
                s.tally(),
                s.wall_seconds
            ));
        }
        md.push('\n');
    }
    for s in sections {
        md.push_str(&format!(
            "## `{}`: {} — {}\n\nWall time: {:.1} s.\n\n",
            s.name,
            s.title,
            verdict(s.pass()),
            s.wall_seconds
        ));
        for p in &s.intro {
            md.push_str(p);
            md.push_str("\n\n");
        }
        md.push_str("| claim | result | expectation (paper) and criterion | measured |\n|---|---|---|---|\n");
        for c in &s.claims {
            md.push_str(&format!(
                "| `{}` | **{}** | {} | {} |\n",
                c.name,
                c.verdict(),
                c.expectation.replace('|', "/"),
                compact(&c.measured).replace('|', "/")
            ));
        }
        md.push('\n');
        for f in &s.figures {
            md.push_str(&format!(
                "![{}]({}.png)\n\n*{}* ([SVG]({}.svg))\n\n",
                f.name, f.name, f.caption, f.name
            ));
        }
        for p in &s.notes {
            md.push_str(p);
            md.push_str("\n\n");
        }
    }
    md
}

/// report.html: one self-contained page.
pub fn html(title: &str, header: &[String], sections: &[Section]) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str(&format!("<title>{}</title>\n", html_escape(title)));
    h.push_str(
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;\
         line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;width:100%}\
         td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top;font-size:14px}\
         th{background:#eee}.pass{color:#0a0;font-weight:bold}.question{color:#05a;font-weight:bold}.fail{color:#c00;font-weight:bold}\
         img{max-width:100%;border:1px solid #ddd}figure{margin:1.5em 0}\
         figcaption{font-style:italic;font-size:14px}code{background:#f4f4f4;padding:0 3px}\
         td.m{font-family:monospace;font-size:12px;word-break:break-word}</style>\n",
    );
    h.push_str("</head><body>\n");
    h.push_str(&format!("<h1>{}</h1>\n", html_escape(title)));
    for p in header {
        h.push_str(&format!("<p>{}</p>\n", inline_html(p)));
    }
    let cls = |p: bool| if p { "pass" } else { "fail" };
    if sections.len() > 1 {
        h.push_str("<table><tr><th>experiment</th><th>result</th><th>claims passed</th><th>wall time (s)</th></tr>\n");
        for s in sections {
            h.push_str(&format!(
                "<tr><td><a href=\"#{}\">{}</a></td><td class=\"{}\">{}</td><td>{}</td><td>{:.1}</td></tr>\n",
                s.name,
                s.name,
                cls(s.pass()),
                verdict(s.pass()),
                s.tally(),
                s.wall_seconds
            ));
        }
        h.push_str("</table>\n");
    }
    for s in sections {
        h.push_str(&format!(
            "<h2 id=\"{}\"><code>{}</code>: {} — <span class=\"{}\">{}</span></h2>\n<p>Wall time: {:.1} s.</p>\n",
            s.name,
            s.name,
            html_escape(&s.title),
            cls(s.pass()),
            verdict(s.pass()),
            s.wall_seconds
        ));
        for p in &s.intro {
            h.push_str(&format!("<p>{}</p>\n", inline_html(p)));
        }
        h.push_str("<table><tr><th>claim</th><th>result</th><th>expectation (paper) and criterion</th><th>measured</th></tr>\n");
        for c in &s.claims {
            h.push_str(&format!(
                "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td class=\"m\">{}</td></tr>\n",
                html_escape(&c.name),
                match (c.kind, c.pass) {
                    (ClaimKind::Question, _) => "question",
                    (ClaimKind::Paper, p) => cls(p),
                },
                c.verdict(),
                html_escape(&c.expectation),
                html_escape(&compact(&c.measured))
            ));
        }
        h.push_str("</table>\n");
        for f in &s.figures {
            h.push_str(&format!(
                "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>\n",
                html_escape(&f.name),
                base64(&f.png),
                inline_html(&f.caption)
            ));
        }
        for p in &s.notes {
            h.push_str(&format!("<p>{}</p>\n", inline_html(p)));
        }
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    fn section(claims: Vec<Claim>) -> Section {
        Section {
            name: "x".into(),
            title: "X".into(),
            wall_seconds: 1.0,
            intro: vec![],
            claims,
            figures: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn a_question_answered_no_does_not_fail_a_section() {
        let j = serde_json::json!({});
        let no = Claim::question("q", "?", j.clone(), false);
        let yes = Claim::question("r", "?", j.clone(), true);
        let ok = Claim::new("p", "!", j.clone(), true);
        let bad = Claim::new("f", "!", j, false);
        let s = section(vec![ok.clone(), no.clone(), yes]);
        assert!(s.pass());
        assert_eq!(s.tally(), "1/1 (open questions: 1 yes, 1 no)");
        let md = markdown("t", &[], &[s]);
        assert!(
            md.contains("| `q` | **NO** |") && md.contains("| `r` | **YES** |"),
            "{md}"
        );
        let s = section(vec![ok, bad, no]);
        assert!(!s.pass());
        assert_eq!(s.tally(), "1/2 (open questions: 0 yes, 1 no)");
        assert!(html("t", &[], &[s]).contains("class=\"fail\">FAIL"));
    }
}
