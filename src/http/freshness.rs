//! Freshness (RFC 9111 §4.2, §5.2.2, §5.3): how long a cache may reuse a response without
//! asking again, set per path prefix with `--cache PREFIX=SECONDS`.
//!
//! Python: `http.server` sends no freshness headers, so browsers fall back to heuristics
//! (RFC 9111 §4.2.2: a fraction of the time since `Last-Modified`). nginx's counterpart is
//! the `expires` directive (`ngx_http_headers_filter_module.c`) in a `location`: `expires
//! 3600` sends `Cache-Control: max-age=3600` and `Expires` an hour after `Date`. For 0 it
//! sends `max-age=0` and `Expires` = `Date`; this server sends `Cache-Control: no-cache`
//! instead (store, but revalidate every time: with an `ETag`, a 304 each time), which
//! nginx spells `expires epoch`.
//!
//! The longest matching prefix wins, as nginx's longest prefix `location` does; outside
//! every prefix neither header is sent.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// The largest `SECONDS`: RFC 9111 §1.2.2 treats a larger delta-seconds as 2^31, and
/// `Expires` must stay a valid date.
pub const MAX_AGE_LIMIT: u64 = 1 << 31;

/// One `--cache PREFIX=SECONDS` rule.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::CacheRule;
///
/// let rule: CacheRule = "/static/=3600".parse().unwrap();
/// assert_eq!((rule.prefix(), rule.seconds()), ("/static/", 3600));
/// assert!("/static".parse::<CacheRule>().is_err());      // no `=`
/// assert!("/static/=-1".parse::<CacheRule>().is_err());  // not a non-negative integer
/// assert!("static/=1".parse::<CacheRule>().is_err());    // a path starts with `/`
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRule {
    prefix: String,
    seconds: u64,
}

impl CacheRule {
    /// The path prefix, compared with the decoded request path.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The freshness lifetime, in seconds.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }
}

/// Why a `--cache` value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRuleError(String);

impl fmt::Display for CacheRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CacheRuleError {}

impl FromStr for CacheRule {
    type Err = CacheRuleError;

    fn from_str(text: &str) -> Result<CacheRule, CacheRuleError> {
        let err = |why: &str| Err(CacheRuleError(format!("{text:?}: {why}")));
        // The last `=`: a prefix may contain one (`/a=b/`), SECONDS never does.
        let Some((prefix, seconds)) = text.rsplit_once('=') else {
            return err("expected PREFIX=SECONDS, as in /static/=3600");
        };
        if !prefix.starts_with('/') {
            return err("PREFIX must be a path starting with /");
        }
        if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
            return err("SECONDS must be a non-negative integer");
        }
        let Ok(seconds) = seconds.parse::<u64>() else {
            return err("SECONDS is too large");
        };
        if seconds > MAX_AGE_LIMIT {
            return err("SECONDS must be at most 2147483648 (RFC 9111 §1.2.2)");
        }
        Ok(CacheRule {
            prefix: prefix.to_owned(),
            seconds,
        })
    }
}

/// Every `--cache` rule; [`max_age`](Self::max_age) finds the one for a path.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::CachePolicy;
///
/// let policy = CachePolicy::new(vec!["/=60".parse()?, "/files/=0".parse()?, "/files/big/=86400".parse()?]);
/// assert_eq!(policy.max_age(b"/index.html"), Some(60));
/// assert_eq!(policy.max_age(b"/files/a.txt"), Some(0));
/// assert_eq!(policy.max_age(b"/files/big/x"), Some(86400));
/// assert_eq!(CachePolicy::default().max_age(b"/index.html"), None);
///
/// let mut head = Vec::new();
/// mio_selectors::http::write_freshness(&mut head, 60, std::time::UNIX_EPOCH);
/// assert_eq!(head, b"Cache-Control: max-age=60\r\nExpires: Thu, 01 Jan 1970 00:01:00 GMT\r\n");
/// # Ok::<(), mio_selectors::http::CacheRuleError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CachePolicy {
    rules: Vec<CacheRule>,
}

