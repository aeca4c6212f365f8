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
import os
import socket
import sys

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


def open_listener(host, port, backlog=128):
    """Listen on the first address of `host` that works (IPv4, IPv6 or a name)."""
    errors = []
    for family, type_, proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        sock = socket.socket(family, type_, proto)
        try:
            # Restarting the server must not fail with "address already in use"
            # because old connections linger in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            errors.append(f"{format_addr(sockaddr)}: {exc}")
            continue
        return sock
    raise OSError(f"cannot listen on {host} port {port}: " + "; ".join(errors))


def format_addr(sockaddr):
    """'127.0.0.1:65432' or '[::1]:65432' (IPv6 addresses need brackets)."""
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_args():
    parser = argparse.ArgumentParser(
        description="Blocking echo server: serves one client at a time.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address or host name to listen on (default: %(default)s)")
    parser.add_argument("--port", type=port_number, default=65432,
                        help="TCP port, 0 = any free port (default: %(default)s)")
    return parser.parse_args()


def port_number(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def setup_logging():
    """Log to stderr at the level named by $LOGLEVEL (default WARNING)."""
    name = os.environ.get("LOGLEVEL", "WARNING").upper()
    level = logging.getLevelNamesMapping().get(name, logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="[%(asctime)s %(levelname)s %(name)s] %(message)s")
    if name not in logging.getLevelNamesMapping():
        log.warning("unknown LOGLEVEL %r, using WARNING", name)


def main():
    args = parse_args()
    setup_logging()
    try:
        listener = open_listener(args.host, args.port)
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
