#!/usr/bin/env python3
"""Echo server with one thread per connection.

The second step of the course. The main thread only accepts; each client gets
its own thread running the same blocking recv/sendall loop as
echo_blocking.py. A slow client now blocks only its own thread, so every
client is served at once.

The cost: one thread (a stack, a scheduler entry) per connection, however idle
it is, and shared state needs locks (here only the set of open connections,
used to shut them down on Ctrl-C). echo_server.py serves the same clients
from one thread with `selectors`.

Rust version: examples/echo_threads.rs

Run it:

    python3 echo_threads.py                      # 127.0.0.1:65432
    python3 echo_threads.py --host ::1 --port 9000
    LOGLEVEL=INFO python3 echo_threads.py        # also log "listening on ..."

Talk to it from another terminal:

    python3 echo_client.py --message hello --count 3
    python3 multiconn_client.py --conns 50 --messages 20 --size 4096

Stop it with Ctrl-C.
"""

import argparse
import errno
import logging
import socket
import sys
import threading
import time

from course import add_address_args, format_addr, open_listener, setup_logging

RECV_SIZE = 64 * 1024  # read at most this much per recv() call
# accept() fails with these when the process or the system is out of file
# descriptors (or memory); waiting a little lets other clients finish.
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_PAUSE = 0.1  # seconds

log = logging.getLogger("echo_threads")


class OpenConnections:
    """The connections being served, so Ctrl-C can wake their threads.

    Several threads add and remove entries, hence the lock.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._socks = set()

    def add(self, sock):
        with self._lock:
            self._socks.add(sock)

    def remove(self, sock):
        with self._lock:
            self._socks.discard(sock)

    def shutdown_all(self):
        # Only the main thread sees KeyboardInterrupt; a worker blocked in
        # recv() would sleep on. shutdown() makes that recv() return b"".
        with self._lock:
            for sock in self._socks:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already disconnected
                    pass


def serve_forever(listener, connections):
    """Accept clients and start a thread for each, forever."""
    while True:
        try:
            conn, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in OUT_OF_RESOURCES:
                raise
            # The pending connection stays queued, so retrying at once would
            # fail again at once. Sleeping is fine here: it only stalls this
            # accepting thread, while the workers keep serving (and closing)
            # their clients. echo_server.py must not sleep; see there.
            log.warning("accept: %s; pausing accepts for %.1f s", exc, ACCEPT_PAUSE)
            time.sleep(ACCEPT_PAUSE)
            continue
        connections.add(conn)
        worker = threading.Thread(
            target=serve_one_client,
            args=(conn, addr, connections),
            name=f"client {format_addr(addr)}",
            # Daemon: if a worker is still stuck when we exit, don't hang.
            daemon=True,
        )
        worker.start()


def serve_one_client(conn, addr, connections):
    """Thread body: echo until the client closes, then close our side."""
    log.info("connected by %s", format_addr(addr))
    try:
        with conn:
            while True:
                data = conn.recv(RECV_SIZE)  # blocks only this thread
                if not data:  # the client closed (or shut down) its side
                    break
                conn.sendall(data)
    except ConnectionError as exc:  # reset, broken pipe: only this client is gone
        log.info("%s: %s", format_addr(addr), exc)
    finally:
        connections.remove(conn)
    log.info("closed %s", format_addr(addr))


def parse_args():
    parser = argparse.ArgumentParser(
        description="Echo server with one thread per connection.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING).",
    )
    add_address_args(parser, server=True)
    return parser.parse_args()


def main():
    args = parse_args()
    setup_logging(show_thread=True)
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except socket.gaierror as exc:  # unknown host name
        log.error("cannot resolve %s: %s", args.host, exc)
        return 1
    except OSError as exc:  # address in use, not ours...
        log.error("%s", exc)
        return 1
    connections = OpenConnections()
    with listener:
        log.info("listening on %s", format_addr(listener.getsockname()))
        try:
            serve_forever(listener, connections)
        except KeyboardInterrupt:
            log.info("interrupted, shutting down")
        finally:
            connections.shutdown_all()  # wakes the workers; each closes its socket
    # Give the workers up to a second, in all, to close their sockets; daemon
    # threads still running after that die with the process.
    deadline = time.monotonic() + 1.0
    for worker in threading.enumerate():
        if worker is not threading.current_thread():
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
