//! Proofs, with real sockets, that `select()` is level-triggered like Python's, although mio
//! underneath is edge-triggered.
//!
//! What is proved: the acceptance tests of the reference notes
//! (/work/shared/reference/selectors-spec.md §4.9; the rules they check are §4.1 L1–L5,
//! Python's behaviour is §1.6 and §1.8, the kernel facts §3.5 and §3.6, fairness §4.10),
//! all but #14 (EINTR), which lives in `tests/select_interrupt.rs`. Then the edge cases of
//! our own design, "fresh edges first, then one `poll(2)` probe of the keys reported last
//! time" (docs/design.md §3): probe and kernel results merged into one entry per key, a
//! modified key probed for its new events only, the waker, and what the probe cannot know.
//!
//! Every test uses Unix socket pairs or TCP on 127.0.0.1, bounds every wait, and asserts
//! timing only from below, with generous upper bounds: the machine running them is shared.

mod common;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    fill_until_would_block, read_available, select_until, socketpair, sys, tcp_pair, RawFdObj,
};
use mio_selectors::{Error, Selector, Token, EVENT_READ, EVENT_WRITE};

type TestResult = Result<(), Box<dyn StdError>>;

/// The longest any single wait may take before a test gives up: generous, the machine is shared.
const PATIENCE: Duration = common::LOADED;

/// How much a handler may read per event (design.md §3, "bounded work per event").
const READ_BUDGET: usize = 64 * 1024;

/// The slot half of a token, from its documented `Debug` form `Token(slot#generation)`.
fn slot_of(token: Token) -> String {
    let text = format!("{token:?}");
    text.split('#').next().unwrap_or_default().to_owned()
}

/// A descriptor number far above the ones the kernel hands out to the other tests running
/// in parallel threads of this process (it always picks the lowest free number), so a test
/// can close it and expect nobody else to reuse it. `offset` keeps two tests apart.
fn quiet_fd_number(offset: RawFd) -> Result<RawFd, Box<dyn StdError>> {
    let limit = mio_selectors::raise_fd_limit()?.min(10_000);
    let number = RawFd::try_from(limit)? - 64 - offset;
    assert!(
        number > 900,
        "descriptor limit {limit} too low for this test"
    );
    Ok(number)
}

// ---------------------------------------------------------------------------------------
// The acceptance tests of selectors-spec §4.9
// ---------------------------------------------------------------------------------------

/// Level-trigger proof 1 (selectors-spec §4.9; Python measured in §1.6).
#[test]
fn partly_read_socket_is_reported_again_until_drained_exactly() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();

    peer.write_all(b"0123456789")?;
    assert_eq!(sel.select(PATIENCE)?, vec![(token, EVENT_READ)]);
    let mut first = [0; 4];
    sel.get_key_mut(token)?.fileobj().read_exact(&mut first)?;
    assert_eq!(&first, b"0123");

    // Six bytes are still unread: every call says so, with no new edge from the kernel.
    for round in 1..=3 {
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_READ)],
            "select #{round} after the partial read"
        );
    }

    // Read exactly the rest, so the read never sees `WouldBlock`: still no false report.
    let mut rest = [0; 6];
    sel.get_key_mut(token)?.fileobj().read_exact(&mut rest)?;
    assert_eq!(&rest, b"456789");
    assert_eq!(
        sel.select(0)?,
        vec![],
        "an exactly drained socket is not ready"
    );
    Ok(())
}

/// Level-trigger proof 2 (selectors-spec §4.9).
#[test]
fn unread_data_is_reported_by_every_select() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();
    peer.write_all(b"nobody reads this")?;

    for round in 1..=10 {
        assert_eq!(sel.select(0)?, vec![(token, EVENT_READ)], "select #{round}");
    }

    // With a long timeout too: a key that is still ready ends the call at once (rule L5).
    let start = Instant::now();
    assert_eq!(sel.select(2 * PATIENCE)?, vec![(token, EVENT_READ)]);
    let took = start.elapsed();
    assert!(
        took < PATIENCE,
        "select waited {took:?} although a key was ready"
    );
    Ok(())
}

