//! CPython's `Lib/test/test_selectors.py`, ported test by test.
//!
//! Above each test, a comment names the Python test it ports. Python runs
//! `BaseSelectorTestCase` once for each selector class. This crate has one selector (mio's
//! epoll on Linux), so each test runs once. The tests Python keeps for particular classes
//! run here as well: `EpollSelectorTestCase.test_register_file`,
//! `ScalableSelectorMixIn.test_above_fd_setsize`, and the two `KqueueSelectorTestCase` tests,
//! because their behaviour is the same on epoll.
//!
//! **Elsewhere:** `test_select_interrupt_exc` and `test_select_interrupt_noraise` need a
//! signal handler and a thread to send the signal to. They are in `tests/select_interrupt.rs`.
//!
//! **Adapted.** The comment on each of these tests explains the change:
//! * Python's selector only refers to a registered file object. Ours *owns* it. That makes
//!   "register the same object twice" and "close a registered socket" impossible to write,
//!   so `test_register`, `test_unregister_after_socket_close` and `test_context_manager`
//!   test what replaces them. A bare descriptor, [`RawFdObj`], stands in for Python's `int` fd.
//! * `test_modify` uses a closed descriptor instead of mocks to show that a data-only
//!   `modify` makes no system call.
//! * `test_modify_unregister` (bpo-30014) is a **deliberate departure**. Python drops the
//!   key when the kernel refuses a `modify`. We keep the key, with its old events and data.
//! * `test_close`: after `close()`, `get_map()` returns an empty view, not `None`.
//! * `test_above_fd_setsize` stops at 4000 socket pairs so that it stays quick.

mod common;

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{read_available, socketpair, sys, RawFdObj};
use mio_selectors::{
    Error, Events, Lookup, ModifyError, Selector, SelectorKey, Token, EVENT_READ, EVENT_WRITE,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Python's `fileobj` argument can be a socket object or a bare `int` descriptor. One
/// selector that takes both needs one type that can be either.
enum FileObj {
    Socket(UnixStream),
    Fd(RawFdObj),
}

impl AsRawFd for FileObj {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            FileObj::Socket(sock) => sock.as_raw_fd(),
            FileObj::Fd(fd) => fd.as_raw_fd(),
        }
    }
}

/// The fields that Python's `==` compares on a `SelectorKey`, plus the token. The fd stands
/// in for `fileobj`. A `SelectorKey` owns its socket, so it cannot be copied or compared
/// itself.
#[derive(Debug, Clone, PartialEq)]
struct KeyFields<T> {
    fd: RawFd,
    events: Events,
    data: T,
    token: Token,
}

impl<T: Clone> KeyFields<T> {
    fn of<S>(key: &SelectorKey<S, T>) -> KeyFields<T> {
        KeyFields {
            fd: key.fd(),
            events: key.events(),
            data: key.data.clone(),
            token: key.token(),
        }
    }
}

/// Python's helper of the same name: the keys in `ready` whose mask includes `flag`.
fn find_ready_matching(ready: &[(Token, Events)], flag: Events) -> Vec<Token> {
    ready
        .iter()
        .filter(|(_, events)| !(*events & flag).is_empty())
        .map(|&(token, _)| token)
        .collect()
}

/// Python's `random.choice`, without a dependency: each new std `RandomState` starts from
/// different random keys.
fn random_choice<T: Copy>(items: &[T]) -> T {
    let random = RandomState::new().hash_one(items.len());
    items[(random % items.len() as u64) as usize]
}

/// True once the other end of `sock` has been closed. A read then returns end of file; if
/// the other end is still open, the read returns `WouldBlock`.
fn peer_closed(sock: &mut UnixStream) -> bool {
    matches!(sock.read(&mut [0; 1]), Ok(0))
}

/// Removes a temporary file when dropped, even if the test panics first (Python's
/// `with tempfile.NamedTemporaryFile()`).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A descriptor number close to the fd limit. The kernel gives each new descriptor the
/// lowest free number, and the other tests run on other threads of this process. A number
/// this high is not reused by them while a test works with it after closing it.
fn high_fd_number() -> Result<RawFd, Box<dyn std::error::Error>> {
    let limit = mio_selectors::raise_fd_limit()?;
    Ok(RawFd::try_from(limit.min(1 << 16))? - 8)
}

