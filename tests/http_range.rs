//! Ranges (RFC 9110 §14) over real sockets: 206 from the memory cache and by sendfile from
//! an offset, 416, the cases that get the whole file, If-Range; then real clients:
//! `curl -C -` resuming a download byte-exact, and python3's urllib with a Range header.

mod common;

use std::io::Write;
use std::time::Duration;

use common::http::*;
use mio_selectors::http::ServerConfig;

/// A root with a small file (memory cache), a large one (sendfile) and an empty one.
fn root() -> (TempDir, Vec<u8>, Vec<u8>) {
    let root = TempDir::new("http-range");
    let small = pattern(1000);
    let large = pattern(3 * 1024 * 1024 + 17);
    root.write("small.bin", &small);
    root.write("large.bin", &large);
    root.write("empty.txt", b"");
    (root, small, large)
}

#[test]
fn one_range_is_206_with_exactly_those_bytes_from_memory_and_from_sendfile() {
    let (root, small, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    for (path, body) in [("/small.bin", &small), ("/large.bin", &large)] {
        let size = body.len() as u64;
        let whole = get(server.addr, path, &[]);
        assert_eq!(whole.code, 200);
        assert_eq!(whole.header("accept-ranges"), Some("bytes"));
        for _round in 0..2 {
            // Twice: the second small request is a cache hit.
            for (spec, first, last) in [
                ("bytes=0-0", 0, 0),
                ("bytes=10-19", 10, 19),
                ("bytes=500-", 500, size - 1),
                ("bytes=-100", size - 100, size - 1),
                ("bytes=900-99999999999", 900, size - 1),
                ("bytes=-99999999", 0, size - 1),
                // Past 64 bits is still past the end: clamped, not malformed.
                ("bytes=7-99999999999999999999", 7, size - 1),
                ("bytes=-99999999999999999999", 0, size - 1),
                ("BYTES=3-4", 3, 4),
            ] {
                let res = get(server.addr, path, &[("Range", spec)]);
                assert_eq!(res.code, 206, "{path} {spec}");
                assert_eq!(
                    res.header("content-range"),
                    Some(format!("bytes {first}-{last}/{size}").as_str()),
                    "{path} {spec}"
                );
                assert_eq!(
                    res.body,
                    body[first as usize..=last as usize],
                    "{path} {spec}"
                );
                assert_eq!(res.header("etag"), whole.header("etag"));
                assert_eq!(res.header("content-type"), whole.header("content-type"));
            }
        }
        // The middle of the large file, by sendfile from an offset.
        let mid = size / 2;
        let spec = format!("bytes={mid}-{}", mid + 65535);
        let res = get(server.addr, path, &[("Range", &spec)]);
        if size > 100_000 {
            assert_eq!(res.body, body[mid as usize..mid as usize + 65536]);
        }
    }
}

#[test]
fn a_range_past_the_end_is_416_with_the_size() {
    let (root, small, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    for (path, size) in [("/small.bin", small.len()), ("/large.bin", large.len())] {
        for spec in [
            format!("bytes={size}-"),
            format!("bytes={}-{}", size + 5, size + 9),
            "bytes=-0".into(),
            // A start past 64 bits is past the end too (nginx: 416), not malformed.
            "bytes=99999999999999999999-".into(),
            "bytes=18446744073709551616-18446744073709551617".into(),
        ] {
            let res = get(server.addr, path, &[("Range", &spec)]);
            assert_eq!(res.code, 416, "{path} {spec}");
            assert_eq!(
                res.header("content-range"),
                Some(format!("bytes */{size}").as_str())
            );
            assert!(res.text().contains("416 Range Not Satisfiable"));
        }
    }
}

#[test]
fn malformed_several_empty_and_head_get_the_whole_file() {
    let (root, small, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    let many = format!("bytes={}", vec!["0-1"; 2000].join(","));
    for (path, body) in [("/small.bin", &small), ("/large.bin", &large)] {
        for spec in [
            "bytes=0-1,5-9",
            "bytes=abc",
            "bytes=9-5",
            "items=0-5",
            "bytes 0-5",
            "bytes=",
            many.as_str(),
        ] {
            let res = get(server.addr, path, &[("Range", spec)]);
            assert_eq!(res.code, 200, "{path} {spec:.40}");
            assert_eq!(&res.body, body);
            assert_eq!(res.header("content-range"), None);
        }
        // HEAD ignores Range: the whole file's headers.
        let res = head(server.addr, path, &[("Range", "bytes=0-1")]);
        assert_eq!(res.code, 200);
        assert_eq!(
            res.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        // Two Range fields are as good as two ranges.
        let res = get(
            server.addr,
            path,
            &[("Range", "bytes=0-1"), ("Range", "bytes=2-3")],
        );
        assert_eq!(res.code, 200);
    }
    // Any range of an empty file: 200 with the empty body, as nginx and Go answer.
    for spec in ["bytes=0-", "bytes=-5", "bytes=0-0", "bytes=7-"] {
        let res = get(server.addr, "/empty.txt", &[("Range", spec)]);
        assert_eq!((res.code, res.body.len()), (200, 0), "{spec}");
    }
}

#[test]
fn if_range_with_the_current_tag_or_date_is_206_anything_else_200() {
    let (root, _, large) = root();
    touch(&root.path().join("large.bin"), "2021-03-04 05:06:07.5");
    let server = serve(root.path(), ServerConfig::default());
    let whole = get(server.addr, "/large.bin", &[]);
    let tag = whole.header("etag").unwrap().to_owned();
    let date = whole.header("last-modified").unwrap().to_owned();
    assert_eq!(date, "Thu, 04 Mar 2021 05:06:07 GMT");
    let weak = format!("W/{tag}");
    for (if_range, code) in [
        (tag.as_str(), 206),
        (date.as_str(), 206),
        (weak.as_str(), 200),
        ("\"other\"", 200),
        ("Thu, 04 Mar 2021 05:06:08 GMT", 200),
        ("Wed, 01 Jan 2200 00:00:00 GMT", 200), // later is not "the exact date"
        ("junk", 200),
    ] {
        let res = get(
            server.addr,
            "/large.bin",
            &[("Range", "bytes=10-19"), ("If-Range", if_range)],
        );
        assert_eq!(res.code, code, "If-Range: {if_range}");
        let want = if code == 206 {
            &large[10..20]
        } else {
            &large[..]
        };
        assert_eq!(res.body, want);
    }
}

#[test]
fn curl_resumes_a_partial_download_byte_exact() {
    if !have_tool("curl", "--version") {
        return;
    }
    let (root, _, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    let out_path = root.path().join("download.part");
    // A download cut short: the first 1,000,001 bytes, as a dropped connection leaves them.
    std::fs::File::create(&out_path)
        .unwrap()
        .write_all(&large[..1_000_001])
        .unwrap();
    let out = run_bounded(
        Duration::from_secs(60),
        "curl",
        &[
            "-sS",
            "-f",
            "-C",
            "-",
            "-o",
            out_path.to_str().unwrap(),
            "-w",
            "%{http_code}",
            &server.url("/large.bin"),
        ],
    );
    assert!(
        out.status.success(),
        "curl -C -: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206");
    let got = std::fs::read(&out_path).unwrap();
    assert_eq!(got.len(), large.len());
    assert!(got == large, "the resumed file differs from the original");
}

#[test]
fn python_urllib_reads_a_range() {
    if !have_tool("python3", "--version") {
        return;
    }
    let (root, _, large) = root();
    let server = serve(root.path(), ServerConfig::default());
    let script = r#"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Range": "bytes=1000-1999"})
with urllib.request.urlopen(req, timeout=20) as res:
    body = res.read()
    print(res.status, res.headers["Content-Range"], len(body))
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
"#;
    let out = run_bounded(
        Duration::from_secs(30),
        "python3",
        &["-c", script, &server.url("/large.bin")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let newline = out.stdout.iter().position(|&b| b == b'\n').unwrap();
    let line = String::from_utf8_lossy(&out.stdout[..newline]);
    assert_eq!(line, format!("206 bytes 1000-1999/{} 1000", large.len()));
    assert_eq!(&out.stdout[newline + 1..], &large[1000..2000]);
}

/// How many of this process's descriptors are open on files under `dir`.
fn descriptors_under(dir: &std::path::Path) -> usize {
    let real = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(&real))
        .count()
}

#[test]
fn large_files_stay_open_in_a_bounded_cache_that_never_serves_a_replaced_file() {
    // The cache of open files is what makes a range cost one stat and one sendfile; it must
    // neither grow without bound nor outlive the file it opened.
    let root = TempDir::new("http-open-files");
    let dir = root.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..40 {
        std::fs::write(dir.join(format!("f{i}.bin")), pattern(40 * 1024 + i)).unwrap();
    }
    // A file changed within 2 s of being read is never cached (the "racily clean" rule).
    wait_until_settled(&dir.join("f39.bin"));
    let server = serve(root.path(), ServerConfig::default());
    for round in 0..2 {
        for i in 0..40 {
            let res = get(
                server.addr,
                &format!("/many/f{i}.bin"),
                &[("Range", "bytes=-3")],
            );
            assert_eq!(res.code, 206, "round {round} file {i}");
            assert_eq!(res.body, pattern(40 * 1024 + i)[40 * 1024 + i - 3..]);
        }
    }
    let open = descriptors_under(&dir);
    assert!((1..=16).contains(&open), "{open} large files held open");

    // Replaced by rename (a new inode): the next request sees the new file.
    let path = dir.join("f0.bin");
    let before = get(server.addr, "/many/f0.bin", &[]);
    let tmp = dir.join("f0.tmp");
    std::fs::write(&tmp, pattern(50 * 1024)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let after = get(server.addr, "/many/f0.bin", &[]);
    assert_eq!(after.body, pattern(50 * 1024));
    assert_ne!(after.header("etag"), before.header("etag"));
    // Deleted: 404, and the descriptor is let go.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(get(server.addr, "/many/f0.bin", &[]).code, 404);
}
