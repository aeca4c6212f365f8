#!/usr/bin/env python3
"""Echo server: one thread, one loop, every socket watched with `selectors`.

The third step of the course, in the shape of the RealPython "multiconn"
server: the listening socket is registered with data=None, each connection
with a SimpleNamespace(addr, inb, outb), and the loop dispatches on key.data.
Unlike the tutorial, it gets the hard parts right; each is explained where it
happens:

  * EVENT_WRITE only while output is pending (the tutorial's busy loop);
  * partial sends: send() may take only part of the buffer;
  * at most one recv() of 64 KiB per connection per event (fairness);
  * half-close: a client that shuts down its write side still receives every
    byte before the server closes;
  * a reset or broken pipe closes only that connection;
  * backpressure: stop reading a client whose echo it isn't reading;
  * out of file descriptors on accept: pause accepting, don't spin.

`selectors` is level-triggered: select() reports a socket every time it is
called while the condition holds (bytes unread, room to write), not only when
it changes. The Rust crate keeps that behaviour on top of mio.

Rust version: examples/echo_server.rs

Run it:

    python3 echo_server.py                       # 127.0.0.1:65432
    python3 echo_server.py --host ::1 --port 9000
    LOGLEVEL=INFO python3 echo_server.py         # log "listening on ...", connections
    LOGLEVEL=DEBUG python3 echo_server.py        # also backpressure pauses

Talk to it from another terminal:

    python3 echo_client.py --message hello --count 3
    python3 multiconn_client.py --conns 50 --messages 20 --size 4096

Stop it with Ctrl-C.
"""

import argparse
import errno
import logging
import selectors
import socket
import sys
import time
import types

from course import add_address_args, format_addr, open_listener, setup_logging

RECV_SIZE = 64 * 1024  # at most one recv() of this size per connection per event
HIGH_WATER = 1024 * 1024  # stop reading a connection with more output pending...
LOW_WATER = 256 * 1024  # ...and resume once it has drained to this
ACCEPT_PAUSE = 0.1  # seconds without accepting after running out of descriptors
# accept() fails with these when the process or the system is out of file
# descriptors (or memory).
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

log = logging.getLogger("echo_server")


def serve_forever(sel, listener):
    """The event loop: wait for ready sockets, handle each, repeat."""
    accept_paused_until = None  # a time.monotonic() deadline while paused
    while True:
        # Block until something is ready; while accepting is paused, wake up
        # in time to resume it even if no connection has any traffic.
        timeout = None
        if accept_paused_until is not None:
            timeout = max(0.0, accept_paused_until - time.monotonic())
        for key, mask in sel.select(timeout):
            if key.data is None:  # only the listener is registered with data=None
                if not accept_wrapper(sel, key.fileobj):
                    sel.unregister(listener)
                    accept_paused_until = time.monotonic() + ACCEPT_PAUSE
            else:
                service_connection(sel, key, mask)
        if accept_paused_until is not None and time.monotonic() >= accept_paused_until:
            sel.register(listener, selectors.EVENT_READ, data=None)
            accept_paused_until = None


def accept_wrapper(sel, listener):
    """Accept one connection and register it; False if out of descriptors.

    One accept per event: if more clients are queued, the listener is still
    readable and select() reports it again next round (level-triggered),
    after the other sockets have had their turn.
    """
    try:
        conn, addr = listener.accept()
    except (BlockingIOError, ConnectionAbortedError):
        # Readiness is a hint: the client may have given up (reset) between
        # select() and accept(). Nothing to do.
        return True
    except OSError as exc:
        if exc.errno not in OUT_OF_RESOURCES:
            raise
        # The connection stays queued, so the listener stays readable: if we
        # kept it registered, every select() would return at once and fail
        # again, spinning at 100% CPU. And we must not sleep either: that would
        # stall every client, including the ones whose closing would free
        # descriptors. So: stop watching the listener for a while, keep
        # serving the others.
        log.warning("accept: %s; pausing accepts for %.1f s", exc, ACCEPT_PAUSE)
        return False
    log.info("accepted connection from %s", format_addr(addr))
    conn.setblocking(False)  # the accepted socket starts blocking
    data = types.SimpleNamespace(
        addr=addr,
        inb=b"",  # unused by an echo server; a protocol would collect requests here
        outb=bytearray(),  # received bytes not yet echoed back
        reading=True,  # False while backpressure pauses reading (outb too full)
        eof=False,  # the client has shut down its write side
    )
    # EVENT_READ only. The tutorial registers EVENT_READ | EVENT_WRITE here,
    # but a connected socket is almost always writable, so select() would
    # report it every single time, even with nothing to send: the loop never
    # sleeps and burns a CPU core. We ask for EVENT_WRITE only while outb has
    # bytes (see update_interest).
    sel.register(conn, selectors.EVENT_READ, data=data)
    return True


