//! Port of a web framework's server-side session store (Django's `SessionMiddleware` with
//! the cache backend, Flask-Session): state kept in the server's memory, found again
//! through an unguessable id in a cookie.
//!
//! Python: `http.cookies.SimpleCookie` parses `Cookie` headers and formats `Set-Cookie`;
//! `secrets.token_hex(16)` makes the id. Here the `cookie` crate parses and formats, and
//! the id is 128 bits from the OS's CSPRNG (`getrandom`).
//!
//! The store is bounded twice: at most `max` sessions (the least recently used goes first
//! when a new one needs room), and a session unused for `idle` is gone. An id the store
//! does not know, for whatever reason (forged, expired, evicted, malformed, from before a
//! restart), is simply no session: the caller starts a fresh one with a *new* id, never
//! the client's, so a client cannot choose its own id (session fixation).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cookie::{Cookie, SameSite};

/// The cookie's name.
pub const SESSION_COOKIE: &str = "sid";

/// A session id: 128 bits from the OS's CSPRNG, written as 32 lowercase hex digits.
///
/// OWASP asks for at least 64 bits of entropy; 128 makes guessing hopeless whatever the
/// number of live sessions. Ids are compared in constant time: the store's lookup compares
/// an id a client sent with live ones, and the time that takes must not tell how much of
/// one it guessed.
#[derive(Clone, Copy)]
pub struct SessionId([u8; 16]);

impl PartialEq for SessionId {
    fn eq(&self, other: &SessionId) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionId {}

impl std::hash::Hash for SessionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal ids have equal bytes: consistent with `eq`.
        self.0.hash(state);
    }
}

impl SessionId {
    /// A new random id.
    ///
    /// # Errors
    /// The OS's error if its random number generator fails.
    pub fn random() -> io::Result<SessionId> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|err| io::Error::other(err.to_string()))?;
        Ok(SessionId(bytes))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An id is a bearer credential: logs show only its start.
        write!(f, "SessionId({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// Not 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedId;

impl fmt::Display for MalformedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session id is 32 lowercase hex digits")
    }
}

impl std::error::Error for MalformedId {}

impl FromStr for SessionId {
    type Err = MalformedId;

    fn from_str(text: &str) -> Result<SessionId, MalformedId> {
        let text = text.as_bytes();
        if text.len() != 32 {
            return Err(MalformedId);
        }
        let digit = |b: u8| match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            _ => Err(MalformedId),
        };
        let mut bytes = [0u8; 16];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            bytes[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(SessionId(bytes))
    }
}

/// What the demo app keeps per session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Visits to `/app/visits` in this session.
    pub visits: u64,
    /// The user logged in with this session, if any.
    pub user: Option<String>,
}

/// The sessions in memory.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::Sessions;
/// use std::time::{Duration, Instant};
///
/// let mut sessions = Sessions::new(2, Duration::from_secs(60));
/// let now = Instant::now();
/// let id = sessions.create(now).unwrap();
/// sessions.get_mut(&id, now).unwrap().visits += 1;
/// let header = format!("theme=dark; sid=\"{id}\"; lang=en");
/// assert_eq!(sessions.find(Some(&header), now), Some(id));
/// // Unused for longer than the idle time: gone.
/// assert!(sessions.get_mut(&id, now + Duration::from_secs(61)).is_none());
/// ```
#[derive(Debug)]
pub struct Sessions {
    max: usize,
    idle: Duration,
    map: HashMap<SessionId, Slot>,
    /// Every session by when it was last used (and a counter, for ties): the first entry
    /// is the least recently used, and the first to expire.
    order: BTreeMap<(Instant, u64), SessionId>,
    counter: u64,
}

#[derive(Debug)]
struct Slot {
    session: Session,
    used: (Instant, u64),
}

impl Sessions {
    /// A store of at most `max` sessions (at least 1), each dropped after `idle` unused
    /// (at least a second: a session must outlive the request that made it).
    pub fn new(max: usize, idle: Duration) -> Sessions {
        Sessions {
            max: max.max(1),
            idle: idle.max(Duration::from_secs(1)),
            map: HashMap::new(),
            order: BTreeMap::new(),
            counter: 0,
        }
    }

    /// How long a session lives unused; also the cookie's `Max-Age`.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Live sessions (expired ones are dropped as they are met).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The session `id`, marked as used now; `None` if there is no such live session.
    pub fn get_mut(&mut self, id: &SessionId, now: Instant) -> Option<&mut Session> {
        self.expire(now);
        let slot = self.map.get_mut(id)?;
        self.order.remove(&slot.used);
        self.counter += 1;
        slot.used = (now, self.counter);
        self.order.insert(slot.used, *id);
        Some(&mut slot.session)
    }

    /// Starts an empty session with a new id, making room by dropping the least recently
    /// used session if the store is full.
    ///
    /// # Errors
    /// As [`SessionId::random`].
    pub fn create(&mut self, now: Instant) -> io::Result<SessionId> {
        self.expire(now);
        while self.map.len() >= self.max {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        let id = loop {
            let id = SessionId::random()?;
            // 2^-128 per live session; checked anyway, so no two clients ever share one.
            if !self.map.contains_key(&id) {
                break id;
            }
        };
        self.counter += 1;
        let used = (now, self.counter);
        self.order.insert(used, id);
        self.map.insert(
            id,
            Slot {
                session: Session::default(),
                used,
            },
        );
        Ok(id)
    }

    /// Ends session `id`; returns whether it existed.
    pub fn remove(&mut self, id: &SessionId) -> bool {
        match self.map.remove(id) {
            Some(slot) => {
                self.order.remove(&slot.used);
                true
            }
            None => false,
        }
    }

    /// The id of the first `sid` cookie in a `Cookie` header that names a live session.
    /// A header may carry several `sid` cookies (RFC 6265 §5.4 sends those with longer
    /// paths first); malformed pairs and ids are skipped, quoted values unquoted.
    pub fn find(&mut self, cookie_header: Option<&str>, now: Instant) -> Option<SessionId> {
        self.expire(now);
        Cookie::split_parse(cookie_header?)
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == SESSION_COOKIE)
            .filter_map(|cookie| cookie.value_trimmed().parse::<SessionId>().ok())
            .find(|id| self.map.contains_key(id))
    }

