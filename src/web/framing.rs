//! [`FramingGuard`]: spots requests that carry both `Content-Length` and
//! `Transfer-Encoding`, so they can be refused with 400.
//!
//! Such a request is the classic request-smuggling vector: a proxy in
//! front may frame the body by one header while deadman frames it by the
//! other, and bytes one of them takes for body the other takes for a second
//! request. hyper copes safely (Transfer-Encoding wins and the connection
//! closes after the answer) but drops `Content-Length` before the request
//! reaches us, so the handler alone cannot tell. The guard reads the same
//! bytes hyper reads, follows each request's framing with a small scanner,
//! and records which request on the connection was ambiguous; the router
//! answers that one with 400.
//!
//! The scanner is conservative: at anything it does not understand it
//! stops looking (hyper rejects malformed input on its own), so it can
//! never refuse a request hyper would have read unambiguously.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A head larger than this is beyond what the scanner follows (hyper's own
/// limit is larger, but no real ping or scrape comes near it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Headers httparse is asked to read, as many as hyper allows by default.
const MAX_HEADERS: usize = 100;
/// A chunk-size line (with extensions) longer than this is not followed.
const MAX_CHUNK_LINE: usize = 1024;

/// Which request on a connection was ambiguous, shared between the guard
/// (which reads the bytes) and the router (which answers the requests).
#[derive(Default, Debug)]
pub struct AmbiguousRequests {
    /// 1-based position of the ambiguous request on its connection; 0 for
    /// none. One is enough: hyper closes the connection after it.
    position: AtomicU64,
}

impl AmbiguousRequests {
    /// True if the `position`-th request (1-based) on the connection carried
    /// both `Content-Length` and `Transfer-Encoding`.
    pub fn is_ambiguous(&self, position: u64) -> bool {
        position != 0 && self.position.load(Ordering::Acquire) == position
    }
}

/// Where the scanner is in the byte stream of one connection.
#[derive(Debug)]
enum Scan {
    /// Collecting a request head up to its blank line.
    Head(Vec<u8>),
    /// Skipping a body of known length.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Skipping chunk data and its trailing CRLF.
    ChunkData(u64),
    /// Reading trailer lines after the last chunk, up to a blank line.
    Trailers(Vec<u8>),
    /// Not following any more: an ambiguous or malformed request, after
    /// which hyper closes the connection anyway.
    Stopped,
}

/// Follows the framing of the requests on one connection.
#[derive(Debug)]
pub struct FramingScanner {
    scan: Scan,
    /// Heads completed so far.
    heads: u64,
}

impl Default for FramingScanner {
    fn default() -> Self {
        FramingScanner {
            scan: Scan::Head(Vec::new()),
            heads: 0,
        }
    }
}

/// What the scanner learnt from a chunk of bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// Nothing ambiguous.
    Clean,
    /// The request at this 1-based position has both framing headers.
    Ambiguous(u64),
}

