//! Port of Apache's `mod_authn_file` reading an `htpasswd` file: `user:hash` lines, bcrypt
//! hashes only.
//!
//! Python: none in the standard library; `passlib.apache.HtpasswdFile` is the usual
//! third-party reader. `htpasswd -B` (Debian's apache2-utils) writes the lines:
//!
//! ```text
//! # comments and blank lines are allowed
//! alice:$2y$05$Qm3kTx...
//! ```
//!
//! Only bcrypt (`$2a$`, `$2b$`, `$2y$`) is accepted. The other formats htpasswd can write are
//! weak or worse (`$apr1$` is 1,000 rounds of MD5, `{SHA}` one unsalted SHA-1, crypt uses 8
//! characters of the password, and plain text is plain), so a file holding one is refused
//! with the file and line named, rather than some users silently never getting in. So is a
//! cost above [`MAX_COST`]: each check takes 2^cost rounds, and a cost of 31 (which bcrypt
//! allows) would take a day per request. Loading validates every line without hashing
//! anything, so it is fast.

use std::collections::HashMap;
use std::fmt;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The lowest bcrypt cost: bcrypt refuses to hash with less.
const MIN_COST: u32 = 4;

/// The highest bcrypt cost accepted: 2^14 rounds, about a second per check on a laptop.
/// `htpasswd -B` writes 5 unless told `-C`; 12 is the bcrypt crate's default.
pub const MAX_COST: u32 = 14;

/// Users and their bcrypt hashes, read from an htpasswd file.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::Htpasswd;
///
/// let hash = bcrypt::hash("secret", 4).unwrap();
/// let users = Htpasswd::parse(&format!("# demo\nalice:{hash}\n"), "users").unwrap();
/// assert!(users.hash_of("alice").is_some());
/// assert_eq!(users.max_cost(), 4);
///
/// let err = Htpasswd::parse("bob:$apr1$xyz$abc\n", "users").unwrap_err();
/// assert_eq!(err.to_string(), "users:1: bob: not a bcrypt hash ($apr1$ MD5 is not accepted; use htpasswd -B)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    max_cost: u32,
}

/// Why an htpasswd file was refused: the file, the line, and what was wrong with it.
/// Displayed as `FILE:LINE: message`, the form compilers use, so editors jump to it.
#[derive(Debug)]
pub struct HtpasswdError {
    /// The file as it was named.
    pub file: PathBuf,
    /// The line, from 1; 0 when the file could not be read at all.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for HtpasswdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for HtpasswdError {}

impl Htpasswd {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// [`HtpasswdError`] naming the file (and line) if it cannot be read, is not UTF-8, has
    /// a line without `user:hash`, a user twice, a hash that is not bcrypt, or a cost
    /// below 4 or above [`MAX_COST`].
    pub fn load(path: impl AsRef<Path>) -> Result<Htpasswd, HtpasswdError> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|err| HtpasswdError {
            file: path.to_owned(),
            line: 0,
            message: err.to_string(),
        })?;
        let text = String::from_utf8(text).map_err(|err| HtpasswdError {
            file: path.to_owned(),
            line: 1 + err.as_bytes()[..err.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            message: "not UTF-8".to_owned(),
        })?;
        Htpasswd::parse(&text, path)
    }

    /// Parses the text of an htpasswd file; `file` names it in errors.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Htpasswd, HtpasswdError> {
        let mut users = HashMap::new();
        let mut max_cost = 0;
        for (index, line) in text.lines().enumerate() {
            let fail = |message: String| HtpasswdError {
                file: file.as_ref().to_owned(),
                line: index + 1,
                message,
            };
            // Apache skips lines that start with `#` and empty ones; a line of spaces
            // counts as empty too (an editor's leftover, not an entry).
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            // Apache splits at the first colon: user names cannot contain one.
            let Some((user, hash)) = line.split_once(':') else {
                return Err(fail("expected user:hash".to_owned()));
            };
            if user.is_empty() {
                return Err(fail("empty user name".to_owned()));
            }
            if user.chars().any(char::is_control) {
                return Err(fail("control character in the user name".to_owned()));
            }
            // Trailing blanks (an editor's, a paste's) are not part of the hash: kept, they
            // would make every check of this user fail, silently.
            let hash = hash.trim_end();
            let cost = bcrypt_cost(hash).map_err(|why| fail(format!("{user}: {why}")))?;
            if users.insert(user.to_owned(), hash.to_owned()).is_some() {
                return Err(fail(format!("{user}: listed twice")));
            }
            max_cost = max_cost.max(cost);
        }
        Ok(Htpasswd { users, max_cost })
    }

    /// The hash for `user`, if the file lists them.
    pub fn hash_of(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// The highest cost in the file (0 if it has no users): an unknown user is checked
    /// against a dummy hash of this cost, so that "no such user" takes as long as "wrong
    /// password" and the timing does not say which names exist.
    pub fn max_cost(&self) -> u32 {
        self.max_cost
    }

    /// How many users the file lists.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file lists no user (then nobody gets in).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The cost of a bcrypt hash as htpasswd writes it, or why it is not one we accept.
fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let named = if hash.starts_with("$apr1$") {
        Some("$apr1$ MD5")
    } else if hash.starts_with("{SHA}") {
        Some("{SHA} SHA-1")
    } else if hash.starts_with("$1$") || hash.starts_with("$5$") || hash.starts_with("$6$") {
        Some("crypt(3)")
    } else if hash.starts_with("$2x$") {
        // The crate would take it; Apache never writes it (it marks hashes from the
        // pre-2011 buggy crypt_blowfish, which mishandled 8-bit passwords).
        Some("$2x$ (buggy-era bcrypt)")
    } else {
        None
    };
    if let Some(name) = named {
        return Err(format!(
            "not a bcrypt hash ({name} is not accepted; use htpasswd -B)"
        ));
    }
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
        return Err(
            "not a bcrypt hash (crypt or plain text is not accepted; use htpasswd -B)".to_owned(),
        );
    }
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|err| format!("malformed bcrypt hash: {err}"))?;
    let cost = parts.get_cost();
    // The parser takes any two digits; bcrypt itself refuses to hash below 4, so such a
    // user could never log in.
    if cost < MIN_COST {
        return Err(format!("bcrypt cost {cost} is below {MIN_COST}"));
    }
    if cost > MAX_COST {
        return Err(format!(
            "bcrypt cost {cost} is above {MAX_COST} (each check would take 2^{cost} rounds)"
        ));
    }
    Ok(cost)
}