/// Level-trigger proof 3 (selectors-spec §4.9; the shape of CPython's `test_timeout`).
#[test]
fn writable_socket_is_reported_by_every_select_until_write_interest_is_dropped() -> TestResult {
    common::init();
    let (_peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_WRITE, ())?.token();

    for round in 1..=5 {
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_WRITE)],
            "select #{round}"
        );
    }
    sel.modify(token, EVENT_READ, ())?;
    assert_eq!(
        sel.select(0)?,
        vec![],
        "nothing to read, and writing no longer asked for"
    );
    Ok(())
}

/// Level-trigger proof 4 (selectors-spec §4.9): no false positive for a full send buffer.
#[test]
fn full_send_buffer_is_not_writable_until_the_peer_drains_it() -> TestResult {
    common::init();
    let (mut sock, mut peer) = socketpair();
    let sent = fill_until_would_block(&mut sock);
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_WRITE, ())?.token();

    assert_eq!(sel.select(0)?, vec![], "the send buffer is full");
    assert_eq!(
        sel.select(0.1)?,
        vec![],
        "and stays full while nobody reads"
    );

    let mut drained = 0;
    loop {
        let chunk = read_available(&mut peer, READ_BUDGET);
        if chunk.is_empty() {
            break;
        }
        drained += chunk.len();
    }
    assert_eq!(drained, sent, "the peer read everything that was sent");
    assert_eq!(select_until(&mut sel, token, PATIENCE), EVENT_WRITE);
    Ok(())
}

/// Level-trigger proof 5 (selectors-spec §4.9; rule L3 in §4.1).
#[test]
fn already_ready_socket_is_reported_as_soon_as_it_is_registered_or_modified() -> TestResult {
    common::init();
    let mut sel = Selector::new()?;

    // Data waiting before `register`: the very next call reports it, without waiting.
    let (mut peer, sock) = socketpair();
    peer.write_all(b"early")?;
    let early = sel.register(sock, EVENT_READ, ())?.token();
    assert_eq!(sel.select(0)?, vec![(early, EVENT_READ)]);
    sel.unregister(early)?;
    assert_eq!(sel.select(0)?, vec![]);

    // An idle key, not reported last time (so nothing is probed): only `modify` can make
    // the kernel report it, and it does so at once.
    let (_peer, idle) = socketpair();
    let token = sel.register(idle, EVENT_READ, ())?.token();
    assert_eq!(sel.select(0)?, vec![]);
    sel.modify_events(token, EVENT_WRITE)?;
    assert_eq!(sel.select(0)?, vec![(token, EVENT_WRITE)]);
    Ok(())
}

/// Level-trigger proof 6, first half (selectors-spec §4.9): a `modify` that keeps the events
/// and changes only the data makes no kernel call.
///
/// Proved from outside: the key holds a bare descriptor number whose socket we then close,
/// so any kernel call about it fails. A data-only `modify` still succeeds; one that changes
/// the events fails with the kernel's error. The second half of proof 6 (an events change
/// makes *exactly one* call) cannot be seen from outside without a counting backend, and is
/// not tested here.
#[test]
fn data_only_modify_makes_no_kernel_call() -> TestResult {
    common::init();
    let (sock, _peer) = socketpair(); // `_peer` stays open: only our end goes away
    let fd = sock.as_raw_fd();
    let mut sel = Selector::new()?;
    let token = sel.register(RawFdObj(fd), EVENT_READ, "old")?.token();

    drop(sock); // the kernel now answers EBADF (or ENOENT, if the number is reused)

    let key = sel.modify(token, EVENT_READ, "new")?;
    assert_eq!((key.events(), key.data), (EVENT_READ, "new"));
    sel.modify_events(fd, EVENT_READ)?; // same events again, by descriptor: no call either

    let err = sel.modify(token, EVENT_WRITE, "newer").unwrap_err();
    assert!(
        matches!(err.error, Error::Io(_)),
        "an events change asks the kernel: {err:?}"
    );
    assert_eq!(err.data, "newer", "the refused data is handed back");
    let key = sel.get_key(token)?;
    assert_eq!(
        (key.events(), key.data),
        (EVENT_READ, "new"),
        "a refused modify changes nothing"
    );

    sel.unregister(token)?; // Python: the kernel's complaint is swallowed
    Ok(())
}

