//! A line decoder with a length limit, for line-based protocols (chat, SMTP-like commands).
//!
//! Python: `asyncio.StreamReader.readline()` with its `limit`, or Twisted's
//! `LineOnlyReceiver` (`delimiter`, `MAX_LENGTH`, `lineLengthExceeded`). The shape is
//! tokio-util's `LinesCodec::new_with_max_length`: the search for `\n` resumes where it
//! stopped, and a line over the limit is reported once and then discarded up to its
//! newline, so however long a line a peer sends, the decoder holds at most `max_length + 1`
//! bytes. A `\r` before the `\n` is dropped.
//!
//! Lines that arrive whole inside one `data_received` are handed out straight from the
//! loop's read buffer, without a copy; only a line split across reads is gathered here.

use std::fmt;

/// What [`Lines::next_line`] yields: a line without its `\n` (and `\r`), or the news
/// that a line was too long and is being discarded.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// One complete line, without the line ending.
    Line(&'a [u8]),
    /// A line passed the limit; its bytes up to the next `\n` are dropped. Reported once
    /// per over-long line, as soon as it is known.
    TooLong,
}

/// Splits a byte stream into lines of at most `max_length` bytes.
///
/// # Examples
///
/// ```
/// use mio_selectors::event_loop::{Line, LineDecoder};
///
/// let mut decoder = LineDecoder::new(8);
/// let mut got = Vec::new();
/// for chunk in [&b"hel"[..], b"lo\r\nworld\nthis one is too long\nok\npart"] {
///     let mut lines = decoder.feed(chunk);
///     while let Some(line) = lines.next_line() {
///         got.push(match line {
///             Line::Line(bytes) => String::from_utf8_lossy(bytes).into_owned(),
///             Line::TooLong => "<too long>".to_owned(),
///         });
///     }
/// }
/// assert_eq!(got, ["hello", "world", "<too long>", "ok"]);
/// assert_eq!(decoder.buffered(), 4); // "part" waits for its newline
/// ```
#[derive(Clone)]
pub struct LineDecoder {
    max_length: usize,
    /// The start of a line that did not end in the last chunk.
    partial: Vec<u8>,
    /// Inside an over-long line: drop bytes until the next `\n`.
    discarding: bool,
}

impl LineDecoder {
    /// A decoder for lines of at most `max_length` bytes, not counting the line ending.
    pub fn new(max_length: usize) -> LineDecoder {
        LineDecoder {
            max_length,
            partial: Vec::new(),
            discarding: false,
        }
    }

    /// The limit given to [`new`](Self::new).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Bytes held for a line that has not ended yet (at most `max_length + 1`).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Takes what is left of an unfinished line, for a protocol that wants it at end of
    /// file (tokio's `decode_eof`); `None` if nothing is held. Forgets a discarded line.
    pub fn take_remainder(&mut self) -> Option<Vec<u8>> {
        self.discarding = false;
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }

    /// Decodes the lines in `data`, which follows everything fed before. Call
    /// [`Lines::next_line`] until it returns `None`: that is what keeps the bytes of an
    /// unfinished line for the next `feed`. A caller that stops early (and drops the
    /// [`Lines`]) drops the rest of `data` with it.
    pub fn feed<'a>(&'a mut self, data: &'a [u8]) -> Lines<'a> {
        Lines {
            decoder: self,
            data,
            pos: 0,
            clear_partial: false,
        }
    }

    /// Up to `max_length` content bytes, plus one for a `\r` that may turn out to precede
    /// the newline.
    fn holdable(&self) -> usize {
        self.max_length.saturating_add(1)
    }
}

impl fmt::Debug for LineDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineDecoder")
            .field("max_length", &self.max_length)
            .field("buffered", &self.partial.len())
            .field("discarding", &self.discarding)
            .finish()
    }
}

/// The lines of one chunk, from [`LineDecoder::feed`]. A lending iterator: each line
/// borrows the decoder or the chunk until the next call.
#[derive(Debug)]
pub struct Lines<'a> {
    decoder: &'a mut LineDecoder,
    data: &'a [u8],
    pos: usize,
    /// The previous line was gathered in `partial`; empty it before going on.
    clear_partial: bool,
}

