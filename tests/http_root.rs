//! The HTTP server's document root against a hostile writer inside it: names swapped while
//! they are looked up, directories moved out and symlinked back, files rewritten in place
//! or made unreadable after they were cached, and names that are not regular files.
//!
//! Every server runs in-process on 127.0.0.1 port 0; every loop is bounded in count and time.

mod common;

use std::io::Write;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::*;
use mio_selectors::http::{Root, ServerConfig, Site};
use rustix::fs::{RenameFlags, CWD};

fn get(server: &Running, target: &str) -> Parsed {
    get_one(server.addr, &format!("GET {target} HTTP/1.0\r\n\r\n"))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---- Item 1: no escape with a concurrent writer ----

/// A writer in the root swaps `d/` with `alt -> <outside>` (`renameat2(RENAME_EXCHANGE)`,
/// atomically and as fast as it can) while a client asks for `/d/passwd` over and over.
/// Each answer is `d/passwd` (200) or a refusal; the outside file never is.
#[test]
fn a_directory_swapped_for_a_symlink_out_of_the_root_never_serves_the_secret() {
    race_the_swap(false);
}

/// The same race against the fallback resolver (the walk a kernel without `openat2` gets).
#[test]
fn the_fallback_walk_holds_against_the_same_swap() {
    race_the_swap(true);
}

fn race_the_swap(walk_only: bool) {
    let outer = TempDir::new("http-swap");
    outer.write("etc/passwd", b"SECRET");
    outer.write("root/d/passwd", b"public");
    let root = outer.path().join("root");
    symlink(outer.path().join("etc"), root.join("alt")).unwrap();
    let mut opened = Root::open(&root).unwrap();
    if walk_only {
        opened = opened.walk_only();
    }
    let server = serve_site(Site::with_root(opened), ServerConfig::default());

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (d, alt) = (root.join("d"), root.join("alt"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(CWD, &d, CWD, &alt, RenameFlags::EXCHANGE)
                    .expect("renameat2(RENAME_EXCHANGE)");
                swaps += 1;
            }
            swaps
        })
    };

    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sock = connect(server.addr);
    let (mut served, mut refused, mut requests) = (0, 0, 0);
    while Instant::now() < deadline && requests < 50_000 {
        sock.write_all(b"GET /d/passwd HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let res = read_response(&mut sock, false);
        requests += 1;
        assert!(
            find(&res.body, b"SECRET").is_none(),
            "request {requests} was answered with the file outside the root"
        );
        match res.code {
            200 => {
                assert_eq!(res.body, b"public");
                served += 1;
            }
            403 | 404 => refused += 1,
            other => panic!("request {requests}: unexpected {other}: {}", res.text()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{requests} requests, {swaps} swaps: {served} served, {refused} refused");
    // Both states were seen, so the requests really raced the swaps.
    assert!(
        served > 0 && refused > 0,
        "the race was not exercised: {served} served, {refused} refused"
    );
}

/// The type is decided on an `O_PATH` descriptor, which opens nothing: a FIFO (whose open
/// would otherwise be seen by inotify as `IN_OPEN`), a Unix socket (whose open fails with
/// `ENXIO`: a 500 before) and, where the test may create one, a device are 403 and never opened.
#[test]
fn a_fifo_a_socket_and_a_device_are_refused_without_being_opened() {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    let root = TempDir::new("http-types");
    let fifo = root.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let _socket = std::os::unix::net::UnixListener::bind(root.path().join("sock")).unwrap();
    // A device node needs CAP_MKNOD (a root test process has it): /dev/null's numbers.
    let null = root.path().join("null");
    let have_device = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    std::fs::create_dir(root.path().join("d")).unwrap();
    symlink("../fifo", root.path().join("d/index.html")).unwrap();

    let watch = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&watch, &fifo, WatchFlags::OPEN).unwrap();
    if have_device {
        inotify::add_watch(&watch, &null, WatchFlags::OPEN).unwrap();
    }

    let server = serve(root.path(), ServerConfig::default());
    let mut buf = [std::mem::MaybeUninit::uninit(); 1024];
    let mut no_open_seen = |what: &str| {
        let mut events = inotify::Reader::new(&watch, &mut buf);
        match events.next() {
            Err(rustix::io::Errno::AGAIN) => {}
            Ok(event) => panic!("{what}: the server opened a special file: {event:?}"),
            Err(err) => panic!("reading inotify: {err}"),
        }
    };
    assert_eq!(get(&server, "/fifo").code, 403);
    no_open_seen("GET /fifo");
    assert_eq!(get(&server, "/sock").code, 403);
    if have_device {
        assert_eq!(get(&server, "/null").code, 403);
    } else {
        eprintln!("no device node (mknod not permitted): FIFO and socket only");
    }
    // A directory whose index.html is a FIFO: the same.
    assert_eq!(get(&server, "/d/").code, 403);
    no_open_seen("GET /null, GET /d/");

    // The watch works: opening the FIFO ourselves (non-blocking, no writer needed) is seen.
    drop(
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap(),
    );
    let mut buf = [std::mem::MaybeUninit::uninit(); 1024];
    let mut events = inotify::Reader::new(&watch, &mut buf);
    assert!(events.next().is_ok(), "inotify saw no open at all");
}

/// Every kind of name, asked of a server using `openat2` and of one using the fallback walk:
/// the same status and body for each.
#[test]
fn the_fallback_walk_answers_as_openat2_does() {
    let outer = TempDir::new("http-walk");
    outer.write("secret.txt", b"SECRET");
    outer.write("root/a.txt", b"a");
    outer.write("root/sub/index.html", b"index");
    outer.write("root/sub/deeper/b.txt", b"b");
    let root = outer.path().join("root");
    symlink("a.txt", root.join("rel")).unwrap();
    symlink("sub/deeper", root.join("dirlink")).unwrap();
    symlink("../a.txt", root.join("sub/up-in")).unwrap();
    symlink("../../secret.txt", root.join("sub/up-out")).unwrap();
    symlink(outer.path().join("secret.txt"), root.join("abs")).unwrap();
    symlink("/etc", root.join("etc")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    let servers = [
        serve_site(
            Site::with_root(Root::open(&root).unwrap()),
            ServerConfig::default(),
        ),
        serve_site(
            Site::with_root(Root::open(&root).unwrap().walk_only()),
            ServerConfig::default(),
        ),
    ];
    let targets = [
        "/a.txt",
        "/rel",
        "/dirlink/b.txt",
        "/dirlink/",
        "/dirlink",
        "/sub/",
        "/sub/.",
        "/sub/up-in",
        "/sub/up-out",
        "/abs",
        "/etc/passwd",
        "/loop",
        "/missing",
        "/a.txt/",
        "/a.txt/.",
        "/rel/",
        "/sub/deeper/",
        "/",
        "/sub/index.html/x",
    ];
    for target in targets {
        let [with_openat2, walking] = [&servers[0], &servers[1]].map(|s| get(s, target));
        assert_eq!(
            (with_openat2.code, &with_openat2.body),
            (walking.code, &walking.body),
            "GET {target}: openat2 vs the walk"
        );
        assert!(find(&walking.body, b"SECRET").is_none(), "GET {target}");
    }
    assert_eq!(get(&servers[1], "/rel").body, b"a");
    assert_eq!(get(&servers[1], "/sub/up-out").code, 403);
}

// ---- Item 2: a cached answer does not outlive the checks ----

/// `/d/f` is cached; then `d` is moved out of the root and an absolute symlink to it put in
/// its place. The same inode, size and times are at the end of the name, but the name now
/// leads outside the root: 403, as an uncached spelling gets.
#[test]
fn a_cached_file_whose_directory_now_leads_outside_the_root_is_refused() {
    let outer = TempDir::new("http-moved-out");
    let file = outer.write("root/d/f.txt", b"in d");
    let root = outer.path().join("root");
    wait_until_settled(&file);
    let server = serve(&root, ServerConfig::default());
    let res = get(&server, "/d/f.txt");
    assert_eq!((res.code, res.body.as_slice()), (200, &b"in d"[..]));

    std::fs::rename(root.join("d"), outer.path().join("moved")).unwrap();
    symlink(outer.path().join("moved"), root.join("d")).unwrap();
    assert_eq!(get(&server, "/./d/f.txt").code, 403, "uncached spelling");
    assert_eq!(get(&server, "/d/f.txt").code, 403, "cached spelling");
}

/// `cp -p` and `rsync -t --inplace` rewrite a file in place and put its mtime back: same
/// inode, size and mtime. ctime (which no one can set) moved, so the cached copy is dropped.
#[test]
fn a_file_rewritten_in_place_with_size_and_mtime_kept_is_served_fresh() {
    use std::os::unix::fs::MetadataExt;
    let root = TempDir::new("http-inplace");
    let path = root.write("page.txt", b"version 1");
    wait_until_settled(&path);
    let server = serve(root.path(), ServerConfig::default());
    assert_eq!(get(&server, "/page.txt").body, b"version 1");

    let before = std::fs::metadata(&path).unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all(b"version 2").unwrap();
    drop(file);
    let mtime = rustix::fs::Timespec {
        tv_sec: before.mtime(),
        tv_nsec: before.mtime_nsec() as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    rustix::fs::utimensat(CWD, &path, &times, rustix::fs::AtFlags::empty()).unwrap();
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.ino(), after.size(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.size(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "the rewrite must keep inode, size and mtime for this test to mean anything"
    );
    assert_eq!(get(&server, "/page.txt").body, b"version 2");
}

/// `chmod 000` after the file was cached: the server may no longer read it, so it must not
/// serve it either. (Only the server's thread is unprivileged: `serve_unprivileged`.)
#[test]
fn a_cached_file_made_unreadable_is_refused() {
    let root = TempDir::new("http-chmod");
    let path = root.write("private.txt", b"was public");
    wait_until_settled(&path);
    let server = serve_unprivileged(root.path(), ServerConfig::default());
    assert_eq!(get(&server, "/private.txt").code, 200);
    chmod(&path, 0o000);
    assert_eq!(
        get(&server, "/%70rivate.txt").code,
        403,
        "uncached spelling"
    );
    assert_eq!(get(&server, "/private.txt").code, 403, "cached spelling");
    chmod(&path, 0o644);
    assert_eq!(get(&server, "/private.txt").body, b"was public");
}

// ---- Items 15 and 16: directories ----

/// A search-only directory (`--x`: its entries can be opened, not listed) with a readable
/// `index.html`: nginx serves it, and so does this server (before, it opened the directory
/// itself for reading: 403).
#[test]
fn a_search_only_directorys_readable_index_is_served() {
    let root = TempDir::new("http-search-only");
    root.write("box/index.html", b"<p>inside</p>");
    let dir = root.path().join("box");
    chmod(&dir, 0o111);
    let server = serve_unprivileged(root.path(), ServerConfig::default());
    let res = get(&server, "/box/");
    let code = res.code;
    chmod(&dir, 0o755); // so that TempDir can remove it, whatever happened
    assert_eq!((code, res.body.as_slice()), (200, &b"<p>inside</p>"[..]));
    // And a directory without even search permission is refused.
    chmod(&dir, 0o000);
    let code = get(&server, "/box/").code;
    chmod(&dir, 0o755);
    assert_eq!(code, 403);
}

/// A path ending in `/` or `/.` names a directory: a file under such a URL is 404, as nginx
/// and Python's server answer. Directories are unaffected.
#[test]
fn a_file_asked_for_as_a_directory_is_not_found() {
    let root = TempDir::new("http-dir-form");
    root.write("page.html", b"page");
    root.write("docs/index.html", b"docs");
    let server = serve(root.path(), ServerConfig::default());
    for target in [
        "/page.html/",
        "/page.html/.",
        "/page.html//",
        "/page.html%2f",
    ] {
        assert_eq!(get(&server, target).code, 404, "GET {target}");
    }
    assert_eq!(get(&server, "/page.html").body, b"page");
    for target in ["/docs/", "/docs/.", "/docs//"] {
        assert_eq!(get(&server, target).body, b"docs", "GET {target}");
    }
    assert_eq!(get(&server, "/docs").code, 301);
}
