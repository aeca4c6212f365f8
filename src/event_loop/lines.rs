//! A line decoder with a length limit, for line-based protocols (chat, SMTP-like commands).
//!
//! Python: `asyncio.StreamReader.readline()` with its `limit`, or Twisted's
//! `LineOnlyReceiver` (`delimiter`, `MAX_LENGTH`, `lineLengthExceeded`). The shape is
//! tokio-util's `LinesCodec::new_with_max_length`: a line over the limit is reported once
//! and then discarded up to its newline, so however long a line a peer sends, the decoder
//! holds at most `max_length + 1` bytes. A `\r` before the `\n` is dropped.
//!
//! [`LineDecoder::feed`] does the decoder's part of a chunk at once: it completes the line
//! left from the last chunk and keeps the unfinished line at the end of this one. What it
//! returns, [`Lines`], is a plain [`Iterator`] over the complete lines in between that
//! borrows the chunk only, never the decoder. So the natural code is also the correct one:
//! `for line in self.lines.feed(data)` may call `&mut self` methods in its body, every line
//! after a [`Line::TooLong`] is still visited, and a caller that stops early (`break`)
//! drops only the lines it did not take: the stream's framing is already safe in the
//! decoder.
//!
//! Lines that arrive whole inside one `data_received` are handed out straight from the
//! loop's read buffer, without a copy; only a line split across reads is gathered (at most
//! one per chunk: the first) and handed out owned.

use std::borrow::Cow;
use std::fmt;
use std::iter::FusedIterator;

/// What [`Lines`] yields: a line without its `\n` (and `\r`), or the news that a line was
/// too long and is being discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// One complete line, without the line ending: borrowed from the chunk that was fed,
    /// or owned if it was gathered across chunks. Either way it derefs to `[u8]`.
    Line(Cow<'a, [u8]>),
    /// A line passed the limit; its bytes up to the next `\n` are dropped. Reported once
    /// per over-long line, as soon as it is known, in its place among the lines.
    TooLong,
}