/// What identifies a version of a file: if `stat` gives the same, the file was not
/// replaced or rewritten since (a rewrite changes the size, the modification time in
/// nanoseconds, or, for `htpasswd`'s rename-into-place, the inode; ctime catches an edit
/// that restores the old mtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    pub(crate) fn of(meta: &Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    pub(crate) fn read(path: &Path) -> io::Result<FileStamp> {
        std::fs::metadata(path).map(|meta| FileStamp::of(&meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(cost: u32) -> String {
        bcrypt::hash("pw", cost).unwrap()
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_skipped() {
        let text = format!("# c\n\n   \r\nalice:{}\r\nbob:{}\n", hash(4), hash(5));
        let users = Htpasswd::parse(&text, "f").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users.max_cost(), 5);
        assert!(bcrypt::verify("pw", users.hash_of("alice").unwrap()).unwrap());
        assert!(users.hash_of("carol").is_none());
    }

    #[test]
    fn every_other_format_is_refused_with_file_and_line() {
        let good = format!("ok:{}\n", hash(4));
        for (bad, needle) in [
            ("u:$apr1$abcdefgh$0123456789abcdefghij01", "$apr1$ MD5"),
            ("u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SHA} SHA-1"),
            ("u:abJnggxhB/yWI", "crypt or plain text"),
            ("u:plaintext", "crypt or plain text"),
            ("u:$6$salt$hash", "crypt(3)"),
            (
                "u:$2x$05$abcdefghijklmnopqrstuu1234567890123456789012345678901",
                "$2x$",
            ),
            ("u:$2y$05$tooshort", "malformed bcrypt hash"),
            ("no colon here", "expected user:hash"),
            (":$2y$05$abc", "empty user name"),
        ] {
            let err =
                Htpasswd::parse(&format!("{good}# x\n{bad}\n"), "users.htpasswd").expect_err(bad);
            assert_eq!(err.line, 3, "{bad}");
            let text = err.to_string();
            assert!(text.starts_with("users.htpasswd:3: "), "{text}");
            assert!(text.contains(needle), "{text} lacks {needle}");
        }
    }

    #[test]
    fn a_cost_above_the_cap_and_a_user_twice_are_refused() {
        // A syntactically valid cost-15 hash, made from a cost-4 one (no need to wait
        // 2^15 rounds to test the parser).
        let h = hash(4).replacen("$04$", "$15$", 1);
        let err = Htpasswd::parse(&format!("u:{h}\n"), "f").unwrap_err();
        assert!(err.to_string().contains("cost 15 is above 14"), "{err}");
        let h = hash(4);
        let err = Htpasswd::parse(&format!("u:{h}\nu:{h}\n"), "f").unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (2, "u: listed twice"));
    }

    #[test]
    fn trailing_blanks_are_not_part_of_the_hash_and_a_cost_below_4_is_refused() {
        let h = hash(4);
        let users = Htpasswd::parse(&format!("u:{h} \t\r\n"), "f").unwrap();
        assert!(bcrypt::verify("pw", users.hash_of("u").unwrap()).unwrap());
        let low = h.replacen("$04$", "$03$", 1);
        let err = Htpasswd::parse(&format!("u:{low}\n"), "f").unwrap_err();
        assert_eq!(err.to_string(), "f:1: u: bcrypt cost 3 is below 4");
    }

    #[test]
    fn the_bundled_demo_users_are_what_the_app_page_says() {
        let users =
            Htpasswd::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/users.htpasswd")).unwrap();
        assert_eq!(users.len(), 2);
        for (user, password) in [("demo", "demo"), ("alice", "wonderland")] {
            assert!(bcrypt::verify(password, users.hash_of(user).unwrap()).unwrap());
        }
        let page = crate::http::app::index_page_for_tests();
        assert!(page.contains("<code>demo</code> with password <code>demo</code>"));
        assert!(page.contains("<code>alice</code> with <code>wonderland</code>"));
    }

    #[test]
    fn unreadable_and_non_utf8_files_are_named() {
        let err = Htpasswd::load("/nonexistent/users").unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/users: "), "{err}");
        let dir = std::env::temp_dir().join(format!("htpasswd-test-{}", std::process::id()));
        std::fs::write(&dir, b"# ok\nbad\xff:x\n").unwrap();
        let err = Htpasswd::load(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!((err.line, err.message.as_str()), (2, "not UTF-8"));
    }
}