/// Level-trigger proof 7 (selectors-spec §4.9).
#[test]
fn listener_with_queued_connections_is_reported_until_the_queue_is_empty() -> TestResult {
    common::init();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mut sel = Selector::new()?;
    let token = sel.register(listener, EVENT_READ, ())?.token();

    let clients = (0..3)
        .map(|_| TcpStream::connect(addr))
        .collect::<io::Result<Vec<_>>>()?;
    assert_eq!(sel.select(PATIENCE)?, vec![(token, EVENT_READ)]);

    // Accept one connection per event, as a bounded handler does.
    for accepted in 1..=clients.len() {
        let (conn, _) = sel.get_key_mut(token)?.fileobj().accept()?;
        drop(conn);
        let left = clients.len() - accepted;
        let expected = if left > 0 {
            vec![(token, EVENT_READ)]
        } else {
            vec![]
        };
        assert_eq!(
            sel.select(0)?,
            expected,
            "{left} connection(s) still queued"
        );
    }
    let err = sel.get_key_mut(token)?.fileobj().accept().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "the queue is empty");
    Ok(())
}

/// Level-trigger proof 8, hang-up (selectors-spec §4.9; flags in §3.6).
#[test]
fn hung_up_peer_is_reported_on_every_select_until_unregistered() -> TestResult {
    common::init();
    let (peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();
    assert_eq!(sel.select(0)?, vec![]);

    drop(peer);
    assert_eq!(select_until(&mut sel, token, PATIENCE), EVENT_READ);
    for round in 1..=3 {
        let n = sel.get_key_mut(token)?.fileobj().read(&mut [0; 16])?;
        assert_eq!(n, 0, "end of file, read #{round}");
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_READ)],
            "a hang-up is a level state: select #{round}"
        );
    }

    sel.unregister(token)?;
    assert_eq!(sel.select(0)?, vec![]);
    Ok(())
}

/// Level-trigger proof 8, reset (selectors-spec §4.9; measured flags in §3.6).
#[test]
fn reset_connection_is_reported_its_read_fails_and_it_stays_reported() -> TestResult {
    common::init();
    let (client, server) = tcp_pair();
    let mut sel = Selector::new()?;
    let token = sel.register(server, EVENT_READ, ())?.token();
    assert_eq!(sel.select(0)?, vec![]);

    sys::set_linger_zero(&client)?;
    drop(client); // SO_LINGER 0: close sends RST, not FIN
    assert_eq!(select_until(&mut sel, token, PATIENCE), EVENT_READ);
    let err = sel
        .get_key_mut(token)?
        .fileobj()
        .read(&mut [0; 16])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

    // The error is reported once; the hang-up it leaves behind is reported forever.
    for round in 1..=3 {
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_READ)],
            "select #{round} after the reset"
        );
        let n = sel.get_key_mut(token)?.fileobj().read(&mut [0; 16])?;
        assert_eq!(n, 0, "after the reset, reads see end of file");
    }

    sel.unregister(token)?;
    assert_eq!(sel.select(0)?, vec![]);
    Ok(())
}

/// Level-trigger proof 9 (selectors-spec §4.9; CPython's `test_select` mask check, §1.6).
#[test]
fn socket_ready_both_ways_is_one_entry_with_both_bits() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ | EVENT_WRITE, ())?.token();
    peer.write_all(b"x")?;

    // First from the kernel's edge, then from the probe: one entry each time.
    for round in 1..=2 {
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_READ | EVENT_WRITE)],
            "select #{round}"
        );
    }
    Ok(())
}

/// Level-trigger proof 10 (selectors-spec §4.9; CPython's `test_above_fd_setsize`).
#[test]
fn one_select_returns_all_300_ready_keys() -> TestResult {
    common::init();
    mio_selectors::raise_fd_limit()?;
    let mut sel = Selector::new()?;
    let mut peers = Vec::new();
    let mut tokens = HashSet::new();
    for _ in 0..300 {
        let (sock, peer) = socketpair();
        tokens.insert(sel.register(sock, EVENT_WRITE, ())?.token());
        peers.push(peer);
    }
    assert_eq!(tokens.len(), 300);

    // Twice: once from the kernel's edges, once from the probe.
    for round in 1..=2 {
        let ready = sel.select(0)?;
        assert_eq!(ready.len(), 300, "select #{round}");
        let reported: HashSet<Token> = ready.iter().map(|&(token, _)| token).collect();
        assert_eq!(reported, tokens, "every key exactly once, select #{round}");
        assert!(ready.iter().all(|&(_, mask)| mask == EVENT_WRITE));
    }
    Ok(())
}

