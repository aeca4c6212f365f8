//! A shared HTTP cache's rules (RFC 9111) and its store: what may be stored, how long it
//! stays fresh, its age, revalidation, and a memory bound with least-recently-used
//! eviction.
//!
//! Python: none in the standard library (`urllib` caches nothing); the model is Squid's
//! memory cache. Everything here is pure: times are passed in (`now`), so every rule is
//! unit-tested without a clock or a socket.
//!
//! Decisions where RFC 9111 leaves a choice, all on the side of revalidating more:
//! heuristic freshness is off (a response without explicit freshness but with a validator
//! is stored and revalidated on every use); a qualified `private="..."` or `no-cache="..."`
//! counts as unqualified; stale responses are never served without revalidation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Headers, ResponseHead};

/// The `Cache-Control` directives a cache acts on (RFC 9111 §5.2), from a request or a
/// response.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::{CacheControl, Headers};
///
/// let mut h = Headers::new();
/// h.push("Cache-Control", "public, max-age=60, s-maxage=\"30\"");
/// h.push("Cache-Control", "max-age=5"); // a second max-age: the first wins
/// let cc = CacheControl::parse(&h);
/// assert!(cc.public && !cc.no_store);
/// assert_eq!((cc.max_age, cc.s_maxage), (Some(60), Some(30)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`: never store (request or response).
    pub no_store: bool,
    /// `no-cache`: a response must be revalidated before each use; a request asks for that.
    pub no_cache: bool,
    /// `private`: a shared cache must not store the response.
    pub private: bool,
    /// `public`: storable even for a request with `Authorization`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `max-age=N` in seconds; an invalid value counts as 0 (RFC 9111 §4.2.1: stale).
    pub max_age: Option<u64>,
    /// `s-maxage=N`, the shared caches' own `max-age`.
    pub s_maxage: Option<u64>,
}

impl CacheControl {
    /// Reads every `Cache-Control` field; unknown directives are ignored, a repeated one
    /// counts once (its first value).
    pub fn parse(headers: &Headers) -> CacheControl {
        let mut cc = CacheControl::default();
        for item in headers.list("cache-control") {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (item, None),
            };
            let seconds = || value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            match name.to_ascii_lowercase().as_str() {
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = true,
                "private" => cc.private = true,
                "public" => cc.public = true,
                "must-revalidate" => cc.must_revalidate = true,
                "max-age" if cc.max_age.is_none() => cc.max_age = Some(seconds()),
                "s-maxage" if cc.s_maxage.is_none() => cc.s_maxage = Some(seconds()),
                _ => {}
            }
        }
        cc
    }
}

/// What a request asks of the cache (RFC 9111 §5.2.1, §5.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestRules {
    /// `no-store`: nothing of this exchange may be stored.
    pub no_store: bool,
    /// `no-cache`, `max-age=0` or (without `Cache-Control`) `Pragma: no-cache`: a stored
    /// response must be revalidated before it is used.
    pub revalidate: bool,
    /// `max-age=N`: a stored response older than this must be revalidated.
    pub max_age: Option<u64>,
}

impl RequestRules {
    /// Reads a request's `Cache-Control` and `Pragma`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::{Headers, RequestRules};
    ///
    /// let mut h = Headers::new();
    /// h.push("Pragma", "no-cache");
    /// assert!(RequestRules::parse(&h).revalidate);
    /// h.push("Cache-Control", "max-age=60"); // RFC 9111 §5.4: then Pragma is ignored
    /// assert!(!RequestRules::parse(&h).revalidate);
    /// ```
    pub fn parse(headers: &Headers) -> RequestRules {
        let cc = CacheControl::parse(headers);
        let pragma = !headers.contains("cache-control")
            && headers
                .list("pragma")
                .any(|t| t.eq_ignore_ascii_case("no-cache"));
        RequestRules {
            no_store: cc.no_store,
            revalidate: cc.no_cache || cc.max_age == Some(0) || pragma,
            max_age: cc.max_age,
        }
    }
}

