//! Port of the redirect in `SimpleHTTPRequestHandler.send_head` (a directory asked for
//! without its trailing slash gets a 301 to the slash form), with the fix for CPython's
//! CVE-2021-28861 built in: the `Location` is made from the confined path, never copied
//! from the request.
//!
//! Python copies the request's path into `Location`, so `GET //evil.example/dir` gave
//! `Location: //evil.example/dir/`, which a browser reads as another host (a scheme-relative
//! URL: an open redirect). CPython now collapses leading slashes first. This goes further,
//! as nginx does: the path is decoded, its empty and `.` segments dropped (as the file was
//! found), each segment re-encoded, and the result made absolute with the request's own
//! validated authority.

use super::files::percent_decode;

/// The slash form of a directory's request target: its path rebuilt from its segments (no
/// empty or `.` segment, each percent-encoded where RFC 3986's `pchar` needs it), a `/`
/// added, then the query. `//dir`, `///dir`, `/./dir` and `/%2Fdir` all give `/dir/`.
///
/// Python: `parts = urllib.parse.urlsplit(self.path)` ... `urlunsplit(new_parts)`.
pub(crate) fn directory_target(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let query = target[path.len()..].split('#').next().unwrap_or("");
    // The target already named an existing directory, so it decodes; an undecodable one
    // (never expected) falls back to the root rather than echo raw bytes.
    let decoded = percent_decode(path.as_bytes()).unwrap_or_default();
    let mut out = String::with_capacity(target.len() + 1);
    for segment in decoded.split(|&b| b == b'/') {
        if matches!(segment, b"" | b"." | b"..") {
            continue;
        }
        out.push('/');
        encode(&mut out, segment, is_pchar);
    }
    out.push('/');
    encode(&mut out, query.as_bytes(), |b| {
        is_pchar(b) || matches!(b, b'/' | b'?' | b'%')
    });
    out
}

/// `path` made absolute with `host` (`http://host/path`), as nginx makes its redirects;
/// without a host (an HTTP/1.0 request that sent none) the path alone (RFC 9110 §10.2.2
/// allows a relative `Location`). Either way the path begins with exactly one `/`: leading
/// slashes are collapsed here too, so that no path handed in can become `//host/...`.
pub(crate) fn absolute(path: &str, host: Option<&str>) -> String {
    let path = path.trim_start_matches('/');
    match host {
        Some(host) => format!("http://{host}/{path}"),
        None => format!("/{path}"),
    }
}

/// RFC 3986 `pchar` without `%`: unreserved, sub-delims, `:` and `@`.
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// Appends `bytes`, each byte `keep` refuses as `%XX`: nothing a client sent reaches the
/// header raw (no CR or LF, no space, no `"`).
fn encode(out: &mut String, bytes: &[u8], keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slash_form_is_built_from_the_segments() {
        let cases = [
            ("/dir", "/dir/"),
            ("//dir", "/dir/"),
            ("///dir", "/dir/"),
            ("/./dir", "/dir/"),
            ("/%2Fdir", "/dir/"),
            ("/%2F%2Fevil.example/dir", "/evil.example/dir/"),
            ("//evil.example/dir?x=1", "/evil.example/dir/?x=1"),
            ("/a%20b", "/a%20b/"),
            ("/a%0d%0aSet-Cookie:x", "/a%0D%0ASet-Cookie:x/"),
            ("/caf%C3%A9", "/caf%C3%A9/"),
            ("/d?q=a%20b&r=/s", "/d/?q=a%20b&r=/s"),
            ("/d?q=\"<x>\"", "/d/?q=%22%3Cx%3E%22"),
            ("/d#frag", "/d/"),
        ];
        for (target, expected) in cases {
            assert_eq!(directory_target(target), expected, "{target:?}");
        }
    }

    /// Whatever the target (every 1- and 2-character combination of the characters that
    /// matter, at a few positions), the slash form begins with exactly one `/` and holds
    /// only printable ASCII other than space and `"`.
    #[test]
    fn no_target_gives_a_scheme_relative_or_unsafe_location() {
        let pieces = [
            "/", "//", ".", "..", "%2F", "%2f", "%2E", "%00", "%0D%0A", "\\", "?", "#", "%", "a",
            "%zz", "\u{e9}", "\"", " ",
        ];
        for a in pieces {
            for b in pieces {
                for target in [
                    format!("/{a}{b}"),
                    format!("{a}{b}x"),
                    format!("/{a}/{b}/d"),
                ] {
                    let to = directory_target(&target);
                    assert!(
                        to.starts_with('/') && !to.starts_with("//"),
                        "{target:?} -> {to:?}"
                    );
                    assert!(
                        to.bytes().all(|b| b.is_ascii_graphic() && b != b'"'),
                        "{target:?} -> {to:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn absolute_uses_the_host_or_stays_a_path() {
        assert_eq!(absolute("/d/", Some("h:8080")), "http://h:8080/d/");
        assert_eq!(absolute("/d/", Some("[::1]")), "http://[::1]/d/");
        assert_eq!(absolute("/d/", None), "/d/");
        assert_eq!(absolute("//evil/d/", None), "/evil/d/");
        assert_eq!(absolute("//evil/d/", Some("h")), "http://h/evil/d/");
    }
}
