//! Any file descriptor can be registered, as in Python: mio's and std's sockets, pipes, and
//! a bare descriptor.
//!
//! Python takes any object with a `fileno()`; here, anything that implements `AsRawFd`. One
//! selector holds one file object type, so to mix types this test boxes them behind a
//! newtype, [`AnyFd`]. (The price: through a `dyn AsRawFd` you can only name the descriptor,
//! not read from it; docs/python-mapping.md shows the other way, an enum of the types you
//! need.)

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use mio_selectors::{Events, Selector, Token, EVENT_READ, EVENT_WRITE};

/// Any file object at all. std implements `AsRawFd` for `Box<T>` only when `T` is a sized
/// type, so a boxed trait object needs this one-line wrapper.
struct AnyFd(Box<dyn AsRawFd>);

impl AsRawFd for AnyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

type Sel = Selector<AnyFd, &'static str>;

#[track_caller]
fn add(sel: &mut Sel, fileobj: Box<dyn AsRawFd>, events: Events, name: &'static str) -> Token {
    match sel.register(AnyFd(fileobj), events, name) {
        Ok(key) => key.token(),
        Err(err) => panic!("registering {name} failed: {err}"),
    }
}

/// Every reader below is made ready in its own way; each must be reported, and nothing else.
#[test]
fn every_kind_of_descriptor_registers_and_is_reported() -> Result<(), Box<dyn std::error::Error>> {
    common::init();
    let mut sel = Sel::new()?;

    // mio's own types, created non-blocking.
    let mio_listener = mio::net::TcpListener::bind("127.0.0.1:0".parse()?)?;
    let mio_listener_addr = mio_listener.local_addr()?;
    let mio_udp = mio::net::UdpSocket::bind("127.0.0.1:0".parse()?)?;
    let mio_udp_addr = mio_udp.local_addr()?;
    let (mio_unix, mio_unix_peer) = mio::net::UnixStream::pair()?;
    let (mio_pipe_tx, _mio_pipe_rx) = mio::unix::pipe::new()?;

    // std's types, made non-blocking by hand (Python: setblocking(False)).
    let std_listener = TcpListener::bind("127.0.0.1:0")?;
    let std_client = TcpStream::connect(std_listener.local_addr()?)?;
    let (std_server_side, _) = std_listener.accept()?;
    std_client.set_nonblocking(true)?;
    let (std_dgram, std_dgram_peer) = UnixDatagram::pair()?;
    std_dgram.set_nonblocking(true)?;

    // A bare descriptor, as Python registers an `int` (or `sys.stdin`): a copy of a pipe's
    // read end, owned by nothing but the key.
    let (pipe_writer, pipe_reader) = mio::unix::pipe::new()?;
    let bare: OwnedFd = pipe_reader.as_fd().try_clone_to_owned()?;

    let readers = [
        add(
            &mut sel,
            Box::new(mio_listener),
            EVENT_READ,
            "mio TcpListener",
        ),
        add(&mut sel, Box::new(mio_udp), EVENT_READ, "mio UdpSocket"),
        add(&mut sel, Box::new(mio_unix), EVENT_READ, "mio UnixStream"),
        add(&mut sel, Box::new(std_client), EVENT_READ, "std TcpStream"),
        add(
            &mut sel,
            Box::new(std_dgram),
            EVENT_READ,
            "std UnixDatagram",
        ),
        add(&mut sel, Box::new(bare), EVENT_READ, "bare pipe descriptor"),
    ];
    let writer = add(
        &mut sel,
        Box::new(mio_pipe_tx),
        EVENT_WRITE,
        "mio pipe Sender",
    );
    assert_eq!(sel.get_map().len(), 7);

    // Before anyone sends, only the pipe's writing end is ready.
    assert_eq!(sel.select(0)?, vec![(writer, EVENT_WRITE)]);

    let _connection = TcpStream::connect(mio_listener_addr)?;
    UdpSocket::bind("127.0.0.1:0")?.send_to(b"datagram", mio_udp_addr)?;
    (&mio_unix_peer).write_all(b"stream")?;
    (&std_server_side).write_all(b"tcp")?;
    std_dgram_peer.send(b"unix datagram")?;
    (&pipe_writer).write_all(b"pipe")?;

    // Nothing is read, so every reader stays ready (level-triggered): they must all show up.
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < readers.len() && Instant::now() < deadline {
        for (token, mask) in sel.select(0.5)? {
            if token != writer {
                assert_eq!(mask, EVENT_READ, "{}", sel.get_key(token)?.data);
                seen.insert(token);
            }
        }
    }
    for token in readers {
        assert!(
            seen.contains(&token),
            "{} was never reported",
            sel.get_key(token)?.data
        );
    }
    Ok(())
}