/// Why a response is not stored; `None` from [`storable`] means it may be.
pub type NotStorable = &'static str;

/// Whether a shared cache may store the response to a request (RFC 9111 §3, §3.5, with
/// this cache's choices): a complete 200 or 301 to `GET`, at most `max_object` bytes,
/// without `no-store` on either side, `private`, `Set-Cookie`, or `Vary` naming anything
/// but `Accept-Encoding`; for a request with `Authorization`, only with `public`,
/// `s-maxage` or `must-revalidate`; and with explicit freshness or a validator.
/// `body_len` is the `Content-Length` (or the complete body's size) when known.
///
/// # Errors
/// The reason, in a few words, for the log.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::{storable, Headers};
///
/// let request = Headers::new();
/// let mut response = Headers::new();
/// response.push("Cache-Control", "max-age=60");
/// assert_eq!(storable("GET", &request, 200, &response, Some(10), 1000), Ok(()));
/// assert!(storable("GET", &request, 200, &response, Some(2000), 1000).is_err());
/// response.push("Set-Cookie", "id=1");
/// assert_eq!(storable("GET", &request, 200, &response, Some(10), 1000), Err("Set-Cookie"));
/// ```
pub fn storable(
    method: &str,
    request: &Headers,
    status: u16,
    response: &Headers,
    body_len: Option<u64>,
    max_object: u64,
) -> Result<(), NotStorable> {
    if method != "GET" {
        return Err("not a GET");
    }
    if status != 200 && status != 301 {
        return Err("status other than 200 and 301");
    }
    if CacheControl::parse(request).no_store {
        return Err("no-store in the request");
    }
    let cc = CacheControl::parse(response);
    if cc.no_store {
        return Err("no-store");
    }
    if cc.private {
        return Err("private");
    }
    if request.contains("authorization")
        && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate)
    {
        return Err("Authorization without public, s-maxage or must-revalidate");
    }
    if response.contains("set-cookie") {
        return Err("Set-Cookie");
    }
    if response
        .list("vary")
        .any(|name| !name.eq_ignore_ascii_case("accept-encoding"))
    {
        return Err("Vary other than Accept-Encoding");
    }
    if body_len.is_some_and(|len| len > max_object) {
        return Err("larger than --max-object");
    }
    let explicit = cc.s_maxage.is_some() || cc.max_age.is_some() || response.contains("expires");
    let validator = response.contains("etag") || response.contains("last-modified");
    if !explicit && !validator {
        return Err("neither explicit freshness nor a validator");
    }
    Ok(())
}

/// A stored response: its head (hop-by-hop fields removed), body, and the times RFC 9111
/// §4.2.3 computes its age from.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The status code (200 or 301).
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The minor version the upstream answered with (for `Via`).
    pub minor: u8,
    /// The end-to-end header fields.
    pub headers: Headers,
    /// The body, shared with whoever is sending it.
    pub body: Arc<[u8]>,
    /// The request's `Accept-Encoding` when the response says `Vary: Accept-Encoding`:
    /// only requests with the same one may be served it.
    pub vary_encoding: Option<Vec<u8>>,
    /// `response_time` of RFC 9111 §4.2.3: when the response arrived.
    pub response_time: SystemTime,
    /// `corrected_initial_age`: the age it had on arrival.
    pub initial_age: Duration,
}