impl CachePolicy {
    /// A policy from rules in any order; for two rules with the same prefix the later wins,
    /// as a repeated flag usually does.
    pub fn new(rules: Vec<CacheRule>) -> CachePolicy {
        let mut unique: Vec<CacheRule> = Vec::with_capacity(rules.len());
        for rule in rules {
            unique.retain(|r| r.prefix != rule.prefix);
            unique.push(rule);
        }
        // Longest first, so the first match is the longest.
        unique.sort_by_key(|rule| std::cmp::Reverse(rule.prefix.len()));
        CachePolicy { rules: unique }
    }

    /// The freshness lifetime for a decoded request path: that of the longest prefix it
    /// starts with, compared as bytes; `None` outside every prefix.
    pub fn max_age(&self, decoded_path: &[u8]) -> Option<u64> {
        self.rules
            .iter()
            .find(|rule| decoded_path.starts_with(rule.prefix.as_bytes()))
            .map(|rule| rule.seconds)
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Appends the freshness headers for `seconds` to a response head whose `Date` is `date`:
/// `Cache-Control: max-age=N` and `Expires` (date + N), or `Cache-Control: no-cache`
/// alone for 0.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::write_freshness;
/// use std::time::UNIX_EPOCH;
///
/// let mut head = Vec::new();
/// write_freshness(&mut head, 3600, UNIX_EPOCH);
/// assert_eq!(
///     head,
///     b"Cache-Control: max-age=3600\r\nExpires: Thu, 01 Jan 1970 01:00:00 GMT\r\n"
/// );
///
/// head.clear();
/// write_freshness(&mut head, 0, UNIX_EPOCH);
/// assert_eq!(head, b"Cache-Control: no-cache\r\n");
/// ```
pub fn write_freshness(out: &mut Vec<u8>, seconds: u64, date: SystemTime) {
    use std::io::Write as _;
    if seconds == 0 {
        out.extend_from_slice(b"Cache-Control: no-cache\r\n");
        return;
    }
    let expires = date + Duration::from_secs(seconds.min(MAX_AGE_LIMIT));
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "Cache-Control: max-age={seconds}\r\nExpires: {}\r\n",
        super::response::fixdate(expires)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rules_name_what_is_wrong() {
        for (bad, why) in [
            ("", "PREFIX=SECONDS"),
            ("/a", "PREFIX=SECONDS"),
            ("=5", "starting with /"),
            ("a=5", "starting with /"),
            ("/a=", "non-negative integer"),
            ("/a=-1", "non-negative integer"),
            ("/a=1.5", "non-negative integer"),
            ("/a= 5", "non-negative integer"),
            ("/a=0x10", "non-negative integer"),
            ("/a=99999999999999999999999", "too large"),
            ("/a=2147483649", "at most"),
        ] {
            let err = bad.parse::<CacheRule>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!("/a=b/=7".parse::<CacheRule>().unwrap().prefix(), "/a=b/");
        assert_eq!(
            "/=2147483648".parse::<CacheRule>().unwrap().seconds(),
            1 << 31
        );
    }

    #[test]
    fn longest_prefix_wins_and_later_duplicates_replace() {
        let rules = ["/a/b/=3", "/=1", "/a/=2", "/a/=5"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        let policy = CachePolicy::new(rules);
        assert_eq!(policy.max_age(b"/a/b/c"), Some(3));
        assert_eq!(policy.max_age(b"/a/x"), Some(5));
        assert_eq!(policy.max_age(b"/ab"), Some(1)); // a string prefix, as documented
        assert_eq!(policy.max_age(b""), None);
    }

    #[test]
    fn zero_is_no_cache_without_expires() {
        let mut out = Vec::new();
        write_freshness(&mut out, 0, SystemTime::now());
        assert_eq!(out, b"Cache-Control: no-cache\r\n");
        let mut out = Vec::new();
        write_freshness(&mut out, MAX_AGE_LIMIT, SystemTime::now());
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("Expires: ") && out.contains(" GMT\r\n"),
            "{out}"
        );
    }
}
