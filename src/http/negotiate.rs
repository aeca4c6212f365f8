//! Content negotiation, Apache MultiViews style (RFC 9110 §12): `/hello` names no file, but
//! its directory holds `hello.en.html` and `hello.de.html`; the server picks the variant
//! that suits the request's `Accept` and `Accept-Language` best.
//!
//! Python: none (`http.server` answers 404). Apache's counterpart is `mod_negotiation`
//! (`read_types_multi` finds the variants, `is_variant_better` picks one); its selection
//! eliminates dimension by dimension, where this module multiplies one quality per
//! dimension, as RFC 2295's algorithm does. The rules:
//!
//! * A **variant** of `NAME` is a file `NAME.TYPE` or `NAME.LANG.TYPE`: `TYPE` an extension
//!   of the media-type table ([`content_type`](crate::http::content_type)), `LANG` a
//!   language tag (2–3 letters, an optional `-` subtag; `en`, `de`, `pt-br`, any case). Any
//!   other extension (`hello.en.html.bak`) makes the file no variant.
//! * **q(type)** is the q of the most specific `Accept` range that matches (`type/subtype`
//!   over `type/*` over `*/*`; parameters other than `q` ignored); no `Accept`, 1; none
//!   matching, 0.
//! * **q(language)** is the q of the most specific `Accept-Language` range that matches
//!   (RFC 4647 basic filtering: `en` matches `en-gb`, `*` anything); no header, or a variant
//!   without a language, 1; no range matching, 0.001: a fallback still served, as Apache's
//!   `ForceLanguagePriority Fallback`, unless a range gave the language q=0.
//! * **Quality** is q(type) × q(language), in millionths. The best wins; ties go to the
//!   language that comes first in `--languages`, then to the file name in byte order. If
//!   every variant has quality 0, the answer is 406 with the list of variants.
//!
//! Malformed elements of either header (`q=abc`, `q=2`, junk) are skipped; a header left
//! with no valid element counts as absent. At most [`MAX_ELEMENTS`] elements are read, so
//! thousands of them cost one linear scan.

use std::collections::HashMap;

use super::escape::{html_escape, percent_encode};
use super::mime::known_extension;

/// How many elements of `Accept` or `Accept-Language` are considered; the rest are ignored.
/// Browsers send fewer than ten.
pub const MAX_ELEMENTS: usize = 64;

/// One file that can answer for a negotiated resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Its file name (`hello.en.html`), in the resource's directory.
    pub name: Vec<u8>,
    /// Its `Content-Type`, from its last extension.
    pub content_type: &'static str,
    /// Its language tag, lower case (`en`, `pt-br`), if its name has one.
    pub language: Option<String>,
}

