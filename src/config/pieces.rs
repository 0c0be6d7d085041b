//! A large config file read in pieces, on every core: the text is cut at
//! its `[[check]]` lines, each piece is a TOML document of whole checks,
//! and the pieces are parsed and validated in parallel, a few hundred KB
//! at a time (the parser's tree for all of 100,000 checks at once was most
//! of a second and over 200 MB).
//!
//! Only for a file that is valid: on any error at all, [`read`] gives up
//! and the file is read whole, the usual way, so every message (and its
//! order) is the one a whole read gives. And only where cutting cannot
//! change the meaning: no multi-line strings (the one place a `[[check]]`
//! line can be text), nothing but checks after the first cut, and no
//! `check` key before it (a `check = []` there and `[[check]]` tables
//! after it is an error read whole).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::check::Check;
use super::defaults::Defaults;
use super::error::ErrorList;
use super::fields::valid_check_name;
use super::raw::{RawCheck, RawStorage};
use super::secrets::{Secrets, TokenLoader};
use super::source::LineIndex;
use super::validate::{validate_check, validate_tables, Validated};

/// Smaller files are read whole: it takes a few milliseconds.
const MIN_TEXT: usize = 512 * 1024;
/// About what a piece holds: enough checks that a thread's turn is long,
/// few enough that the parser's tree stays small.
const PIECE: usize = 256 * 1024;

/// What comes before the first `[[check]]` line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Preamble {
    #[serde(default)]
    allow_no_checks: bool,
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    badges: Option<toml::Table>,
    /// Any `check` here makes the file one to read whole.
    check: Option<IgnoredAny>,
}

/// A piece: whole `[[check]]` tables and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Piece {
    check: Vec<toml::Spanned<Box<RawCheck>>>,
}

/// The config's parts in `text`, if it is large, can be cut safely and
/// every piece is valid; `None` means "read it whole" (which reports what
/// is wrong, if anything). A name used twice is left to the caller, which
/// indexes the names anyway.
pub(super) fn read(text: &str, base_dir: &Path, secrets: Secrets) -> Option<Validated> {
    if text.len() < MIN_TEXT || text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let (preamble, pieces) = cut(text);
    if pieces.len() < 2 {
        return None;
    }
    let head: Preamble = toml::from_str(preamble).ok()?;
    if head.check.is_some() {
        return None;
    }
    let lines = LineIndex::new(text);
    let read = RefCell::new(Vec::new());
    let tokens = TokenLoader {
        base_dir,
        secrets,
        read: &read,
    };
    let mut errors = ErrorList::default();
    let (defaults, storage, badges) = validate_tables(
        head.defaults,
        head.storage,
        head.badges,
        &lines,
        tokens,
        &mut errors,
    );
    errors.finish(()).ok()?;
    let _ = head.allow_no_checks; // there are checks

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = pieces.len().div_ceil(threads.min(pieces.len()));
    let read_pieces = |share: &[(usize, &str)]| -> Option<Read> {
        let mut out = Read::default();
        for &(start, piece) in share {
            read_piece(start, piece, &lines, &defaults, base_dir, secrets, &mut out)?;
        }
        Some(out)
    };
    let shares: Vec<Option<Read>> = std::thread::scope(|scope| {
        let running: Vec<_> = (pieces.chunks(per_thread).skip(1))
            .map(|share| scope.spawn(move || read_pieces(share)))
            .collect();
        let mut shares = vec![read_pieces(pieces.chunks(per_thread).next().unwrap_or(&[]))];
        shares.extend(running.into_iter().map(|t| t.join().ok().flatten()));
        shares
    });
    let mut checks = Vec::new();
    let mut token_files = read.into_inner();
    for share in shares {
        let share = share?;
        checks.extend(share.checks);
        token_files.extend(share.token_files);
    }
    Some(Validated {
        checks,
        storage,
        badges,
        token_files,
    })
}

/// What one thread read: its checks in file order, and the token files.
#[derive(Default)]
struct Read {
    checks: Vec<Arc<Check>>,
    token_files: Vec<(PathBuf, [u8; 32])>,
}

