//! Two servers behind HAProxy, as docs/deploy.md runs them: requests reach both, and once
//! HAProxy has marked a stopped one down, no request is lost.
//!
//! Skipped with a message where HAProxy is not installed, except under CI (`CI` set), where
//! .ci/run installs it and a missing HAProxy fails the test.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::*;
use mio_selectors::http::ServerConfig;

/// HAProxy in the foreground (`-db`), killed when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free a moment ago (HAProxy binds its own sockets).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The configuration docs/deploy.md explains, with test-sized check intervals.
fn config(front: u16, stats: u16, a: SocketAddr, b: SocketAddr) -> String {
    format!(
        "global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    option forwardfor
    retries 3
    option redispatch
frontend web
    bind 127.0.0.1:{front}
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /health.txt HTTP/1.0
    server a {a} check inter 200ms fall 2 rise 2
    server b {b} check inter 200ms fall 2 rise 2
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"
    )
}

/// Each server's status as HAProxy's CSV stats page reports it: `[(name, "UP"|"DOWN"|..)]`.
fn statuses(stats: u16) -> Vec<(String, String)> {
    let Ok(sock) = std::net::TcpStream::connect(("127.0.0.1", stats)) else {
        return Vec::new();
    };
    drop(sock);
    let addr: SocketAddr = format!("127.0.0.1:{stats}").parse().unwrap();
    let bytes = exchange(addr, b"GET /stats;csv HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter(|l| l.starts_with("app,") && !l.starts_with("app,BACKEND"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_owned(), f[17].to_owned())
        })
        .collect()
}

fn wait_for(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /whoami.txt` through HAProxy: the answering instance's name.
fn whoami(front: SocketAddr) -> String {
    let res = get_one(front, "GET /whoami.txt HTTP/1.0\r\n\r\n");
    assert_eq!(res.code, 200, "{}", String::from_utf8_lossy(&res.body));
    res.text().to_owned()
}

#[test]
fn haproxy_spreads_requests_and_loses_none_after_an_instance_goes_down() {
    if !have_tool("haproxy", "-v") {
        return;
    }
    let roots = [TempDir::new("deploy-a"), TempDir::new("deploy-b")];
    for (root, name) in roots.iter().zip(["a", "b"]) {
        root.write("whoami.txt", name.as_bytes());
        root.write("health.txt", b"ok");
    }
    // Two instances: processes of the example, when a plain `cargo test` built it, so that
    // "killing one" is a SIGKILL; otherwise servers in this process, stopped instead.
    let mut a = Instance::start(roots[0].path());
    let b = Instance::start(roots[1].path());
    let (a_addr, b_addr) = (a.addr(), b.addr());
    let (front, stats) = (free_port(), free_port());
    let dir = TempDir::new("deploy-haproxy");
    let cfg = dir.write(
        "haproxy.cfg",
        config(front, stats, a_addr, b_addr).as_bytes(),
    );
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy"),
    );
    let front: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();

    wait_for(common::LOADED, "both servers UP", || {
        let s = statuses(stats);
        s.len() == 2 && s.iter().all(|(_, st)| st == "UP")
    });
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..20 {
        *seen.entry(whoami(front)).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b"],
        "round robin should reach both: {seen:?}"
    );

    // Each instance's access log names HAProxy as the peer and the client it forwarded
    // for, from X-Forwarded-For (`option forwardfor`).
    if let Instance::Process(server) = &b {
        let deadline = Instant::now() + common::LOADED;
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|l: &String| l.contains("(for 127.0.0.1) \"GET /whoami.txt\" 200"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.log.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("no forwarded-for access log line: {seen:#?}"),
            }
        }
    }

    // Kill one instance...
    a.kill();
    wait_for(common::LOADED, "server a marked DOWN", || {
        statuses(stats)
            .iter()
            .any(|(name, st)| name == "a" && st.starts_with("DOWN"))
    });
    // ...and every request after that is answered, by the other.
    for i in 0..100 {
        assert_eq!(whoami(front), "b", "request {i}");
    }
    drop(b);
}

/// One `http_server` instance behind HAProxy.
enum Instance {
    Process(ExampleServer),
    InProcess(Option<Running>),
}

impl Instance {
    fn start(root: &std::path::Path) -> Instance {
        match example_binary() {
            Some(bin) => Instance::Process(ExampleServer::start(
                &bin,
                &["--port", "0", "--root", root.to_str().unwrap()],
            )),
            None => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "examples/http_server was not built"
                );
                eprintln!(
                    "note: examples/http_server not built (run a plain `cargo test`); \
                     using in-process servers, stopped rather than killed"
                );
                Instance::InProcess(Some(serve(root, ServerConfig::default())))
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Instance::Process(server) => server.addr,
            Instance::InProcess(server) => server.as_ref().unwrap().addr,
        }
    }

    /// SIGKILL for a process; for an in-process server, a stop (its listener and every
    /// connection close at once, as the kernel would close them for a dead process).
    fn kill(&mut self) {
        match self {
            Instance::Process(server) => server.kill(),
            Instance::InProcess(server) => server.take().unwrap().stop().unwrap(),
        }
    }
}
