//! Directory listings: the HTML index of a directory without `index.html`, as
//! `python3 -m http.server` shows one.
//!
//! Python: `SimpleHTTPRequestHandler.list_directory`, which sorts `os.listdir` by
//! `name.lower()`, then stats every entry twice (`isdir`, `islink`), lists dot-files and
//! has no limit. nginx: `ngx_http_autoindex_module.c`, which skips dot-files, stats every
//! entry (it shows sizes and dates), sorts directories first in byte order, and has no
//! limit either. This listing:
//!
//! * is built from the directory read alone: the entry type comes from `d_type`, no `stat`
//!   per entry (a symlink is listed as a file: following it would need a `stat`; a link to
//!   a directory still works, through the 301 to its slash form);
//! * sorts directories first (with a trailing `/`), then by name in byte order;
//! * leaves out dot-entries, which are never served (see `hidden`);
//! * shows at most [`MAX_LISTED`] entries (the first in that order), then a line saying how
//!   many were left out. Only that many names are held at once, so a 50,000-entry
//!   directory costs one read of it and a page of bounded size (the server builds it on a
//!   thread of its own, not on the loop, and keeps it while the directory is unchanged);
//! * percent-encodes every `href` and HTML-escapes every name
//!   ([`percent_encode`](crate::http::percent_encode), [`html_escape`](crate::http::html_escape)).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::escape::{html_escape, percent_encode};

/// The most entries one listing shows.
pub const MAX_LISTED: usize = 10_000;

/// One directory entry: its name, and whether `d_type` says it is a directory.
pub type Entry = (Vec<u8>, bool);

/// The HTML page listing `entries` of the directory at decoded URL path `path` (ending in
/// `/`), showing at most `cap` of them.
///
/// Python: `list_directory`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::listing_page;
///
/// let entries = vec![(b"b.txt".to_vec(), false), (b"<script>.html".to_vec(), false),
///                    (b"sub".to_vec(), true), (b".git".to_vec(), true)];
/// let page = listing_page(b"/files/", entries, 10_000);
/// assert!(page.contains("<title>Index of /files/</title>"));
/// assert!(page.contains("<a href=\"sub/\">sub/</a>"));
/// assert!(page.contains("<a href=\"%3Cscript%3E.html\">&lt;script&gt;.html</a>"));
/// assert!(!page.contains(".git"));
/// // Directories first, then byte order.
/// assert!(page.find("sub/").unwrap() < page.find("%3Cscript").unwrap());
/// assert!(page.find("%3Cscript").unwrap() < page.find("b.txt").unwrap());
/// ```
pub fn listing_page(path: &[u8], entries: impl IntoIterator<Item = Entry>, cap: usize) -> String {
    // A max-heap of the `cap` smallest keys seen so far: at most `cap` names are held,
    // however large the directory, and an entry costs O(log cap) at worst.
    let mut kept: BinaryHeap<(Reverse<bool>, Vec<u8>)> = BinaryHeap::new();
    let mut left_out: u64 = 0;
    for (name, is_dir) in entries {
        if name.starts_with(b".") {
            continue;
        }
        let key = (Reverse(is_dir), name);
        if kept.len() < cap {
            kept.push(key);
            continue;
        }
        left_out += 1;
        // Full: the new entry replaces the largest kept one if it sorts before it. In a
        // large directory most entries do not, and cost one comparison.
        if let Some(mut largest) = kept.peek_mut() {
            if key < *largest {
                *largest = key;
            }
        }
    }
    let entries = kept.into_sorted_vec();

    let title = html_escape(path);
    let mut page = String::with_capacity(256 + entries.len() * 64);
    page.push_str(&format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<hr>\n<ul>\n"
    ));
    if path != b"/" {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (Reverse(is_dir), name) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        page.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>\n",
            percent_encode(name),
            html_escape(name)
        ));
    }
    page.push_str("</ul>\n");
    if left_out > 0 {
        page.push_str(&format!(
            "<p>{left_out} more entries are not shown: a listing shows the first {cap}.</p>\n"
        ));
    }
    page.push_str(&format!(
        "<hr><address>{}</address></body></html>\n",
        super::SERVER
    ));
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(page: &str) -> Vec<String> {
        page.lines()
            .filter_map(|line| line.strip_prefix("<li><a href=\""))
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn order_is_directories_first_then_bytes() {
        let entries = ["b", "B", "a", "é", "Z"]
            .iter()
            .map(|n| (n.as_bytes().to_vec(), false))
            .chain([(b"zdir".to_vec(), true), (b"adir".to_vec(), true)]);
        let page = listing_page(b"/x/", entries, MAX_LISTED);
        assert_eq!(
            names_in(&page),
            ["../", "adir/", "zdir/", "B", "Z", "a", "b", "%C3%A9"]
        );
    }

    #[test]
    fn the_cap_keeps_the_first_in_order_and_says_how_many_are_left_out() {
        let entries = (0..25_000u32)
            .rev()
            .map(|i| (format!("f{i:05}").into_bytes(), false))
            .chain([(b"dir".to_vec(), true)]);
        let page = listing_page(b"/", entries, 100);
        let names = names_in(&page);
        assert_eq!(names.len(), 100);
        assert_eq!(names[0], "dir/");
        assert_eq!(names[1], "f00000");
        assert_eq!(names[99], "f00098");
        assert!(
            page.contains("<p>24901 more entries are not shown"),
            "{page}"
        );
    }

    #[test]
    fn hostile_names_stay_text() {
        let entries = vec![
            (b"a\"b".to_vec(), false),
            (b"x:y".to_vec(), false),
            (b"<img src=x onerror=alert(1)>".to_vec(), false),
            (b"\xff\xfe".to_vec(), false),
            (b"..".to_vec(), true),
            (b".env".to_vec(), false),
        ];
        let page = listing_page(b"/<d>/", entries, MAX_LISTED);
        assert!(page.contains("<title>Index of /&lt;d&gt;/</title>"));
        assert!(page.contains("<a href=\"a%22b\">a&quot;b</a>"));
        assert!(page.contains("<a href=\"x%3Ay\">x:y</a>"));
        assert!(page.contains("<a href=\"%FF%FE\">\u{fffd}\u{fffd}</a>"));
        assert!(!page.contains("<img"));
        assert!(!page.contains(".env") && !page.contains("href=\"..\""));
    }
}
