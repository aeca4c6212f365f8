//! Port of HTTP Basic authentication (RFC 7617) as Apache's `mod_auth_basic` +
//! `mod_authn_file` + `mod_authn_socache` do it: parse `Authorization: Basic ...`, check the
//! password against an htpasswd file's bcrypt hash, and remember a success for a while.
//!
//! Python: the standard library has the client side (`urllib.request.HTTPBasicAuthHandler`)
//! and the pieces (`base64.b64decode(s, validate=True)`, `hmac.compare_digest`); a server
//! decodes the header itself.
//!
//! The check itself is slow on purpose (bcrypt: 2^cost rounds, ~250 ms at cost 12), so it
//! is not done here: [`PasswordFile::lookup`] returns either a cached verdict or a
//! [`Check`] to run on a worker pool, whose [`Verdict`] comes back to
//! [`PasswordFile::remember`].
//!
//! Two things an attacker would try, and the answers:
//!
//! * **Which user names exist?** An unknown user is checked against a dummy hash of the
//!   file's highest cost, so it takes as long as a wrong password (Django does the same;
//!   Apache answers at once, a timing oracle).
//! * **What does the cache give away?** Browsers resend credentials with every request, so
//!   a page with 20 images would cost 20 checks; a success is remembered for at most 5
//!   minutes. The cache key is an HMAC of user and password under a key drawn at start from
//!   the OS's CSPRNG: neither the password nor a fast unkeyed hash of it (which could be
//!   brute-forced offline from a memory dump) is stored. Failures are never cached. The
//!   cache is emptied when the file changes, so a removed user or a changed password takes
//!   effect at the next request.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use log::{error, info};

use super::htpasswd::{FileStamp, Htpasswd, HtpasswdError};
use super::request::trim;

/// How long a verified password is remembered. Apache's `AuthnCacheTimeout` default is 300.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// Verified passwords remembered at most, per file.
pub const CACHE_ENTRIES: usize = 1024;
/// The longest `Authorization` value looked at: base64 of a 255-byte user and a 2 KiB
/// password, with room to spare. Longer is malformed, and decoding stops before it starts.
pub const MAX_CREDENTIALS: usize = 4 * 1024;

/// A user name and password from `Authorization: Basic`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user id: everything before the first colon.
    pub user: String,
    /// The password: everything after it (it may contain colons).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a password, not even in a debug log.
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why an `Authorization` header gave no credentials. Each is answered 401 with a
/// challenge; the variant is for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BasicError {
    /// No `Authorization` header.
    Missing,
    /// Another scheme (`Bearer ...`, `Digest ...`).
    OtherScheme,
    /// `Basic` with nothing after it.
    NoCredentials,
    /// Longer than [`MAX_CREDENTIALS`].
    TooLong,
    /// Not canonical base64 (RFC 4648 alphabet, with padding).
    BadBase64,
    /// The decoded bytes are not UTF-8 (the only charset the challenge offers).
    NotUtf8,
    /// No colon between user and password.
    NoColon,
}

impl fmt::Display for BasicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BasicError::Missing => "no credentials",
            BasicError::OtherScheme => "not the Basic scheme",
            BasicError::NoCredentials => "Basic without credentials",
            BasicError::TooLong => "credentials too long",
            BasicError::BadBase64 => "credentials not valid base64",
            BasicError::NotUtf8 => "credentials not UTF-8",
            BasicError::NoColon => "no colon between user and password",
        })
    }
}

impl std::error::Error for BasicError {}