/// test_selectors.py: test_register
#[test]
fn register_returns_a_key_with_fileobj_fd_events_and_data() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let rd_fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;

    let key = sel.register(rd, EVENT_READ, "data")?;
    assert_eq!(key.fileobj().as_raw_fd(), rd_fd);
    assert_eq!(key.fd(), rd_fd);
    assert_eq!(key.events(), EVENT_READ);
    assert_eq!(key.data, "data");
    Ok(())
}

/// test_selectors.py: test_register (the refusals)
///
/// Python registers `rd` twice to get its `KeyError`. Here the first `register` moves `rd`
/// into the selector, so the compiler rejects a second one. A bare descriptor can be passed
/// twice, though. A bare descriptor with `rd`'s number is Python's "same FD, but with a
/// different object".
#[test]
fn register_refuses_bad_events_negative_fds_and_taken_fds_and_hands_them_back() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let (rd_fd, wr_fd) = (rd.as_raw_fd(), wr.as_raw_fd());
    let mut sel = Selector::new()?;
    sel.register(FileObj::Socket(rd), EVENT_READ, "data")?;

    // The events are checked first: fd 0 is a valid descriptor, but 999999 is not a valid mask.
    let bogus = Events::from_bits_retain(999_999);
    let failed = sel
        .register(FileObj::Fd(RawFdObj(0)), bogus, "bogus")
        .unwrap_err();
    assert!(
        matches!(failed.error, Error::InvalidEvents(999_999)),
        "{failed:?}"
    );
    assert!(matches!(failed.fileobj, FileObj::Fd(RawFdObj(0))));
    assert_eq!(failed.data, "bogus");

    let failed = sel
        .register(FileObj::Fd(RawFdObj(-10)), EVENT_READ, "negative")
        .unwrap_err();
    assert!(matches!(failed.error, Error::InvalidFd(-10)), "{failed:?}");

    // Register twice: the same bare descriptor, passed again.
    sel.register(FileObj::Fd(RawFdObj(wr_fd)), EVENT_WRITE, "wr")?;
    let failed = sel
        .register(FileObj::Fd(RawFdObj(wr_fd)), EVENT_WRITE, "again")
        .unwrap_err();
    assert!(
        matches!(failed.error, Error::AlreadyRegistered { fd } if fd == wr_fd),
        "{failed:?}"
    );

    // The same fd as another object: the socket is registered, and now its bare number is too.
    let failed = sel
        .register(FileObj::Fd(RawFdObj(rd_fd)), EVENT_READ, "rd's number")
        .unwrap_err();
    assert!(
        matches!(failed.error, Error::AlreadyRegistered { fd } if fd == rd_fd),
        "{failed:?}"
    );
    assert!(
        matches!(failed.fileobj, FileObj::Fd(_)),
        "the socket must stay in the selector"
    );

    // None of the refusals changed the two keys that were accepted.
    let map = sel.get_map();
    assert_eq!(map.len(), 2);
    let rd_key = map.get(rd_fd).ok_or("rd's key is gone")?;
    assert!(matches!(rd_key.fileobj(), FileObj::Socket(_)));
    assert_eq!((rd_key.events(), rd_key.data), (EVENT_READ, "data"));
    assert_eq!(map.get(wr_fd).map(|key| key.data), Some("wr"));
    Ok(())
}

/// test_selectors.py: test_unregister
#[test]
fn unregister_hands_the_file_object_back_and_refuses_unknown_or_repeated_fds() -> TestResult {
    common::init();
    let (rd, mut wr) = socketpair();
    let rd_fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;
    let token = sel.register(rd, EVENT_READ, ())?.token();

    let key = sel.unregister(rd_fd)?;
    assert_eq!((key.fd(), key.token()), (rd_fd, token));
    // The key owned the socket. Now the test owns it again, and it still works.
    let mut rd = key.fileobj;
    wr.write_all(b"x")?;
    assert_eq!(read_available(&mut rd, 8), b"x");

    let unknown = sel.unregister(999_999);
    assert!(
        matches!(unknown, Err(Error::NotRegistered(Lookup::Fd(999_999)))),
        "{unknown:?}"
    );
    assert!(matches!(
        sel.unregister(rd_fd),
        Err(Error::NotRegistered(_))
    ));
    // The token no longer refers to a key either.
    assert!(matches!(
        sel.unregister(token),
        Err(Error::NotRegistered(Lookup::Token(_)))
    ));
    assert!(sel.get_map().is_empty());
    Ok(())
}

