//! Port of Apache's `<Location /private/> AuthType Basic ... Require valid-user`: which
//! static paths need credentials (`--auth PREFIX=FILE`), and from which htpasswd file.
//!
//! Python: none in `http.server`; a handler would compare `self.path` itself, and get it
//! wrong for `/%70rivate/` or `//private/`. Here the prefix is compared with the path the
//! file lookup uses (src/http/files.rs): percent-decoded, split into segments, empty and
//! `.` segments dropped (`..` is refused there anyway). So every spelling that reaches a
//! file under the prefix is protected, and `/privateer` is not under `/private`.
//!
//! What this does not cover, as nginx's `location` does not: a symlink elsewhere in the
//! root that leads into the protected directory. Keep protected files where no path from
//! outside the prefix links to them.

use std::fmt;
use std::path::{Path, PathBuf};

use super::files::{confine, percent_decode};
use super::{HtpasswdError, PasswordFile};

/// One `--auth PREFIX=FILE`.
#[derive(Debug)]
pub struct Protected {
    /// The prefix as given: the realm of its challenge.
    pub prefix: String,
    /// The prefix as path segments.
    segments: PathBuf,
    /// The users who may see it.
    pub file: PasswordFile,
}

/// The `--auth` rules of a server.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{AccessControl, PasswordFile};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = concat!(env!("CARGO_MANIFEST_DIR"), "/data/users.htpasswd");
/// let mut access = AccessControl::default();
/// access.protect("/docs/", PasswordFile::load(users)?)?;
/// assert!(access.rule_for("/docs/index.html").is_some());
/// assert!(access.rule_for("/%64ocs//./index.html?x").is_some()); // the same file
/// assert!(access.rule_for("/docsx/index.html").is_none());
/// assert!(access.rule_for("/index.html").is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct AccessControl {
    rules: Vec<Protected>,
}

/// `--auth` given something other than `PREFIX=FILE` with an absolute prefix.
#[derive(Debug)]
pub enum AuthSpecError {
    /// Not `PREFIX=FILE`, or the prefix does not start with `/` or contains `..`.
    Syntax(String),
    /// The file is not a valid htpasswd file.
    File(HtpasswdError),
}

impl fmt::Display for AuthSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSpecError::Syntax(message) => f.write_str(message),
            AuthSpecError::File(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for AuthSpecError {}

impl AccessControl {
    /// Parses `--auth PREFIX=FILE`, reads FILE, and protects PREFIX with it.
    ///
    /// # Errors
    /// [`AuthSpecError`]: the syntax, or the file's first problem (file and line).
    pub fn add_spec(&mut self, spec: &str) -> Result<(), AuthSpecError> {
        let Some((prefix, file)) = spec.split_once('=') else {
            return Err(AuthSpecError::Syntax(format!(
                "--auth {spec:?}: expected PREFIX=FILE, e.g. /private/=users.htpasswd"
            )));
        };
        segments_of(prefix)?; // the prefix's mistakes first: reading the file may be slow
        let file = PasswordFile::load(Path::new(file)).map_err(AuthSpecError::File)?;
        self.protect(prefix, file)
    }

    /// Protects `prefix` (a path such as `/private/`) with `file`'s users. A path under
    /// several prefixes takes the longest one's.
    ///
    /// # Errors
    /// [`AuthSpecError::Syntax`] unless the prefix starts with `/` and has no `..` segment.
    pub fn protect(&mut self, prefix: &str, file: PasswordFile) -> Result<(), AuthSpecError> {
        let segments = segments_of(prefix)?;
        self.rules.push(Protected {
            prefix: prefix.to_owned(),
            segments,
            file,
        });
        // Longest (most segments) first, so the first match is the most specific.
        self.rules
            .sort_by_key(|rule| std::cmp::Reverse(rule.segments.components().count()));
        Ok(())
    }

    /// The rule that protects `target` (a request target, still percent-encoded), if any.
    /// No system call: string work only, so unprotected requests cost nothing extra.
    /// A target the file lookup refuses anyway (a bad escape, `..`) matches none.
    pub fn rule_for(&self, target: &str) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        let path = target.split(['?', '#']).next().unwrap_or("");
        let relative = confine(&percent_decode(path.as_bytes()).ok()?).ok()?;
        self.rules
            .iter()
            .position(|rule| relative.starts_with(&rule.segments))
    }

    /// The rule at `index` (from [`rule_for`](Self::rule_for)).
    pub fn rule_mut(&mut self, index: usize) -> Option<&mut Protected> {
        self.rules.get_mut(index)
    }

    /// Whether no path is protected.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A prefix as the file lookup's segments.
fn segments_of(prefix: &str) -> Result<PathBuf, AuthSpecError> {
    prefix
        .starts_with('/')
        .then(|| percent_decode(prefix.as_bytes()).ok())
        .flatten()
        .and_then(|decoded| confine(&decoded).ok())
        .ok_or_else(|| {
            AuthSpecError::Syntax(format!(
                "--auth prefix {prefix:?}: must be a path starting with / and without '..'"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> PasswordFile {
        PasswordFile::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/users.htpasswd")).unwrap()
    }

    #[test]
    fn spellings_and_the_longest_prefix() {
        let mut access = AccessControl::default();
        access.protect("/a/", users()).unwrap();
        access.protect("/a/b", users()).unwrap();
        access.protect("/file.txt", users()).unwrap();
        let prefix = |t: &str| access.rule_for(t).map(|i| access.rules[i].prefix.clone());
        assert_eq!(prefix("/a/b/c").as_deref(), Some("/a/b"));
        assert_eq!(prefix("/a/bc").as_deref(), Some("/a/"));
        assert_eq!(prefix("//a/./x").as_deref(), Some("/a/"));
        assert_eq!(prefix("/%61/x").as_deref(), Some("/a/"));
        assert_eq!(prefix("/a").as_deref(), Some("/a/"));
        assert_eq!(prefix("/file.txt?x=1").as_deref(), Some("/file.txt"));
        assert_eq!(prefix("/ab"), None);
        assert_eq!(prefix("/"), None);
        assert_eq!(
            prefix("/a/../a/x"),
            None,
            "'..' is a 403 in the file lookup"
        );
    }

    #[test]
    fn bad_specs() {
        let mut access = AccessControl::default();
        for spec in ["nofile", "private=/x", "/../x=/y"] {
            let err = access.add_spec(spec).unwrap_err();
            assert!(matches!(err, AuthSpecError::Syntax(_)), "{spec}: {err}");
        }
        let err = access.add_spec("/p/=/nonexistent/users").unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/users: "), "{err}");
    }
}
