//! Escaping file names for the pages the server writes itself (listings, the 406 list of
//! variants): a name goes into an `href` percent-encoded and into text HTML-escaped, so
//! that a file called `<script>.html`, `a"b` or `x:y` shows as text and links to itself.
//!
//! Python: `urllib.parse.quote` and `html.escape`, as `SimpleHTTPRequestHandler.list_directory`
//! uses them. nginx: `ngx_escape_uri(.., NGX_ESCAPE_URI_COMPONENT)` and `ngx_escape_html`.

/// Percent-encodes every byte of `name` but the unreserved ones (`A-Z a-z 0-9 - . _ ~`,
/// RFC 3986 §2.3), so the result is one relative path segment: a `/`, `?`, `#` or `:` in a
/// name cannot start another segment, a query, a fragment or a scheme, and `"`, `&`, `<`
/// cannot end the attribute it is written in.
///
/// Python: `urllib.parse.quote(name, safe='')`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::percent_encode;
///
/// assert_eq!(percent_encode("a b\"<x>:y?.html".as_bytes()), "a%20b%22%3Cx%3E%3Ay%3F.html");
/// assert_eq!(percent_encode(b"\xff"), "%FF");
/// ```
pub fn percent_encode(name: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len() + name.len() / 2);
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values. Bytes that are
/// not UTF-8 show as U+FFFD: a listing shows the name, the link (percent-encoded from the
/// raw bytes) still fetches the file.
///
/// Python: `html.escape(name, quote=True)`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::html_escape;
///
/// assert_eq!(html_escape(b"<script>&\"'.html"), "&lt;script&gt;&amp;&quot;&#x27;.html");
/// ```
pub fn html_escape(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Pseudo-random header values for the parsers' "never panics" tests: bytes drawn
    /// uniformly from `alphabet` (the characters the grammar cares about, so that most
    /// values come close to valid), of lengths up to `max_len`, from a fixed seed so a
    /// failure repeats.
    pub(crate) fn hostile_values(alphabet: &[u8], count: usize, max_len: usize) -> Vec<String> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        (0..count)
            .map(|_| {
                let len = (next() % (max_len as u64 + 1)) as usize;
                let bytes: Vec<u8> = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    #[test]
    fn every_byte_round_trips_through_percent_encoding() {
        let all: Vec<u8> = (0..=255).collect();
        let encoded = percent_encode(&all);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%')));
        let decoded = crate::http::files::percent_decode(format!("/{encoded}").as_bytes());
        // The decoder refuses NUL (no file name holds one); compare the rest.
        assert!(decoded.is_err());
        let decoded = crate::http::files::percent_decode(
            format!("/{}", percent_encode(&all[1..])).as_bytes(),
        )
        .unwrap();
        assert_eq!(&decoded[1..], &all[1..]);
    }

    #[test]
    fn escaped_text_holds_no_markup() {
        let escaped = html_escape(b"<a href=\"x\">'&'</a>\xff");
        assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
        assert!(escaped.ends_with('\u{fffd}'));
    }
}
