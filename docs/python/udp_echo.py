#!/usr/bin/env python3
"""UDP echo server: every datagram goes back to its sender, on one `selectors` loop.

UDP has no connections: one socket receives datagrams from anyone, and
recvfrom() says who sent each one. So there is no accept, no per-client
state and no end of file; the loop is a single registered socket. What the
course's UDP lesson points out, each handled where it happens:

  * a datagram is received whole, or not at all: one recvfrom() with a
    buffer of 64 KiB takes the largest one (65,507 bytes of payload over
    IPv4, 65,527 over IPv6); an empty datagram is a datagram too;
  * UDP is unreliable: when the socket's send buffer is full, sendto() fails
    with BlockingIOError, and the reply is dropped (and counted) rather than
    queued: a server that queued for every sender would hold unbounded
    memory, and the client has to cope with loss anyway;
  * an error from the network (an ICMP "port unreachable" from a sender that
    went away turns into ConnectionRefusedError on a later call) concerns one
    peer, not the server: log it and go on;
  * at most one datagram per event, like the TCP servers' one recv():
    select() reports the socket again while more are queued.

Rust version: examples/udp_echo.rs (src/udp_echo/).

Run it:

    python3 udp_echo.py                          # 127.0.0.1:65434
    python3 udp_echo.py --host ::1 --port 9000
    LOGLEVEL=DEBUG python3 udp_echo.py           # every datagram

Talk to it:

    nc -u 127.0.0.1 65434                        # each line you type comes back
    cargo run --example udp_client -- --count 100 --size 1472

Stop it with Ctrl-C (or SIGTERM).
"""

import argparse
import logging
import selectors
import signal
import socket
import sys

from course import DEFAULT_HOST, format_addr, open_udp, port_range, setup_logging

DEFAULT_PORT = 65434
RECV_SIZE = 64 * 1024  # more than the largest UDP payload (65,527 bytes over IPv6)

log = logging.getLogger("udp_echo")


def serve_forever(sel, stats):
    while True:
        for key, _mask in sel.select():
            echo_one(key.fileobj, stats)


def echo_one(sock, stats):
    """Receive one datagram and send it back."""
    try:
        data, addr = sock.recvfrom(RECV_SIZE)
    except BlockingIOError:  # readiness is a hint
        return
    except OSError as exc:  # e.g. ConnectionRefusedError from an earlier reply
        log.info("recvfrom: %s", exc)
        return
    stats["received"] += 1
    log.debug("%s: %d bytes", format_addr(addr), len(data))
    try:
        sock.sendto(data, addr)
    except BlockingIOError:
        # The send buffer is full. UDP promises nothing, so drop this reply
        # rather than queue it (or block the loop until there is room).
        stats["dropped"] += 1
        log.debug("%s: send buffer full, reply dropped", format_addr(addr))
        return
    except OSError as exc:
        stats["dropped"] += 1
        log.info("%s: sendto: %s", format_addr(addr), exc)
        return
    stats["echoed"] += 1


def parse_args():
    parser = argparse.ArgumentParser(
        description="UDP echo server: every datagram back to its sender, on one selectors loop.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING).",
    )
    # Not course.add_address_args: that one speaks of TCP (and of a listen
    # backlog), which a UDP socket has none of.
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address or host name to receive on (default: %(default)s)")
    parser.add_argument("--port", type=port_range(0, 65535), default=DEFAULT_PORT,
                        help="UDP port, 0 = any free port (default: %(default)s)")
    return parser.parse_args()


def main():
    args = parse_args()
    setup_logging()
    try:
        sock = open_udp(args.host, args.port)
    except socket.gaierror as exc:
        log.error("cannot resolve %s: %s", args.host, exc)
        return 1
    except OSError as exc:
        log.error("%s", exc)
        return 1
    sock.setblocking(False)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    stats = {"received": 0, "echoed": 0, "dropped": 0}
    log.info("listening on %s (UDP)", format_addr(sock.getsockname()))
    try:
        serve_forever(sel, stats)
    except KeyboardInterrupt:
        log.info("interrupted, shutting down")
    finally:
        log.info("received %(received)d, echoed %(echoed)d, dropped %(dropped)d", stats)
        sel.close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