/// Level-trigger proof 11 (selectors-spec §4.9 and §4.10, mio issue #45): fairness.
///
/// A floods, B sends one short message. With handlers that read at most 64 KiB per event,
/// B is reported by the very next `select()` after it sends, while A, still full of data,
/// keeps being reported, and no byte of A is lost to the bounded reads.
#[test]
fn quiet_socket_is_served_next_to_one_that_floods() -> TestResult {
    common::init();
    let (mut flooder, a) = socketpair();
    let (mut talker, b) = socketpair();
    let mut sel = Selector::new()?;
    let a = sel.register(a, EVENT_READ, "A")?.token();
    let b = sel.register(b, EVENT_READ, "B")?.token();

    let flooded = fill_until_would_block(&mut flooder);
    assert!(
        flooded > READ_BUDGET,
        "flood of {flooded} bytes is smaller than one read"
    );
    let mut received = 0;
    let mut heard_b = None;

    for round in 1.. {
        assert!(round <= flooded / READ_BUDGET + 10, "A was never drained");
        let ready = sel.select(PATIENCE)?;
        if round == 1 {
            assert_eq!(ready, vec![(a, EVENT_READ)], "only A has sent yet");
            talker.write_all(b"hello from B")?; // B speaks while A is still full
        }
        if round == 2 {
            assert!(
                ready.contains(&(a, EVENT_READ)),
                "A still has data: {ready:?}"
            );
            assert!(
                ready.contains(&(b, EVENT_READ)),
                "B is served at once: {ready:?}"
            );
            assert_eq!(ready.len(), 2);
        }
        if ready.is_empty() {
            break; // only possible once both are drained: the timeout passed
        }
        for (token, _mask) in ready {
            let key = sel.get_key_mut(token)?;
            let chunk = read_available(&mut key.fileobj(), READ_BUDGET);
            match key.data {
                "A" => received += chunk.len(),
                _ => {
                    assert_eq!(chunk, b"hello from B");
                    heard_b = Some(round);
                }
            }
        }
        if received == flooded && heard_b.is_some() {
            assert_eq!(sel.select(0)?, vec![], "both drained exactly");
            break;
        }
    }
    assert_eq!(heard_b, Some(2));
    assert_eq!(
        received, flooded,
        "bounded reads lost nothing: A was reported until empty"
    );
    Ok(())
}

/// Level-trigger proof 12 (selectors-spec §4.9; slab reuse in §3.9 and fact 9 of §0).
///
/// While handling one entry of a batch, the handler unregisters the key of another entry
/// and registers a new socket, which takes over the freed slot. The stale entry's token
/// must not lead to the newcomer.
#[test]
fn stale_token_in_the_same_batch_does_not_find_the_key_that_reused_its_slot() -> TestResult {
    common::init();
    let (x, _x_peer) = socketpair();
    let (y, _y_peer) = socketpair();
    let (z, _z_peer) = socketpair();
    let mut sel = Selector::new()?;
    sel.register(x, EVENT_WRITE, "x")?;
    sel.register(y, EVENT_WRITE, "y")?;

    let batch = sel.select(0)?;
    let [(first, _), (stale, _)] = batch[..] else {
        panic!("expected both keys in one batch, got {batch:?}");
    };

    // Handling `first`: drop the other key and register a newcomer.
    assert!(sel.get_key(first).is_ok());
    sel.unregister(stale)?;
    let newcomer = sel.register(z, EVENT_WRITE, "z")?.token();
    assert_eq!(
        slot_of(newcomer),
        slot_of(stale),
        "the newcomer reuses the freed slot"
    );
    assert_ne!(newcomer, stale);

    // Handling `stale`, next in the same batch.
    assert!(matches!(sel.get_key(stale), Err(Error::NotRegistered(_))));
    assert!(matches!(
        sel.get_key_mut(stale),
        Err(Error::NotRegistered(_))
    ));
    assert!(matches!(
        sel.unregister(stale),
        Err(Error::NotRegistered(_))
    ));
    assert_eq!(sel.get_key(newcomer)?.data, "z");

    // And the next select knows only the live keys.
    let next: HashSet<Token> = sel.select(0)?.into_iter().map(|(token, _)| token).collect();
    assert_eq!(next, HashSet::from([first, newcomer]));
    Ok(())
}

