//! The tail of a job's output: the last N bytes of stdout and stderr
//! together, in the order the chunks reached the wrapper, for the finish
//! ping's message. Pure; the wrapper feeds it what it passes through.
//!
//! The two streams are separate pipes, so "in order" is the order the
//! wrapper read them: lines written moments apart keep their order, but
//! two writes within the same instant may be read either way.

use std::collections::VecDeque;

use crate::model::ping::MAX_MESSAGE_BYTES;

/// Room in the message kept for the wrapper's own lines (the truncation
/// note, how the command ended), so note and tail together stay within
/// what deadman keeps (it cuts longer messages from the end, which would
/// lose the tail, the part that says what went wrong).
pub const RESERVED_BYTES: usize = 240;

/// The largest tail kept: 10,000 bytes, which is also the default.
pub const MAX_TAIL_BYTES: usize = MAX_MESSAGE_BYTES - RESERVED_BYTES;

/// The last `limit` bytes seen.
pub struct Tail {
    /// At most this many bytes are kept.
    limit: usize,
    /// The kept bytes, oldest first.
    bytes: VecDeque<u8>,
    /// Bytes that went through but were dropped from the front, for the
    /// note that says the message is not the whole output.
    dropped: u64,
}

impl Tail {
    /// Keeps the last `limit` bytes, at most [`MAX_TAIL_BYTES`].
    pub fn new(limit: usize) -> Tail {
        let limit = limit.min(MAX_TAIL_BYTES);
        Tail {
            limit,
            bytes: VecDeque::with_capacity(limit.min(64 * 1024)),
            dropped: 0,
        }
    }

    /// Adds a chunk as it arrived.
    pub fn push(&mut self, chunk: &[u8]) {
        let keep = &chunk[chunk.len().saturating_sub(self.limit)..];
        self.dropped += (chunk.len() - keep.len()) as u64;
        let overflow = (self.bytes.len() + keep.len()).saturating_sub(self.limit);
        self.bytes.drain(..overflow);
        self.dropped += overflow as u64;
        self.bytes.extend(keep);
    }

    /// The tail as text, with a first line saying how much was left out
    /// when something was; empty when there was no output.
    pub fn message(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut bytes = Vec::with_capacity(self.bytes.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if self.dropped == 0 {
            return text;
        }
        // The cut may have split a character: drop its remains rather
        // than start the message with a replacement character.
        if let Some(start) = text.strip_prefix('\u{FFFD}') {
            text = start.to_string();
        }
        format!(
            "[output truncated: the first {} bytes are not included; the last {} follow]\n{text}",
            self.dropped,
            self.bytes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole_in_order() {
        let mut tail = Tail::new(100);
        tail.push(b"out 1\n");
        tail.push(b"err 1\n");
        tail.push(b"out 2\n");
        assert_eq!(tail.message(), "out 1\nerr 1\nout 2\n");
    }

    #[test]
    fn long_output_keeps_the_last_bytes_with_a_note() {
        let mut tail = Tail::new(10);
        tail.push(b"0123456789");
        tail.push(b"abcdef");
        assert_eq!(
            tail.message(),
            "[output truncated: the first 6 bytes are not included; the last 10 follow]\n6789abcdef"
        );
        // One chunk larger than the limit.
        let mut tail = Tail::new(4);
        tail.push(b"0123456789");
        assert!(tail.message().ends_with("]\n6789"), "{}", tail.message());
        assert!(tail.message().contains("first 6 bytes"));
    }

    #[test]
    fn a_split_character_is_dropped_not_mangled() {
        let mut tail = Tail::new(5);
        tail.push("ééé".as_bytes()); // 6 bytes; the first byte of é #1 goes
        assert!(tail.message().ends_with("]\néé"), "{}", tail.message());
    }

    #[test]
    fn limit_is_capped_to_what_deadman_keeps() {
        let mut tail = Tail::new(usize::MAX);
        tail.push(&vec![b'x'; MAX_MESSAGE_BYTES * 2]);
        let message = tail.message();
        assert!(message.len() <= MAX_MESSAGE_BYTES - RESERVED_BYTES + 100);
        assert_eq!(MAX_TAIL_BYTES, 10_000);
    }

    #[test]
    fn no_output_is_an_empty_message() {
        assert_eq!(Tail::new(10).message(), "");
        let mut zero = Tail::new(0);
        zero.push(b"abc");
        assert!(zero.message().contains("first 3 bytes"));
    }
}
