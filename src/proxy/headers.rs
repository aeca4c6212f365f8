//! Port of `http.client.HTTPMessage` (an `email.message.Message`) as a proxy needs it: the
//! header fields of a message in arrival order, and RFC 9110 §7.6's forwarding rules
//! (hop-by-hop fields removed, `Via` appended).
//!
//! Python: `urllib.request` and `http.server` keep headers in an `email.message.Message`,
//! whose lookups are case-insensitive and which keeps repeated fields. Values here are
//! bytes, not text: a proxy passes on whatever a field holds (RFC 9110 §5.5 allows
//! obs-text), and only reads the fields it acts on.

use std::io::Write;

/// The header fields of one message, in the order received; names compare without regard
/// to case, and a name may repeat.
///
/// Python: `email.message.Message` (`msg['Cache-Control']`, `msg.get_all('Via')`).
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::Headers;
///
/// let mut headers = Headers::new();
/// headers.push("Cache-Control", "max-age=60");
/// headers.push("cache-control", "public");
/// assert_eq!(headers.get_str("CACHE-CONTROL"), Some("max-age=60"));
/// assert_eq!(headers.get_all("Cache-Control").count(), 2);
/// assert_eq!(headers.remove("Cache-Control"), 2);
/// assert!(headers.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, Vec<u8>)>,
}

/// The fields RFC 9110 §7.6.1 names hop-by-hop, whether or not `Connection` lists them,
/// plus `Proxy-Authorization` and `Proxy-Authenticate` (RFC 9110 §11.7: meant for this
/// proxy, never for the next hop).
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Headers {
    /// No fields.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.fields.push((name.to_owned(), value.as_ref().to_vec()));
    }

    /// Replaces every field called `name` with one holding `value`, where the first was.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        match self.position(name) {
            Some(at) => {
                self.fields[at].1 = value.as_ref().to_vec();
                let mut seen = 0;
                self.fields.retain(|(n, _)| {
                    if n.eq_ignore_ascii_case(name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(name, value),
        }
    }

    /// The first field called `name`. Python: `msg[name]`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.position(name).map(|at| self.fields[at].1.as_slice())
    }

    /// The first field called `name`, if it is text (ASCII or UTF-8), trimmed.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(str::trim)
    }

    /// Every field called `name`, in order. Python: `msg.get_all(name)`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a field called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The comma-separated list elements of every field called `name` (RFC 9110 §5.6.1),
    /// trimmed, empty elements left out. Quoted strings are kept whole, commas and all.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::Headers;
    ///
    /// let mut headers = Headers::new();
    /// headers.push("Cache-Control", "no-cache=\"a, b\", max-age=5");
    /// headers.push("Cache-Control", " , public");
    /// let items: Vec<&str> = headers.list("cache-control").collect();
    /// assert_eq!(items, ["no-cache=\"a, b\"", "max-age=5", "public"]);
    /// ```
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(split_list)
    }

    /// Removes every field called `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.fields.len()
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends every field as `Name: value\r\n` (no blank line).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Removes the hop-by-hop fields (RFC 9110 §7.6.1): every field `Connection` names,
    /// then [`HOP_BY_HOP`]. What is left is meant for the message's final recipient.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::Headers;
    ///
    /// let mut headers = Headers::new();
    /// headers.push("Connection", "close, X-Secret");
    /// headers.push("X-Secret", "for the next hop only");
    /// headers.push("Proxy-Connection", "keep-alive");
    /// headers.push("Accept", "*/*");
    /// headers.remove_hop_by_hop();
    /// assert_eq!(headers.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["Accept"]);
    /// ```
    pub fn remove_hop_by_hop(&mut self) {
        let named: Vec<String> = self
            .list("connection")
            .map(str::to_ascii_lowercase)
            .collect();
        self.fields.retain(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&name.as_str()) && !named.contains(&name)
        });
    }

    /// Appends this proxy to `Via` (RFC 9110 §7.6.3): `received` is the protocol version
    /// of the message as it was received (`"1.0"` or `"1.1"`), `by` this proxy's name.
    /// Existing `Via` fields are joined into one, ours last.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::Headers;
    ///
    /// let mut headers = Headers::new();
    /// headers.push("Via", "1.0 fred");
    /// headers.append_via("1.1", "mio-proxy");
    /// assert_eq!(headers.get_str("via"), Some("1.0 fred, 1.1 mio-proxy"));
    /// ```
    pub fn append_via(&mut self, received: &str, by: &str) {
        let mut via = Vec::new();
        for value in self.get_all("via") {
            via.extend_from_slice(value);
            via.extend_from_slice(b", ");
        }
        let _ = write!(via, "{received} {by}");
        self.remove("via");
        self.push("Via", via);
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Splits one field value into its list elements (RFC 9110 §5.6.1): commas outside quoted
/// strings separate them; elements are trimmed and empty ones dropped.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::split_list;
///
/// let items: Vec<&str> = split_list(r#"a, "b,c", , d="x\"y,z""#).collect();
/// assert_eq!(items, ["a", r#""b,c""#, r#"d="x\"y,z""#]);
/// ```
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == b',' && !quoted {
            items.push(&value[start..i]);
            start = i + 1;
        }
    }
    items.push(&value[start..]);
    items.into_iter().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_names_compare_without_case() {
        let mut headers = Headers::new();
        headers.push("CONNECTION", "Keep-Alive, x-A");
        headers.push("X-a", "1");
        headers.push("Keep-Alive", "timeout=5");
        headers.push("TE", "trailers");
        headers.push("Transfer-Encoding", "chunked");
        headers.push("Upgrade", "h2c");
        headers.push("Trailer", "X");
        headers.push("Proxy-Authorization", "Basic eA==");
        headers.push("Host", "h");
        headers.remove_hop_by_hop();
        assert_eq!(headers.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["Host"]);
    }

    #[test]
    fn set_keeps_the_first_place() {
        let mut headers = Headers::new();
        headers.push("A", "1");
        headers.push("B", "2");
        headers.push("a", "3");
        headers.set("A", "x");
        let out: Vec<_> = headers.iter().collect();
        assert_eq!(out, [("A", &b"x"[..]), ("B", &b"2"[..])]);
        headers.set("C", "y");
        assert_eq!(headers.get_str("c"), Some("y"));
    }

    #[test]
    fn non_utf8_values_are_kept_but_not_read_as_text() {
        let mut headers = Headers::new();
        headers.push("X", [0xff, b'a']);
        assert_eq!(headers.get("x"), Some(&[0xff, b'a'][..]));
        assert_eq!(headers.get_str("x"), None);
        let mut out = Vec::new();
        headers.write_to(&mut out);
        assert_eq!(out, b"X: \xffa\r\n");
    }

    #[test]
    fn unterminated_quotes_do_not_panic() {
        let items: Vec<&str> = split_list("\"a, b").collect();
        assert_eq!(items, ["\"a, b"]);
        assert_eq!(split_list("\\").count(), 1);
        assert_eq!(split_list("").count(), 0);
    }
}