/// test_selectors.py: test_unregister_after_fd_close
///
/// Python registers bare `int` descriptors and closes their sockets without telling the
/// selector. `RawFdObj` lets us do the same. epoll then answers EBADF (or ENOENT, if
/// another thread was given the number in between), and `unregister` must ignore that
/// error, as Python's does.
#[test]
fn unregister_succeeds_after_the_fd_was_closed() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let (r, w) = (rd.as_raw_fd(), wr.as_raw_fd());
    let mut sel = Selector::new()?;
    sel.register(RawFdObj(r), EVENT_READ, ())?;
    sel.register(RawFdObj(w), EVENT_WRITE, ())?;

    drop(rd);
    drop(wr);
    assert_eq!(sel.unregister(r)?.fd(), r);
    assert_eq!(sel.unregister(w)?.fd(), w);
    assert!(sel.get_map().is_empty());
    Ok(())
}

/// test_selectors.py: test_unregister_after_fd_close_and_reuse
#[test]
fn unregister_succeeds_after_the_fd_number_was_reused() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let (r, w) = (rd.as_raw_fd(), wr.as_raw_fd());
    let mut sel = Selector::new()?;
    sel.register(RawFdObj(r), EVENT_READ, ())?;
    sel.register(RawFdObj(w), EVENT_WRITE, ())?;

    // Python closes rd and wr, then dup2()s a new pair onto their numbers. dup2 does both
    // in one step, so no other test thread can be given those numbers in between.
    let (rd2, mut wr2) = socketpair();
    let r_now_rd2 = sys::replace_fd(&rd2, OwnedFd::from(rd))?;
    let w_now_wr2 = sys::replace_fd(&wr2, OwnedFd::from(wr))?;
    assert_eq!((r_now_rd2.as_raw_fd(), w_now_wr2.as_raw_fd()), (r, w));

    // The numbers are the same, but the sockets are new and this epoll has never seen them,
    // so the kernel answers ENOENT. unregister must ignore that.
    sel.unregister(r)?;
    sel.unregister(w)?;
    assert!(sel.get_map().is_empty());

    // The selector has forgotten `r`, so it can be registered again. It now reports
    // what arrives for rd2.
    let token = sel.register(RawFdObj(r), EVENT_READ, ())?.token();
    wr2.write_all(b"x")?;
    assert_eq!(sel.select(1.0)?, vec![(token, EVENT_READ)]);
    Ok(())
}

/// test_selectors.py: test_unregister_after_socket_close
///
/// Python closes the registered socket objects first, then unregisters them, found by
/// identity. Here the selector owns a registered socket, so the socket cannot be closed
/// first. The order has to be reversed: `unregister(token)` returns the socket, and
/// dropping it closes it. The token plays the part of Python's identity: it names the
/// registration, not whatever the fd number refers to at the moment.
#[test]
fn unregister_by_token_hands_back_the_socket_so_that_it_can_be_closed() -> TestResult {
    common::init();
    let (rd, mut rd_peer) = socketpair();
    let (wr, mut wr_peer) = socketpair();
    let mut sel = Selector::new()?;
    let rd_token = sel.register(rd, EVENT_READ, ())?.token();
    let wr_token = sel.register(wr, EVENT_WRITE, ())?.token();

    let rd_key = sel.unregister(rd_token)?;
    assert!(
        !peer_closed(&mut rd_peer),
        "unregister must not close the socket"
    );
    drop(rd_key);
    assert!(
        peer_closed(&mut rd_peer),
        "the key handed back the real socket"
    );

    drop(sel.unregister(wr_token)?);
    assert!(peer_closed(&mut wr_peer));
    assert!(sel.get_map().is_empty());
    Ok(())
}