impl Lines<'_> {
    /// The next line or [`Line::TooLong`] notice, or `None` when the chunk is used up.
    #[allow(clippy::should_implement_trait)] // a lending iterator: Iterator cannot lend
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        if std::mem::take(&mut self.clear_partial) {
            self.decoder.partial.clear();
        }
        // Find the next line first, as positions; borrow it only at the end.
        let (start, end) = loop {
            let rest = self.data.get(self.pos..).filter(|rest| !rest.is_empty())?;
            let decoder = &mut *self.decoder;
            let Some(i) = memchr(rest) else {
                self.pos = self.data.len();
                if decoder.discarding {
                    return None;
                }
                if decoder.partial.len() + rest.len() > decoder.holdable() {
                    // Over the limit with no end in sight: say so once, then drop bytes
                    // up to the newline, so memory stays bounded however long it gets.
                    decoder.partial.clear();
                    decoder.discarding = true;
                    return Some(Line::TooLong);
                }
                decoder.partial.extend_from_slice(rest);
                return None;
            };
            let start = self.pos;
            self.pos += i + 1;
            if decoder.discarding {
                decoder.discarding = false;
                continue;
            }
            break (start, start + i);
        };
        let decoder = &mut *self.decoder;
        let line: &[u8] = if decoder.partial.is_empty() {
            &self.data[start..end] // the whole line is in this chunk: no copy
        } else if decoder.partial.len() + (end - start) <= decoder.holdable() {
            decoder.partial.extend_from_slice(&self.data[start..end]);
            self.clear_partial = true;
            &decoder.partial
        } else {
            decoder.partial.clear();
            return Some(Line::TooLong);
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > decoder.max_length {
            return Some(Line::TooLong);
        }
        Some(Line::Line(line))
    }
}

impl Drop for Lines<'_> {
    /// A caller that stops before `None` must not find the line it took last (gathered in
    /// `partial`) glued to the front of the next one. The rest of the chunk is its to drop.
    fn drop(&mut self) {
        if self.clear_partial {
            self.decoder.partial.clear();
        }
    }
}

/// The index of the first `\n` in `bytes`.
fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and returns what came out, `TooLong` as `"!"`.
    fn decode(decoder: &mut LineDecoder, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut lines = decoder.feed(chunk);
            while let Some(line) = lines.next_line() {
                out.push(match line {
                    Line::Line(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                    Line::TooLong => "!".to_owned(),
                });
            }
        }
        out
    }

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        let text = b"alpha\r\nbeta\n\ngamma\r\n";
        for cut in 0..text.len() {
            let mut decoder = LineDecoder::new(5);
            let got = decode(&mut decoder, &[&text[..cut], &text[cut..]]);
            assert_eq!(got, ["alpha", "beta", "", "gamma"], "cut at {cut}");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn the_limit_counts_content_not_the_line_ending() {
        let mut decoder = LineDecoder::new(3);
        let got = decode(&mut decoder, &[b"abc\r\nabcd\nab", b"c\r", b"\nx\n"]);
        assert_eq!(got, ["abc", "!", "abc", "x"]);
    }

    #[test]
    fn an_endless_line_is_reported_once_and_holds_bounded_memory() {
        let mut decoder = LineDecoder::new(4096);
        let chunk = vec![b'x'; 64 * 1024];
        let mut reports = 0;
        for _ in 0..1600 {
            // 100 MiB, no newline
            reports += decode(&mut decoder, &[&chunk]).len();
            assert!(decoder.buffered() <= 4097);
        }
        assert_eq!(reports, 1);
        assert_eq!(decode(&mut decoder, &[b"tail\nnext\n"]), ["next"]);
    }

    #[test]
    fn stopping_after_a_gathered_line_does_not_glue_it_to_the_next() {
        // A protocol may stop taking lines early (a chat client's `/quit`). The line it
        // took last was gathered across two reads; it must not be prefixed to the next one.
        let mut decoder = LineDecoder::new(64);
        assert_eq!(decode(&mut decoder, &[b"hel"]), Vec::<String>::new());
        let mut lines = decoder.feed(b"lo\n");
        assert_eq!(lines.next_line(), Some(Line::Line(b"hello")));
        drop(lines);
        assert_eq!(decoder.buffered(), 0);
        assert_eq!(decode(&mut decoder, &[b"next\n"]), ["next"]);
    }

    #[test]
    fn the_remainder_is_there_for_end_of_file() {
        let mut decoder = LineDecoder::new(10);
        assert_eq!(decode(&mut decoder, &[b"one\ntw"]), ["one"]);
        assert_eq!(decoder.take_remainder().as_deref(), Some(&b"tw"[..]));
        assert_eq!(decoder.take_remainder(), None);
    }
}
