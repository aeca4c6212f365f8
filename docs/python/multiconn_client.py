#!/usr/bin/env python3
"""Many echo connections from one thread, with `selectors`.

The client half of the RealPython "multiconn" example, made strict. It opens
--conns connections at once without blocking, sends --messages messages of
--size bytes on each, reads the echo while it is still sending, checks every
echoed byte, and closes each connection once all its bytes are back. It then
prints one summary line:

    conns=C messages=M size=S bytes_sent=X bytes_verified=Y errors=E elapsed=T

(T in seconds) and exits with status 1 if any byte differed, any connection
failed, or nothing happened for --timeout seconds.

What it shows:

  * non-blocking connect: connect_ex() returns EINPROGRESS at once; the socket
    becomes writable when the handshake is over, and SO_ERROR then says
    whether it succeeded (if not, the next address of the host is tried);
  * sending and receiving at the same time on each connection: a client that
    sent everything before reading could deadlock with the server, both
    blocked on full buffers;
  * patterned data, so a lost, repeated, reordered or misrouted byte shows up.

Any echo server works, not only ours: each connection just waits until all
the bytes it sent have come back. With --half-close it also shuts down its
write side after sending, and expects the server to echo the rest and close.

Rust version: examples/multiconn_client.rs

Run it (with one of the echo servers running):

    python3 multiconn_client.py --conns 50 --messages 20 --size 4096
    python3 multiconn_client.py --conns 1 --messages 1 --size 16777216
    python3 multiconn_client.py --host ::1 --port 9000 --half-close
    LOGLEVEL=DEBUG python3 multiconn_client.py --conns 2 --messages 2 --size 10
"""

import argparse
import errno
import logging
import os
import selectors
import socket
import sys
import time
import types

from course import add_address_args, format_addr, positive_int, setup_logging

RECV_SIZE = 64 * 1024
# The pattern repeats every 251 bytes. 251 is prime, so it never lines up
# with power-of-two buffer sizes: a chunk dropped or repeated at a 4 KiB or
# 64 KiB boundary shifts the pattern and fails the check.
PATTERN_PERIOD = 251
PATTERN = bytes(range(PATTERN_PERIOD))

log = logging.getLogger("multiconn_client")


def make_message(connid, index, messages, size):
    """Message `index` of connection `connid`: the pattern from its own phase.

    Numbering every message of every connection gives each a different
    starting byte, so data delivered to the wrong connection, or in the wrong
    order, doesn't match.
    """
    phase = (connid * messages + index) % PATTERN_PERIOD
    repeats = size // PATTERN_PERIOD + 2
    return (PATTERN * repeats)[phase:phase + size]


def start_connections(sel, addresses, args):
    """Begin a non-blocking connect for each connection; return their data."""
    conns = []
    for connid in range(args.conns):
        data = types.SimpleNamespace(
            connid=connid,
            addresses=list(addresses),  # still to try, in getaddrinfo() order
            sockaddr=None,  # the address being connected to
            connect_error=None,  # why the last address failed
            connected=False,
            messages=args.messages,  # how many to send, each of size bytes
            size=args.size,
            messages_queued=0,
            msg_total=args.messages * args.size,  # bytes we expect back
            outb=bytearray(),  # queued, not yet sent
            unverified=bytearray(),  # queued or sent, not yet echoed back
            bytes_sent=0,
            recv_total=0,  # echoed bytes verified so far
            half_close=args.half_close,
            write_closed=False,  # we have shut down our write side
            error=None,  # why this connection failed, if it did
            done=False,  # every byte came back
        )
        conns.append(data)
        if not connect_next(sel, data):
            fail(sel, None, data, data.connect_error)
    return conns


def connect_next(sel, data):
    """Start connecting to the next address; False if none is left."""
    while data.addresses:
        family, type_, proto, _name, sockaddr = data.addresses.pop(0)
        try:
            sock = socket.socket(family, type_, proto)
        except OSError as exc:  # e.g. out of file descriptors
            data.connect_error = f"socket: {exc}"
            continue
        sock.setblocking(False)
        # A non-blocking socket can't wait for the handshake, so connect()
        # fails with EINPROGRESS; connect_ex() returns that errno instead of
        # raising it.
        err = sock.connect_ex(sockaddr)
        if err in (0, errno.EINPROGRESS):
            log.debug("conn %d: connecting to %s", data.connid, format_addr(sockaddr))
            # Writable means the handshake is over, successfully or not.
            data.sockaddr = sockaddr
            sel.register(sock, selectors.EVENT_WRITE, data=data)
            return True
        sock.close()
        data.connect_error = f"connect to {format_addr(sockaddr)}: {os.strerror(err)}"
    return False


def run(sel, timeout):
    """The event loop: runs until every connection has finished or failed."""
    while sel.get_map():  # some socket is still registered
        events = sel.select(timeout)
        if not events:
            for key in list(sel.get_map().values()):
                fail(sel, key.fileobj, key.data, f"no progress for {timeout} s")
            return
        for key, mask in events:
            service_connection(sel, key, mask)


def service_connection(sel, key, mask):
    """Handle one ready connection."""
    sock, data = key.fileobj, key.data
    if not data.connected:
        finish_connect(sel, sock, data)
        return
    try:
        if mask & selectors.EVENT_READ:
            read_some(sel, sock, data)
            if data.done or data.error:  # read_some closed the connection
                return
        if mask & selectors.EVENT_WRITE:
            write_some(sock, data)
    except OSError as exc:  # reset, broken pipe...: this connection failed
        fail(sel, sock, data, str(exc))
        return
    update_interest(sel, key)


