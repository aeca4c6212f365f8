//! Hidden paths: any path segment that starts with `.` is refused (403), except a leading
//! `/.well-known/` (RFC 8615), so `.htpasswd`, `.git/config` and `.env` left in the root are
//! never served.
//!
//! Python: `http.server` serves dot-files (and lists them). nginx serves them too unless
//! configured (`location ~ /\. { deny all; }` is the usual recipe, with a `^~
//! /.well-known/` exception for ACME); Apache's default `httpd.conf` denies `.ht*`.

/// Whether the decoded request path names something hidden.
///
/// Empty, `.` and `..` segments do not count: the first two are dropped when the path is
/// resolved, and `..` is refused there with its own message.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::is_hidden;
///
/// assert!(is_hidden(b"/.env"));
/// assert!(is_hidden(b"/app/.git/config"));
/// assert!(is_hidden(b"/./.htpasswd"));
/// assert!(!is_hidden(b"/.well-known/security.txt"));
/// assert!(is_hidden(b"/.well-known/.secret"));
/// assert!(is_hidden(b"/docs/.well-known/x")); // only at the root
/// assert!(!is_hidden(b"/docs/a.b/c.txt"));
/// ```
pub fn is_hidden(decoded_path: &[u8]) -> bool {
    decoded_path
        .split(|&b| b == b'/')
        .filter(|segment| !matches!(*segment, b"" | b"." | b".."))
        .enumerate()
        .any(|(i, segment)| segment.starts_with(b".") && !(i == 0 && segment == b".well-known"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        for hidden in [
            &b"/.a"[..],
            b"/a/.b/c",
            b"//.git//config",
            b"/../.env",
            b"/.well-known/../.env",
            b"/.WELL-KNOWN/x", // file names are case-sensitive
            b"/.well-known.x",
        ] {
            assert!(is_hidden(hidden), "{:?}", String::from_utf8_lossy(hidden));
        }
        for visible in [
            &b"/"[..],
            b"",
            b"/./a",
            b"/a./b",
            b"/.well-known",
            b"/.well-known/",
            b"/..",
            b"/a/../b",
            b"//.well-known/acme-challenge/x",
        ] {
            assert!(
                !is_hidden(visible),
                "{:?}",
                String::from_utf8_lossy(visible)
            );
        }
    }
}
