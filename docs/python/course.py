"""What every program of the course shares: its address flags, its logging and,
for the servers, the listening socket.

Not a program: the others import it (`from course import ...`), which works
from any directory because Python puts a script's own folder on `sys.path`.
The Rust examples share the same pieces in examples/common/mod.rs.
"""

import argparse
import logging
import os
import socket
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 65432
# How many connections the kernel may queue, handshake done, until the server
# accepts them. socket.listen()'s default (128 at most) is overflowed by a burst
# of a few hundred connects, which the kernel then drops or resets; 4096 is
# Linux's SOMAXCONN, and the kernel caps it at /proc/sys/net/core/somaxconn.
# The Rust examples use the same number (DEFAULT_BACKLOG in examples/common/mod.rs).
BACKLOG = 4096

log = logging.getLogger("course")


def add_address_args(parser, server):
    """--host and --port (and, for a server, --backlog). A server may ask for port 0 (any free port); a client
    must name the port it connects to."""
    if server:
        host_help = "address or host name to listen on (default: %(default)s)"
        port_help = "TCP port, 0 = any free port (default: %(default)s)"
    else:
        host_help = "server address or host name (default: %(default)s)"
        port_help = "server TCP port (default: %(default)s)"
    parser.add_argument("--host", default=DEFAULT_HOST, help=host_help)
    parser.add_argument("--port", type=port_range(0 if server else 1, 65535),
                        default=DEFAULT_PORT, help=port_help)
    if server:
        parser.add_argument("--backlog", type=positive_int, default=BACKLOG,
                            help="connections the kernel queues until accepted "
                                 "(default: %(default)s)")


def port_range(lowest, highest):
    """An argparse type: a port number from `lowest` to `highest`."""
    def port_number(text):
        port = int(text)
        if not lowest <= port <= highest:
            raise argparse.ArgumentTypeError(f"port out of range: {port}")
        return port
    return port_number


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def setup_logging(show_thread=False):
    """Log to stderr at the level named by $LOGLEVEL (default WARNING). A
    threaded program names the thread in each line instead of the logger."""
    name = os.environ.get("LOGLEVEL", "WARNING").upper()
    level = logging.getLevelNamesMapping().get(name, logging.WARNING)
    who = "%(threadName)s" if show_thread else "%(name)s"
    logging.basicConfig(level=level, stream=sys.stderr,
                        format=f"[%(asctime)s %(levelname)s {who}] %(message)s")
    if name not in logging.getLevelNamesMapping():
        log.warning("unknown LOGLEVEL %r, using WARNING", name)


def open_listener(host, port, backlog=BACKLOG):
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


def open_udp(host, port):
    """A UDP socket bound to the first address of `host` that works."""
    errors = []
    for family, type_, proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    ):
        sock = socket.socket(family, type_, proto)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            errors.append(f"{format_addr(sockaddr)}: {exc}")
            continue
        return sock
    raise OSError(f"cannot bind UDP {host} port {port}: " + "; ".join(errors))


def format_addr(sockaddr):
    """'127.0.0.1:65432' or '[::1]:65432' (IPv6 addresses need brackets)."""
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