/// test_selectors.py: test_modify
#[test]
fn modify_changes_the_events_or_the_data_and_get_key_sees_the_change() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let rd_fd = rd.as_raw_fd();
    // Python's `data` is `None` unless given; `Option` says the same.
    let mut sel: Selector<UnixStream, Option<&str>> = Selector::new()?;

    let key = KeyFields::of(sel.register(rd, EVENT_READ, None)?);
    let key2 = KeyFields::of(sel.modify(rd_fd, EVENT_WRITE, None)?);
    assert_ne!(key.events, key2.events);
    assert_eq!(key2, KeyFields::of(sel.get_key(rd_fd)?));

    // unregister hands `rd` back, so it can be registered again, this time with data.
    let rd = sel.unregister(rd_fd)?.fileobj;
    let key = KeyFields::of(sel.register(rd, EVENT_READ, Some("d1"))?);
    let key2 = KeyFields::of(sel.modify(rd_fd, EVENT_READ, Some("d2"))?);
    assert_eq!(key.events, key2.events);
    assert_ne!(key.data, key2.data);
    assert_eq!(key2, KeyFields::of(sel.get_key(rd_fd)?));
    assert_eq!(key2.data, Some("d2"));

    let unknown = sel.modify(999_999, EVENT_READ, None);
    assert!(
        matches!(
            unknown,
            Err(ModifyError {
                error: Error::NotRegistered(Lookup::Fd(999_999)),
                data: None
            })
        ),
        "{unknown:?}"
    );
    Ok(())
}

/// test_selectors.py: test_modify ("modify use a shortcut")
///
/// Python replaces `register` and `unregister` with mocks and checks that neither is
/// called. Here the kernel is made unable to answer instead. Once the descriptor is closed,
/// every epoll call on it fails, so a data-only modify that succeeds made no system call.
#[test]
fn modify_of_the_data_alone_makes_no_system_call() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;
    sel.register(RawFdObj(fd), EVENT_READ, "d1")?;
    drop(rd);

    let key = sel.modify(fd, EVENT_READ, "d3")?;
    assert_eq!((key.events(), key.data), (EVENT_READ, "d3"));
    assert_eq!(sel.modify_events(fd, EVENT_READ)?.data, "d3");
    // A modify that does call the kernel fails, so the checks above really test something.
    assert!(matches!(
        sel.modify_events(fd, EVENT_WRITE),
        Err(Error::Io(_))
    ));
    Ok(())
}

/// test_selectors.py: test_modify_unregister (bpo-30014)
///
/// **Deliberate departure.** Python mocks the poller's `modify` so that it raises, and checks
/// that the key is then *gone*: Python cannot tell what the kernel still has, so it drops
/// the key. epoll's `EPOLL_CTL_MOD` either succeeds completely or changes nothing. When it
/// refuses, the kernel still has the old registration, and we keep the key with its old
/// events and data to match. Here the refusal really comes from the kernel: the descriptor
/// was closed without telling the selector.
#[test]
fn modify_refused_by_the_kernel_keeps_the_old_key() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;
    sel.register(RawFdObj(fd), EVENT_READ, "old")?;
    assert_eq!(sel.get_map().len(), 1);
    drop(rd);

    let refused = sel.modify(fd, EVENT_WRITE, "new");
    assert!(
        matches!(
            refused,
            Err(ModifyError {
                error: Error::Io(_),
                data: "new"
            })
        ),
        "{refused:?}"
    );
    // Python would assert `len(s._map) == 0` here.
    assert_eq!(sel.get_map().len(), 1);
    let key = sel.get_key(fd)?;
    assert_eq!((key.events(), key.data), (EVENT_READ, "old"));
    // As Python promises for a closed descriptor, it can still be unregistered.
    sel.unregister(fd)?;
    Ok(())
}

