//! Validators and conditional requests (RFC 9110 §8.8, §13): the strong `ETag` of a file,
//! and whether `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and
//! `If-Range` let a request through.
//!
//! Python: `SimpleHTTPRequestHandler.send_head` checks `If-Modified-Since` only (and only
//! without `If-None-Match`, since 3.7); it sends no `ETag`. nginx's counterpart is
//! `ngx_http_not_modified_filter_module.c` (preconditions) and `ngx_http_set_etag` (its
//! `"mtime-size"` tag in hex); Go's is `checkPreconditions` in `net/http/fs.go`, which
//! follows RFC 9110 §13.2.2 as this module does.
//!
//! The order (RFC 9110 §13.2.2), for GET and HEAD, the only methods served:
//!
//! 1. `If-Match` present: it must match (strong comparison) or the answer is 412.
//! 2. Otherwise `If-Unmodified-Since` (a valid date): the file must not be newer, or 412.
//! 3. `If-None-Match` present: a match (weak comparison) is a 304.
//! 4. Otherwise `If-Modified-Since` (a valid date): not newer is a 304.
//! 5. Then `If-Range` decides whether a `Range` is used at all ([`if_range_allows`]).
//!
//! nginx departs from this: it checks `If-Unmodified-Since` even beside `If-Match`, needs
//! *both* `If-None-Match` and `If-Modified-Since` to match when both are sent, and by
//! default answers 304 only for an `If-Modified-Since` *equal* to `Last-Modified`
//! (docs/http.md lists the differences).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The strong entity tag of a file: quoted, opaque, made of its inode, size and
/// modification time to the nanosecond, all in hex.
///
/// Any of the three changing gives another tag: an edit changes the size or the time
/// (to the nanosecond, so two edits within one second differ where nginx's seconds-based
/// tag would not), a file replaced by rename changes the inode. Each variant of a
/// negotiated resource is a file of its own, so it has a tag of its own; a hard link
/// shares the tag, and the bytes, of its other names. HEAD and GET compute it from the
/// same `fstat`, so they agree. The format is not a promise: tags are opaque
/// (RFC 9110 §8.8.3), and changing it only makes caches fetch again.
///
/// Python: none (`http.server` sends no `ETag`). nginx: `"%xT-%xO"`, mtime seconds and size.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::etag;
///
/// let tag = etag(0x1234, 5, 1_700_000_000, 250_000_000);
/// assert_eq!(tag, "\"1234-5-6553f100.ee6b280\"");
/// assert_ne!(tag, etag(0x1234, 5, 1_700_000_000, 250_000_001)); // a nanosecond later
/// assert_ne!(tag, etag(0x1235, 5, 1_700_000_000, 250_000_000)); // another inode
/// ```
pub fn etag(inode: u64, size: u64, mtime_secs: i64, mtime_nsecs: i64) -> String {
    let mut tag = String::with_capacity(40);
    // Before 1970 the seconds are negative: `{:x}` prints their two's complement, which
    // is still one distinct string per time. Writing to a String cannot fail.
    let _ = write!(tag, "\"{inode:x}-{size:x}-{mtime_secs:x}.{mtime_nsecs:x}\"");
    tag
}

/// What the preconditions say about a GET or HEAD of an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the file (200, or 206 when a range applies).
    Proceed,
    /// 304 Not Modified: the client's copy is current.
    NotModified,
    /// 412 Precondition Failed: `If-Match` or `If-Unmodified-Since` failed.
    Failed,
}

/// The conditional request headers, as received (dates already parsed; an invalid date is
/// `None`, as RFC 9110 §13.1.3 and §13.1.4 say to ignore it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// `If-Match`: `*` or a list of entity tags.
    pub if_match: Option<&'a str>,
    /// `If-Unmodified-Since`, when a valid HTTP date.
    pub if_unmodified_since: Option<SystemTime>,
    /// `If-None-Match`: `*` or a list of entity tags.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`, when a valid HTTP date.
    pub if_modified_since: Option<SystemTime>,
}

