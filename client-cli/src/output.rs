//! Output conventions: tables and colours for people on a terminal, JSON
//! for scripts (`--json`), times in the user's local time.

use std::io::IsTerminal;

use time::{OffsetDateTime, UtcOffset};

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Machine-readable JSON instead of tables.
    pub json: bool,
    /// Colours (a terminal, and `NO_COLOR` unset).
    pub color: bool,
    /// The local time zone's offset.
    pub offset: UtcOffset,
}

impl Style {
    /// Detects colour support; `offset` comes from [`local_offset`].
    pub fn detect(json: bool, offset: UtcOffset) -> Self {
        let color = !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            json,
            color,
            offset,
        }
    }

    /// Plain text, UTC: for tests and snapshots.
    pub fn plain() -> Self {
        Self {
            json: false,
            color: false,
            offset: UtcOffset::UTC,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold.
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Green (verified, success).
    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Yellow (warnings).
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Red (errors, security problems).
    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Dim (secondary details).
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// A time in local time, minutes precision.
    pub fn time(&self, unix_ms: u64) -> String {
        format_time(unix_ms, self.offset)
    }
}

/// The local offset; call before any threads start (the platform call is
/// not thread-safe on Unix). UTC when it cannot be found.
pub fn local_offset() -> UtcOffset {
    UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC)
}

/// `2026-11-30 10:15` in the given offset.
pub fn format_time(unix_ms: u64, offset: UtcOffset) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(i64::try_from(unix_ms / 1000).unwrap_or(0))
    else {
        return "?".into();
    };
    let t = t.to_offset(offset);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.format(&format).unwrap_or_else(|_| "?".into())
}

/// `2026-11-30` (UTC) from Unix seconds: the day a signed record names.
pub fn utc_date(unix: u64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(0)) else {
        return "?".into();
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    t.format(&format).unwrap_or_else(|_| "?".into())
}

/// A citizen's identity level in words, the same on every screen and in
/// journal exports.
pub fn assurance_words(a: samtale_protocol::wire::AssuranceLevel) -> &'static str {
    use samtale_protocol::wire::AssuranceLevel;
    match a {
        AssuranceLevel::Unverified => "unverified",
        AssuranceLevel::Low => "eID low",
        AssuranceLevel::Substantial => "eID substantial",
        AssuranceLevel::High => "eID high",
    }
}

/// A plain-text table: a header row, then rows, columns padded to the
/// widest cell (counted in characters), two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Prints JSON (pretty, stable field order from the types).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Wraps text at `width` columns on spaces, keeping its own line breaks
/// (paragraphs, list items); a word longer than the width stays whole.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width.max(1));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut column = 0;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let len = word.chars().count();
            if column == 0 {
                out.push_str(&indent);
                column = indent.len();
            } else if column + 1 + len > width {
                out.push('\n');
                out.push_str(&indent);
                column = indent.len();
            } else {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
        }
    }
    out
}

/// The terminal's width for wrapped text: `COLUMNS`, else 80, at most 100.
pub fn text_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c >= 20)
        .unwrap_or(80)
        .min(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_characters_not_bytes() {
        let t = table(
            &["NAME", "TEAM"],
            &[
                vec!["Søren Ølgaard".into(), "Børn og Unge".into()],
                vec!["Al".into(), "Jobcenter".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME           TEAM\nSøren Ølgaard  Børn og Unge\nAl             Jobcenter\n"
        );
    }

    #[test]
    fn times_are_shown_in_the_given_offset() {
        let cet = UtcOffset::from_hms(1, 0, 0).unwrap();
        assert_eq!(format_time(1_764_500_400_000, cet), "2025-11-30 12:00");
        assert_eq!(
            format_time(1_764_500_400_000, UtcOffset::UTC),
            "2025-11-30 11:00"
        );
    }

    #[test]
    fn wrap_breaks_long_lines_on_spaces_and_keeps_paragraphs() {
        let text = "Samtale gemmer dine beskeder krypteret, og kun du og kommunen kan læse dem.\n\n  - Du kan trække samtykket tilbage når som helst.";
        let wrapped = wrap(text, 30);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= 30, "{line:?}");
        }
        assert!(wrapped.contains("\n\n"), "{wrapped}");
        assert!(
            wrapped.contains("\n  trække")
                || wrapped.contains("\n  tilbage")
                || wrapped.contains("\n  når"),
            "{wrapped}"
        );
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(wrap("ordetsomeraltforlangt", 5), "ordetsomeraltforlangt");
    }
}
