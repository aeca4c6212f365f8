//! Port of `urllib.parse.urlsplit` for the one form a forward proxy is sent: the
//! absolute-form request target `http://host[:port]/path?query` (RFC 9112 §3.2.2).
//!
//! Python: `http.server`-based proxies call `urlsplit(self.path)`; `urllib.request` with a
//! `ProxyHandler` and `curl -x` both send this form. Anything else is refused with the
//! status that says why: origin-form (`/path`, meant for a server, not a proxy) and other
//! schemes 400, `CONNECT` (tunnels) 501.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::http::Status;

/// Where a request goes: an `http` URL taken apart.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::Target;
///
/// let t = Target::parse("HTTP://Example.COM:8080/a/b?c=1").unwrap();
/// assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("example.com", 8080, "/a/b?c=1"));
/// assert_eq!(t.url(), "http://example.com:8080/a/b?c=1");
/// assert_eq!(t.host_header(), "example.com:8080");
///
/// let v6 = Target::parse("http://[::1]").unwrap();
/// assert_eq!((v6.host.as_str(), v6.port, v6.path.as_str()), ("::1", 80, "/"));
/// assert_eq!(v6.host_header(), "[::1]");
///
/// assert_eq!(Target::parse("/index.html").unwrap_err().status.code(), 400);
/// assert_eq!(Target::parse("https://example.com/").unwrap_err().status.code(), 400);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host, lowercased; an IPv6 literal without its brackets.
    pub host: String,
    /// The port: 80 unless the URL says otherwise.
    pub port: u16,
    /// Path and query in origin form (`/` if the URL had none), as sent upstream. The
    /// fragment, which clients should never send, is dropped.
    pub path: String,
}

/// Why a request target is refused, and the status to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetError {
    /// 400 or 501.
    pub status: Status,
    /// What was wrong, in a few words, for the log and the error page.
    pub detail: &'static str,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for TargetError {}

const fn bad(detail: &'static str) -> TargetError {
    TargetError {
        status: Status::BadRequest,
        detail,
    }
}

impl Target {
    /// Parses an absolute-form `http` request target.
    ///
    /// # Errors
    /// A [`TargetError`] with 400 for origin-form (`/path`), asterisk-form, another scheme,
    /// user information (`http://user@host/`), a missing, malformed or over-long host, or
    /// a bad port.
    pub fn parse(target: &str) -> Result<Target, TargetError> {
        if target.starts_with('/') {
            return Err(bad(
                "this is a proxy: ask for an absolute URL (http://host/path)",
            ));
        }
        let Some((scheme, rest)) = target.split_once("://") else {
            return Err(bad("the request target is not an absolute URL"));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("only http:// URLs are proxied"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("user information in the URL is not accepted"));
        }
        let (host, port) = split_authority(authority)?;
        let path = if path.is_empty() {
            "/".to_owned()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("control characters in the path"));
        }
        Ok(Target { host, port, path })
    }

    /// The absolute URL, normalised (lowercase host, explicit port only when not 80): the
    /// cache's key.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host_header(), self.path)
    }

    /// The `Host` header for the upstream request (RFC 9112 §3.2.2: generated from the
    /// target, whatever `Host` the client sent).
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The host as an IP address, if it is a literal one (no resolution needed).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// `host[:port]` or `[v6]:port`, checked.
fn split_authority(authority: &str) -> Result<(String, u16), TargetError> {
    let bracketed = authority.starts_with('[');
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(bad("unterminated IPv6 address in the URL"));
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(bad("invalid IPv6 address in the URL"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(bad("junk after the IPv6 address"))?,
            ),
        };
        (v6.to_ascii_lowercase(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    let host = host.strip_suffix('.').map(str::to_owned).unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host in the URL"));
    }
    // RFC 1035's limit on a name; every registered name is made of these characters.
    if host.len() > 253
        || !bracketed
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(bad("invalid host name in the URL"));
    }
    let port = match port {
        // RFC 3986 §3.2.3: an empty port means the scheme's default.
        None | Some("") => 80,
        Some(digits) => match digits.parse::<u16>() {
            Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err(bad("invalid port in the URL")),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            ("http://h", ("h", 80, "/")),
            ("http://h:/x", ("h", 80, "/x")),
            ("http://h?q=1", ("h", 80, "/?q=1")),
            ("http://127.0.0.2:8080/a#frag", ("127.0.0.2", 8080, "/a")),
            ("http://[::1]:81/", ("::1", 81, "/")),
            ("http://LOCALHOST./", ("localhost", 80, "/")),
        ];
        for (input, (host, port, path)) in cases {
            let t = Target::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (t.host.as_str(), t.port, t.path.as_str()),
                (host, port, path)
            );
        }
    }

    #[test]
    fn refused_forms() {
        for input in [
            "/",
            "*",
            "example.com:443",
            "ftp://h/",
            "https://h/",
            "http://",
            "http:///x",
            "http://u:p@h/",
            "http://h:0/",
            "http://h:65536/",
            "http://h:+80/",
            "http://h:8a/",
            "http://[::1/",
            "http://[zz]/",
            "http://[::1]x/",
            "http://h h/",
            "http://a:b:80/",
            "http://h/\x01",
            "http://\u{e9}/",
        ] {
            let err = Target::parse(input).unwrap_err();
            assert_eq!(err.status, Status::BadRequest, "{input}");
        }
        let long = format!("http://{}/", "a".repeat(300));
        assert!(Target::parse(&long).is_err());
    }

    #[test]
    fn url_is_normalised() {
        let a = Target::parse("http://Host:80/p").unwrap();
        let b = Target::parse("http://host/p").unwrap();
        assert_eq!(a.url(), b.url());
        assert_eq!(a.url(), "http://host/p");
    }
}