/// Level-trigger proof 13 (selectors-spec §4.9; Python's epoll behaviour in §1.8).
///
/// The key holds a bare descriptor number (Python: `register(fd_int, ...)`); the socket is
/// closed behind the selector's back after the key was reported, so the next call probes a
/// closed descriptor.
#[test]
fn descriptor_closed_without_unregister_is_dropped_quietly_and_its_number_stays_taken() -> TestResult
{
    common::init();
    let number = quiet_fd_number(0)?;
    let (sock, _peer) = socketpair();
    let fd = sys::dup_at_or_above(&sock, number)?;
    drop(sock); // `fd` is now the socket's only descriptor
    let fd_number = fd.as_raw_fd();
    let mut sel = Selector::new()?;
    let token = sel.register(RawFdObj(fd_number), EVENT_WRITE, ())?.token();
    assert_eq!(sel.select(0)?, vec![(token, EVENT_WRITE)]);

    drop(fd); // closed, never unregistered: epoll forgets it, the probe sees POLLNVAL
    assert_eq!(
        sel.select(0)?,
        vec![],
        "no error and no report for a closed descriptor"
    );
    let start = Instant::now();
    assert_eq!(sel.select(0.2)?, vec![]);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150),
        "no spinning: waited only {waited:?}"
    );
    assert!(waited < PATIENCE);

    // A new socket gets the same number: Python's KeyError until the stale key goes.
    let (new_sock, _new_peer) = socketpair();
    let reused = sys::dup_at_or_above(&new_sock, fd_number)?;
    assert_eq!(reused.as_raw_fd(), fd_number, "the number was free again");
    drop(new_sock);
    let err = sel
        .register(RawFdObj(fd_number), EVENT_WRITE, ())
        .unwrap_err();
    assert!(
        matches!(err.error, Error::AlreadyRegistered { fd } if fd == fd_number),
        "{:?}",
        err.error
    );

    let stale = sel.unregister(fd_number)?; // succeeds; the kernel's EBADF is swallowed
    assert_eq!(stale.token(), token);
    let fresh = sel.register(RawFdObj(fd_number), EVENT_WRITE, ())?.token();
    assert_eq!(sel.select(0)?, vec![(fresh, EVENT_WRITE)]);
    sel.unregister(fresh)?;
    drop(reused);
    Ok(())
}

/// Level-trigger proof 15, first half (selectors-spec §4.9; the EVENT_WRITE busy loop of §0.10).
#[test]
fn idle_socket_costs_one_wait_per_select_not_a_busy_loop() -> TestResult {
    common::init();
    let (_peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    sel.register(sock, EVENT_READ, ())?;

    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < Duration::from_millis(500) {
        let call = Instant::now();
        assert_eq!(sel.select(0.1)?, vec![]);
        let took = call.elapsed();
        assert!(
            took >= Duration::from_millis(100),
            "select(0.1) returned after {took:?}"
        );
        calls += 1;
    }
    assert!((1..=6).contains(&calls), "{calls} calls in half a second");
    assert!(start.elapsed() < PATIENCE);
    Ok(())
}

/// Level-trigger proof 15, second half (selectors-spec §4.9): a key that was reported, then
/// modified to something not ready, makes the next call wait its full timeout.
#[test]
fn write_key_switched_to_read_makes_the_next_select_wait() -> TestResult {
    common::init();
    let (_peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_WRITE, ())?.token();
    assert_eq!(sel.select(0)?, vec![(token, EVENT_WRITE)]);

    sel.modify_events(token, EVENT_READ)?;
    let start = Instant::now();
    assert_eq!(sel.select(0.2)?, vec![]);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150),
        "returned after {waited:?}"
    );
    assert!(waited < PATIENCE);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Edge cases of the probe design (docs/design.md §3)
// ---------------------------------------------------------------------------------------

