//! Port of how `http.server` handlers read a request body (`self.rfile.read(int(
//! self.headers['Content-Length']))`) and `urllib.parse.parse_qsl` decodes a form, with
//! the checks a server facing hostile clients needs.
//!
//! The rules (RFC 9112 §6):
//!
//! * The body's length comes from `Content-Length`. `Transfer-Encoding` (chunked) is not
//!   implemented by this HTTP/1.0 server: 501, and the connection closes, since where the
//!   body ends is unknown.
//! * Both headers at once, or two different lengths, are how request smuggling starts (a
//!   proxy in front and this server would disagree where the next request begins): 400
//!   and close. The same length twice (`Content-Length: 5, 5`) is one length.
//! * Bodies are bounded (`--max-body`): a longer one is 413 and close, decided from the
//!   header before a byte of it is read.
//!
//! Which requests take a body, and what happens to an unwanted one, is the server's
//! business (src/http/server.rs); this file only reads the headers and decodes forms.

use super::request::trim;
use super::{RequestError, Status};

/// The default `--max-body`: 64 KiB, plenty for a login form.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024;

/// The body's length from the request's `Content-Length` values (one per header line) and
/// whether it had a `Transfer-Encoding`: `Ok(None)` for no body header at all.
///
/// # Errors
/// 501 for `Transfer-Encoding`; 400 for it together with `Content-Length`, for lengths
/// that differ, and for one that is not a decimal number.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{content_length, Status};
///
/// assert_eq!(content_length(&[b"12"], false), Ok(Some(12)));
/// assert_eq!(content_length(&[b"12", b" 12 "], false), Ok(Some(12)));
/// assert_eq!(content_length(&[], false), Ok(None));
/// assert_eq!(content_length(&[b"12", b"13"], false).unwrap_err().status, Status::BadRequest);
/// assert_eq!(content_length(&[], true).unwrap_err().status, Status::NotImplemented);
/// assert_eq!(content_length(&[b"3"], true).unwrap_err().status, Status::BadRequest);
/// ```
pub fn content_length(
    values: &[&[u8]],
    transfer_encoding: bool,
) -> Result<Option<u64>, RequestError> {
    if transfer_encoding && !values.is_empty() {
        return Err(refused(
            Status::BadRequest,
            "both Transfer-Encoding and Content-Length",
        ));
    }
    if transfer_encoding {
        return Err(refused(
            Status::NotImplemented,
            "Transfer-Encoding is not supported",
        ));
    }
    let mut length = None;
    for value in values {
        // RFC 9110 §8.6: a list of identical values is one value.
        for item in value.split(|&b| b == b',') {
            let digits = trim(item);
            let parsed = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(digits).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or(refused(Status::BadRequest, "invalid Content-Length"))?;
            match length {
                Some(seen) if seen != parsed => {
                    return Err(refused(
                        Status::BadRequest,
                        "conflicting Content-Length headers",
                    ))
                }
                _ => length = Some(parsed),
            }
        }
    }
    Ok(length)
}

/// A refusal of the body: its status and fixed text.
const fn refused(status: Status, detail: &'static str) -> RequestError {
    RequestError {
        status,
        detail,
        method: None,
    }
}

/// A decoded `application/x-www-form-urlencoded` body: its fields, in order.
///
/// Python: `urllib.parse.parse_qsl(body.decode())`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

/// The only body format the app's routes take.
pub const FORM_TYPE: &str = "application/x-www-form-urlencoded";

impl Form {
    /// Decodes `body` if `content_type` says it is a form (`application/x-www-form-urlencoded`,
    /// any case, parameters such as `charset=UTF-8` allowed). Bytes that are not UTF-8
    /// after percent-decoding become U+FFFD, as in browsers and Python.
    ///
    /// # Errors
    /// 415 for any other content type, or none.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::http::{Form, Status};
    ///
    /// let form = Form::parse(Some("application/x-www-form-urlencoded"), b"user=al+ice&password=p%26w").unwrap();
    /// assert_eq!(form.get("user"), Some("al ice"));
    /// assert_eq!(form.require("password").unwrap(), "p&w");
    /// assert_eq!(form.require("other").unwrap_err().status, Status::BadRequest);
    /// assert_eq!(Form::parse(Some("text/plain"), b"").unwrap_err().status, Status::UnsupportedMediaType);
    /// ```
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Form, RequestError> {
        let media_type = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim);
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case(FORM_TYPE)) {
            return Err(refused(
                Status::UnsupportedMediaType,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let fields = form_urlencoded::parse(body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Ok(Form { fields })
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of field `name`, which must be there.
    ///
    /// # Errors
    /// 400 if the form has no such field.
    pub fn require(&self, name: &str) -> Result<&str, RequestError> {
        self.get(name)
            .ok_or(refused(Status::BadRequest, "a form field is missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for bad in [
            &b""[..],
            b" ",
            b"-1",
            b"+5",
            b"0x10",
            b"1 2",
            b"99999999999999999999999",
        ] {
            assert_eq!(
                content_length(&[bad], false).unwrap_err().detail,
                "invalid Content-Length",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(content_length(&[b"5,5"], false), Ok(Some(5)));
        assert_eq!(
            content_length(&[b"5,6"], false).unwrap_err().detail,
            "conflicting Content-Length headers"
        );
        assert_eq!(content_length(&[b"0"], false), Ok(Some(0)));
    }

    #[test]
    fn forms() {
        let form = Form::parse(
            Some("Application/X-WWW-Form-URLEncoded; charset=UTF-8"),
            b"a=1&a=2&b=%ff&c",
        )
        .unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), Some("\u{fffd}"));
        assert_eq!(form.get("c"), Some(""));
        for other in [None, Some("multipart/form-data; boundary=x"), Some("")] {
            assert_eq!(
                Form::parse(other, b"a=1").unwrap_err().status,
                Status::UnsupportedMediaType
            );
        }
    }
}