/// test_selectors.py: test_close
///
/// Python takes `mapping = s.get_map()` before `close()` and uses it afterwards. A Rust
/// `Mapping` borrows the selector, and `close()` needs `&mut`, so the compiler does not
/// allow a mapping to be held across it. A new `get_map()` after `close()` is empty. Python
/// returns `None` there.
#[test]
fn close_makes_get_key_fail_and_empties_the_map() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let (rd_fd, wr_fd) = (rd.as_raw_fd(), wr.as_raw_fd());
    let mut sel = Selector::new()?;
    sel.register(rd, EVENT_READ, ())?;
    sel.register(wr, EVENT_WRITE, ())?;

    sel.close();
    assert!(matches!(sel.get_key(rd_fd), Err(Error::Closed)));
    assert!(matches!(sel.get_key(wr_fd), Err(Error::Closed)));
    let mapping = sel.get_map();
    assert!(mapping.is_empty());
    assert!(mapping.get(rd_fd).is_none());
    assert!(mapping.get(wr_fd).is_none());

    // Python's cleanup closes the selector a second time, which is harmless, as it is here.
    sel.close();
    // Our behaviour: every method returns `Closed`. (Python's EpollSelector raises
    // ValueError from the closed epoll object here.)
    assert!(matches!(sel.select(0), Err(Error::Closed)));
    Ok(())
}

/// test_selectors.py: test_get_key
#[test]
fn get_key_returns_the_registered_key_and_refuses_unknown_fds() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let rd_fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;

    let key = KeyFields::of(sel.register(rd, EVENT_READ, "data")?);
    assert_eq!(key, KeyFields::of(sel.get_key(rd_fd)?));
    // The token that `select()` reports refers to the same key.
    assert_eq!(key, KeyFields::of(sel.get_key(key.token)?));

    let unknown = sel.get_key(999_999);
    assert!(
        matches!(unknown, Err(Error::NotRegistered(Lookup::Fd(999_999)))),
        "{unknown:?}"
    );
    Ok(())
}

/// test_selectors.py: test_get_map
///
/// Python's mapping is a live view, taken once before `register`. A Rust `Mapping` borrows
/// the selector, so the test takes it again after every change. The compiler rejects code
/// that keeps an old one. Python's `keys[999999]` raises `KeyError`; `Mapping::get` returns
/// `None` instead. `del keys[rd]` (Python: `TypeError`) cannot be written here: `Mapping` has
/// no method that changes anything.
#[test]
fn get_map_is_a_read_only_view_keyed_by_fd() -> TestResult {
    common::init();
    let (rd, _wr) = socketpair();
    let rd_fd = rd.as_raw_fd();
    let mut sel = Selector::new()?;

    let keys = sel.get_map();
    assert!(keys.is_empty());
    assert_eq!(keys.len(), 0);
    assert_eq!(keys.iter().collect::<Vec<_>>(), Vec::<RawFd>::new());
    assert!(keys.get(rd_fd).is_none());

    let key = KeyFields::of(sel.register(rd, EVENT_READ, "data")?);
    let keys = sel.get_map();
    assert!(keys.contains(rd_fd));
    assert_eq!(keys.get(rd_fd).map(KeyFields::of), Some(key.clone()));
    assert_eq!(keys.len(), 1);
    // Iterating the map gives descriptors, as `list(keys)` does in Python.
    assert_eq!(keys.iter().collect::<Vec<_>>(), vec![rd_fd]);
    assert_eq!(
        keys.values().map(KeyFields::of).collect::<Vec<_>>(),
        vec![key]
    );

    assert!(keys.get(999_999).is_none());
    Ok(())
}

/// test_selectors.py: test_select
#[test]
fn select_reports_the_writable_socket_and_not_the_idle_reader() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let mut sel = Selector::new()?;
    sel.register(rd, EVENT_READ, ())?;
    let wr_token = sel.register(wr, EVENT_WRITE, ())?.token();

    // No timeout, as in Python: a socket with nothing queued to send is certainly writable.
    let result = sel.select(None)?;
    for (_, events) in &result {
        assert!(
            events.is_valid(),
            "{events:?} is empty or has bits beyond READ | WRITE"
        );
    }
    assert_eq!(result, vec![(wr_token, EVENT_WRITE)]);
    Ok(())
}