impl Conditions<'_> {
    /// Evaluates the preconditions in RFC 9110 §13.2.2's order against the file's current
    /// `etag` and `last_modified` (whole seconds, as sent in `Last-Modified`).
    ///
    /// Python: the `If-Modified-Since` test in `send_head`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::http::{Conditions, Precondition};
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let modified = UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// let tag = "\"a-1-2.3\"";
    /// let check = |c: Conditions<'_>| c.evaluate(tag, modified);
    ///
    /// assert_eq!(check(Conditions::default()), Precondition::Proceed);
    /// assert_eq!(check(Conditions { if_none_match: Some("W/\"a-1-2.3\""), ..Default::default() }),
    ///            Precondition::NotModified); // weak comparison
    /// assert_eq!(check(Conditions { if_match: Some("W/\"a-1-2.3\""), ..Default::default() }),
    ///            Precondition::Failed); // strong comparison: a weak tag never matches
    /// // If-None-Match decides alone: a stale If-Modified-Since beside it is ignored.
    /// assert_eq!(check(Conditions { if_none_match: Some("\"other\""),
    ///                               if_modified_since: Some(modified), ..Default::default() }),
    ///            Precondition::Proceed);
    /// ```
    pub fn evaluate(&self, etag: &str, last_modified: SystemTime) -> Precondition {
        // Steps 1 and 2: the client's update would be lost (a lost-update check), 412.
        if let Some(list) = self.if_match {
            if !list_matches(list, etag, Comparison::Strong) {
                return Precondition::Failed;
            }
        } else if let Some(since) = self.if_unmodified_since {
            if last_modified > since {
                return Precondition::Failed;
            }
        }
        // Steps 3 and 4: the client's copy is current, 304 (GET and HEAD only, and only
        // those reach here).
        if let Some(list) = self.if_none_match {
            if list_matches(list, etag, Comparison::Weak) {
                return Precondition::NotModified;
            }
        } else if let Some(since) = self.if_modified_since {
            if last_modified <= since {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }
}

/// Whether a `Range` may be used, given `If-Range` (RFC 9110 §13.1.5): with no `If-Range`,
/// yes; with an entity tag, only if it is the current one by *strong* comparison; with a
/// date, only if it is exactly `last_modified`. Anything else (a weak tag, junk, another
/// date) means the file may have changed: send it whole.
///
/// nginx compares the tag byte for byte too, and the date by equality.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::if_range_allows;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let modified = UNIX_EPOCH + Duration::from_secs(784111777);
/// assert!(if_range_allows(None, "\"t\"", modified));
/// assert!(if_range_allows(Some("\"t\""), "\"t\"", modified));
/// assert!(!if_range_allows(Some("W/\"t\""), "\"t\"", modified));
/// assert!(if_range_allows(Some("Sun, 06 Nov 1994 08:49:37 GMT"), "\"t\"", modified));
/// assert!(!if_range_allows(Some("Sun, 06 Nov 1994 08:49:38 GMT"), "\"t\"", modified));
/// ```
pub fn if_range_allows(if_range: Option<&str>, etag: &str, last_modified: SystemTime) -> bool {
    let Some(value) = if_range else {
        return true;
    };
    let value = value.trim_matches([' ', '\t']);
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag && !etag.starts_with("W/");
    }
    httpdate::parse_http_date(value).is_ok_and(|date| date == last_modified)
}

/// Drops the sub-second part: HTTP dates have whole seconds, so `Last-Modified` and every
/// comparison with a date the client sends back work at that precision (or a file
/// modified at 12:00:00.5 would never be "not modified since 12:00:00").
///
/// # Examples
///
/// ```
/// use mio_selectors::http::whole_seconds;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(whole_seconds(UNIX_EPOCH + Duration::from_millis(2500)),
///            UNIX_EPOCH + Duration::from_secs(2));
/// ```
pub fn whole_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => time,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and identical (RFC 9110 §8.8.3.2).
    Strong,
    /// Identical once any `W/` is ignored.
    Weak,
}