/// The variants of `base` among a directory's file names, sorted by name.
///
/// Python: none. Apache: `read_types_multi` with `MultiviewsMatch NegotiatedOnly`.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::variants;
///
/// let names: [&[u8]; 5] = [b"hello.en.html", b"hello.DE.html", b"hello.en.html.bak", b"hello", b"hellothere.html"];
/// let found = variants(b"hello", names);
/// let langs: Vec<_> = found.iter().map(|v| v.language.as_deref()).collect();
/// assert_eq!(langs, [Some("de"), Some("en")]); // sorted by name: "hello.DE.html" < "hello.en.html"
/// assert_eq!(found[0].content_type, "text/html; charset=utf-8");
/// ```
pub fn variants<'a>(base: &[u8], names: impl IntoIterator<Item = &'a [u8]>) -> Vec<Variant> {
    let mut found: Vec<Variant> = names
        .into_iter()
        .flat_map(variant_of)
        .filter(|(of, _)| *of == base)
        .map(|(_, variant)| variant)
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Every negotiated name that a directory's file names have variants for, each with its
/// variants sorted by name: what [`variants`] finds for one name, for all names in one pass,
/// so that a directory is read once for any number of lookups.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::variant_index;
///
/// let names: [&[u8]; 3] = [b"hello.en.html", b"hello.de.html", b"notes.txt"];
/// let index = variant_index(names);
/// assert_eq!(index[&b"hello"[..]].len(), 2);
/// assert_eq!(index[&b"hello.en"[..]].len(), 1); // `/hello.en` is a name too
/// assert_eq!(index[&b"notes"[..]].len(), 1);
/// assert!(!index.contains_key(&b"hello.de.html"[..]));
/// ```
pub fn variant_index<N: AsRef<[u8]>>(
    names: impl IntoIterator<Item = N>,
) -> HashMap<Vec<u8>, Vec<Variant>> {
    let mut index: HashMap<Vec<u8>, Vec<Variant>> = HashMap::new();
    for name in names {
        for (base, variant) in variant_of(name.as_ref()) {
            index.entry(base.to_vec()).or_default().push(variant);
        }
    }
    for found in index.values_mut() {
        found.sort_by(|a, b| a.name.cmp(&b.name));
    }
    index
}

/// The names a file is a variant of, with what it is as one: `hello.en.html` is the
/// variant of `hello` in `en` and the language-less variant of `hello.en`; `hello.html` only
/// of `hello`; a name whose last extension is no known type (`hello.en.html.bak`), or that
/// starts with `.`, of nothing.
fn variant_of(name: &[u8]) -> impl Iterator<Item = (&[u8], Variant)> {
    let mut out = Vec::with_capacity(2);
    if name.starts_with(b".") {
        return out.into_iter();
    }
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
        return out.into_iter();
    };
    let (stem, ext) = (&name[..dot], &name[dot + 1..]);
    let Some(content_type) = known_extension(ext) else {
        return out.into_iter();
    };
    if stem.is_empty() {
        return out.into_iter();
    }
    out.push((
        stem,
        Variant {
            name: name.to_vec(),
            content_type,
            language: None,
        },
    ));
    if let Some(dot) = stem.iter().rposition(|&b| b == b'.') {
        let (base, lang) = (&stem[..dot], &stem[dot + 1..]);
        if !base.is_empty() && is_variant_language(lang) {
            out.push((
                base,
                Variant {
                    name: name.to_vec(),
                    content_type,
                    language: Some(String::from_utf8_lossy(lang).to_ascii_lowercase()),
                },
            ));
        }
    }
    out.into_iter()
}

/// `en`, `deu`, `pt-BR`: 2–3 letters, optionally `-` and 1–8 letters or digits.
fn is_variant_language(ext: &[u8]) -> bool {
    let (primary, sub) = match ext.iter().position(|&b| b == b'-') {
        Some(dash) => (&ext[..dash], Some(&ext[dash + 1..])),
        None => (ext, None),
    };
    (2..=3).contains(&primary.len())
        && primary.iter().all(u8::is_ascii_alphabetic)
        && sub.is_none_or(|sub| {
            (1..=8).contains(&sub.len()) && sub.iter().all(u8::is_ascii_alphanumeric)
        })
}

/// The outcome of negotiation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Index of the chosen variant, or `None`: every variant has quality 0 (406).
    pub chosen: Option<usize>,
    /// Its quality in millionths (1,000,000 = q 1 for both type and language).
    pub quality: u32,
    /// The `Vary` header's value (empty when nothing in the request changed the outcome).
    pub vary: &'static str,
}