/// Probe design, docs/design.md §3 ("Entries are merged per key"): a key left unread is
/// reported again even when other keys bring fresh edges, once, with its whole mask; and a
/// key with both a fresh edge and leftover data is still one entry.
#[test]
fn unread_key_is_reported_once_alongside_fresh_edges_of_other_keys() -> TestResult {
    common::init();
    let (mut k_peer, k) = socketpair();
    let (mut j_peer, j) = socketpair();
    let mut sel = Selector::new()?;
    let k = sel.register(k, EVENT_READ | EVENT_WRITE, ())?.token();
    let j = sel.register(j, EVENT_READ, ())?.token();
    let both = EVENT_READ | EVENT_WRITE;

    k_peer.write_all(b"left unread")?;
    assert_eq!(sel.select(0)?, vec![(k, both)]);

    // K: no new edge, found by the probe. J: a fresh edge from the kernel.
    j_peer.write_all(b"fresh")?;
    let mut ready = sel.select(0)?;
    ready.sort_by_key(|&(token, _)| token == j);
    assert_eq!(ready, vec![(k, both), (j, EVENT_READ)]);

    // Now both have leftover data and K also gets a fresh edge: still one entry each.
    k_peer.write_all(b" and more")?;
    let mut ready = sel.select(0)?;
    ready.sort_by_key(|&(token, _)| token == j);
    assert_eq!(ready, vec![(k, both), (j, EVENT_READ)]);
    Ok(())
}

/// Probe design, docs/design.md §3: the probe asks about a key's *current* events, so a key
/// switched from READ to WRITE between calls is reported for WRITE only, even with unread
/// data waiting.
#[test]
fn key_switched_from_read_to_write_is_reported_for_write_only() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();
    peer.write_all(b"unread")?;
    assert_eq!(sel.select(0)?, vec![(token, EVENT_READ)]);

    sel.modify_events(token, EVENT_WRITE)?;
    for round in 1..=2 {
        assert_eq!(
            sel.select(0)?,
            vec![(token, EVENT_WRITE)],
            "select #{round}"
        );
    }
    Ok(())
}

/// `Selector::waker` (docs: "A wake-up is not a key"): another thread ends a `select(None)`.
#[test]
fn waker_ends_a_blocking_select_and_is_not_reported_as_a_key() -> TestResult {
    common::init();
    let (peer, sock) = socketpair();
    let mut backstop = peer.try_clone()?; // `peer` stays open here: a hang-up would be an event
    let mut sel = Selector::new()?;
    sel.register(sock, EVENT_READ, ())?;
    let waker = sel.waker()?;
    let returned = Arc::new(AtomicBool::new(false));

    let start = Instant::now();
    let waking = thread::spawn({
        let returned = Arc::clone(&returned);
        move || -> io::Result<()> {
            thread::sleep(Duration::from_millis(100));
            waker.wake()?;
            // A backstop, so that a broken waker fails this test instead of hanging it:
            // data on the registered socket ends the wait with a key, which the test rejects.
            let give_up = Instant::now() + PATIENCE;
            while !returned.load(Ordering::SeqCst) && Instant::now() < give_up {
                thread::sleep(Duration::from_millis(10));
            }
            if !returned.load(Ordering::SeqCst) {
                backstop.write_all(b"backstop")?;
            }
            Ok(())
        }
    });
    let ready = sel.select(None)?;
    let waited = start.elapsed();
    returned.store(true, Ordering::SeqCst);
    waking.join().expect("waking thread panicked")?;

    assert_eq!(ready, vec![], "the wake-up is not a key");
    assert!(
        waited >= Duration::from_millis(100),
        "returned after {waited:?}, before the wake"
    );
    assert!(waited < PATIENCE, "the waker did not end the wait");
    assert_eq!(
        sel.select(0)?,
        vec![],
        "a wake-up is reported once, and never as a key"
    );
    drop(peer);
    Ok(())
}