/// Whether the `If-Match` / `If-None-Match` value `list` (`*`, or `#entity-tag`) names
/// `current`. `*` matches any current representation, and a file always has one.
///
/// Malformed input never panics and never matches by accident: the scan stops at the first
/// element that is not an entity tag, so what came before it still counts.
fn list_matches(list: &str, current: &str, comparison: Comparison) -> bool {
    let list = list.trim_matches([' ', '\t']);
    if list == "*" {
        return true;
    }
    let (current_weak, current_opaque) = split_weak(current);
    let mut rest = list.as_bytes();
    loop {
        // Skip list separators and whitespace (empty list elements are allowed).
        while let Some((&b, tail)) = rest.split_first() {
            if matches!(b, b',' | b' ' | b'\t') {
                rest = tail;
            } else {
                break;
            }
        }
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        // An entity tag is a quoted string without `"` inside (no escapes in etagc).
        let Some(tail) = rest.strip_prefix(b"\"") else {
            return false;
        };
        let Some(end) = tail.iter().position(|&b| b == b'"') else {
            return false;
        };
        let opaque = &tail[..end];
        rest = &tail[end + 1..];
        let same = opaque == current_opaque.as_bytes();
        let matched = match comparison {
            Comparison::Strong => same && !weak && !current_weak,
            Comparison::Weak => same,
        };
        if matched {
            return true;
        }
    }
}

