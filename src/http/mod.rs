//! Port of `http.server` (`BaseHTTPRequestHandler`, `SimpleHTTPRequestHandler`), the
//! standard library's file server, which the course runs as `python3 -m http.server`: the
//! HTTP/1.0 responder, a static-file server for GET and HEAD.
//!
//! The server is split so that everything but moving bytes is testable without a socket:
//!
//! | module | Python | what it holds |
//! |---|---|---|
//! | `request` | `BaseHTTPRequestHandler.parse_request` | [`RequestReader`]: bytes in, [`Request`]s out, incrementally, with [`Limits`] |
//! | `access_log` | `log_request`, `log_message` | [`AccessLog`]: lines queued, written by a thread of their own, escaped |
//! | `beneath` | (none: Python opens by name) | [`Root`]: lookups that stay beneath the root's descriptor, whatever is renamed meanwhile |
//! | `files` | `SimpleHTTPRequestHandler.translate_path` | [`resolve`]: a target to a file under the root, never outside it |
//! | `location` | `send_head`'s redirect | the `Location` of a directory's 301, from the confined path |
//! | `mime` | `mimetypes.guess_type` | [`content_type`] by extension |
//! | `response` | `send_response`, `send_header`, `send_error` | [`ResponseHead`], [`error_page`], [`DateCache`] |
//! | `site` | `do_GET`, `do_HEAD`, `send_head` | [`Site::respond`]: a request to a [`Response`], small files cached |
//! | `server` | `ThreadingHTTPServer` | [`HttpServer`]: a [`Protocol`](crate::event_loop::Protocol) per connection, timeouts, access log |
//! | `status` | `http.HTTPStatus` | [`Status`] |
//! | `conditional` | `send_head`'s `If-Modified-Since` | [`etag`], [`Conditions::evaluate`] (RFC 9110 §13.2.2), [`if_range_allows`] |
//! | `range` | none (nginx's range filter) | [`byte_range`]: one range, 206 or 416 |
//! | `freshness` | none (nginx's `expires`) | [`CachePolicy`]: `--cache PREFIX=SECONDS` |
//! | `negotiate` | none (Apache's MultiViews) | [`variants`], [`negotiate`]: `Accept`, `Accept-Language`, `Vary` |
//! | `listing` | `list_directory` | [`listing_page`]: a directory's index, no `stat` per entry |
//! | `hidden` | none | [`is_hidden`]: dot-segments are 403, `/.well-known/` excepted |
//! | `escape` | `urllib.parse.quote`, `html.escape` | [`percent_encode`], [`html_escape`] |
//! | `body` | `rfile.read(Content-Length)`, `urllib.parse.parse_qsl` | [`content_length`], [`Form`] |
//! | `htpasswd` | Apache's `mod_authn_file` | [`Htpasswd`]: `user:bcrypt` lines, checked at load |
//! | `access` | Apache's `<Location> Require valid-user` | [`AccessControl`]: which paths `--auth` protects |
//! | `auth` | `mod_auth_basic` + `mod_authn_socache` | [`parse_basic`], [`PasswordFile`]: checks to run off the loop, a cache of successes |
//! | `session` | `http.cookies`, Django's sessions | [`Sessions`]: ids from the OS's CSPRNG, LRU and idle bounds |
//! | `app/` | a Django app: models, templates, views | [`app`]: the `/app/` demo as model, view and controller |
//!
//! [The HTTP guide](crate::guide::http) walks through a request from socket to response.

mod access;
mod access_log;
pub mod app;
mod auth;
mod beneath;
mod body;
mod conditional;
mod escape;
mod file_response;
mod files;
mod freshness;
mod hidden;
mod htpasswd;
mod listing;
mod location;
mod mime;
mod negotiate;
mod range;
mod request;
mod response;
mod router;
mod server;
mod session;
mod site;
mod status;

pub use access::{AccessControl, AuthSpecError, Protected};
pub use access_log::{escape_log_field, AccessLog, ACCESS_LOG_CAPACITY, ACCESS_LOG_TARGET};
pub use auth::{
    challenge, parse_basic, BasicError, CacheKey, Check, Credentials, Lookup, PasswordFile,
    Verdict, CACHE_ENTRIES, CACHE_TTL, MAX_CREDENTIALS,
};
pub use beneath::{FileStat, Root};
pub use body::{content_length, Form, DEFAULT_MAX_BODY, FORM_TYPE};
pub use conditional::{etag, if_range_allows, whole_seconds, Conditions, Precondition};
pub use escape::{html_escape, percent_encode};
pub use files::{resolve, Refusal, Resolved};
pub use freshness::{write_freshness, CachePolicy, CacheRule, CacheRuleError, MAX_AGE_LIMIT};
pub use hidden::is_hidden;
pub use htpasswd::{Htpasswd, HtpasswdError, MAX_COST};
pub use listing::{listing_page, Entry, MAX_LISTED};
pub use mime::content_type;
pub use negotiate::{
    negotiate, not_acceptable_page, parse_language_list, variant_index, variants, Choice, Variant,
    MAX_ELEMENTS,
};
pub use range::{byte_range, ByteRange};
pub use request::{
    Fields, Limits, Method, Request, RequestError, RequestReader, Version, MAX_HEADERS_CAP,
};
pub use response::{
    closing_error_response, error_page, ContentRange, DateCache, ResponseHead, HTML, SERVER,
};
pub use server::{HttpServer, ServerConfig};
pub use session::{
    removal_cookie, session_cookie, MalformedId, Session, SessionId, Sessions, SESSION_COOKIE,
};
pub use site::{Response, Site, OPEN_FILES, SMALL_FILE};
pub use status::Status;