impl FramingScanner {
    /// Feeds bytes as they arrive, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Finding {
        while !bytes.is_empty() {
            let (used, finding) = self.step(bytes);
            bytes = &bytes[used..];
            if finding != Finding::Clean {
                return finding;
            }
        }
        Finding::Clean
    }

    /// Consumes a prefix of `bytes` in the current state.
    fn step(&mut self, bytes: &[u8]) -> (usize, Finding) {
        match &mut self.scan {
            Scan::Stopped => (bytes.len(), Finding::Clean),
            Scan::Body(left) | Scan::ChunkData(left) => {
                let used = bytes
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= used as u64;
                if *left == 0 {
                    self.scan = match self.scan {
                        Scan::ChunkData(_) => Scan::ChunkSize(Vec::new()),
                        _ => Scan::Head(Vec::new()),
                    };
                }
                (used, Finding::Clean)
            }
            Scan::Head(buf) => {
                let (used, done) = find_end(buf, bytes, b"\r\n\r\n", MAX_HEAD_BYTES);
                match done {
                    None => {
                        buf.extend_from_slice(bytes);
                        (used, Finding::Clean)
                    }
                    Some(false) => {
                        self.scan = Scan::Stopped;
                        (used, Finding::Clean)
                    }
                    // A head that arrived in one read (nearly every one) is
                    // parsed where it lies, without a copy.
                    Some(true) if buf.is_empty() => (used, self.end_of_head(&bytes[..used])),
                    Some(true) => {
                        let mut head = std::mem::take(buf);
                        head.extend_from_slice(&bytes[..used]);
                        (used, self.end_of_head(&head))
                    }
                }
            }
            Scan::ChunkSize(buf) => {
                let (used, done) = find_end(buf, bytes, b"\r\n", MAX_CHUNK_LINE);
                match done {
                    None => buf.extend_from_slice(bytes),
                    Some(false) => self.scan = Scan::Stopped,
                    Some(true) => {
                        buf.extend_from_slice(&bytes[..used]);
                        self.scan = match chunk_size(buf) {
                            Some(0) => Scan::Trailers(Vec::new()),
                            // The data, then the CRLF that ends it.
                            Some(size) => Scan::ChunkData(size.saturating_add(2)),
                            None => Scan::Stopped,
                        };
                    }
                }
                (used, Finding::Clean)
            }
            Scan::Trailers(buf) => {
                let (used, done) = find_end(buf, bytes, b"\r\n", MAX_HEAD_BYTES);
                match done {
                    None => buf.extend_from_slice(bytes),
                    // A blank line (nothing before its CRLF) ends the
                    // trailers and the request.
                    Some(true) if buf.len() + used == 2 => self.scan = Scan::Head(Vec::new()),
                    Some(true) => buf.clear(),
                    Some(false) => self.scan = Scan::Stopped,
                }
                (used, Finding::Clean)
            }
        }
    }

    /// Decides how the body after a complete head is framed.
    fn end_of_head(&mut self, head: &[u8]) -> Finding {
        // Blank lines before a request line are tolerated by hyper too.
        let start = head
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(head.len());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(
            request.parse(&head[start..]),
            Ok(httparse::Status::Complete(_))
        ) {
            self.scan = Scan::Stopped;
            return Finding::Clean;
        }
        self.heads += 1;
        let mut length: Option<u64> = None;
        let mut chunked = None;
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let parsed = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                match (parsed, length) {
                    (Some(n), None) => length = Some(n),
                    (Some(n), Some(m)) if n == m => {}
                    _ => {
                        self.scan = Scan::Stopped;
                        return Finding::Clean;
                    }
                }
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                // Only the last coding decides; hyper refuses anything
                // whose last coding is not chunked.
                let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        self.scan = match (chunked, length) {
            (Some(_), Some(_)) => {
                self.scan = Scan::Stopped;
                return Finding::Ambiguous(self.heads);
            }
            (Some(true), None) => Scan::ChunkSize(Vec::new()),
            (Some(false), None) => Scan::Stopped,
            (None, Some(0) | None) => Scan::Head(Vec::new()),
            (None, Some(n)) => Scan::Body(n),
        };
        Finding::Clean
    }
}

/// Where `end` completes in `held` (bytes kept from earlier reads, which do
/// not contain it) followed by `bytes`. Returns how many of `bytes` that
/// takes and `Some(true)`; or, when `held` and the bytes taken would pass
/// `max` first, how many reach past it and `Some(false)`; or all of them and
/// `None` when more are needed.
fn find_end(held: &[u8], bytes: &[u8], end: &[u8], max: usize) -> (usize, Option<bool>) {
    // The end may have begun in `held`: the longest such start ends first.
    let straddled = (1..end.len())
        .rev()
        .find(|&k| held.ends_with(&end[..k]) && bytes.starts_with(&end[k..]))
        .map(|k| end.len() - k);
    let completed = straddled.or_else(|| memchr::memmem::find(bytes, end).map(|i| i + end.len()));
    // Bytes that may still be taken before `max` is passed.
    let room = (max + 1).saturating_sub(held.len());
    match completed {
        Some(used) if used <= room => (used, Some(true)),
        _ if bytes.len() >= room => (room, Some(false)),
        _ => (bytes.len(), None),
    }
}

/// The size on a chunk-size line (`1a;ext=1\r\n`), if it is valid hex.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n")?;
    let digits = line.split(|&b| b == b';').next()?.trim_ascii();
    let text = std::str::from_utf8(digits).ok()?;
    if text.is_empty() || text.len() > 15 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// A connection's read side, watched by a [`FramingScanner`].
pub struct FramingGuard<S> {
    inner: S,
    scanner: FramingScanner,
    found: Arc<AmbiguousRequests>,
}

