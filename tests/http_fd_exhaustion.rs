//! The HTTP server out of descriptors: a file it cannot open is a 500 with its page (not a
//! hang, not a crash), new connections wait in the listen queue, and once descriptors are
//! free again everyone is served.
//!
//! A test binary of its own: it lowers the whole process's descriptor limit, which would
//! break any test running beside it.

mod common;

use std::fs::File;
use std::io::Write;

use common::http::*;
use common::sys;
use mio_selectors::http::ServerConfig;

/// How many of this process's descriptors are open on `path`.
fn open_on(path: &std::path::Path) -> usize {
    let real = std::fs::canonicalize(path).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| *target == real)
        .count()
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count() as u64
}

#[test]
fn out_of_descriptors_a_file_is_a_500_and_service_resumes_after() {
    let root = TempDir::new("http-emfile");
    // Larger than the small-file cache. The server keeps a large file it served open (its
    // cache of open files), so the request made out of descriptors is for another one.
    let big = pattern(100 * 1024);
    root.write("big.bin", &big);
    let other = pattern(90 * 1024);
    root.write("other.bin", &other);
    let server = serve(root.path(), ServerConfig::default());
    // A kept-alive connection, accepted and registered while descriptors are plenty.
    let mut kept = connect(server.addr);
    kept.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept, false).body, big);
    // The client can have every byte before the server has let go of the file: wait until
    // it has, or the descriptor it frees would be the one the next open gets.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while open_on(&root.path().join("big.bin")) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server kept the file open"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    // Use up every descriptor the process may still open.
    let previous = sys::set_fd_limit(open_descriptors() + 16).unwrap();
    let mut hogs = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        hogs.push(file);
        assert!(hogs.len() < 1000, "the descriptor limit did not hold");
    }

    // The server cannot open the file: a 500, and the connection stays usable.
    kept.write_all(b"GET /other.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let res = read_response(&mut kept, false);
    assert_eq!(res.code, 500, "{:?}", res.headers);
    assert!(res.text().contains("500 Internal Server Error"));

    // Descriptors free again: the same connection gets the file.
    drop(hogs);
    sys::set_fd_limit(previous).unwrap();
    kept.write_all(b"GET /other.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept, false).body, other);
    // And new connections are accepted and served.
    for _ in 0..5 {
        let res = get_one(server.addr, "GET /big.bin HTTP/1.0\r\n\r\n");
        assert_eq!(res.code, 200);
    }
}