/// Parses an `Authorization` header's value (`None`: no such header) as Basic credentials.
///
/// Python: `base64.b64decode(value[6:], validate=True).decode('utf-8').partition(':')`,
/// with the checks spelled out.
///
/// The scheme is case-insensitive (RFC 9110 §11.1); one or more spaces follow it; the
/// user id ends at the *first* colon (RFC 7617 §2), so the password may contain colons.
/// The text is taken as UTF-8, as the challenge's `charset="UTF-8"` announces, and not
/// normalised (NFC): a user name typed in another normal form is another name.
///
/// # Errors
/// The [`BasicError`] for each malformed case.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{parse_basic, BasicError};
///
/// let creds = parse_basic(Some(b"Basic YWxpY2U6b3Blbjpz")).unwrap(); // alice:open:s
/// assert_eq!((creds.user.as_str(), creds.password.as_str()), ("alice", "open:s"));
/// assert_eq!(parse_basic(Some(b"Bearer abc")), Err(BasicError::OtherScheme));
/// assert_eq!(parse_basic(Some(b"Basic !!!")), Err(BasicError::BadBase64));
/// ```
pub fn parse_basic(value: Option<&[u8]>) -> Result<Credentials, BasicError> {
    let value = value.ok_or(BasicError::Missing)?;
    if value.len() > MAX_CREDENTIALS {
        return Err(BasicError::TooLong);
    }
    let value = trim(value);
    let scheme_end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::OtherScheme);
    }
    let token = trim(&value[scheme_end..]);
    if token.is_empty() {
        return Err(BasicError::NoCredentials);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| BasicError::BadBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::NotUtf8)?;
    let (user, password) = text.split_once(':').ok_or(BasicError::NoColon)?;
    Ok(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// The `WWW-Authenticate` challenge for `realm` (RFC 7617 §2, §2.1). The realm is quoted;
/// a `"` or `\` in it is escaped, and control characters are dropped, so a realm made
/// from a configured path cannot break the header.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     mio_selectors::http::challenge("/private/"),
///     r#"Basic realm="/private/", charset="UTF-8""#
/// );
/// ```
pub fn challenge(realm: &str) -> String {
    let mut quoted = String::with_capacity(realm.len());
    for c in realm.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    format!("Basic realm=\"{quoted}\", charset=\"UTF-8\"")
}

/// The per-process key of the cache's HMAC, drawn once from the OS's CSPRNG.
fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        // Without the CSPRNG there is no safe key: the cache would be guessable. This
        // runs at the first protected request, long after start-up checks, and the OS
        // call fails only on a broken system.
        getrandom::fill(&mut key).expect("the OS's random number generator failed");
        key
    })
}

/// Names a (user, password) pair in the cache without storing either: HMAC-SHA-256 under
/// the process key. Compared in constant time (Python: `hmac.compare_digest`): the map's
/// lookup compares a key made from the client's password with stored ones, and how long
/// that takes must not say how many leading bytes matched.
#[derive(Clone, Copy)]
pub struct CacheKey([u8; 32]);

impl PartialEq for CacheKey {
    fn eq(&self, other: &CacheKey) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal keys have equal bytes: consistent with `eq`.
        self.0.hash(state);
    }
}