impl<S> FramingGuard<S> {
    /// Wraps `inner`; the returned handle tells which request was ambiguous.
    pub fn new(inner: S) -> (Self, Arc<AmbiguousRequests>) {
        let found = Arc::new(AmbiguousRequests::default());
        let guard = FramingGuard {
            inner,
            scanner: FramingScanner::default(),
            found: Arc::clone(&found),
        };
        (guard, found)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FramingGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            if let Finding::Ambiguous(position) = this.scanner.feed(&buf.filled()[before..]) {
                this.found.position.store(position, Ordering::Release);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FramingGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &str, split_every: usize) -> Vec<Finding> {
        let mut scanner = FramingScanner::default();
        input
            .as_bytes()
            .chunks(split_every)
            .map(|chunk| scanner.feed(chunk))
            .filter(|f| *f != Finding::Clean)
            .collect()
    }

    #[test]
    fn both_framing_headers_in_either_order_are_found() {
        for head in [
            "POST /ping/a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /ping/a HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
        ] {
            for split in [1, 3, usize::MAX] {
                assert_eq!(scan_all(head, split), [Finding::Ambiguous(1)], "{head}");
            }
        }
    }

    #[test]
    fn the_position_counts_requests_across_bodies_of_both_kinds() {
        let input = "POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd\
                     POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                     4;x=y\r\nwxyz\r\n0\r\nTrailer: 1\r\n\r\n\
                     GET /c HTTP/1.1\r\n\r\n\
                     POST /d HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for split in [1, 2, 7, usize::MAX] {
            assert_eq!(scan_all(input, split), [Finding::Ambiguous(4)]);
        }
    }

    #[test]
    fn a_body_that_looks_like_a_head_is_not_read_as_one() {
        let body = "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let input = format!(
            "POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(scan_all(&input, 5), []);
    }

    #[test]
    fn malformed_input_stops_the_scanner_without_a_finding() {
        let garbage = "NOT HTTP\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\n\
                       Transfer-Encoding: chunked\r\n\r\n";
        assert_eq!(scan_all(garbage, 4), []);
        let bad_chunk = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let mut scanner = FramingScanner::default();
        assert_eq!(scanner.feed(bad_chunk.as_bytes()), Finding::Clean);
        assert!(matches!(scanner.scan, Scan::Stopped));
    }

    #[test]
    fn an_endless_head_is_not_buffered_without_bound() {
        let mut scanner = FramingScanner::default();
        let line = vec![b'a'; 1024];
        for _ in 0..100 {
            scanner.feed(&line);
        }
        assert!(matches!(scanner.scan, Scan::Stopped));
    }

    #[test]
    fn every_way_of_splitting_the_bytes_finds_the_same() {
        // Terminators straddling reads at every offset, bodies of both
        // kinds, trailers and a blank line before a request.
        let input = "\r\nPOST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
                     POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                     2\r\nxy\r\n0\r\nT: 1\r\nU: 2\r\n\r\n\
                     GET /c HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n";
        for split in 1..=input.len() {
            assert_eq!(
                scan_all(input, split),
                [Finding::Ambiguous(3)],
                "split {split}"
            );
        }
    }

    #[test]
    fn the_end_is_found_within_the_limit_and_not_past_it() {
        assert_eq!(find_end(b"ab\r", b"\nrest", b"\r\n", 100), (1, Some(true)));
        assert_eq!(find_end(b"", b"ab\r\n", b"\r\n", 100), (4, Some(true)));
        assert_eq!(find_end(b"", b"abc", b"\r\n", 100), (3, None));
        // The end may complete on the byte just past `max`, not later.
        assert_eq!(find_end(b"", b"a\r\n", b"\r\n", 2), (3, Some(true)));
        assert_eq!(find_end(b"", b"ab\r\n", b"\r\n", 2), (3, Some(false)));
        assert_eq!(find_end(b"ab", b"cdef", b"\r\n", 3), (2, Some(false)));
    }

    #[test]
    fn chunk_sizes_parse_as_hex_with_extensions() {
        assert_eq!(chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(chunk_size(b"0;name=v\r\n"), Some(0));
        assert_eq!(chunk_size(b"\r\n"), None);
        assert_eq!(chunk_size(b"ffffffffffffffffff\r\n"), None);
    }
}