/// docs/design.md §3 "What the probe cannot know", pinned: the probe asks about descriptor
/// *numbers*. If a key's descriptor is closed without `unregister` *after* the key was
/// reported, and the number is reused by another socket at once, the probe sees the new
/// socket. Python's `EpollSelector` reports nothing there (the kernel dropped the
/// registration, §1.8), its `PollSelector` reports the new socket as this crate does.
/// An owning file object, the crate's normal case, rules this out.
#[test]
fn reused_number_of_a_just_reported_key_is_probed_as_the_new_socket() -> TestResult {
    common::init();
    let number = quiet_fd_number(8)?;
    let (old_sock, mut old_peer) = socketpair();
    let old = sys::dup_at_or_above(&old_sock, number)?;
    drop(old_sock);
    let fd_number = old.as_raw_fd();
    let mut sel = Selector::new()?;
    let token = sel.register(RawFdObj(fd_number), EVENT_READ, ())?.token();
    old_peer.write_all(b"old")?;
    assert_eq!(sel.select(0)?, vec![(token, EVENT_READ)]);

    // Close the old socket and put a new one, with data waiting, at the same number, in one
    // step (dup2). The kernel's epoll forgets the old socket; the new one was never
    // registered with it.
    let (mut new_sock, mut new_peer) = socketpair();
    new_peer.write_all(b"new")?;
    let mut new_at_number = UnixStream::from(sys::replace_fd(&new_sock, old)?);
    assert_eq!(new_at_number.as_raw_fd(), fd_number);

    assert_eq!(
        sel.select(0)?,
        vec![(token, EVENT_READ)],
        "the probe asked about the new socket"
    );
    assert_eq!(read_available(&mut new_at_number, 16), b"new");
    assert_eq!(
        sel.select(0)?,
        vec![],
        "drained: and now nothing is probed any more"
    );
    new_peer.write_all(b"unseen")?;
    assert_eq!(
        sel.select(0.1)?,
        vec![],
        "the kernel never heard of the new socket"
    );

    sel.unregister(token)?;
    assert_eq!(read_available(&mut new_sock, 16), b"unseen");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// mark_drained: the opt-in that lets a loop skip the probe (docs/design.md §3)
// ---------------------------------------------------------------------------------------

/// A key marked drained is not probed: here the mark is a lie (four bytes are left), and
/// the lie shows, because nothing reports them. New bytes bring a new edge, that report
/// clears the mark, and level triggering is back.
#[test]
fn a_key_marked_drained_is_not_probed_until_its_next_report() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();

    peer.write_all(b"12345678")?;
    assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]);
    sel.get_key_mut(token)?.fileobj().read_exact(&mut [0; 4])?;
    sel.mark_drained(token, EVENT_READ)?;
    assert_eq!(sel.select(0)?, vec![], "a drained key is not asked about");

    peer.write_all(b"9")?;
    assert_eq!(
        sel.select(1.0)?,
        vec![(token, EVENT_READ)],
        "new bytes: a new edge"
    );
    sel.get_key_mut(token)?.fileobj().read_exact(&mut [0; 1])?;
    // No mark this time: the four bytes still waiting are reported again and again.
    for _ in 0..3 {
        assert_eq!(sel.select(0)?, vec![(token, EVENT_READ)]);
    }
    Ok(())
}

/// A short read can return the last bytes while the peer's end of file waits behind them,
/// and end of file brings no new edge. Marking after that short read breaks the contract
/// (only `WouldBlock` proves a socket empty), but the selector forgives this one mistake:
/// once the kernel has reported the peer's close, a READ mark is ignored, so the program
/// still sees the end of file.
#[test]
fn a_read_mark_is_ignored_once_the_peer_has_closed() -> TestResult {
    common::init();
    let (client, server) = tcp_pair();
    let (server_addr, client_addr) = (server.local_addr()?, client.local_addr()?);
    let mut sel = Selector::new()?;
    let token = sel.register(server, EVENT_READ, ())?.token();

    (&client).write_all(b"last words")?;
    client.shutdown(std::net::Shutdown::Write)?;
    // Wait until the FIN has arrived (the server's end is in CLOSE_WAIT), so that one
    // event carries both.
    common::wait_until(PATIENCE, "the client's FIN", || {
        common::tcp_state(server_addr, client_addr) == Some(common::TcpState::CLOSE_WAIT)
    });
    assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]);
    let mut buf = [0; 1024];
    let n = sel.get_key_mut(token)?.fileobj().read(&mut buf)?;
    assert_eq!(&buf[..n], b"last words", "a short read");
    sel.mark_drained(token, EVENT_READ)?;
    assert_eq!(
        sel.select(0)?,
        vec![(token, EVENT_READ)],
        "end of file is still readable"
    );
    assert_eq!(sel.get_key_mut(token)?.fileobj().read(&mut buf)?, 0);
    Ok(())
}