/// `W/"x"` → (true, `x`); `"x"` → (false, `x`).
fn split_weak(tag: &str) -> (bool, &str) {
    let (weak, quoted) = match tag.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    (weak, quoted.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"1-2-3.4\"";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn entity_tag_lists() {
        for (list, strong, weak) in [
            ("*", true, true),
            (" * ", true, true),
            ("\"1-2-3.4\"", true, true),
            ("W/\"1-2-3.4\"", false, true),
            ("\"x\", \"1-2-3.4\"", true, true),
            ("\"x\",,\t W/\"1-2-3.4\"", false, true),
            ("\"x\"", false, false),
            ("1-2-3.4", false, false),   // unquoted: not an entity tag
            ("\"1-2-3.4", false, false), // unterminated
            ("junk, \"1-2-3.4\"", false, false), // the scan stops at junk
            ("\"1-2-3.4\" junk", true, true), // what came before the junk counts
            ("", false, false),
            ("W/", false, false),
            ("\"\"", false, false),
            ("*, \"x\"", false, false), // `*` only alone
        ] {
            assert_eq!(
                list_matches(list, TAG, Comparison::Strong),
                strong,
                "{list:?} strong"
            );
            assert_eq!(
                list_matches(list, TAG, Comparison::Weak),
                weak,
                "{list:?} weak"
            );
        }
    }

    #[test]
    fn thousands_of_tags_and_hostile_bytes_do_not_panic() {
        let many = vec!["\"nope\""; 5000].join(", ") + ", \"1-2-3.4\"";
        assert!(list_matches(&many, TAG, Comparison::Strong));
        let commas = ",".repeat(20_000);
        assert!(!list_matches(&commas, TAG, Comparison::Weak));
        for hostile in [
            "W/W/\"1-2-3.4\"",
            "\"é\", \"1-2-3.4\"",
            "\u{0}\"",
            "W",
            "\"",
        ] {
            let _ = list_matches(hostile, TAG, Comparison::Weak);
        }
    }

    #[test]
    fn preconditions_follow_rfc_9110_order() {
        let lm = at(1000);
        let eval = |c: Conditions<'_>| c.evaluate(TAG, lm);
        let none = Conditions::default();
        // If-Match decides; If-Unmodified-Since beside it is ignored (nginx checks both).
        assert_eq!(
            eval(Conditions {
                if_match: Some(TAG),
                if_unmodified_since: Some(at(1)),
                ..none
            }),
            Precondition::Proceed
        );
        assert_eq!(
            eval(Conditions {
                if_match: Some("\"x\""),
                ..none
            }),
            Precondition::Failed
        );
        assert_eq!(
            eval(Conditions {
                if_match: Some("*"),
                ..none
            }),
            Precondition::Proceed
        );
        // If-Unmodified-Since alone: equal passes, earlier fails.
        for (ius, want) in [(1000, Precondition::Proceed), (999, Precondition::Failed)] {
            assert_eq!(
                eval(Conditions {
                    if_unmodified_since: Some(at(ius)),
                    ..none
                }),
                want
            );
        }
        // 412 beats 304.
        assert_eq!(
            eval(Conditions {
                if_match: Some("\"x\""),
                if_none_match: Some(TAG),
                ..none
            }),
            Precondition::Failed
        );
        // If-None-Match decides; If-Modified-Since beside it is ignored either way.
        assert_eq!(
            eval(Conditions {
                if_none_match: Some(TAG),
                if_modified_since: Some(at(1)),
                ..none
            }),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Conditions {
                if_none_match: Some("\"x\""),
                if_modified_since: Some(at(5000)),
                ..none
            }),
            Precondition::Proceed
        );
        // If-Modified-Since alone: a later date is a 304 too (nginx: only an equal one).
        for (ims, want) in [
            (1000, Precondition::NotModified),
            (5000, Precondition::NotModified),
            (999, Precondition::Proceed),
        ] {
            assert_eq!(
                eval(Conditions {
                    if_modified_since: Some(at(ims)),
                    ..none
                }),
                want
            );
        }
    }

    #[test]
    fn if_range_needs_the_strong_tag_or_the_exact_date() {
        let lm = at(784111777);
        assert!(if_range_allows(Some(TAG), TAG, lm));
        assert!(if_range_allows(Some(" \"1-2-3.4\" "), TAG, lm));
        assert!(!if_range_allows(Some("\"1-2-3.5\""), TAG, lm));
        assert!(!if_range_allows(Some("W/\"1-2-3.4\""), TAG, lm));
        assert!(!if_range_allows(Some("\"1-2-3.4\", \"x\""), TAG, lm));
        assert!(!if_range_allows(Some("junk"), TAG, lm));
        assert!(!if_range_allows(Some(""), TAG, lm));
        assert!(if_range_allows(
            Some("Sunday, 06-Nov-94 08:49:37 GMT"),
            TAG,
            lm
        ));
        assert!(!if_range_allows(
            Some("Sun, 06 Nov 1994 08:49:36 GMT"),
            TAG,
            lm
        ));
    }

    #[test]
    fn tags_differ_in_every_part_and_survive_old_times() {
        let base = etag(1, 2, 3, 4);
        assert_ne!(base, etag(9, 2, 3, 4));
        assert_ne!(base, etag(1, 9, 3, 4));
        assert_ne!(base, etag(1, 2, 9, 4));
        assert_ne!(base, etag(1, 2, 3, 9));
        let old = etag(1, 2, -86_400, 0);
        assert!(old.starts_with('"') && old.ends_with('"') && old.len() > 2);
        assert!(old[1..old.len() - 1]
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)));
    }

    #[test]
    fn random_lists_never_panic_and_only_the_tag_itself_matches_strongly() {
        let values = crate::http::escape::tests::hostile_values(b"\"W/*, 1-2.34\t", 20_000, 40);
        for value in &values {
            let strong = list_matches(value, TAG, Comparison::Strong);
            let weak = list_matches(value, TAG, Comparison::Weak);
            assert!(!strong || weak, "{value:?}: strong without weak");
            if strong && value.trim() != "*" {
                assert!(value.contains(TAG), "{value:?} matched without the tag");
            }
            let _ = if_range_allows(Some(value), TAG, UNIX_EPOCH);
        }
    }
}
