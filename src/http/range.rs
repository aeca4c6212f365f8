//! Byte ranges (RFC 9110 §14): which part of a file a `Range: bytes=...` header asks for,
//! so that `curl -C -` can resume a download and a media player can seek.
//!
//! Python: `http.server` ignores `Range` (always 200). nginx's counterpart is
//! `ngx_http_range_filter_module.c`; Go's is `parseRange` in `net/http/fs.go`.
//!
//! The rules, for GET of a file (HEAD ignores `Range`, RFC 9110 §14.2):
//!
//! | `Range` | answer |
//! |---|---|
//! | absent, not `bytes=`, or malformed | 200, the whole file |
//! | `bytes=A-B`, `bytes=A-`, `bytes=-N` with A < size | 206, `Content-Range: bytes A-B/SIZE`, B past the end clamped |
//! | A ≥ size, or `bytes=-0` | 416, `Content-Range: bytes */SIZE` |
//! | any range of an empty file | 200, the empty body (as nginx and Go answer) |
//! | several ranges | 200, the whole file (no `multipart/byteranges`) |
//!
//! A malformed header is ignored (RFC 9110 §14.2 allows that) where nginx answers 416; and
//! several ranges get the whole file where nginx sends a multipart body. Both keep a
//! hostile `Range` (thousands of overlapping ranges, the "Apache Killer" of
//! CVE-2011-3192) to the cost of one plain response.

/// What a `Range` header asks of a file of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// Send the whole file, 200.
    Whole,
    /// Send `len` bytes from `start`, 206: `Content-Range: bytes start-(start+len-1)/size`.
    Part {
        /// The first byte.
        start: u64,
        /// How many bytes, at least one.
        len: u64,
    },
    /// 416 Range Not Satisfiable, `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Reads a `Range` header against a file of `size` bytes.
///
/// Python: none. Go: `parseRange`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{byte_range, ByteRange};
///
/// assert_eq!(byte_range(Some("bytes=0-99"), 1000), ByteRange::Part { start: 0, len: 100 });
/// assert_eq!(byte_range(Some("bytes=900-"), 1000), ByteRange::Part { start: 900, len: 100 });
/// assert_eq!(byte_range(Some("bytes=-10"), 1000), ByteRange::Part { start: 990, len: 10 });
/// assert_eq!(byte_range(Some("bytes=990-5000"), 1000), ByteRange::Part { start: 990, len: 10 });
/// assert_eq!(byte_range(Some("bytes=1000-"), 1000), ByteRange::Unsatisfiable);
/// assert_eq!(byte_range(Some("bytes=0-1,5-6"), 1000), ByteRange::Whole);
/// assert_eq!(byte_range(Some("bytes=abc"), 1000), ByteRange::Whole);
/// assert_eq!(byte_range(Some("bytes=0-"), 0), ByteRange::Whole);
/// ```
pub fn byte_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(header) = header else {
        return ByteRange::Whole;
    };
    let header = header.trim_matches([' ', '\t']);
    // The unit is case-insensitive (RFC 9110 §14.1); anything but bytes is ignored.
    let Some(set) = header
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| &header[6..])
    else {
        return ByteRange::Whole;
    };
    // `1#range-spec`: empty list elements are allowed and skipped (RFC 9110 §5.6.1).
    let mut specs = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        .filter(|spec| !spec.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return ByteRange::Whole; // none, or several
    };
    let Some(spec) = parse_spec(spec) else {
        return ByteRange::Whole;
    };
    if size == 0 {
        // Nothing to cut: the (empty) whole answers every range, as nginx and Go do.
        return ByteRange::Whole;
    }
    match spec {
        Spec::From { start, end } => {
            if start >= size {
                return ByteRange::Unsatisfiable;
            }
            let last = end.map_or(size - 1, |end| end.min(size - 1));
            ByteRange::Part {
                start,
                len: last - start + 1,
            }
        }
        Spec::Suffix(0) => ByteRange::Unsatisfiable,
        Spec::Suffix(n) => {
            let len = n.min(size);
            ByteRange::Part {
                start: size - len,
                len,
            }
        }
    }
}

enum Spec {
    /// `A-B` or `A-`.
    From { start: u64, end: Option<u64> },
    /// `-N`: the last N bytes.
    Suffix(u64),
}