/// Parses and validates one piece, starting at byte `start` of the file.
fn read_piece(
    start: usize,
    piece: &str,
    lines: &LineIndex,
    defaults: &Defaults,
    base_dir: &Path,
    secrets: Secrets,
    out: &mut Read,
) -> Option<()> {
    let piece: Piece = toml::from_str(piece).ok()?;
    let read = RefCell::new(Vec::new());
    let tokens = TokenLoader {
        base_dir,
        secrets,
        read: &read,
    };
    out.checks.reserve(piece.check.len());
    for table in piece.check {
        let line = lines.line_of(start + table.span().start);
        let raw = table.into_inner();
        let name = raw.name.as_deref().filter(|name| valid_check_name(name))?;
        let location = format!("check {name:?} (line {line})");
        let check = validate_check(raw, defaults, &location, tokens).ok()?;
        out.checks.push(Arc::new(check));
    }
    out.token_files.extend(read.into_inner());
    Some(())
}

/// The text before the first `[[check]]` line, and pieces of about
/// [`PIECE`] bytes, each starting at a `[[check]]` line, with their offsets.
fn cut(text: &str) -> (&str, Vec<(usize, &str)>) {
    let mut starts = Vec::new();
    let mut last = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "[[check]]" && last.is_none_or(|at| offset - at >= PIECE) {
            starts.push(offset);
            last = Some(offset);
        }
        offset += line.len();
    }
    let Some(&first) = starts.first() else {
        return (text, Vec::new());
    };
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    let pieces = (starts.iter().zip(ends))
        .map(|(&start, end)| (start, &text[start..end]))
        .collect();
    (&text[..first], pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn big(checks: usize, extra: &str) -> String {
        let mut text = String::from("[defaults]\nowner = \"ops\"\n\n");
        for i in 0..checks {
            text.push_str(&format!(
                "[[check]]\nname = \"check-{i}\"\nevery = \"1h\"\nlabels = {{ n = \"{i}\" }}\n\n"
            ));
        }
        text.push_str(extra);
        text
    }

    #[test]
    fn pieces_start_at_check_lines_and_cover_the_text() {
        let text = big(8_000, "");
        let (preamble, pieces) = cut(&text);
        assert_eq!(preamble, "[defaults]\nowner = \"ops\"\n\n");
        assert!(pieces.len() > 2, "{}", pieces.len());
        let mut at = preamble.len();
        for (start, piece) in &pieces {
            assert_eq!(*start, at);
            assert!(piece.starts_with("[[check]]\n"));
            at += piece.len();
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn a_large_valid_file_reads_as_it_does_whole() {
        let text = big(8_000, "");
        let parts = read(&text, Path::new("."), Secrets::Read).expect("read in pieces");
        let pieces = Config::assemble(parts, &text);
        let whole = Config::parse_whole(&text, Path::new("."), Secrets::Read).expect("valid");
        assert_eq!(pieces.checks.len(), 8_000);
        for (a, b) in pieces.checks.iter().zip(&whole.checks) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        assert_eq!(pieces.inputs, whole.inputs);
        assert_eq!(pieces.storage, whole.storage);
        assert_eq!(
            pieces.check("check-7999").map(|c| c.labels["n"].clone()),
            Some("7999".to_string())
        );
    }

    #[test]
    fn anything_a_cut_could_change_or_any_error_reads_it_whole() {
        let at = Path::new(".");
        // Small files, and the shapes a cut could change the meaning of.
        assert!(read(&big(10, ""), at, Secrets::Read).is_none());
        for extra in [
            "[storage]\nhistory = 10\n",
            "[[check]]\nname = \"x\"\nevery = \"1h\"\ndescription = \"\"\"\n[[check]]\n\"\"\"\n",
        ] {
            assert!(
                read(&big(8_000, extra), at, Secrets::Read).is_none(),
                "{extra}"
            );
        }
        let text = format!("check = []\n{}", big(8_000, ""));
        assert!(read(&text, at, Secrets::Read).is_none());
        // Errors: the whole read reports them. A name used twice is seen
        // once the names are indexed, after the pieces are read.
        let twice = big(8_000, "[[check]]\nname = \"check-7\"\nevery = \"1h\"\n");
        let parts = read(&twice, at, Secrets::Read).expect("each piece is valid");
        assert_eq!(parts.checks.len(), 8_001);
        assert!(Config::parse(&twice, at).is_err());
        for extra in [
            "[[check]]\nname = \"late\"\nevery = \"soon\"\n",
            "[[check]]\nname = \"typo\"\nevry = \"1h\"\n",
            "[[check]]\nname = \"broken\nevery = \"1h\"\n",
        ] {
            let text = big(8_000, extra);
            assert!(read(&text, at, Secrets::Read).is_none(), "{extra}");
            assert!(Config::parse(&text, at).is_err(), "{extra}");
        }
    }
}