/// A mark covers only the directions it names: a key drained for reading is still asked
/// whether it can write.
#[test]
fn a_read_mark_leaves_write_readiness_reported() -> TestResult {
    common::init();
    let (mut peer, sock) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ | EVENT_WRITE, ())?.token();
    peer.write_all(b"x")?;
    assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ | EVENT_WRITE)]);
    sel.get_key_mut(token)?.fileobj().read_exact(&mut [0; 1])?;
    sel.mark_drained(token, EVENT_READ)?;
    assert_eq!(sel.select(0)?, vec![(token, EVENT_WRITE)]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A short read proves nothing (issue 7): the reads stop early, and level triggering must
// report what is left. Python's selectors report READ in both cases.
// ---------------------------------------------------------------------------------------

/// Waits until `sock` has `want` bytes queued (peeked, not read), so that the test reads
/// only once everything the peer sent has arrived.
#[track_caller]
fn wait_until_queued(sock: &TcpStream, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0; 64];
    loop {
        match sock.peek(&mut buf) {
            Ok(n) if n >= want => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("peek: {e}"),
        }
        assert!(Instant::now() < deadline, "{want} bytes never arrived");
        thread::sleep(Duration::from_millis(5));
    }
}

/// TCP: a read stops at the urgent (out-of-band) mark, with the bytes after it queued.
/// `abc`, an urgent `X` and `def` leave in one corked segment; `read(1024)` returns only
/// `abc`. The selector must still report READ for `def`.
#[test]
fn bytes_behind_the_tcp_urgent_mark_are_reported_after_a_short_read() -> TestResult {
    common::init();
    let (client, server) = tcp_pair();
    let mut sel = Selector::new()?;
    let token = sel.register(server, EVENT_READ, ())?.token();

    sys::set_tcp_cork(&client, true)?;
    (&client).write_all(b"abc")?;
    sys::send_urgent(&client, b"X")?;
    (&client).write_all(b"def")?;
    sys::set_tcp_cork(&client, false)?;
    assert_eq!(
        select_until(&mut sel, token, Duration::from_secs(2)),
        EVENT_READ
    );

    let mut buf = [0; 1024];
    let n = sel.get_key(token)?.fileobj().read(&mut buf)?;
    assert_eq!(&buf[..n], b"abc", "the read stops at the urgent mark");
    wait_until_queued(sel.get_key(token)?.fileobj(), 3);
    assert_eq!(
        sel.select(0.3)?,
        vec![(token, EVENT_READ)],
        "`def` is still queued: a short read did not empty the socket"
    );
    let n = sel.get_key(token)?.fileobj().read(&mut buf)?;
    assert_eq!(&buf[..n], b"def");

    // Now the kernel itself says "empty": that, and only that, may be marked.
    let err = sel.get_key(token)?.fileobj().read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    sel.mark_drained(token, EVENT_READ)?;
    assert_eq!(sel.select(0)?, vec![]);
    Ok(())
}

/// Unix sockets: a read stops after a message that carried descriptors (`SCM_RIGHTS`),
/// with later bytes queued behind it.
#[test]
fn bytes_behind_a_message_with_descriptors_are_reported_after_a_short_read() -> TestResult {
    common::init();
    let (peer, sock) = socketpair();
    let (passed, _passed_peer) = socketpair();
    let mut sel = Selector::new()?;
    let token = sel.register(sock, EVENT_READ, ())?.token();

    assert_eq!(sys::send_with_fd(&peer, b"abc", &passed)?, 3);
    (&peer).write_all(b"def")?;
    assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]);

    let mut buf = [0; 1024];
    let n = sel.get_key(token)?.fileobj().read(&mut buf)?;
    assert_eq!(
        &buf[..n],
        b"abc",
        "the read stops after the message with a descriptor"
    );
    assert_eq!(
        sel.select(0.3)?,
        vec![(token, EVENT_READ)],
        "`def` is still queued: a short read did not empty the socket"
    );
    let n = sel.get_key(token)?.fileobj().read(&mut buf)?;
    assert_eq!(&buf[..n], b"def");
    assert_eq!(sel.select(0)?, vec![], "now it is empty, and not reported");
    Ok(())
}