/// One `range-spec`; `None` when malformed (including `A-B` with B < A).
///
/// A number too large for 64 bits is still a number (RFC 9110's `1*DIGIT` has no bound):
/// it stands for "past the end of any file", so `bytes=99999999999999999999-` is a start
/// past the end (416, as nginx answers), and a last byte or suffix that large is clamped
/// to the file, like any other past the end.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return digits(last).map(Spec::Suffix);
    }
    let start = digits(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if end.is_some_and(|end| end < start) {
        return None;
    }
    Some(Spec::From { start, end })
}

/// A non-empty run of ASCII digits (no sign, no spaces); one too large for a `u64` is
/// `u64::MAX`, which no file reaches.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only digits: the one way parsing can fail is overflow.
    Some(text.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, len: u64) -> ByteRange {
        ByteRange::Part { start, len }
    }

    #[test]
    fn single_ranges() {
        let size = 100;
        for (header, want) in [
            ("bytes=0-0", part(0, 1)),
            ("bytes=0-99", part(0, 100)),
            ("bytes=0-100", part(0, 100)),
            ("bytes=10-", part(10, 90)),
            ("bytes=99-", part(99, 1)),
            ("bytes=-1", part(99, 1)),
            ("bytes=-100", part(0, 100)),
            ("bytes=-5000", part(0, 100)),
            ("BYTES=5-6", part(5, 2)),
            ("bytes= 5-6 ", part(5, 2)),
            ("bytes=5-6,", part(5, 2)),
            ("bytes=,5-6", part(5, 2)),
            ("bytes=0-18446744073709551615", part(0, 100)),
            ("bytes=0-99999999999999999999", part(0, 100)),
            ("bytes=-99999999999999999999", part(0, 100)),
            ("bytes=00000000000000000000000005-6", part(5, 2)),
        ] {
            assert_eq!(byte_range(Some(header), size), want, "{header}");
        }
    }

    #[test]
    fn unsatisfiable_ranges() {
        for header in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=-0",
            "bytes=-000",
            "bytes=5000-6000",
            "bytes=18446744073709551616-",
            "bytes=99999999999999999999-",
            "bytes=99999999999999999999-99999999999999999999",
        ] {
            assert_eq!(
                byte_range(Some(header), 100),
                ByteRange::Unsatisfiable,
                "{header}"
            );
        }
    }

    #[test]
    fn malformed_or_several_ranges_get_the_whole_file() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=5",
            "bytes=6-5",
            "bytes=--5",
            "bytes=+5-6",
            "bytes=5 -6",
            "bytes=0-1,2-3",
            "bytes=0-1, 0-1",
            "items=0-1",
            "bytes 0-1",
            "bytes=99999999999999999999-5",
            "bytes=0-1-2",
            "bytes=é-1",
            "bytes=\u{0}",
        ] {
            assert_eq!(
                byte_range(Some(header), 100),
                ByteRange::Whole,
                "{header:?}"
            );
        }
        assert_eq!(byte_range(None, 100), ByteRange::Whole);
    }

    #[test]
    fn an_empty_file_is_whole_for_every_range() {
        for header in ["bytes=0-", "bytes=-5", "bytes=0-0", "bytes=5-"] {
            assert_eq!(byte_range(Some(header), 0), ByteRange::Whole, "{header}");
        }
    }

    #[test]
    fn thousands_of_ranges_cost_one_scan() {
        let many = format!("bytes={}", vec!["0-"; 10_000].join(","));
        assert_eq!(byte_range(Some(&many), 100), ByteRange::Whole);
        let huge = "bytes=".to_owned() + &"9".repeat(10_000) + "-";
        assert_eq!(byte_range(Some(&huge), 100), ByteRange::Unsatisfiable);
    }

    #[test]
    fn random_headers_never_panic_and_parts_stay_inside_the_file() {
        let values =
            crate::http::escape::tests::hostile_values(b"bytes=0123456789-, \t;9e", 20_000, 40);
        for value in &values {
            for size in [0, 1, 7, 100, u64::MAX] {
                match byte_range(Some(value), size) {
                    ByteRange::Part { start, len } => {
                        assert!(
                            len >= 1 && start.checked_add(len).is_some_and(|end| end <= size),
                            "{value:?} {size}"
                        );
                    }
                    ByteRange::Whole | ByteRange::Unsatisfiable => {}
                }
            }
        }
    }
}