impl CacheKey {
    fn of(creds: &Credentials) -> CacheKey {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(process_key())
            .expect("HMAC takes a key of any length");
        // The user's length first, so ("ab", "c") and ("a", "bc")-like splits differ even
        // if a user name could contain the separator.
        mac.update(&(creds.user.len() as u64).to_be_bytes());
        mac.update(creds.user.as_bytes());
        mac.update(creds.password.as_bytes());
        CacheKey(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// A password check to run off the loop ([`Check::run`] takes ~2^cost rounds).
#[derive(Clone)]
pub struct Check {
    user: String,
    password: String,
    /// The user's hash, or `None` for an unknown user (checked against a dummy of `cost`).
    hash: Option<String>,
    cost: u32,
    key: CacheKey,
    generation: u64,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("user", &self.user)
            .field("known", &self.hash.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`Check`] found.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The user the credentials named.
    pub user: String,
    /// Whether the password is right (false for an unknown user).
    pub ok: bool,
    key: CacheKey,
    generation: u64,
}

impl Verdict {
    /// The verdict a cache hit stands for: right, and nothing to remember.
    pub(crate) fn cached(user: String) -> Verdict {
        Verdict {
            user,
            ok: true,
            key: CacheKey([0; 32]),
            // No file is at this generation: `remember` ignores it.
            generation: u64::MAX,
        }
    }
}

impl Check {
    /// Runs bcrypt: slow on purpose, so call it on a worker thread.
    pub fn run(self) -> Verdict {
        let ok = match &self.hash {
            Some(hash) => bcrypt::verify(&self.password, hash).unwrap_or_else(|err| {
                // Every hash was validated when the file was read.
                error!("bcrypt check for {}: {err}", self.user);
                false
            }),
            None => {
                // The same work as a real check of this cost (verify is this hash plus a
                // comparison), whose answer is thrown away.
                let _ = bcrypt::hash_with_salt(&self.password, self.cost.max(4), [0x5a; 16]);
                false
            }
        };
        Verdict {
            user: self.user,
            ok,
            key: self.key,
            generation: self.generation,
        }
    }

    /// The user the credentials name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// What [`PasswordFile::lookup`] decided.
#[derive(Debug)]
pub enum Lookup {
    /// Verified within [`CACHE_TTL`]: the user, no check needed.
    Cached(String),
    /// Run this check (off the loop), then give its verdict to [`PasswordFile::remember`].
    Check(Check),
}

/// An htpasswd file in use: its users, re-read when it changes, and the cache of verified
/// passwords.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{parse_basic, Lookup, PasswordFile};
/// use std::time::Instant;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = std::env::temp_dir().join(format!("doc-users-{}", std::process::id()));
/// std::fs::write(&path, format!("alice:{}\n", bcrypt::hash("secret", 4)?))?;
/// let mut file = PasswordFile::load(&path)?;
/// let creds = parse_basic(Some(b"Basic YWxpY2U6c2VjcmV0"))?; // alice:secret
///
/// let Lookup::Check(check) = file.lookup(&creds, Instant::now()) else { panic!() };
/// let verdict = check.run(); // on a worker pool, in a server
/// assert!(verdict.ok);
/// file.remember(&verdict, Instant::now());
/// // The next request with the same credentials needs no check.
/// assert!(matches!(file.lookup(&creds, Instant::now()), Lookup::Cached(user) if user == "alice"));
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PasswordFile {
    path: PathBuf,
    users: Arc<Htpasswd>,
    stamp: Option<FileStamp>,
    /// Bumped whenever the users change: a verdict from an older version is not cached.
    generation: u64,
    cache: HashMap<CacheKey, (String, Instant)>,
}

impl PasswordFile {
    /// Reads the htpasswd file at `path`.
    ///
    /// # Errors
    /// As [`Htpasswd::load`]: the file and line of the first problem.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswordFile, HtpasswdError> {
        let path = path.as_ref().to_owned();
        let stamp = FileStamp::read(&path).ok();
        let users = Htpasswd::load(&path)?;
        Ok(PasswordFile {
            path,
            users: Arc::new(users),
            stamp,
            generation: 0,
            cache: HashMap::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users as last read.
    pub fn users(&self) -> &Htpasswd {
        &self.users
    }

    /// Looks at the file (one `stat`): if it changed, reads it again and forgets every
    /// cached verification. A file that became invalid is logged and the users read before
    /// are kept (a half-written file must not lock everyone out, nor let anyone in).
    pub fn refresh(&mut self) {
        let stamp = FileStamp::read(&self.path).ok();
        if stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.cache.clear();
        self.generation += 1;
        match Htpasswd::load(&self.path) {
            Ok(users) => {
                info!("{}: changed; {} users", self.path.display(), users.len());
                self.users = Arc::new(users);
            }
            Err(err) => error!("{err}; keeping the users read before"),
        }
    }

    /// Refreshes (see [`refresh`](Self::refresh)), then answers from the cache or says
    /// which check to run.
    pub fn lookup(&mut self, creds: &Credentials, now: Instant) -> Lookup {
        self.refresh();
        let key = CacheKey::of(creds);
        if let Some((user, expires)) = self.cache.get(&key) {
            if *expires > now && *user == creds.user {
                return Lookup::Cached(user.clone());
            }
            self.cache.remove(&key);
        }
        Lookup::Check(Check {
            user: creds.user.clone(),
            password: creds.password.clone(),
            hash: self.users.hash_of(&creds.user).map(str::to_owned),
            cost: self.users.max_cost(),
            key,
            generation: self.generation,
        })
    }

    /// Records a check's verdict: a success is cached for [`CACHE_TTL`], unless the file
    /// changed while the check ran. Failures are never cached.
    pub fn remember(&mut self, verdict: &Verdict, now: Instant) {
        if !verdict.ok || verdict.generation != self.generation {
            return;
        }
        if self.cache.len() >= CACHE_ENTRIES {
            self.cache.retain(|_, (_, expires)| *expires > now);
            if self.cache.len() >= CACHE_ENTRIES {
                // Still full of live entries: drop the one closest to expiring.
                if let Some(oldest) = self
                    .cache
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(key, _)| *key)
                {
                    self.cache.remove(&oldest);
                }
            }
        }
        self.cache
            .insert(verdict.key, (verdict.user.clone(), now + CACHE_TTL));
    }

    /// Verified passwords remembered now (expired ones included until swept).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn basic(raw: &[u8]) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn every_malformed_header_has_its_error() {
        let long = vec![b'A'; 8 * 1024];
        let cases: [(Option<&[u8]>, BasicError); 9] = [
            (None, BasicError::Missing),
            (Some(b"Basic"), BasicError::NoCredentials),
            (Some(b"Basic    "), BasicError::NoCredentials),
            (Some(b"Bearer YWJjOmRlZg=="), BasicError::OtherScheme),
            (Some(b"Basicx YWJjOmRlZg=="), BasicError::OtherScheme),
            (Some(b"Basic YWJjOmRlZg"), BasicError::BadBase64), // padding missing
            (Some(b"Basic YWJj*mRlZg=="), BasicError::BadBase64),
            (Some(&long), BasicError::TooLong),
            (Some(b"Basic YWJjZGVm"), BasicError::NoColon), // abcdef
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_basic(value),
                Err(want),
                "{:?}",
                value.map(String::from_utf8_lossy)
            );
        }
        assert_eq!(
            parse_basic(Some(&basic(b"\xff\xfe:x"))),
            Err(BasicError::NotUtf8)
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_first_colon_splits() {
        let value = basic("jürgen:a:b:c".as_bytes());
        let value = String::from_utf8(value)
            .unwrap()
            .replace("Basic", "bAsIc  ");
        let creds = parse_basic(Some(value.as_bytes())).unwrap();
        assert_eq!(creds.user, "jürgen");
        assert_eq!(creds.password, "a:b:c");
        let empty = parse_basic(Some(&basic(b":"))).unwrap();
        assert_eq!((empty.user.as_str(), empty.password.as_str()), ("", ""));
    }

    #[test]
    fn challenge_quotes_the_realm() {
        assert_eq!(
            challenge("a\"b\\c\r\n"),
            r#"Basic realm="a\"b\\c", charset="UTF-8""#
        );
    }

    fn file_with(users: &[(&str, &str)]) -> (PasswordFile, PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "auth-test-{}-{}",
            std::process::id(),
            users.iter().map(|u| u.0).collect::<String>()
        ));
        let text: String = users
            .iter()
            .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
            .collect();
        std::fs::write(&path, text).unwrap();
        (PasswordFile::load(&path).unwrap(), path)
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    fn check(file: &mut PasswordFile, c: &Credentials, now: Instant) -> Verdict {
        match file.lookup(c, now) {
            Lookup::Check(check) => check.run(),
            Lookup::Cached(user) => panic!("cached {user}"),
        }
    }

    #[test]
    fn right_wrong_unknown_and_the_cache() {
        let (mut file, path) = file_with(&[("alice", "pw1"), ("bob", "pw2")]);
        let now = Instant::now();
        let right = check(&mut file, &creds("alice", "pw1"), now);
        assert!(right.ok);
        let wrong = check(&mut file, &creds("alice", "nope"), now);
        assert!(!wrong.ok);
        file.remember(&wrong, now);
        assert_eq!(file.cached(), 0, "failures are never cached");
        let unknown = check(&mut file, &creds("mallory", "pw1"), now);
        assert!(!unknown.ok);
        file.remember(&right, now);
        assert!(
            matches!(file.lookup(&creds("alice", "pw1"), now), Lookup::Cached(u) if u == "alice")
        );
        // Another password for the same user is not the cached one.
        assert!(matches!(
            file.lookup(&creds("alice", "pw2"), now),
            Lookup::Check(_)
        ));
        // Expired after the TTL.
        let later = now + CACHE_TTL + Duration::from_secs(1);
        assert!(matches!(
            file.lookup(&creds("alice", "pw1"), later),
            Lookup::Check(_)
        ));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_changed_file_empties_the_cache_and_stale_verdicts_are_not_cached() {
        let (mut file, path) = file_with(&[("carol", "old")]);
        let now = Instant::now();
        let verdict = check(&mut file, &creds("carol", "old"), now);
        file.remember(&verdict, now);
        assert_eq!(file.cached(), 1);
        // A check in flight (for the password right until now) while the file changes:
        let Lookup::Check(in_flight) = file.lookup(&creds("carol", "old"), now + CACHE_TTL) else {
            panic!("cached past its TTL")
        };
        std::fs::write(
            &path,
            format!("carol:{}\n", bcrypt::hash("new", 4).unwrap()),
        )
        .unwrap();
        let new = check(&mut file, &creds("carol", "new"), now);
        assert!(new.ok);
        assert_eq!(file.cached(), 0, "the change emptied the cache");
        let late = in_flight.run();
        assert!(late.ok, "right for the old file");
        file.remember(&late, now);
        assert_eq!(file.cached(), 0, "a verdict on the old file is not cached");
        let old = check(&mut file, &creds("carol", "old"), now);
        assert!(!old.ok);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_unknown_user_is_checked_against_a_dummy_of_the_files_highest_cost() {
        let path = std::env::temp_dir().join(format!("auth-test-{}-costs", std::process::id()));
        let text = format!(
            "cheap:{}\ndear:{}\n",
            bcrypt::hash("a", 4).unwrap(),
            bcrypt::hash("b", 6).unwrap()
        );
        std::fs::write(&path, text).unwrap();
        let mut file = PasswordFile::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let now = Instant::now();
        let Lookup::Check(unknown) = file.lookup(&creds("nobody", "b"), now) else {
            panic!("cached")
        };
        assert!(unknown.hash.is_none());
        assert_eq!(
            unknown.cost, 6,
            "the highest cost in the file, not the lowest"
        );
        // And that dummy is real bcrypt work of that cost: the same hash a check of a
        // cost-6 entry computes, whose answer is thrown away.
        assert!(!unknown.run().ok);
        let Lookup::Check(known) = file.lookup(&creds("dear", "b"), now) else {
            panic!("cached")
        };
        assert!(known.run().ok);
    }

    #[test]
    fn cache_keys_compare_by_every_byte() {
        let a = CacheKey::of(&creds("u", "p"));
        assert_eq!(a, CacheKey::of(&creds("u", "p")));
        let mut b = a;
        b.0[31] ^= 1;
        assert_ne!(a, b);
        assert_ne!(a, CacheKey::of(&creds("u", "q")));
        assert_ne!(
            CacheKey::of(&creds("ab", "c")),
            CacheKey::of(&creds("a", "bc"))
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let (mut file, path) = file_with(&[("dave", "pw")]);
        let now = Instant::now();
        let verdict = check(&mut file, &creds("dave", "pw"), now);
        for i in 0..CACHE_ENTRIES + 10 {
            let mut v = verdict.clone();
            v.key = CacheKey::of(&creds("dave", &format!("pw{i}")));
            file.remember(&v, now + Duration::from_millis(i as u64));
        }
        assert_eq!(file.cached(), CACHE_ENTRIES);
        std::fs::remove_file(path).unwrap();
    }
}