impl Line<'_> {
    /// The line's bytes, or `None` for [`Line::TooLong`]: for a protocol that answers an
    /// over-long line with nothing.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Line::Line(text) => Some(text),
            Line::TooLong => None,
        }
    }
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
///     for line in decoder.feed(chunk) {
///         got.push(match line {
///             Line::Line(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
///             Line::TooLong => "<too long>".to_owned(),
///         });
///     }
/// }
/// assert_eq!(got, ["hello", "world", "<too long>", "ok"]);
/// assert_eq!(decoder.buffered(), 4); // "part" waits for its newline
/// ```
///
/// The lines borrow the chunk, not the decoder, so a protocol can call its own `&mut self`
/// methods (or keep the decoder in the same struct as other state) inside the loop:
///
/// ```
/// use mio_selectors::event_loop::{Context, Line, LineDecoder, Protocol};
///
/// struct Commands {
///     lines: LineDecoder,
///     handled: u64,
/// }
///
/// impl Commands {
///     fn handle(&mut self, ctx: &mut Context<'_>, line: Line<'_>) {
///         self.handled += 1;
///         let _ = match line.text() {
///             Some(b"quit") => ctx.write(b"bye\n"),
///             Some(_) => ctx.write(b"ok\n"),
///             None => ctx.write(b"! line too long\n"),
///         };
///     }
/// }
///
/// impl Protocol for Commands {
///     fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
///         for line in self.lines.feed(data) {
///             self.handle(ctx, line); // `self` is free: nothing borrows it here
///         }
///     }
/// }
/// # let _ = Commands { lines: LineDecoder::new(80), handled: 0 };
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

    /// Decodes the lines in `data`, which follows everything fed before, and returns them
    /// in order (lines and [`Line::TooLong`] notices).
    ///
    /// The decoder's part is done before this returns: the line left from the last chunk
    /// is completed (it comes first), and the unfinished line at the end of `data` is
    /// kept for the next call. So the [`Lines`] borrows `data` only, and a caller that
    /// stops taking lines early (a `/quit`) drops just the complete lines it did not take;
    /// the next `feed` goes on from the right place either way.
    pub fn feed<'a>(&mut self, data: &'a [u8]) -> Lines<'a> {
        let mut lines = Lines {
            head: None,
            rest: &[],
            tail_too_long: false,
            max_length: self.max_length,
        };
        let Some(first) = memchr(data) else {
            // No newline: all of `data` continues the current line.
            lines.tail_too_long = self.hold(data);
            return lines;
        };
        // The line that ends at the first newline, which may have begun in earlier chunks.
        let mut start = first + 1;
        if std::mem::take(&mut self.discarding) {
            // The end of an over-long line, reported already: dropped.
        } else if self.partial.is_empty() {
            start = 0; // it began in this chunk: handed out from `data` like the others
        } else if self.partial.len() + first <= self.holdable() {
            // Gathered across chunks: handed out owned, so that it borrows nothing. A copy,
            // not the held buffer itself: the decoder keeps that, with its capacity, for the
            // next chunk's tail. Moving it out made every chunk free one buffer and allocate
            // another, and that churn among the write queues' big buffers cost the chat
            // benchmark page faults (scripts/bench-chat.py, 10 receivers: 5x as many).
            let mut line = Vec::with_capacity(self.partial.len() + first);
            line.extend_from_slice(&self.partial);
            line.extend_from_slice(&data[..first]);
            self.partial.clear();
            lines.head = Some(finish(Cow::Owned(line), self.max_length));
        } else {
            self.partial.clear();
            lines.head = Some(Line::TooLong);
        }
        // Complete lines up to the last newline; after it, the start of the next line.
        let last = memrchr(data).unwrap_or(first);
        lines.rest = &data[start..=last];
        lines.tail_too_long = self.hold(&data[last + 1..]);
        lines
    }

    /// Keeps `bytes`, the start (or more) of a line that has not ended. Returns whether
    /// that made the line too long: reported once, after which its bytes are dropped up to
    /// the newline, so memory stays bounded however long it gets.
    fn hold(&mut self, bytes: &[u8]) -> bool {
        if self.discarding || bytes.is_empty() {
            return false;
        }
        if self.partial.len() + bytes.len() > self.holdable() {
            self.partial.clear();
            self.discarding = true;
            return true;
        }
        self.partial.extend_from_slice(bytes);
        false
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

/// The lines of one chunk, from [`LineDecoder::feed`], in order: an [`Iterator`] that
/// borrows the chunk, not the decoder.
///
/// Dropping it before the end drops the complete lines not taken yet, nothing else: the
/// decoder already holds the unfinished line that follows them.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    /// A line completed from bytes of earlier chunks (or its `TooLong`), first out.
    head: Option<Line<'a>>,
    /// Complete lines, each ending in `\n`: the chunk from its first line that began in it
    /// up to its last newline.
    rest: &'a [u8],
    /// The unfinished line at the end of the chunk went over the limit: say so last.
    tail_too_long: bool,
    max_length: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        if let Some(i) = memchr(self.rest) {
            let (line, rest) = self.rest.split_at(i);
            self.rest = &rest[1..];
            return Some(finish(Cow::Borrowed(line), self.max_length));
        }
        std::mem::take(&mut self.tail_too_long).then_some(Line::TooLong)
    }
}

impl FusedIterator for Lines<'_> {}

