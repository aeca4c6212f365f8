#!/usr/bin/env python3
"""Blocking echo server: one client at a time.

The course's first listing. The server accepts a connection, echoes every byte
back until the client closes, and only then accepts the next one. While one
client is connected, the others wait in the listen backlog: the kernel has
completed their handshakes, but nobody reads what they send. That waiting is
the problem the next two versions solve (a thread per client, then one loop
watching every socket with `selectors`).

Rust version: examples/echo_blocking.rs

Run it:

    python3 echo_blocking.py                     # 127.0.0.1:65432
    python3 echo_blocking.py --host ::1 --port 9000
    LOGLEVEL=INFO python3 echo_blocking.py       # also log "listening on ..."

Talk to it from another terminal:

    python3 echo_client.py --message hello --count 3
    python3 multiconn_client.py --conns 5 --messages 10 --size 4096

Stop it with Ctrl-C.
"""

import argparse
import logging
import socket
import sys

from course import add_address_args, format_addr, open_listener, setup_logging

RECV_SIZE = 64 * 1024  # read at most this much per recv() call

log = logging.getLogger("echo_blocking")


def serve_forever(listener):
    """Accept clients one after another, forever."""
    while True:
        conn, addr = listener.accept()  # blocks until a client connects
        serve_one_client(conn, addr)


def serve_one_client(conn, addr):
    """Echo everything `conn` sends until it closes, then close our side."""
    log.info("connected by %s", format_addr(addr))
    with conn:  # closes the socket however we leave this block
        try:
            while True:
                data = conn.recv(RECV_SIZE)  # blocks until bytes or EOF arrive
                if not data:  # b"" means the client closed (or shut down) its side
                    break
                # sendall() loops over send() until every byte is written:
                # send() alone may write only part of `data`.
                conn.sendall(data)
        except ConnectionError as exc:  # reset, broken pipe: that client is gone
            log.info("%s: %s", format_addr(addr), exc)
    log.info("closed %s", format_addr(addr))


def parse_args():
    parser = argparse.ArgumentParser(
        description="Blocking echo server: serves one client at a time.",
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
    with listener:
        log.info("listening on %s", format_addr(listener.getsockname()))
        try:
            serve_forever(listener)
        except KeyboardInterrupt:  # Ctrl-C: leaving `with` closes the listener
            log.info("interrupted, shutting down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