impl Stored {
    /// A response (`head` with its hop-by-hop fields already removed, and `body`) received
    /// at `response_time`, asked for at `request_time` with request headers `request`.
    pub fn new(
        head: ResponseHead,
        body: Arc<[u8]>,
        request: &Headers,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Stored {
        let ResponseHead {
            minor,
            status,
            reason,
            headers,
        } = head;
        let vary_encoding = headers
            .list("vary")
            .next()
            .is_some()
            .then(|| request.get("accept-encoding").unwrap_or_default().to_vec());
        let mut stored = Stored {
            status,
            reason,
            minor,
            headers,
            body,
            vary_encoding,
            response_time,
            initial_age: Duration::ZERO,
        };
        stored.initial_age = stored.corrected_initial_age(request_time, response_time);
        stored
    }

    /// RFC 9111 §4.2.3: `max(apparent_age, age_value + response_delay)`.
    fn corrected_initial_age(
        &self,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Duration {
        let date = self.date().unwrap_or(response_time);
        let apparent_age = response_time.duration_since(date).unwrap_or_default();
        let age_value = self
            .headers
            .get_str("age")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        let response_delay = response_time
            .duration_since(request_time)
            .unwrap_or_default();
        apparent_age.max(age_value.saturating_add(response_delay))
    }

    fn date(&self) -> Option<SystemTime> {
        self.headers
            .get_str("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
    }

    /// The response's current age (RFC 9111 §4.2.3): its age on arrival plus the time it
    /// has been here.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::{Headers, Stored};
    /// use std::time::{Duration, SystemTime};
    /// # fn head(status: u16, minor: u8, headers: Headers) -> mio_selectors::proxy::ResponseHead {
    /// #     mio_selectors::proxy::ResponseHead { minor, status, reason: "OK".into(), headers }
    /// # }
    ///
    /// let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// let mut h = Headers::new();
    /// h.push("Date", httpdate::fmt_http_date(sent - Duration::from_secs(10)));
    /// h.push("Age", "3"); // an upstream cache held it 3 s
    /// h.push("Cache-Control", "max-age=60");
    /// // asked at `sent`, answered 2 s later: apparent age 12 s beats 3 + 2
    /// let stored = Stored::new(head(200, 1, h), Vec::new().into(), &Headers::new(),
    ///                          sent, sent + Duration::from_secs(2));
    /// assert_eq!(stored.current_age(sent + Duration::from_secs(7)).as_secs(), 17);
    /// assert!(stored.is_fresh(sent + Duration::from_secs(7)));
    /// assert!(!stored.is_fresh(sent + Duration::from_secs(50)));
    /// ```
    pub fn current_age(&self, now: SystemTime) -> Duration {
        // Saturating: an `Age` of 2^64 - 1 seconds is hostile input, not a panic.
        self.initial_age
            .saturating_add(now.duration_since(self.response_time).unwrap_or_default())
    }

    /// The freshness lifetime (RFC 9111 §4.2.1, shared cache): `s-maxage`, else
    /// `max-age`, else `Expires` − `Date`; `None` without any (no heuristics here).
    pub fn freshness_lifetime(&self) -> Option<Duration> {
        let cc = CacheControl::parse(&self.headers);
        if let Some(seconds) = cc.s_maxage.or(cc.max_age) {
            return Some(Duration::from_secs(seconds));
        }
        let expires = self.headers.get_str("expires")?;
        // RFC 9111 §5.3: an invalid Expires (such as "0") means already expired.
        let Ok(expires) = httpdate::parse_http_date(expires) else {
            return Some(Duration::ZERO);
        };
        let date = self.date().unwrap_or(self.response_time);
        Some(expires.duration_since(date).unwrap_or_default())
    }

    /// Whether it may be used without revalidation at `now`: not `no-cache`, and younger
    /// than its freshness lifetime.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        !CacheControl::parse(&self.headers).no_cache
            && self
                .freshness_lifetime()
                .is_some_and(|lifetime| self.current_age(now) < lifetime)
    }

    /// Whether it may answer a request with these headers at `now` without asking the
    /// upstream: fresh, and the request asks for no revalidation it does not pass.
    pub fn usable_for(&self, request: &Headers, now: SystemTime) -> bool {
        let rules = RequestRules::parse(request);
        self.is_fresh(now)
            && !rules.revalidate
            && rules
                .max_age
                .is_none_or(|max| self.current_age(now).as_secs() <= max)
    }

    /// Whether it may be served to a request with these headers at all (RFC 9111 §4.1):
    /// the same `Accept-Encoding` if it varies on it.
    pub fn matches_vary(&self, request: &Headers) -> bool {
        match &self.vary_encoding {
            None => true,
            Some(encoding) => request.get("accept-encoding").unwrap_or_default() == encoding,
        }
    }

    /// The conditional headers that revalidate it (RFC 9111 §4.3.1): `If-None-Match`
    /// with its ETag, `If-Modified-Since` with its Last-Modified. Empty: it cannot be
    /// revalidated, only fetched again.
    pub fn validators(&self) -> Headers {
        let mut out = Headers::new();
        if let Some(etag) = self.headers.get("etag") {
            out.push("If-None-Match", etag);
        }
        if let Some(modified) = self.headers.get("last-modified") {
            out.push("If-Modified-Since", modified);
        }
        out
    }

    /// Whether the client's own conditional request (`If-None-Match`, else
    /// `If-Modified-Since`) matches it, so that 304 is the answer (RFC 9110 §13.1.2,
    /// §13.1.3: weak comparison; `If-Modified-Since` only without `If-None-Match`). Never
    /// for a stored 301: preconditions apply to 2xx answers only (§13.2.1).
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::{Headers, Stored};
    /// use std::time::SystemTime;
    /// # fn head(status: u16, minor: u8, headers: Headers) -> mio_selectors::proxy::ResponseHead {
    /// #     mio_selectors::proxy::ResponseHead { minor, status, reason: "OK".into(), headers }
    /// # }
    ///
    /// let mut h = Headers::new();
    /// h.push("ETag", "\"v1\"");
    /// let now = SystemTime::now();
    /// let stored = Stored::new(head(200, 0, h), Vec::new().into(), &Headers::new(), now, now);
    /// let mut request = Headers::new();
    /// request.push("If-None-Match", "\"v0\", W/\"v1\"");
    /// assert!(stored.client_condition_matches(&request));
    /// ```
    pub fn client_condition_matches(&self, request: &Headers) -> bool {
        // RFC 9110 §13.2.1: preconditions apply only where the answer would be 2xx; a
        // stored 301 is sent as it is, whatever the client holds.
        if !(200..300).contains(&self.status) {
            return false;
        }
        if request.contains("if-none-match") {
            let Some(etag) = self.headers.get_str("etag") else {
                return false;
            };
            let weak = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
            let etag = weak(etag);
            return request
                .list("if-none-match")
                .any(|tag| tag == "*" || weak(tag) == etag);
        }
        let since = request
            .get_str("if-modified-since")
            .and_then(|d| httpdate::parse_http_date(d).ok());
        let modified = self
            .headers
            .get_str("last-modified")
            .and_then(|d| httpdate::parse_http_date(d).ok());
        matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
    }

    /// Whether a 304 with these fields is about this response (RFC 9111 §4.3.4): its
    /// `ETag`, if it has one, is this one's (weak comparison); else its `Last-Modified`,
    /// if it has one, is this one's; a 304 with neither selects it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::{Headers, Stored};
    /// use std::time::SystemTime;
    /// # fn head(status: u16, minor: u8, headers: Headers) -> mio_selectors::proxy::ResponseHead {
    /// #     mio_selectors::proxy::ResponseHead { minor, status, reason: "OK".into(), headers }
    /// # }
    ///
    /// let mut h = Headers::new();
    /// h.push("ETag", "\"v1\"");
    /// let now = SystemTime::now();
    /// let stored = Stored::new(head(200, 1, h), Vec::new().into(), &Headers::new(), now, now);
    /// let mut not_modified = Headers::new();
    /// assert!(stored.selected_by(&not_modified));
    /// not_modified.push("ETag", "\"v2\"");
    /// assert!(!stored.selected_by(&not_modified));
    /// ```
    pub fn selected_by(&self, not_modified: &Headers) -> bool {
        let same = |name: &str, normalise: fn(&str) -> &str| {
            not_modified.get_str(name).map(|theirs| {
                self.headers
                    .get_str(name)
                    .is_some_and(|ours| normalise(ours) == normalise(theirs))
            })
        };
        fn weak(tag: &str) -> &str {
            tag.trim_start_matches("W/")
        }
        same("etag", weak)
            .or_else(|| same("last-modified", str::trim))
            .unwrap_or(true)
    }

    /// A copy freshened by a 304 (RFC 9111 §4.3.4): its header fields replace the stored
    /// ones of the same name, except `Content-Length` (the body did not change); the age
    /// starts again from the 304's times.
    pub fn refreshed(
        &self,
        not_modified: &Headers,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Stored {
        let mut headers = self.headers.clone();
        let mut replaced: Vec<String> = Vec::new();
        for (name, _) in not_modified.iter() {
            let lower = name.to_ascii_lowercase();
            if lower == "content-length" || replaced.contains(&lower) {
                continue;
            }
            headers.remove(name);
            for value in not_modified.get_all(name) {
                headers.push(name, value);
            }
            replaced.push(lower);
        }
        // An Age from the old response must not add to the new one's.
        if !not_modified.contains("age") {
            headers.remove("age");
        }
        let mut fresh = Stored {
            headers,
            response_time,
            ..self.clone()
        };
        fresh.initial_age = fresh.corrected_initial_age(request_time, response_time);
        fresh
    }

    /// Bytes it counts against the cache's size: its body.
    pub fn size(&self) -> u64 {
        self.body.len() as u64
    }
}

/// The store: responses by absolute URL, at most `capacity` body bytes in all, the least
/// recently used evicted first.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::{Cache, Headers, Stored};
/// use std::time::SystemTime;
/// # fn head(status: u16, minor: u8, headers: Headers) -> mio_selectors::proxy::ResponseHead {
/// #     mio_selectors::proxy::ResponseHead { minor, status, reason: "OK".into(), headers }
/// # }
///
/// let now = SystemTime::now();
/// let entry = |len: usize| Stored::new(head(200, 0, Headers::new()), vec![0; len].into(),
///                                      &Headers::new(), now, now);
/// let mut cache = Cache::new(100);
/// cache.insert("http://h/a".into(), entry(40));
/// cache.insert("http://h/b".into(), entry(40));
/// assert!(cache.get("http://h/a").is_some()); // a is now the most recently used
/// cache.insert("http://h/c".into(), entry(40)); // over 100: b goes
/// assert!(cache.get("http://h/b").is_none());
/// assert_eq!(cache.bytes(), 80);
/// ```
#[derive(Debug)]
pub struct Cache {
    capacity: u64,
    bytes: u64,
    entries: HashMap<String, (Arc<Stored>, u64)>,
    /// Use order: tick → key; the first is the least recently used.
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Cache {
    /// An empty cache of `capacity` body bytes.
    pub fn new(capacity: u64) -> Cache {
        Cache {
            capacity,
            bytes: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The entry for `key`, now the most recently used.
    pub fn get(&mut self, key: &str) -> Option<Arc<Stored>> {
        let tick = self.next_tick();
        let (stored, used) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, key.to_owned());
        Some(Arc::clone(stored))
    }

    /// Stores `stored` under `key`, replacing what was there, then evicts the least
    /// recently used entries until the total fits. Returns the keys evicted. An entry
    /// larger than the whole cache is not stored.
    pub fn insert(&mut self, key: String, stored: impl Into<Arc<Stored>>) -> Vec<String> {
        let stored = stored.into();
        self.remove(&key);
        if stored.size() > self.capacity {
            return Vec::new();
        }
        let mut evicted = Vec::new();
        while self.bytes + stored.size() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.remove(&oldest);
            evicted.push(oldest);
        }
        let tick = self.next_tick();
        self.bytes += stored.size();
        self.order.insert(tick, key.clone());
        self.entries.insert(key, (stored, tick));
        evicted
    }

    /// Forgets `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some((stored, tick)) => {
                self.order.remove(&tick);
                self.bytes -= stored.size();
                true
            }
            None => false,
        }
    }

    /// Body bytes stored.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.push(n, v);
        }
        h
    }

    fn head(status: u16, minor: u8, headers: Headers) -> ResponseHead {
        ResponseHead {
            minor,
            status,
            reason: "OK".into(),
            headers,
        }
    }

    fn stored(fields: &[(&str, &str)], request: &Headers, at: u64) -> Stored {
        Stored::new(
            head(200, 1, headers(fields)),
            b"body".to_vec().into(),
            request,
            t(at),
            t(at),
        )
    }

    fn check(
        request: &[(&str, &str)],
        status: u16,
        response: &[(&str, &str)],
    ) -> Result<(), &'static str> {
        storable(
            "GET",
            &headers(request),
            status,
            &headers(response),
            Some(4),
            100,
        )
    }

    #[test]
    fn storability() {
        let ok = [("Cache-Control", "max-age=60")];
        assert_eq!(check(&[], 200, &ok), Ok(()));
        assert_eq!(check(&[], 301, &ok), Ok(()));
        assert!(check(&[], 404, &ok).is_err());
        assert!(check(&[], 206, &ok).is_err());
        assert!(storable("HEAD", &Headers::new(), 200, &headers(&ok), None, 100).is_err());
        assert!(check(&[("Cache-Control", "no-store")], 200, &ok).is_err());
        assert!(check(&[], 200, &[("Cache-Control", "max-age=60, no-store")]).is_err());
        assert!(check(&[], 200, &[("Cache-Control", "private, max-age=60")]).is_err());
        assert!(check(&[], 200, &[("Cache-Control", "private=\"x\", max-age=60")]).is_err());
        assert!(check(
            &[],
            200,
            &[("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")]
        )
        .is_err());
        assert!(check(
            &[],
            200,
            &[("Cache-Control", "max-age=60"), ("Vary", "Cookie")]
        )
        .is_err());
        assert!(check(&[], 200, &[("Cache-Control", "max-age=60"), ("Vary", "*")]).is_err());
        assert_eq!(
            check(
                &[],
                200,
                &[("Cache-Control", "max-age=60"), ("Vary", "accept-encoding")]
            ),
            Ok(())
        );
        assert!(check(&[], 200, &[]).is_err(), "no freshness, no validator");
        assert_eq!(check(&[], 200, &[("ETag", "\"a\"")]), Ok(()));
        assert_eq!(
            check(
                &[],
                200,
                &[("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]
            ),
            Ok(())
        );
        assert_eq!(check(&[], 200, &[("Expires", "0")]), Ok(()));
        let auth = [("Authorization", "Basic eDp5")];
        assert!(check(&auth, 200, &ok).is_err());
        assert_eq!(
            check(&auth, 200, &[("Cache-Control", "public, max-age=60")]),
            Ok(())
        );
        assert_eq!(
            check(&auth, 200, &[("Cache-Control", "s-maxage=60")]),
            Ok(())
        );
        assert_eq!(
            check(
                &auth,
                200,
                &[("Cache-Control", "must-revalidate, max-age=6")]
            ),
            Ok(())
        );
        assert!(storable("GET", &Headers::new(), 200, &headers(&ok), Some(101), 100).is_err());
    }

    #[test]
    fn freshness_lifetime_order() {
        let r = Headers::new();
        let s = stored(&[("Cache-Control", "max-age=10, s-maxage=20")], &r, 0);
        assert_eq!(s.freshness_lifetime(), Some(Duration::from_secs(20)));
        let s = stored(
            &[
                ("Cache-Control", "max-age=10"),
                ("Expires", &httpdate::fmt_http_date(t(100))),
            ],
            &r,
            0,
        );
        assert_eq!(s.freshness_lifetime(), Some(Duration::from_secs(10)));
        let s = stored(
            &[
                ("Date", &httpdate::fmt_http_date(t(0))),
                ("Expires", &httpdate::fmt_http_date(t(30))),
            ],
            &r,
            0,
        );
        assert_eq!(s.freshness_lifetime(), Some(Duration::from_secs(30)));
        assert!(s.is_fresh(t(29)) && !s.is_fresh(t(30)));
        let s = stored(&[("Expires", "0")], &r, 0);
        assert_eq!(s.freshness_lifetime(), Some(Duration::ZERO));
        let s = stored(&[("ETag", "\"x\"")], &r, 0);
        assert_eq!(s.freshness_lifetime(), None);
        assert!(!s.is_fresh(t(0)), "a validator alone: always revalidated");
        let s = stored(&[("Cache-Control", "max-age=bogus")], &r, 0);
        assert!(!s.is_fresh(t(0)), "an invalid max-age means stale");
        let s = stored(&[("Cache-Control", "no-cache, max-age=60")], &r, 0);
        assert!(!s.is_fresh(t(1)), "no-cache: revalidated every time");
    }

    #[test]
    fn age_follows_rfc_9111() {
        // Date 100 s before arrival, no Age header: apparent age 100.
        let r = Headers::new();
        let date = httpdate::fmt_http_date(t(0));
        let s = Stored::new(
            head(
                200,
                1,
                headers(&[("Date", &date), ("Cache-Control", "max-age=60")]),
            ),
            Vec::new().into(),
            &r,
            t(99),
            t(100),
        );
        assert_eq!(s.current_age(t(100)).as_secs(), 100);
        assert!(!s.is_fresh(t(100)), "stale on arrival: an old Date counts");
        // Age 30 from upstream plus a 5 s delay beats an apparent age of 0.
        let date = httpdate::fmt_http_date(t(105));
        let s = Stored::new(
            head(200, 1, headers(&[("Date", &date), ("Age", "30")])),
            Vec::new().into(),
            &r,
            t(100),
            t(105),
        );
        assert_eq!(s.current_age(t(105)).as_secs(), 35);
        assert_eq!(s.current_age(t(115)).as_secs(), 45);
        // An absurd Age saturates instead of overflowing, and is stale.
        let s = Stored::new(
            head(
                200,
                1,
                headers(&[
                    ("Age", "18446744073709551615"),
                    ("Cache-Control", "max-age=60"),
                ]),
            ),
            Vec::new().into(),
            &r,
            t(0),
            t(1),
        );
        assert!(!s.is_fresh(t(2)));
        assert_eq!(s.current_age(t(100)), Duration::MAX);
        // A Date in the future gives no negative age.
        let date = httpdate::fmt_http_date(t(500));
        let s = Stored::new(
            head(200, 1, headers(&[("Date", &date)])),
            Vec::new().into(),
            &r,
            t(0),
            t(0),
        );
        assert_eq!(s.current_age(t(0)), Duration::ZERO);
    }

    #[test]
    fn request_rules_force_revalidation() {
        let s = stored(&[("Cache-Control", "max-age=60")], &Headers::new(), 0);
        assert!(s.usable_for(&Headers::new(), t(10)));
        for forcing in [
            &[("Cache-Control", "no-cache")][..],
            &[("Cache-Control", "max-age=0")],
            &[("Pragma", "no-cache")],
            &[("Cache-Control", "max-age=5")],
        ] {
            assert!(!s.usable_for(&headers(forcing), t(10)), "{forcing:?}");
        }
        assert!(s.usable_for(&headers(&[("Cache-Control", "max-age=20")]), t(10)));
    }

    #[test]
    fn vary_accept_encoding() {
        let gzip = headers(&[("Accept-Encoding", "gzip")]);
        let s = stored(
            &[("Vary", "Accept-Encoding"), ("Cache-Control", "max-age=60")],
            &gzip,
            0,
        );
        assert!(s.matches_vary(&gzip));
        assert!(!s.matches_vary(&Headers::new()));
        assert!(!s.matches_vary(&headers(&[("Accept-Encoding", "br")])));
        let plain = stored(&[("Cache-Control", "max-age=60")], &gzip, 0);
        assert!(plain.matches_vary(&Headers::new()));
    }

    #[test]
    fn validators_and_304_refresh() {
        let lm = httpdate::fmt_http_date(t(0));
        let s = stored(
            &[
                ("ETag", "\"v1\""),
                ("Last-Modified", &lm),
                ("Content-Length", "4"),
                ("X-Old", "1"),
            ],
            &Headers::new(),
            0,
        );
        let v = s.validators();
        assert_eq!(v.get_str("if-none-match"), Some("\"v1\""));
        assert_eq!(v.get_str("if-modified-since"), Some(lm.as_str()));
        let not_modified = headers(&[
            ("Cache-Control", "max-age=30"),
            ("Content-Length", "0"),
            ("X-Old", "2"),
        ]);
        let fresh = s.refreshed(&not_modified, t(100), t(100));
        assert_eq!(fresh.headers.get_str("content-length"), Some("4"));
        assert_eq!(fresh.headers.get_str("x-old"), Some("2"));
        assert_eq!(fresh.headers.get_str("etag"), Some("\"v1\""));
        assert!(fresh.is_fresh(t(120)) && !fresh.is_fresh(t(130)));
        assert_eq!(&*fresh.body, b"body");
        // Which stored response a 304 is about (§4.3.4).
        assert!(s.selected_by(&headers(&[("ETag", "W/\"v1\"")])));
        assert!(!s.selected_by(&headers(&[("ETag", "\"v2\""), ("Last-Modified", &lm)])));
        assert!(s.selected_by(&headers(&[("Last-Modified", &lm)])));
        let other = httpdate::fmt_http_date(t(1));
        assert!(!s.selected_by(&headers(&[("Last-Modified", &other)])));
        assert!(s.selected_by(&headers(&[("Cache-Control", "max-age=1")])));
    }

    #[test]
    fn client_conditionals() {
        let lm = httpdate::fmt_http_date(t(0));
        let s = stored(
            &[("ETag", "W/\"v1\""), ("Last-Modified", &lm)],
            &Headers::new(),
            0,
        );
        assert!(s.client_condition_matches(&headers(&[("If-None-Match", "\"v1\"")])));
        assert!(s.client_condition_matches(&headers(&[("If-None-Match", "*")])));
        assert!(!s.client_condition_matches(&headers(&[("If-None-Match", "\"v2\"")])));
        assert!(s.client_condition_matches(&headers(&[(
            "If-Modified-Since",
            &httpdate::fmt_http_date(t(5))
        )])));
        assert!(!s.client_condition_matches(&headers(&[(
            "If-Modified-Since",
            &httpdate::fmt_http_date(t(0) - Duration::from_secs(1))
        )])));
        // If-None-Match wins over If-Modified-Since.
        assert!(!s.client_condition_matches(&headers(&[
            ("If-None-Match", "\"v2\""),
            ("If-Modified-Since", &lm)
        ])));
        assert!(!s.client_condition_matches(&headers(&[("If-Modified-Since", "garbage")])));
        // A stored redirect is never answered 304 (RFC 9110 §13.2.1: 2xx only).
        let moved = Stored::new(
            head(
                301,
                1,
                headers(&[("ETag", "\"v1\""), ("Last-Modified", &lm)]),
            ),
            Vec::new().into(),
            &Headers::new(),
            t(0),
            t(0),
        );
        assert!(!moved.client_condition_matches(&headers(&[("If-None-Match", "\"v1\"")])));
        assert!(!moved.client_condition_matches(&headers(&[("If-Modified-Since", &lm)])));
    }

    #[test]
    fn lru_by_bytes() {
        let r = Headers::new();
        let mut cache = Cache::new(10);
        let sized = |n: usize| {
            Stored::new(
                head(200, 0, Headers::new()),
                vec![1; n].into(),
                &r,
                t(0),
                t(0),
            )
        };
        assert!(cache.insert("a".into(), sized(4)).is_empty());
        assert!(cache.insert("b".into(), sized(4)).is_empty());
        cache.get("a");
        assert_eq!(cache.insert("c".into(), sized(4)), ["b"]);
        assert_eq!(cache.insert("d".into(), sized(8)), ["a", "c"]);
        assert_eq!((cache.len(), cache.bytes()), (1, 8));
        assert!(cache.insert("huge".into(), sized(11)).is_empty());
        assert!(cache.get("huge").is_none());
        assert_eq!(cache.insert("d".into(), sized(2)), Vec::<String>::new());
        assert_eq!(cache.bytes(), 2);
        assert!(cache.remove("d") && cache.is_empty() && cache.bytes() == 0);
    }
}