/// Picks a variant for a request's `Accept` and `Accept-Language`; `priority` is
/// `--languages`, lower case, most preferred first.
///
/// `Vary` names `Accept` when the variants differ in type or `Accept` gave some variant
/// q 0, and `Accept-Language` likewise (Apache compares each variant with the first; so
/// does this).
///
/// # Examples
///
/// ```
/// use mio_selectors::http::{negotiate, variants};
///
/// let names: [&[u8]; 3] = [b"data.json", b"data.html", b"data.txt"];
/// let found = variants(b"data", names);
/// let pick = |accept| {
///     let choice = negotiate(&found, accept, None, &["en".to_owned()]);
///     String::from_utf8(found[choice.chosen.unwrap()].name.clone()).unwrap()
/// };
/// assert_eq!(pick(Some("application/json")), "data.json");
/// assert_eq!(pick(Some("text/*;q=0.5, text/plain")), "data.txt");
/// assert_eq!(pick(None), "data.html"); // all equal: the first name in byte order
///
/// let none = negotiate(&found, Some("image/png"), None, &[]);
/// assert_eq!((none.chosen, none.vary), (None, "Accept"));
/// ```
pub fn negotiate(
    variants: &[Variant],
    accept: Option<&str>,
    accept_language: Option<&str>,
    priority: &[String],
) -> Choice {
    let types = accept.map(parse_accept).unwrap_or_default();
    let languages = accept_language
        .map(parse_accept_language)
        .unwrap_or_default();
    let mut best: Option<(usize, u32)> = None;
    let mut type_zero = false;
    let mut language_zero = false;
    for (i, variant) in variants.iter().enumerate() {
        let qt = type_quality(&types, variant.content_type);
        let ql = language_quality(&languages, variant.language.as_deref());
        type_zero |= qt == 0;
        language_zero |= ql == 0;
        let quality = qt * ql;
        if quality == 0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((j, q)) => {
                quality > q
                    || (quality == q && rank(variant, priority) < rank(&variants[j], priority))
            }
        };
        if better {
            best = Some((i, quality));
        }
    }
    let first = variants.first();
    let types_differ = variants
        .iter()
        .any(|v| Some(essence(v.content_type)) != first.map(|f| essence(f.content_type)));
    let languages_differ = variants
        .iter()
        .any(|v| Some(&v.language) != first.map(|f| &f.language));
    let vary = match (types_differ || type_zero, languages_differ || language_zero) {
        (true, true) => "Accept, Accept-Language",
        (true, false) => "Accept",
        (false, true) => "Accept-Language",
        (false, false) => "",
    };
    Choice {
        chosen: best.map(|(i, _)| i),
        quality: best.map_or(0, |(_, q)| q),
        vary,
    }
}

/// The tie-break: the language's place in `--languages` (languages not listed, and no
/// language, after all listed ones), then the file name.
fn rank<'v>(variant: &'v Variant, priority: &[String]) -> (usize, &'v [u8]) {
    let place = variant
        .language
        .as_deref()
        .and_then(|tag| priority.iter().position(|p| language_matches(p, tag)))
        .unwrap_or(usize::MAX);
    (place, &variant.name)
}

