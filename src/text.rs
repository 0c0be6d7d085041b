//! Formatting shared by the pages, the JSON API and `deadman docs`.

use chrono::{DateTime, SecondsFormat};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 UTC, or "never" for 0.
pub fn format_timestamp(seconds: f64) -> String {
    if seconds <= 0.0 {
        return "never".into();
    }
    if !seconds.is_finite() {
        return "none".into();
    }
    DateTime::from_timestamp(seconds as i64, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "invalid".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0.0), "never");
        assert_eq!(format_timestamp(1_800_000_000.5), "2027-01-15T08:00:00Z");
    }
}
