//! Port of `http.client.HTTPResponse._read_chunked`: decodes `Transfer-Encoding: chunked`
//! (RFC 9112 §7.1) incrementally, for an upstream that answers the proxy's HTTP/1.0
//! request with chunks anyway (RFC 9112 §6.1 forbids it; servers do it).
//!
//! The proxy forwards the decoded bytes and ends the body by closing the client's
//! connection, so the client never sees chunks it did not ask for.

/// The state of one chunked body being decoded.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::ChunkedDecoder;
///
/// let mut decoder = ChunkedDecoder::default();
/// let mut out = Vec::new();
/// assert_eq!(decoder.feed(b"5;ext=1\r\nhel", &mut out), Ok(false));
/// assert_eq!(decoder.feed(b"lo\r\n0\r\nTrailer: x\r\n\r\n", &mut out), Ok(true));
/// assert_eq!(out, b"hello");
/// assert!(ChunkedDecoder::default().feed(b"zz\r\n", &mut out).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// Digits of the chunk size read so far.
    size: u64,
    digits: u8,
    /// Bytes of the current line (extension or trailer) seen, to bound them.
    line: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    /// After the size: `;extensions` up to the line's end.
    Extension,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk; `true` while the current line is empty so far.
    Trailer(bool),
    Done,
}

/// A body that is not valid chunked coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ChunkedError {}

/// The longest extension or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

impl ChunkedDecoder {
    /// Decodes `input`, appending the data to `out`. Returns `Ok(true)` once the last
    /// chunk and the trailer have been read (bytes after that are ignored).
    ///
    /// # Errors
    /// [`ChunkedError`] for a bad size, a size over 2^60, a missing CRLF, or an overlong
    /// extension or trailer line.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<bool, ChunkedError> {
        while let Some((&b, rest)) = input.split_first() {
            match self.state {
                State::Done => return Ok(true),
                State::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if self.digits >= 15 {
                            return Err(ChunkedError("chunk size too large"));
                        }
                        let digit = (b as char).to_digit(16).unwrap_or(0);
                        self.size = self.size * 16 + u64::from(digit);
                        self.digits += 1;
                    }
                    b';' | b' ' | b'\t' | b'\r' | b'\n' if self.digits > 0 => {
                        self.line = 0;
                        self.state = State::Extension;
                        if b == b'\n' {
                            self.end_size_line();
                        }
                    }
                    _ => return Err(ChunkedError("invalid chunk size")),
                },
                State::Extension => {
                    if b == b'\n' {
                        self.end_size_line();
                    } else {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err(ChunkedError("chunk extension too long"));
                        }
                    }
                }
                State::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => {
                        self.size = 0;
                        self.digits = 0;
                        self.state = State::Size;
                    }
                    _ => return Err(ChunkedError("missing CRLF after chunk data")),
                },
                State::Trailer(empty) => match b {
                    b'\n' if empty => self.state = State::Done,
                    b'\n' => {
                        self.line = 0;
                        self.state = State::Trailer(true);
                    }
                    b'\r' => {}
                    _ => {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err(ChunkedError("trailer line too long"));
                        }
                        self.state = State::Trailer(false);
                    }
                },
            }
            input = rest;
        }
        Ok(self.state == State::Done)
    }

    /// True once the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            self.line = 0;
            State::Trailer(true)
        } else {
            State::Data(self.size)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Result<(bool, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut done = false;
        for chunk in input.chunks(piece) {
            done = decoder.feed(chunk, &mut out)?;
        }
        Ok((done, out))
    }

    #[test]
    fn any_split_decodes_the_same() {
        let input = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        for piece in 1..input.len() {
            let (done, out) = decode_in_pieces(input, piece).unwrap();
            assert!(done, "piece {piece}");
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        }
    }

    #[test]
    fn incomplete_is_not_done() {
        let (done, out) = decode_in_pieces(b"3\r\nabc\r\n", 100).unwrap();
        assert!(!done);
        assert_eq!(out, b"abc");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"ffffffffffffffffff\r\n",
            b"3\r\nabcX",
            b"-1\r\n",
        ] {
            assert!(decode_in_pieces(bad, 1).is_err(), "{bad:?}");
        }
        let long_ext = [b"1;".as_slice(), &[b'x'; MAX_LINE + 1]].concat();
        assert!(decode_in_pieces(&long_ext, 7).is_err());
    }
}