    /// Drops every session unused for `idle` or longer.
    fn expire(&mut self, now: Instant) {
        while let Some((&(used, counter), &id)) = self.order.first_key_value() {
            if now.saturating_duration_since(used) < self.idle {
                break;
            }
            self.order.remove(&(used, counter));
            self.map.remove(&id);
        }
    }
}

/// The `Set-Cookie` value that gives the client session `id`: `Path=/` (every route of
/// the app), `HttpOnly` (no script can read it), `SameSite=Lax` (not sent on cross-site
/// POSTs), and `Max-Age` the idle lifetime, re-sent with every response that uses the
/// session so that the cookie lives as long as the session does.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{session_cookie, SessionId};
/// use std::time::Duration;
///
/// let id: SessionId = "00112233445566778899aabbccddeeff".parse().unwrap();
/// assert_eq!(
///     session_cookie(&id, Duration::from_secs(1800)),
///     "sid=00112233445566778899aabbccddeeff; HttpOnly; SameSite=Lax; Path=/; Max-Age=1800"
/// );
/// ```
pub fn session_cookie(id: &SessionId, idle: Duration) -> String {
    let max_age = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((SESSION_COOKIE, id.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that clears the session cookie: empty, `Max-Age=0`, and an
/// `Expires` in the past for clients that predate `Max-Age`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::removal_cookie;
///
/// let cookie = removal_cookie();
/// assert!(cookie.starts_with("sid=;"), "{cookie}");
/// assert!(cookie.contains("Max-Age=0") && cookie.contains("Expires="), "{cookie}");
/// ```
pub fn removal_cookie() -> String {
    let mut cookie = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build();
    cookie.make_removal();
    cookie.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_parse_back() {
        let a = SessionId::random().unwrap();
        let b = SessionId::random().unwrap();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 32);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(text.parse::<SessionId>(), Ok(a));
        for bad in [
            "",
            "abc",
            &text.to_uppercase(),
            &format!("{text}0"),
            "g".repeat(32).as_str(),
        ] {
            assert_eq!(bad.parse::<SessionId>(), Err(MalformedId), "{bad}");
        }
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let t = Instant::now();
        let mut s = Sessions::new(2, Duration::from_secs(100));
        let a = s.create(t).unwrap();
        let b = s.create(t).unwrap();
        assert!(s.get_mut(&a, t + Duration::from_secs(1)).is_some()); // b is now the oldest
        let c = s.create(t + Duration::from_secs(2)).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.get_mut(&b, t).is_none(), "b evicted");
        assert!(s.get_mut(&a, t).is_some() && s.get_mut(&c, t).is_some());
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them() {
        let t = Instant::now();
        let idle = Duration::from_secs(10);
        let mut s = Sessions::new(10, idle);
        let a = s.create(t).unwrap();
        let b = s.create(t).unwrap();
        assert!(s.get_mut(&a, t + Duration::from_secs(9)).is_some());
        assert!(
            s.get_mut(&b, t + Duration::from_secs(10)).is_none(),
            "b idle 10 s"
        );
        assert!(
            s.get_mut(&a, t + Duration::from_secs(18)).is_some(),
            "a used at 9 s"
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_zero_idle_time_still_keeps_a_session_for_its_request() {
        let t = Instant::now();
        let mut s = Sessions::new(0, Duration::ZERO);
        let id = s.create(t).unwrap();
        assert!(s.get_mut(&id, t).is_some());
        assert_eq!(s.idle(), Duration::from_secs(1));
    }

    #[test]
    fn cookie_headers_with_several_cookies_spaces_and_quotes() {
        let t = Instant::now();
        let mut s = Sessions::new(10, Duration::from_secs(10));
        let live = s.create(t).unwrap();
        let forged = "0123456789abcdef0123456789abcdef";
        for header in [
            format!("sid={live}"),
            format!("a=1;sid={live}"),
            format!("  a = 1 ;  sid=\"{live}\"  ; b=2"),
            format!("sid={forged}; sid={live}"),
            format!("sid=junk; =; ;;sid={live}"),
        ] {
            assert_eq!(s.find(Some(&header), t), Some(live), "{header}");
        }
        for header in [
            String::new(),
            format!("sid={forged}"),
            format!("SID={live}"),
            format!("xsid={live}"),
            format!("sid={}", live.to_string().to_uppercase()),
        ] {
            assert_eq!(s.find(Some(&header), t), None, "{header}");
        }
        assert_eq!(s.find(None, t), None);
    }

    #[test]
    fn removal_clears_the_cookie() {
        let text = removal_cookie();
        assert!(text.starts_with("sid=;"), "{text}");
        assert!(text.contains("Max-Age=0"), "{text}");
        assert!(text.contains("Path=/"), "{text}");
    }
}