/// The 406 page: the variants, each a link, for a person to choose from.
///
/// Python: none. Apache sends a similar list ("An appropriate representation of the
/// requested resource could not be found").
pub fn not_acceptable_page(variants: &[Variant]) -> String {
    let mut items = String::new();
    for variant in variants {
        let name = html_escape(&variant.name);
        let href = percent_encode(&variant.name);
        let language = variant.language.as_deref().map_or(String::new(), |tag| {
            format!(", {}", html_escape(tag.as_bytes()))
        });
        items.push_str(&format!(
            "<li><a href=\"{href}\">{name}</a> ({}{language})</li>\n",
            essence(variant.content_type)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>406 Not Acceptable</title></head>\n\
         <body><h1>406 Not Acceptable</h1><p>No variant of this resource suits the request's \
         Accept and Accept-Language headers. These are available:</p>\n<ul>\n{items}</ul>\n\
         <hr><address>{}</address></body></html>\n",
        super::SERVER
    )
}

/// Parses `--languages en,de,pt-BR` into lower-case tags.
///
/// # Errors
/// A message naming the first element that is not a language tag.
///
/// # Examples
///
/// ```
/// use mio_selectors::http::parse_language_list;
///
/// assert_eq!(parse_language_list("en, pt-BR").unwrap(), ["en", "pt-br"]);
/// assert!(parse_language_list("en,,x y").is_err());
/// ```
pub fn parse_language_list(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(|tag| tag.trim())
        .map(|tag| {
            if is_language_range(tag.as_bytes()) && tag != "*" {
                Ok(tag.to_ascii_lowercase())
            } else {
                Err(format!(
                    "{tag:?} is not a language tag (such as en or pt-BR)"
                ))
            }
        })
        .collect()
}

/// One `Accept` element: a media range (lower case, `*` for a wildcard) and its q.
#[derive(Debug, PartialEq, Eq)]
struct MediaRange {
    kind: String,
    subtype: String,
    q: u32,
}

/// One `Accept-Language` element: a language range (lower case) and its q.
#[derive(Debug, PartialEq, Eq)]
struct LanguageRange {
    range: String,
    q: u32,
}

fn parse_accept(header: &str) -> Vec<MediaRange> {
    elements(header)
        .filter_map(|element| {
            let mut params = split_outside_quotes(element, b';');
            let range = params.next()?.trim_matches([' ', '\t']);
            let (kind, subtype) = range.split_once('/')?;
            if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
                return None;
            }
            let q = weight(params)?;
            Some(MediaRange {
                kind: kind.to_ascii_lowercase(),
                subtype: subtype.to_ascii_lowercase(),
                q,
            })
        })
        .take(MAX_ELEMENTS)
        .collect()
}

fn parse_accept_language(header: &str) -> Vec<LanguageRange> {
    elements(header)
        .filter_map(|element| {
            let mut params = split_outside_quotes(element, b';');
            let range = params.next()?.trim_matches([' ', '\t']);
            if !is_language_range(range.as_bytes()) {
                return None;
            }
            let q = weight(params)?;
            Some(LanguageRange {
                range: range.to_ascii_lowercase(),
                q,
            })
        })
        .take(MAX_ELEMENTS)
        .collect()
}

/// The non-empty comma-separated elements of a list header, commas inside quoted strings
/// kept. At most a few times [`MAX_ELEMENTS`] are looked at, valid or not, so a header of
/// thousands of junk elements costs no more than a short one.
fn elements(header: &str) -> impl Iterator<Item = &str> {
    split_outside_quotes(header, b',')
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
        .take(4 * MAX_ELEMENTS)
}

/// Splits on `sep` outside double-quoted strings (with `\` escapes inside them).
fn split_outside_quotes(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut pos = 0;
    let mut quoted = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while pos < bytes.len() {
            let b = bytes[pos];
            if quoted && b == b'\\' {
                pos += 2;
                continue;
            }
            if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                // `sep` is ASCII, so both ends are char boundaries.
                let piece = &text[start..pos];
                pos += 1;
                start = pos;
                return Some(piece);
            }
            pos += 1;
        }
        done = true;
        Some(text.get(start..).unwrap_or(""))
    })
}