/// test_selectors.py: test_select_read_write (gh-110038)
///
/// A key registered for both read and write must report both from one `select()` call.
#[test]
fn select_reports_read_and_write_of_one_key_in_one_call() -> TestResult {
    common::init();
    let (sock1, mut sock2) = socketpair();
    sock2.write_all(b"foo")?;
    let mut sel = Selector::new()?;
    let my_token = sel.register(sock1, EVENT_READ | EVENT_WRITE, ())?.token();

    let (mut seen_read, mut seen_write) = (false, false);
    // No timeout, as in Python: "foo" is waiting to be read, and the socket is writable.
    let result = sel.select(None)?;
    // Python accepts the read and the write in one entry or in two entries for the same
    // key. Either way, each must appear exactly once.
    assert!(result.len() <= 2, "{result:?}");
    for (token, events) in result {
        assert_eq!(token, my_token);
        assert!(events.is_valid(), "{events:?}");
        if events.contains(EVENT_READ) {
            assert!(!seen_read, "READ reported twice");
            seen_read = true;
        }
        if events.contains(EVENT_WRITE) {
            assert!(!seen_write, "WRITE reported twice");
            seen_write = true;
        }
    }
    assert!(
        seen_read && seen_write,
        "read: {seen_read}, write: {seen_write}"
    );
    Ok(())
}

/// test_selectors.py: test_context_manager
///
/// Python's `with s as sel:` closes the selector when the block ends. In Rust, the end of a
/// scope does this. Dropping the selector closes it, and closes the sockets registered in
/// it, because it owns them. Their peers then read end of file. After the block, Python
/// checks that `get_key` raises `RuntimeError`. A dropped selector cannot be called at all,
/// so the second half calls `close()` explicitly, for the case where Python's `s` outlives
/// the `with` block.
#[test]
fn leaving_the_scope_closes_the_selector_and_the_sockets_it_owns() -> TestResult {
    common::init();
    let (rd, mut rd_peer) = socketpair();
    let (wr, mut wr_peer) = socketpair();
    {
        let mut sel = Selector::new()?;
        sel.register(rd, EVENT_READ, ())?;
        sel.register(wr, EVENT_WRITE, ())?;
        assert!(!peer_closed(&mut rd_peer) && !peer_closed(&mut wr_peer));
    }
    assert!(peer_closed(&mut rd_peer), "dropping the selector closes rd");
    assert!(peer_closed(&mut wr_peer), "dropping the selector closes wr");

    let (rd, wr) = socketpair();
    let (rd_fd, wr_fd) = (rd.as_raw_fd(), wr.as_raw_fd());
    let mut sel = Selector::new()?;
    sel.register(rd, EVENT_READ, ())?;
    sel.register(wr, EVENT_WRITE, ())?;
    sel.close();
    assert!(matches!(sel.get_key(rd_fd), Err(Error::Closed)));
    assert!(matches!(sel.get_key(wr_fd), Err(Error::Closed)));
    Ok(())
}

/// test_selectors.py: test_fileno
#[test]
fn fileno_is_the_epoll_descriptor_until_close() -> TestResult {
    common::init();
    let mut sel: Selector<UnixStream> = Selector::new()?;
    let fd = sel.fileno();
    assert!(fd >= 0, "{fd}");
    assert_eq!(fd, sel.as_raw_fd());
    // Python only asks for an int >= 0. Linux can also tell us what the descriptor is.
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
    assert_eq!(target, PathBuf::from("anon_inode:[eventpoll]"));

    sel.close();
    assert_eq!(sel.fileno(), -1);
    assert_eq!(sel.as_raw_fd(), -1);
    Ok(())
}