def finish_connect(sel, sock, data):
    """The socket became writable: did the handshake succeed?"""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        data.connect_error = f"connect to {format_addr(data.sockaddr)}: {os.strerror(err)}"
        log.debug("conn %d: %s", data.connid, data.connect_error)
        sel.unregister(sock)
        sock.close()
        if not connect_next(sel, data):  # try the host's next address, if any
            fail(sel, None, data, data.connect_error)
        return
    data.connected = True
    log.debug("conn %d: connected", data.connid)
    # From now on we send and receive at the same time.
    sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, data=data)


def write_some(sock, data):
    """Queue the next message once the last one is sent, then one send()."""
    if not data.outb and data.messages_queued < data.messages:
        message = make_message(data.connid, data.messages_queued, data.messages, data.size)
        data.outb += message
        data.unverified += message
        data.messages_queued += 1
    if data.outb:
        try:
            sent = sock.send(data.outb)  # may take only part of it
        except BlockingIOError:  # readiness is a hint, not a promise
            return
        del data.outb[:sent]  # cheap on a bytearray
        data.bytes_sent += sent
    if data.half_close and not wants_to_send(data) and not data.write_closed:
        # Everything is sent: tell the server that no more is coming. It
        # must still echo what it has, then close (read_some sees b"").
        sock.shutdown(socket.SHUT_WR)
        data.write_closed = True
        log.debug("conn %d: write side shut down", data.connid)


def read_some(sel, sock, data):
    """One recv(), checked against the bytes sent and not seen back yet."""
    try:
        chunk = sock.recv(RECV_SIZE)
    except BlockingIOError:
        return
    if not chunk:  # the server closed its side
        if data.half_close and data.recv_total == data.msg_total:
            finish(sel, sock, data)  # as expected: everything echoed, then EOF
        else:
            fail(sel, sock, data, f"server closed after echoing "
                                  f"{data.recv_total} of {data.msg_total} bytes")
        return
    expected = data.unverified[:len(chunk)]
    if chunk != expected:
        fail(sel, sock, data, describe_mismatch(expected, chunk, data.recv_total))
        return
    del data.unverified[:len(chunk)]
    data.recv_total += len(chunk)
    # With --half-close, wait for the server's end of file instead.
    if data.recv_total == data.msg_total and not data.half_close:
        finish(sel, sock, data)


def wants_to_send(data):
    return bool(data.outb) or data.messages_queued < data.messages


def update_interest(sel, key):
    """Watch only for the events this connection can use right now."""
    sock, data = key.fileobj, key.data
    events = selectors.EVENT_READ  # until we're done, an echo is always due
    # EVENT_WRITE only while there is something to send: a connected socket
    # is nearly always writable, so asking for it otherwise would make
    # select() return at once, forever (a busy loop).
    if wants_to_send(data):
        events |= selectors.EVENT_WRITE
    if events != key.events:
        sel.modify(sock, events, data=data)


def describe_mismatch(expected, got, offset):
    """Where the echo first differs from what was sent."""
    if len(got) > len(expected):
        return f"server echoed {len(got) - len(expected)} bytes more than we sent"
    for i, (want, byte) in enumerate(zip(expected, got)):
        if want != byte:
            return f"byte {offset + i}: sent {want:#04x}, got back {byte:#04x}"
    return "echo differs"  # not reached: chunk != expected implies a difference


def finish(sel, sock, data):
    log.debug("conn %d: all %d bytes echoed, closing", data.connid, data.recv_total)
    data.done = True
    sel.unregister(sock)
    sock.close()


def fail(sel, sock, data, reason):
    """Record why a connection failed and close it (sock None: not registered)."""
    log.error("conn %d: %s", data.connid, reason)
    data.error = reason
    if sock is not None:
        sel.unregister(sock)
        sock.close()


def close_all(sel):
    """Close every registered socket, then the selector itself."""
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
    sel.close()


def summary(args, conns, elapsed):
    """The one-line result; the Rust client prints the same fields."""
    bytes_sent = sum(data.bytes_sent for data in conns)
    bytes_verified = sum(data.recv_total for data in conns)
    errors = sum(1 for data in conns if data.error is not None)
    line = (f"conns={args.conns} messages={args.messages} size={args.size} "
            f"bytes_sent={bytes_sent} bytes_verified={bytes_verified} "
            f"errors={errors} elapsed={elapsed:.3f}")
    ok = errors == 0 and bytes_verified == args.conns * args.messages * args.size
    return line, ok


def parse_args():
    parser = argparse.ArgumentParser(
        description="Echo client: many non-blocking connections in one thread, "
                    "every echoed byte verified.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING). "
               "Exit status: 0 if every byte came back, 1 otherwise.",
    )
    add_address_args(parser, server=False)
    parser.add_argument("--conns", type=positive_int, default=10,
                        help="connections to open at once (default: %(default)s)")
    parser.add_argument("--messages", type=positive_int, default=10,
                        help="messages per connection (default: %(default)s)")
    parser.add_argument("--size", type=positive_int, default=1024,
                        help="bytes per message (default: %(default)s)")
    parser.add_argument("--half-close", action="store_true",
                        help="shut down the write side after sending, then "
                             "expect the whole echo and the server's close")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="give up after this many seconds without any event "
                             "(default: %(default)s)")
    return parser.parse_args()


def main():
    args = parse_args()
    setup_logging()
    try:
        addresses = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        log.error("cannot resolve %s: %s", args.host, exc)
        return 1
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    try:
        conns = start_connections(sel, addresses, args)
        run(sel, args.timeout)
    except KeyboardInterrupt:
        # Not every byte was verified, so this is not a success: say so with status 1.
        log.warning("interrupted before every echo was checked")
        return 1
    finally:
        close_all(sel)
    line, ok = summary(args, conns, time.monotonic() - start)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