/// The element's weight: the `q` parameter (RFC 9110 §12.4.2), 1 without one, in
/// thousandths; `None` when a `q` is malformed (`q=abc`, `q=2`, four decimals), which
/// makes the element invalid. Other parameters are ignored.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u32> {
    for param in params {
        let param = param.trim_matches([' ', '\t']);
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim_end_matches([' ', '\t']).eq_ignore_ascii_case("q") {
            return qvalue(value.trim_start_matches([' ', '\t']));
        }
    }
    Some(1000)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(text: &str) -> Option<u32> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (text, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110 `token`: the characters a type or subtype may have.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 4647 `language-range`: `*`, or 1–8 letters then `-` and 1–8 letters or digits, any
/// number of times.
fn is_language_range(range: &[u8]) -> bool {
    if range == b"*" {
        return true;
    }
    let mut parts = range.split(|&b| b == b'-');
    let Some(primary) = parts.next() else {
        return false;
    };
    (1..=8).contains(&primary.len())
        && primary.iter().all(u8::is_ascii_alphabetic)
        && parts
            .all(|sub| (1..=8).contains(&sub.len()) && sub.iter().all(u8::is_ascii_alphanumeric))
}

/// `text/html; charset=utf-8` → `text/html`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// q(type), in thousandths.
fn type_quality(ranges: &[MediaRange], content_type: &str) -> u32 {
    if ranges.is_empty() {
        return 1000;
    }
    let (kind, subtype) = essence(content_type)
        .split_once('/')
        .unwrap_or(("application", "octet-stream"));
    let mut best: Option<(u8, u32)> = None;
    for range in ranges {
        let specificity = if range.kind == "*" {
            1
        } else if !range.kind.eq_ignore_ascii_case(kind) {
            continue;
        } else if range.subtype == "*" {
            2
        } else if range.subtype.eq_ignore_ascii_case(subtype) {
            3
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, range.q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// q(language), in thousandths: 1 (0.001) for a language no range matches.
fn language_quality(ranges: &[LanguageRange], language: Option<&str>) -> u32 {
    let (Some(tag), false) = (language, ranges.is_empty()) else {
        return 1000;
    };
    let mut best: Option<(usize, u32)> = None;
    for range in ranges {
        let specificity = if range.range == "*" {
            0
        } else if language_matches(&range.range, tag) {
            range.range.len()
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, range.q));
        }
    }
    best.map_or(1, |(_, q)| q)
}

/// RFC 4647 §3.3.1 basic filtering: `range` is `tag`, or a prefix of it ending before a `-`
/// (both lower case).
fn language_matches(range: &str, tag: &str) -> bool {
    tag.eq_ignore_ascii_case(range)
        || (tag.len() > range.len()
            && tag.as_bytes()[range.len()] == b'-'
            && tag.as_bytes()[..range.len()].eq_ignore_ascii_case(range.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(names: &[&str]) -> Vec<Variant> {
        variants(
            names[0].split('.').next().unwrap().as_bytes(),
            names.iter().map(|n| n.as_bytes()),
        )
    }

    fn chosen(
        variants: &[Variant],
        accept: Option<&str>,
        language: Option<&str>,
        priority: &[&str],
    ) -> (Option<String>, &'static str) {
        let priority: Vec<String> = priority.iter().map(|p| (*p).to_owned()).collect();
        let choice = negotiate(variants, accept, language, &priority);
        (
            choice
                .chosen
                .map(|i| String::from_utf8(variants[i].name.clone()).unwrap()),
            choice.vary,
        )
    }

    #[test]
    fn what_counts_as_a_variant() {
        let names: Vec<&[u8]> = vec![
            b"hello.en.html",
            b"hello.pt-BR.html",
            b"hello.deu.txt",
            b"hello.html",
            b"hello.en.html.bak",
            b"hello.english.html",
            b"hello.e.html",
            b"hello.en.unknownext",
            b"hello.en-.html",
            b"hello.en-toolongsub.html",
            b"hello..html",
            b"hello",
            b"hello.",
            b"helloworld.html",
            b"hell.html",
            b".hello.html",
        ];
        let found = variants(b"hello", names);
        let names: Vec<&[u8]> = found.iter().map(|v| &v.name[..]).collect();
        assert_eq!(
            names,
            [
                &b"hello.deu.txt"[..],
                b"hello.en.html",
                b"hello.html",
                b"hello.pt-BR.html"
            ]
        );
        assert_eq!(found[3].language.as_deref(), Some("pt-br"));
        assert_eq!(found[2].language, None);
        assert!(variants(b"", [&b".html"[..]]).is_empty());
        assert!(variants(b".env", [&b".env.txt"[..]]).is_empty());
    }

    #[test]
    fn the_index_agrees_with_variants_for_every_name() {
        let names: Vec<&[u8]> = vec![
            b"hello.en.html",
            b"hello.de.html",
            b"hello.html",
            b"hello.en.html.bak",
            b"hello..html",
            b"a.b.c.txt",
            b"pt.pt-BR.txt",
            b".env.txt",
            b"x.en",
            b"data.json",
        ];
        let index = variant_index(names.iter().copied());
        let mut bases: Vec<&[u8]> = vec![b"hello", b"hello.en", b"hello.", b"a.b.c", b"a.b", b"pt"];
        bases.extend(index.keys().map(Vec::as_slice));
        for base in bases {
            let direct = variants(base, names.iter().copied());
            assert_eq!(
                index.get(base).cloned().unwrap_or_default(),
                direct,
                "{:?}",
                String::from_utf8_lossy(base)
            );
        }
        assert!(!index.contains_key(&b".env"[..]) && !index.contains_key(&b"x"[..]));
    }

    #[test]
    fn language_and_fallback() {
        let v = found(&["hello.en.html", "hello.de.html"]);
        let en = Some("hello.en.html".to_owned());
        let de = Some("hello.de.html".to_owned());
        assert_eq!(chosen(&v, None, Some("de"), &["en"]).0, de);
        assert_eq!(chosen(&v, None, Some("de-AT, en;q=0.5"), &["en"]).0, en); // de-AT ⊄ de
        assert_eq!(chosen(&v, None, Some("de;q=0.5, en"), &["en"]).0, en);
        // No range matches either: both fall back at 0.001; --languages breaks the tie.
        assert_eq!(chosen(&v, None, Some("fr"), &["en"]).0, en);
        assert_eq!(chosen(&v, None, Some("fr"), &["de", "en"]).0, de);
        // Languages not in --languages: the file name decides (de < en).
        assert_eq!(chosen(&v, None, None, &["fr"]).0, de);
        // An explicit q=0 is a refusal, not a fallback.
        assert_eq!(chosen(&v, None, Some("fr, en;q=0"), &["en"]).0, de);
        assert_eq!(
            chosen(&v, None, Some("*;q=0"), &["en"]),
            (None, "Accept-Language")
        );
        // `*` matches what no more specific range does.
        assert_eq!(chosen(&v, None, Some("en;q=0.2, *;q=0.5"), &["en"]).0, de);
        assert_eq!(chosen(&v, None, Some("EN"), &["de"]).0, en);
        // Vary: the variants differ in language only.
        assert_eq!(chosen(&v, None, None, &["en"]).1, "Accept-Language");
        assert_eq!(
            chosen(&v, Some("image/png"), None, &["en"]),
            (None, "Accept, Accept-Language")
        );
    }

    #[test]
    fn basic_filtering_prefers_the_longest_range() {
        let v = found(&["hello.en-gb.html", "hello.en.html"]);
        let gb = Some("hello.en-gb.html".to_owned());
        assert_eq!(chosen(&v, None, Some("en-gb"), &["en"]).0, gb);
        // `en` matches both at q 1; en-gb;q=0.1 is more specific for the first.
        assert_eq!(
            chosen(&v, None, Some("en, en-gb;q=0.1"), &["en"]).0,
            Some("hello.en.html".to_owned())
        );
        assert!(language_matches("en", "en-gb"));
        assert!(!language_matches("en", "eng"));
        assert!(!language_matches("en-gb", "en"));
    }

    #[test]
    fn type_quality_takes_the_most_specific_range() {
        let v = found(&["data.json", "data.html", "data.txt"]);
        let pick = |accept| chosen(&v, Some(accept), None, &["en"]);
        assert_eq!(pick("text/html").0.as_deref(), Some("data.html"));
        assert_eq!(
            pick("*/*;q=0.1, application/json").0.as_deref(),
            Some("data.json")
        );
        assert_eq!(pick("text/*, text/html;q=0").0.as_deref(), Some("data.txt"));
        assert_eq!(pick("TEXT/PLAIN").0.as_deref(), Some("data.txt"));
        assert_eq!(
            pick("text/plain;charset=utf-8;q=0.9, text/html;level=1;q=0.8")
                .0
                .as_deref(),
            Some("data.txt")
        );
        assert_eq!(pick("image/*"), (None, "Accept"));
        // Variants that differ in type vary on Accept even when Accept is absent.
        assert_eq!(chosen(&v, None, None, &[]).1, "Accept");
    }

    #[test]
    fn one_variant_varies_on_nothing_unless_refused() {
        let v = found(&["page.html"]);
        assert_eq!(chosen(&v, None, None, &[]), (Some("page.html".into()), ""));
        assert_eq!(
            chosen(&v, Some("text/html"), Some("de"), &[]),
            (Some("page.html".into()), "")
        );
        assert_eq!(
            chosen(&v, Some("application/json"), None, &[]),
            (None, "Accept")
        );
    }

    #[test]
    fn malformed_elements_are_skipped() {
        assert_eq!(
            parse_accept("text/html;q=abc, text/plain;q=2, image/png;q=0.5, junk, */html, a/b;q=1.0001, x/y;q=0.1234, c/d;Q=0.25, e/f; q = 1.000"),
            vec![
                MediaRange { kind: "image".into(), subtype: "png".into(), q: 500 },
                MediaRange { kind: "c".into(), subtype: "d".into(), q: 250 },
                MediaRange { kind: "e".into(), subtype: "f".into(), q: 1000 },
            ]
        );
        assert_eq!(
            parse_accept("text/html;foo=\"a,b;q=0\";q=0.3"),
            vec![MediaRange {
                kind: "text".into(),
                subtype: "html".into(),
                q: 300
            }]
        );
        assert_eq!(
            parse_accept_language(
                "en-US;q=0.8, x_y, 123, en-;q=1, toolonglang, de;q=., fr;q=0., *;q=0"
            ),
            vec![
                LanguageRange {
                    range: "en-us".into(),
                    q: 800
                },
                LanguageRange {
                    range: "fr".into(),
                    q: 0
                },
                LanguageRange {
                    range: "*".into(),
                    q: 0
                },
            ]
        );
        // A header with no valid element counts as absent.
        let v = found(&["data.json", "data.html"]);
        assert_eq!(
            chosen(&v, Some("q=abc, ;;;, \""), Some("1,2,3"), &[])
                .0
                .as_deref(),
            Some("data.html")
        );
        for q in ["0", "0.", "0.5", "0.123", "1", "1.", "1.0", "1.000"] {
            assert!(qvalue(q).is_some(), "{q}");
        }
        for q in [
            "", ".5", "2", "1.1", "0.1234", "-0", "abc", "0x1", " 1", "1e0",
        ] {
            assert_eq!(qvalue(q), None, "{q}");
        }
    }

    #[test]
    fn thousands_of_elements_and_hostile_bytes_neither_panic_nor_stall() {
        let v = found(&["data.json", "data.html", "data.txt"]);
        let many = vec!["text/html;q=0.001"; 10_000].join(", ") + ", application/json";
        // Only the first elements count: json is never reached, html wins.
        assert_eq!(
            chosen(&v, Some(&many), None, &[]).0.as_deref(),
            Some("data.html")
        );
        let junk = vec!["q=abc;;\"\\"; 10_000].join(",");
        let _ = chosen(&v, Some(&junk), Some(&junk), &[]);
        let quotes = "\"".repeat(20_000);
        let _ = chosen(&v, Some(&quotes), Some(&quotes), &[]);
        for hostile in [
            "é/é",
            "text/html;q=é",
            "\u{0}",
            "\\",
            "text/html;q",
            ";q=1",
            "*/*;q=0.5;q=2",
        ] {
            let _ = parse_accept(hostile);
            let _ = parse_accept_language(hostile);
        }
    }

    #[test]
    fn the_406_page_escapes_and_links_every_variant() {
        let v = found(&["a.en.html", "a.txt"]);
        let mut v2 = v.clone();
        v2.push(Variant {
            name: b"a.<b>.html".to_vec(),
            content_type: "text/html; charset=utf-8",
            language: None,
        });
        let page = not_acceptable_page(&v2);
        assert!(
            page.contains("<a href=\"a.en.html\">a.en.html</a> (text/html, en)"),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"a.txt\">a.txt</a> (text/plain)"),
            "{page}"
        );
        assert!(
            page.contains("href=\"a.%3Cb%3E.html\">a.&lt;b&gt;.html</a>"),
            "{page}"
        );
    }

    #[test]
    fn language_lists() {
        assert_eq!(parse_language_list("en").unwrap(), ["en"]);
        assert!(parse_language_list("").is_err());
        assert!(parse_language_list("*").is_err());
        assert!(parse_language_list("en;q=1").is_err());
    }

    #[test]
    fn random_headers_never_panic_and_qualities_stay_in_range() {
        let v = found(&["data.json", "data.html", "data.en.txt", "data.de.txt"]);
        let values =
            crate::http::escape::tests::hostile_values(b"*/texhml;q=0.15,- \"\\aen", 20_000, 48);
        for pair in values.chunks(2) {
            let choice = negotiate(&v, Some(&pair[0]), pair.get(1).map(String::as_str), &[]);
            assert!(choice.quality <= 1_000_000, "{pair:?}");
            assert_eq!(choice.chosen.is_some(), choice.quality > 0, "{pair:?}");
            for range in parse_accept(&pair[0]) {
                assert!(range.q <= 1000);
            }
            for range in parse_accept_language(&pair[0]) {
                assert!(range.q <= 1000);
            }
        }
    }
}
