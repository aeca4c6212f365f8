//! Port of `mimetypes.guess_type`, as `http.server.SimpleHTTPRequestHandler.guess_type`
//! uses it: Content-Type by file extension, from a fixed table of the types a static site
//! needs, with no system files read.

use std::path::Path;

/// The `Content-Type` for a file, from its extension (case-insensitive); text types say
/// `charset=utf-8`, so a browser does not guess the encoding. Unknown extensions are
/// `application/octet-stream`: the browser downloads the file rather than render it.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::content_type;
/// use std::path::Path;
///
/// assert_eq!(content_type(Path::new("index.HTML")), "text/html; charset=utf-8");
/// assert_eq!(content_type(Path::new("logo.png")), "image/png");
/// assert_eq!(content_type(Path::new("README")), "application/octet-stream");
/// ```
pub fn content_type(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return OCTET_STREAM;
    };
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(OCTET_STREAM, |&(_, t)| t)
}

/// The type for an extension the table knows (case-insensitive), or `None`: what makes a
/// file a variant for content negotiation (`negotiate.rs`), where an unknown extension
/// such as `.bak` must not count.
pub(crate) fn known_extension(ext: &[u8]) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(e, _)| e.as_bytes().eq_ignore_ascii_case(ext))
        .map(|&(_, t)| t)
}

const OCTET_STREAM: &str = "application/octet-stream";

/// Extension → type. A linear search: the table is short, and most lookups hit the first
/// rows.
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/x-icon"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("woff2", "font/woff2"),
    ("mp4", "video/mp4"),
    ("bin", OCTET_STREAM),
];