/// test_selectors.py: test_selector
#[test]
fn each_message_is_reported_on_its_own_reader_only() -> TestResult {
    const NUM_SOCKETS: usize = 12;
    const MSG: &[u8] = b" This is a test.";
    common::init();
    // Each key's data is its pair's number, so it serves as both of Python's dicts, r2w and w2r.
    let mut sel = Selector::new()?;
    let mut readers = Vec::new();
    for pair in 0..NUM_SOCKETS {
        let (rd, wr) = socketpair();
        readers.push(sel.register(rd, EVENT_READ, pair)?.token());
        sel.register(wr, EVENT_WRITE, pair)?;
    }

    let mut bufs = Vec::new();
    // Each round unregisters one pair.
    while !sel.get_map().is_empty() {
        // No timeout, as in Python: every writer still registered is idle, so writable.
        let ready = sel.select(None)?;
        let ready_writers = find_ready_matching(&ready, EVENT_WRITE);
        assert!(!ready_writers.is_empty(), "no sockets ready for writing");
        let wr = random_choice(&ready_writers);
        sel.get_key_mut(wr)?.fileobj().write_all(MSG)?;

        // Python: "there might be a delay between the write to the write end and the read
        // end is reported ready". It tries up to 10 times, sleeping 0.1 s between tries.
        // select() itself returns at once, because the writers are ready.
        let mut ready_readers = Vec::new();
        for _ in 0..10 {
            ready_readers = find_ready_matching(&sel.select(None)?, EVENT_READ);
            if !ready_readers.is_empty() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        assert!(!ready_readers.is_empty(), "no sockets ready for reading");
        let pair = sel.get_key(wr)?.data;
        assert_eq!(ready_readers, vec![readers[pair]]);

        let rd = ready_readers[0];
        let buf = read_available(&mut sel.get_key(rd)?.fileobj(), MSG.len());
        assert_eq!(buf.len(), MSG.len());
        bufs.push(buf);
        sel.unregister(wr)?;
        sel.unregister(rd)?;
    }
    assert_eq!(bufs, vec![MSG.to_vec(); NUM_SOCKETS]);
    Ok(())
}

/// test_selectors.py: test_empty_select (bpo-23009)
///
/// epoll refuses to wait with room for zero events (EINVAL), so even with nothing
/// registered the selector must ask it for at least one.
#[test]
fn select_with_nothing_registered_and_no_wait_returns_nothing() -> TestResult {
    common::init();
    let mut sel: Selector<UnixStream> = Selector::new()?;
    assert_eq!(sel.select(0)?, vec![]);
    Ok(())
}

/// test_selectors.py: test_timeout
#[test]
fn zero_or_negative_timeouts_do_not_wait_and_one_second_does() -> TestResult {
    common::init();
    let (rd, wr) = socketpair();
    let wr_fd = wr.as_raw_fd();
    let mut sel = Selector::new()?;

    sel.register(wr, EVENT_WRITE, ())?;
    let t = Instant::now();
    assert_eq!(sel.select(0)?.len(), 1);
    assert_eq!(sel.select(-1)?.len(), 1);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    // Keep wr open: if it were closed, rd would read end of file and be ready.
    let _wr = sel.unregister(wr_fd)?.fileobj;
    sel.register(rd, EVENT_READ, ())?;
    let t = Instant::now();
    assert!(sel.select(0)?.is_empty());
    assert!(sel.select(-1)?.is_empty());
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    let t0 = Instant::now();
    assert!(sel.select(1)?.is_empty());
    let dt = t0.elapsed().as_secs_f64();
    // Python: "Tolerate 2.0 seconds for very slow buildbots".
    assert!((0.8..=2.0).contains(&dt), "{dt}");
    Ok(())
}

/// test_selectors.py: ScalableSelectorMixIn.test_above_fd_setsize
///
/// "A scalable implementation should have no problem with more than FD_SETSIZE file
/// descriptors." Python raises the soft fd limit to the hard one and registers as many
/// descriptors as it allows. We do the same, up to 4000 socket pairs (8000 descriptors,
/// far beyond FD_SETSIZE's 1024), so that the test stays quick. Python skips the test when
/// it runs out of descriptors (EMFILE, or ENOSPC from epoll's `max_user_watches`). Here
/// that is a failure, since the test stays well below the limit.
#[test]
fn one_select_reports_every_ready_writer_far_beyond_fd_setsize() -> TestResult {
    const MAX_PAIRS: usize = 4000;
    common::init();
    let limit = mio_selectors::raise_fd_limit()?;
    // Python keeps 32 descriptors free for those already open (stdin, stdout, ...). Other
    // tests run in parallel here, so keep 64 free.
    let num_fds = usize::try_from(limit.min(1 << 16))? - 64;
    let pairs = (num_fds / 2).min(MAX_PAIRS);

    let mut sel = Selector::new()?;
    let mut writers = std::collections::HashSet::new();
    for _ in 0..pairs {
        let (rd, wr) = socketpair();
        sel.register(rd, EVENT_READ, ())?;
        writers.insert(sel.register(wr, EVENT_WRITE, ())?.token());
    }

    // No timeout, as in Python: every writer is idle, so writable.
    let ready = sel.select(None)?;
    assert_eq!(ready.len(), pairs);
    for (token, events) in ready {
        assert_eq!(events, EVENT_WRITE);
        assert!(
            writers.remove(&token),
            "{token:?} is not a writer, or was reported twice"
        );
    }
    Ok(())
}

/// test_selectors.py: EpollSelectorTestCase.test_register_file
///
/// Python: "epoll(7) returns EPERM when given a file to watch". A regular file is always
/// ready, so epoll refuses to watch it. The key must be removed again, and the
/// `RegisterError` returns the file to the caller.
#[test]
fn registering_a_regular_file_fails_with_eperm_and_leaves_no_key() -> TestResult {
    common::init();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let name = format!("mio-selectors-register-file-{}-{nanos}", std::process::id());
    let path = std::env::temp_dir().join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _remove = RemoveOnDrop(path);
    let fd = file.as_raw_fd();
    let mut sel = Selector::new()?;

    let mut failed = sel.register(file, EVENT_READ, ()).unwrap_err();
    let eperm = matches!(&failed.error, Error::Io(err) if err.raw_os_error() == Some(libc::EPERM));
    assert!(eperm, "{:?}", failed.error);
    // The file comes back open and usable.
    failed.fileobj.write_all(b"still open")?;
    assert!(matches!(sel.get_key(fd), Err(Error::NotRegistered(_))));
    assert!(sel.get_map().is_empty());
    Ok(())
}

/// test_selectors.py: KqueueSelectorTestCase.test_register_bad_fd
///
/// Python runs this only for kqueue, but epoll rejects a closed descriptor the same way,
/// with EBADF. Python's `make_bad_fd()` opens a file and closes it again. We close a copy
/// made at a high number instead (see [`high_fd_number`]), so that no other test's new
/// socket gets the number before we register it.
#[test]
fn registering_a_closed_fd_fails_with_ebadf_and_leaves_no_key() -> TestResult {
    common::init();
    let (sock, _peer) = socketpair();
    let copy = sys::dup_at_or_above(&sock, high_fd_number()?)?;
    let bad_fd = copy.as_raw_fd();
    drop(copy);
    let mut sel = Selector::new()?;

    let failed = sel.register(RawFdObj(bad_fd), EVENT_READ, ()).unwrap_err();
    let ebadf = matches!(&failed.error, Error::Io(err) if err.raw_os_error() == Some(libc::EBADF));
    assert!(ebadf, "{:?}", failed.error);
    assert!(matches!(sel.get_key(bad_fd), Err(Error::NotRegistered(_))));
    assert!(sel.get_map().is_empty());
    Ok(())
}

/// test_selectors.py: KqueueSelectorTestCase.test_empty_select_timeout (bpo-23009, bpo-29255)
///
/// kqueue returned at once when asked for zero events, and epoll rejects zero with EINVAL.
/// The fix is the same for both: always ask for room for at least one event. The timeout
/// must then apply even when nothing is registered.
#[test]
fn select_with_nothing_registered_still_waits_for_its_timeout() -> TestResult {
    common::init();
    let mut sel: Selector<UnixStream> = Selector::new()?;
    let t0 = Instant::now();
    assert_eq!(sel.select(1)?, vec![]);
    let dt = t0.elapsed().as_secs_f64();
    // Python: "Tolerate 2.0 seconds for very slow buildbots".
    assert!((0.8..=2.0).contains(&dt), "{dt}");
    Ok(())
}