/// A complete line without its `\n`: drops a `\r` before it, and checks the limit.
fn finish(mut line: Cow<'_, [u8]>, max_length: usize) -> Line<'_> {
    match &mut line {
        Cow::Borrowed(bytes) => {
            *bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        }
        Cow::Owned(bytes) => {
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
    }
    if line.len() > max_length {
        return Line::TooLong;
    }
    Line::Line(line)
}

/// The index of the first `\n` in `bytes`.
fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// The index of the last `\n` in `bytes`.
fn memrchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and returns what came out, `TooLong` as `"!"`.
    fn decode(decoder: &mut LineDecoder, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in chunks {
            for line in decoder.feed(chunk) {
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
    fn lines_split_anywhere_in_three_come_out_whole_with_the_notices_in_place() {
        // Every way of cutting the text into three chunks, with over-long lines inside a
        // chunk, across chunks and at the end: the same lines and notices, in order.
        let text = b"ab\r\ntoolong\nc\n\nlonger than five\r\nd";
        let want = ["ab", "!", "c", "", "!"];
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let mut decoder = LineDecoder::new(5);
                let got = decode(&mut decoder, &[&text[..i], &text[i..j], &text[j..]]);
                assert_eq!(got, want, "cut at {i} and {j}");
                assert_eq!(decoder.take_remainder().as_deref(), Some(&b"d"[..]));
            }
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
    fn the_rest_of_a_chunk_after_too_long_is_not_lost() {
        // The issue's case: the natural `while let Some(Line::Line(..))` stopped at the
        // first notice and the old `Lines` dropped the rest of the chunk with it. A `for`
        // visits every line; and even a loop that stops at the notice leaves the decoder
        // in step, so the next chunk's lines come out whole.
        let mut decoder = LineDecoder::new(5);
        let got = decode(&mut decoder, &[b"one\nfar too long\ntwo\nthr", b"ee\n"]);
        assert_eq!(got, ["one", "!", "two", "three"]);

        let mut decoder = LineDecoder::new(5);
        let mut lines = decoder.feed(b"one\nfar too long\ntwo\nthr");
        let mut taken = Vec::new();
        while let Some(Line::Line(text)) = lines.next() {
            taken.push(text.into_owned());
        }
        assert_eq!(taken, [b"one".to_vec()]);
        // What the stopped loop did not take is still in the iterator, in order...
        assert_eq!(lines.collect::<Vec<_>>(), [Line::Line(b"two"[..].into())]);
        // ...and the decoder kept the unfinished line whatever the caller did.
        assert_eq!(decode(&mut decoder, &[b"ee\n"]), ["three"]);
    }

    #[test]
    fn stopping_early_keeps_the_stream_in_step() {
        // A protocol may stop taking lines early (a chat client's `/quit`), with a line
        // gathered across two reads taken and an unfinished one at the end: the next feed
        // neither repeats the line taken nor loses the unfinished one.
        let mut decoder = LineDecoder::new(64);
        assert_eq!(decode(&mut decoder, &[b"hel"]), Vec::<String>::new());
        let mut lines = decoder.feed(b"lo\nskipped\nnex");
        assert_eq!(lines.next(), Some(Line::Line(b"hello"[..].to_vec().into())));
        drop(lines);
        assert_eq!(decoder.buffered(), 3);
        assert_eq!(decode(&mut decoder, &[b"t\n"]), ["next"]);
    }

    #[test]
    fn whole_lines_are_borrowed_and_only_a_gathered_one_is_owned() {
        // The hot path (lines whole inside one read) costs no copy: each line is a slice
        // of the chunk. Only the first line of a chunk can have begun in an earlier one.
        let mut decoder = LineDecoder::new(16);
        let _ = decoder.feed(b"sta");
        let chunk = b"rt\r\nmiddle\r\nend\n";
        let lines: Vec<_> = decoder.feed(chunk).collect();
        assert!(matches!(&lines[0], Line::Line(Cow::Owned(text)) if text == b"start"));
        for (line, want) in lines[1..].iter().zip([&b"middle"[..], b"end"]) {
            let Line::Line(Cow::Borrowed(text)) = line else {
                panic!("{line:?} is not borrowed");
            };
            assert_eq!(*text, want);
            assert!(chunk.as_ptr_range().contains(&text.as_ptr()));
        }
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_stopped_decoder_keeps_no_line_it_handed_out() {
        let mut decoder = LineDecoder::new(10);
        let _ = decoder.feed(b"ab");
        let lines = decoder.feed(b"c\n"); // completes "abc", never taken
        drop(lines);
        assert_eq!(decoder.buffered(), 0);
        assert_eq!(decode(&mut decoder, &[b"x\n"]), ["x"]);
    }

    #[test]
    fn the_remainder_is_there_for_end_of_file() {
        let mut decoder = LineDecoder::new(10);
        assert_eq!(decode(&mut decoder, &[b"one\ntw"]), ["one"]);
        assert_eq!(decoder.take_remainder().as_deref(), Some(&b"tw"[..]));
        assert_eq!(decoder.take_remainder(), None);
    }
}
