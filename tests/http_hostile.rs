//! The server with `/app/` and `--auth` on, under hostile clients: clients that leave while
//! their password check waits or runs (by FIN and by reset), then a bounded, seeded loop of
//! malformed requests (mutated heads, junk credentials, cookies and bodies, torn and
//! truncated requests). Afterwards the server must still answer, the pool must have its
//! full capacity back (a leaked slot would turn checks into 503s), and the process must
//! hold no more descriptors than before.
//!
//! Alone in its test binary on purpose: it counts the process's descriptors, which other
//! tests running in parallel threads would disturb.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::*;
use common::wait_until;
use mio_selectors::http::AccessControl;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// xorshift64*: a fixed seed, so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Sends `wire`, shuts down the sending side (so the server answers what is complete and
/// closes), and reads until it does. Whatever comes back is fine; hanging is not.
fn poke(addr: SocketAddr, wire: &[u8]) {
    let mut sock = connect(addr);
    // The server may close (and reset) before all of a refused request is written.
    if sock.write_all(wire).is_ok() {
        let _ = sock.shutdown(Shutdown::Write);
    }
    let _ = read_to_close(&mut sock);
}

/// Sends a request whose answer needs a password check, then leaves at once: by reset if
/// `reset`, else by an ordinary close.
fn leave_during_check(addr: SocketAddr, wire: &str, reset: bool) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(wire.as_bytes()).unwrap();
    if reset {
        socket2::SockRef::from(&sock)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    drop(sock);
}