def service_connection(sel, key, mask):
    """Handle one ready connection: read, write, then adjust what we wait for."""
    sock, data = key.fileobj, key.data
    try:
        if mask & selectors.EVENT_READ:
            read_some(sock, data)
        if mask & selectors.EVENT_WRITE:
            write_some(sock, data)
    except (ConnectionError, TimeoutError) as exc:
        # ConnectionResetError, BrokenPipeError... (or TimeoutError: the
        # network gave up on the peer): this client is gone. Close only this
        # connection; the loop goes on serving the others.
        # (Python ignores SIGPIPE, so a write to a closed peer raises
        # BrokenPipeError instead of killing the process.)
        log.info("%s: %s", format_addr(data.addr), exc)
        close_connection(sel, sock, data)
        return
    update_interest(sel, key)


def read_some(sock, data):
    """One recv(): a client sending nonstop can't starve the others."""
    try:
        chunk = sock.recv(RECV_SIZE)
    except BlockingIOError:  # readiness is a hint, not a promise
        return
    if chunk:
        data.outb += chunk
    else:
        # b"" means EOF: the client closed, or only shut down its write side
        # (half-close) and is still reading. Either way it may still be owed
        # bytes, so don't close yet: update_interest closes once outb is empty.
        log.info("%s: end of input, %d bytes left to echo",
                 format_addr(data.addr), len(data.outb))
        data.eof = True


def write_some(sock, data):
    """One send(): it may write only part of outb; keep the rest for later."""
    if not data.outb:
        return
    try:
        sent = sock.send(data.outb)
    except BlockingIOError:
        return
    # A bytearray drops bytes from its front cheaply; `outb = outb[sent:]` on
    # bytes would copy the whole remainder on every send.
    del data.outb[:sent]


def update_interest(sel, key):
    """Watch for exactly the events this connection can use right now."""
    sock, data = key.fileobj, key.data
    if data.eof and not data.outb:  # everything echoed, client sends no more
        close_connection(sel, sock, data)
        return

    # Backpressure. A client that sends but doesn't read its echo would make
    # outb grow without limit. Above HIGH_WATER we stop reading it: its data
    # waits in the kernel, the kernel's window fills, and the client's own
    # send() blocks. Resuming only below LOW_WATER (not just under HIGH_WATER)
    # avoids flipping on and off at every send.
    if data.reading and len(data.outb) > HIGH_WATER:
        log.debug("%s: %d bytes pending, pausing reads",
                  format_addr(data.addr), len(data.outb))
        data.reading = False
    elif not data.reading and len(data.outb) <= LOW_WATER:
        log.debug("%s: %d bytes pending, resuming reads",
                  format_addr(data.addr), len(data.outb))
        data.reading = True

    events = 0
    # After EOF the socket stays readable forever (every recv() returns b""),
    # so keeping EVENT_READ would spin too.
    if data.reading and not data.eof:
        events |= selectors.EVENT_READ
    if data.outb:  # EVENT_WRITE only while there is something to write
        events |= selectors.EVENT_WRITE
    # events is never 0 here: not reading implies more than LOW_WATER bytes in outb.
    if events != key.events:
        sel.modify(sock, events, data=data)


def close_connection(sel, sock, data):
    """Unregister first, then close: the selector must not keep a closed socket."""
    log.info("closing connection to %s", format_addr(data.addr))
    sel.unregister(sock)
    sock.close()


def close_all(sel):
    """Close every registered socket, then the selector itself."""
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
    sel.close()


def parse_args():
    parser = argparse.ArgumentParser(
        description="Echo server: one thread, every socket watched with selectors.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING).",
    )
    add_address_args(parser, server=True)
    return parser.parse_args()


def main():
    args = parse_args()
    setup_logging()
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except socket.gaierror as exc:  # unknown host name
        log.error("cannot resolve %s: %s", args.host, exc)
        return 1
    except OSError as exc:  # address in use, not ours...
        log.error("%s", exc)
        return 1
    # Non-blocking: if the client we were told about is gone by the time we
    # call accept(), we get BlockingIOError instead of hanging the whole loop.
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, data=None)
    log.info("listening on %s", format_addr(listener.getsockname()))
    try:
        serve_forever(sel, listener)
    except KeyboardInterrupt:
        log.info("interrupted, shutting down")
    finally:
        close_all(sel)
        listener.close()  # it may be unregistered (accept paused) and so not closed yet
    return 0


if __name__ == "__main__":
    sys.exit(main())
