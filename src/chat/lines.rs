//! Cutting lines out of a byte stream, with a limit on their length: the chat server's
//! framing, free of I/O so it can be tested on its own.
//!
//! Python: the `feed` method of `docs/python/chat_server.py`. Rust's counterpart in the
//! ecosystem is tokio-util's `LinesCodec::new_with_max_length`, which this follows: keep
//! at most the limit, and past it discard up to the next newline.

/// What [`LineFramer::feed`] finds in the bytes it is given.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n` and without a `\r` just before it.
    Line(&'a [u8]),
    /// A line longer than the limit began; its bytes are being discarded up to its
    /// newline. Reported once per such line, as soon as it is known to be too long.
    TooLong,
}

/// Splits a byte stream into lines of at most `max_line` bytes (the `\n`, and a `\r`
/// before it, not counted).
///
/// Memory is bounded: lines that arrive whole inside one [`feed`](Self::feed) are handed
/// out as slices of the input, never copied; only the start of a line still waiting for its
/// newline is kept, and never more than `max_line + 1` bytes of it (the `+ 1` is a `\r` that
/// may turn out to precede the newline). Past that the line is too long whatever follows,
/// so its bytes are dropped as they arrive, however many there are.
///
/// Python: `ChatServer.feed` in `docs/python/chat_server.py` (the same rules).
///
/// # Examples
///
/// ```
/// use mio_selectors::chat::{Frame, LineFramer};
///
/// let mut framer = LineFramer::new(5);
/// let mut frames = Vec::new();
/// for piece in [&b"he"[..], b"llo\r\nwor", b"ld!\nok\n"] {
///     framer.feed(piece, |frame| {
///         frames.push(match frame {
///             Frame::Line(line) => String::from_utf8_lossy(line).into_owned(),
///             Frame::TooLong => "(too long)".to_string(),
///         });
///         true // go on
///     });
/// }
/// assert_eq!(frames, ["hello", "(too long)", "ok"]);
/// ```
#[derive(Debug)]
pub struct LineFramer {
    max_line: usize,
    /// The start of a line whose newline has not come yet; at most `max_line + 1` bytes.
    partial: Vec<u8>,
    /// Inside a line that is too long: drop everything up to the next newline.
    discarding: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> LineFramer {
        LineFramer {
            max_line,
            partial: Vec::new(),
            discarding: false,
        }
    }

    /// The bytes held for an unfinished line: at most `max_line + 1`.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Feeds the next bytes of the stream, calling `on_frame` for each line (or too-long
    /// line) they complete, in order. `on_frame` returns `false` to stop: the rest of
    /// `data` is then dropped (the chat server stops after `/quit`).
    ///
    /// Returns `false` if `on_frame` stopped it.
    pub fn feed(&mut self, data: &[u8], mut on_frame: impl FnMut(Frame<'_>) -> bool) -> bool {
        let mut rest = data;
        while let Some(end) = memchr_newline(rest) {
            let (piece, after) = (&rest[..end], &rest[end + 1..]);
            rest = after;
            if self.discarding {
                // The newline that ends a line too long: it was reported already.
                self.discarding = false;
                self.partial.clear();
                continue;
            }
            let frame = if self.partial.is_empty() {
                Self::frame(piece, self.max_line)
            } else {
                self.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut self.partial);
                let go_on = on_frame(Self::frame(&line, self.max_line));
                // Keep the allocation for the next unfinished line.
                self.partial = line;
                self.partial.clear();
                if !go_on {
                    return false;
                }
                continue;
            };
            if !on_frame(frame) {
                return false;
            }
        }
        if !self.discarding {
            self.partial.extend_from_slice(rest);
            if self.partial.len() > self.max_line + 1 {
                self.partial.clear();
                self.discarding = true;
                return on_frame(Frame::TooLong);
            }
        }
        true
    }

    /// A line without its `\n`: drop one `\r` before it, then check the length.
    fn frame(piece: &[u8], max_line: usize) -> Frame<'_> {
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        if line.len() > max_line {
            Frame::TooLong
        } else {
            Frame::Line(line)
        }
    }
}

/// The index of the first `\n`. (`<[u8]>::iter().position` compiles to a fast loop in
/// release builds; the `memchr` crate would be faster still, but the loop is the point here.)
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` one after the other and describes every frame.
    fn frames(max_line: usize, pieces: &[&[u8]]) -> Vec<String> {
        let mut framer = LineFramer::new(max_line);
        let mut out = Vec::new();
        for piece in pieces {
            framer.feed(piece, |frame| {
                out.push(match frame {
                    Frame::Line(line) => line.escape_ascii().to_string(),
                    Frame::TooLong => "!".to_string(),
                });
                true
            });
            assert!(framer.buffered() <= max_line + 1);
        }
        out
    }

    #[test]
    fn lines_in_one_piece_and_across_pieces() {
        assert_eq!(frames(10, &[b"a\nb\n"]), ["a", "b"]);
        assert_eq!(frames(10, &[b"a", b"b", b"c\n"]), ["abc"]);
        assert_eq!(frames(10, &[b"\n\r\n"]), ["", ""]);
        assert_eq!(frames(10, &[b"no newline"]), Vec::<String>::new());
    }

    #[test]
    fn only_one_cr_and_only_before_the_newline_is_dropped() {
        assert_eq!(frames(10, &[b"a\r\n"]), ["a"]);
        assert_eq!(frames(10, &[b"a\r", b"\n"]), ["a"]);
        assert_eq!(frames(10, &[b"a\r\r\n"]), ["a\\r"]);
        assert_eq!(frames(10, &[b"a\rb\n"]), ["a\\rb"]);
    }

    #[test]
    fn the_limit_counts_neither_the_newline_nor_its_cr() {
        assert_eq!(frames(3, &[b"abc\n"]), ["abc"]);
        assert_eq!(frames(3, &[b"abc\r\n"]), ["abc"]);
        assert_eq!(frames(3, &[b"ab", b"c\r", b"\n"]), ["abc"]);
        assert_eq!(frames(3, &[b"abcd\n"]), ["!"]);
        assert_eq!(frames(3, &[b"abc\r\r\n"]), ["!"]);
        assert_eq!(frames(3, &[b"ab", b"cd", b"\n"]), ["!"]);
    }

    #[test]
    fn a_line_too_long_is_reported_once_and_discarded_to_its_newline() {
        // Reported as soon as more than max_line + 1 bytes are waiting.
        assert_eq!(frames(3, &[b"abcde"]), ["!"]);
        assert_eq!(frames(3, &[b"abcde", b"fgh", b"ijk\nok\n"]), ["!", "ok"]);
        let mut framer = LineFramer::new(4);
        let mut seen = 0;
        for _ in 0..1000 {
            framer.feed(&[b'x'; 1000], |_| {
                seen += 1;
                true
            });
            assert!(framer.buffered() <= 5);
        }
        assert_eq!(seen, 1);
    }

    #[test]
    fn stopping_drops_the_rest() {
        let mut framer = LineFramer::new(10);
        let mut lines = Vec::new();
        let finished = framer.feed(b"a\nstop\nb\nc", |frame| {
            let Frame::Line(line) = frame else {
                panic!("{frame:?}")
            };
            lines.push(line.to_vec());
            line != b"stop"
        });
        assert!(!finished);
        assert_eq!(lines, [b"a".to_vec(), b"stop".to_vec()]);
    }
}