#[test]
fn hostile_clients_leave_the_server_answering_with_its_pool_and_descriptors_intact() {
    let dir = TempDir::new("hostile");
    // Cost 10 (~60 ms): checks are still running or waiting when their clients leave.
    let users = htpasswd(&dir, "users", &[("alice", "pw")], 10);
    let mut config = app_config(&users, 50, Duration::from_secs(600));
    let mut access = AccessControl::default();
    access
        .add_spec(&format!("/docs/={}", users.display()))
        .unwrap();
    config.access = Some(Arc::new(Mutex::new(access)));
    config.auth_workers = 1;
    config.auth_queue = 4;
    config.head_timeout = Duration::from_secs(2);
    config.limits.max_body = 1024;
    let (server, stats) = serve_with_stats(&bundled_site(), config);
    let addr = server.addr;
    let host = addr.to_string();

    // Warm up what the loop keeps open (the site's cache of small files), then count.
    for path in ["/index.html", "/style.css", "/docs/", "/app/"] {
        let _ = get(addr, path, &[("Authorization", &basic("alice", "pw"))]);
    }
    wait_until(
        Duration::from_secs(10),
        "warm-up connections closed",
        || stats.open() == 0,
    );
    let before = open_fds();

    // 1. Clients that leave while their check waits or runs: 3 rounds of 8, each more than
    //    the pool's 5 places, so a place leaked per departure would show as 503s below.
    let jobs_before = stats.pool_jobs();
    for round in 0..3 {
        let accepted = stats.accepted();
        for i in 0..8 {
            let wire = if i % 2 == 0 {
                format!(
                    "GET /docs/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\n\r\n",
                    basic("alice", &format!("wrong{round}-{i}"))
                )
            } else {
                let body = format!("user=alice&password=wrong{round}-{i}");
                format!(
                    "POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: \
                     application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            leave_during_check(addr, &wire, i % 4 < 2);
        }
        // Every one accepted, then every one gone: those that left by FIN stay open until
        // their check is back (a half-closed client may still be reading), so this also
        // waits for their checks.
        wait_until(Duration::from_secs(30), "the round accepted", || {
            stats.accepted() >= accepted + 8
        });
        wait_until(Duration::from_secs(30), "abandoned checks settled", || {
            stats.open() == 0
        });
    }
    assert!(
        stats.pool_jobs() > jobs_before,
        "no abandoned request reached the pool: nothing was tested"
    );
    // The pool has every place back: five checks at once (1 running + 4 waiting), none
    // refused. A job whose client left still finishes (or is skipped) on its worker first,
    // so a 503 may come while the last round drains; a lost place would never come back.
    wait_until(
        Duration::from_secs(60),
        "five checks at once, none refused",
        || {
            let mut at_once: Vec<TcpStream> = (0..5)
                .map(|i| {
                    let mut sock = connect(addr);
                    let wire = format!(
                        "GET /docs/ HTTP/1.0\r\nAuthorization: {}\r\n\r\n",
                        basic("alice", &format!("again{i}"))
                    );
                    sock.write_all(wire.as_bytes()).unwrap();
                    sock
                })
                .collect();
            let codes: Vec<u16> = at_once
                .iter_mut()
                .map(|sock| {
                    sock.set_read_timeout(Some(Duration::from_secs(60)))
                        .unwrap();
                    parse_responses(&read_to_close(sock), &[false])[0].code
                })
                .collect();
            assert!(codes.iter().all(|&c| c == 401 || c == 503), "{codes:?}");
            codes.iter().all(|&c| c == 401)
        },
    );

    // 2. A bounded, seeded loop of malformed requests.
    let methods = ["GET", "POST", "HEAD", "PUT", "G\0T", "POST ", "", "OPTIONS"];
    let targets = [
        "/app/login",
        "/app/logout",
        "/app/whoami",
        "/app/visits",
        "/app/",
        "/app/%zz",
        "/docs/",
        "/%64ocs/index.html",
        "/docs/../docs/",
        "/index.html",
        "*",
        "http://x/app/login",
        "/app/\u{ff}",
    ];
    let junk_auth = "A".repeat(9000);
    let headers = [
        "Authorization: Basic",
        "Authorization: Basic !!!",
        "Authorization: Basic /w==",
        "Authorization: Basic YWxpY2U=",
        "Authorization: bAsIc    YWxpY2U6cHc=   ",
        "Authorization: Bearer x",
        "Authorization: \u{ff}\u{fe}",
        "Cookie: sid=",
        "Cookie: sid=\"\"; sid=zz; ;;==;sid=0123456789abcdef0123456789abcdef",
        "Cookie: \u{1}\u{2}",
        "Origin: null",
        "Origin: http://evil",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: text/plain",
        "Content-Type: application/x-www-form-urlencoded; charset=\u{ff}",
        "Content-Length: 5",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: -1",
        "Content-Length: 100000",
        "Content-Length: 18446744073709551616",
        "Transfer-Encoding: chunked",
        "Host: a b",
        "Host:",
        "X: \0",
        "Connection: keep-alive",
        " folded",
    ];
    let bodies = [
        "",
        "user=alice&password=pw",
        "user=%ff%fe&password=%00",
        "user=&password=",
        "&&&===%%%",
        "user=<script>&password=x&user=y",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..400 {
        assert!(
            Instant::now() < deadline,
            "the fuzz loop took too long ({round} rounds)"
        );
        let mut wire = format!(
            "{} {} HTTP/1.{}\r\nHost: {host}\r\n",
            rng.pick(&methods),
            rng.pick(&targets),
            rng.below(2)
        );
        for _ in 0..rng.below(5) {
            wire.push_str(rng.pick(&headers));
            wire.push_str("\r\n");
        }
        if rng.below(8) == 0 {
            wire.push_str(&format!("Authorization: Basic {junk_auth}\r\n"));
        }
        wire.push_str("\r\n");
        wire.push_str(rng.pick(&bodies));
        let mut wire = wire.into_bytes();
        // Mutations: flip a byte, cut the request short, or double it (pipelining).
        match rng.below(6) {
            0 if !wire.is_empty() => {
                let at = rng.below(wire.len());
                wire[at] = (rng.next() & 0xff) as u8;
            }
            1 => {
                let at = rng.below(wire.len() + 1);
                wire.truncate(at);
            }
            2 => wire = [wire.clone(), wire].concat(),
            _ => {}
        }
        poke(addr, &wire);
    }

    // Still answering, statically and in the app, with a check on the pool.
    assert_eq!(get(addr, "/index.html", &[]).code, 200);
    let res = request_with_body(
        addr,
        "GET",
        "/app/whoami",
        &[("Authorization", &basic("alice", "pw"))],
        b"",
    );
    assert_eq!(res.text(), "user=alice via=basic\n");
    // And no descriptor left behind once every connection is gone.
    wait_until(Duration::from_secs(30), "every connection closed", || {
        stats.open() == 0
    });
    wait_until(
        Duration::from_secs(10),
        "descriptors back to before",
        || open_fds() <= before,
    );
    eprintln!(
        "{} checks submitted, {} refused (503) on the way",
        stats.pool_jobs(),
        stats.pool_rejected()
    );
    server.stop().unwrap();
}
