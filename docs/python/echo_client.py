#!/usr/bin/env python3
"""Blocking echo client: send lines, print the echo, check it is identical.

Connects to an echo server, sends each line of stdin (or --message, --count
times), prints what comes back and verifies it byte for byte. Exit status 0
if every byte came back unchanged, 1 on a mismatch, an early close or any
other error.

Two ways to talk:

  * lockstep (default): send one line, read its echo, send the next. When the
    input ends, shut down our write side and expect the server to close too,
    with no extra bytes.
  * --half-close: send everything first, then shut down our write side, then
    read until the server closes. This checks that the server still echoes
    every byte it received before the client's end of input. Keep the input
    small (well under a megabyte): we read nothing while sending, so with a
    large input both sides end up blocked on full buffers until --timeout.

Rust version: examples/echo_client.rs

Run it (with one of the echo servers running):

    python3 echo_client.py                       # type lines; Ctrl-D to finish
    python3 echo_client.py --message hello --count 3
    seq 1 1000 | python3 echo_client.py --half-close --quiet
    python3 echo_client.py --host ::1 --port 9000 --message hi
"""

import argparse
import logging
import socket
import sys

from course import add_address_args, format_addr, positive_int, setup_logging

RECV_SIZE = 64 * 1024

log = logging.getLogger("echo_client")


class EchoMismatch(Exception):
    """The server sent back something other than what we sent."""


def echo_lockstep(sock, messages, show):
    """Send each message and wait for its echo before sending the next."""
    count = total = 0
    for message in messages:
        sock.sendall(message)
        try:
            echo = recv_exactly(sock, len(message))
        except EchoMismatch as exc:
            raise EchoMismatch(f"message {count + 1}: {exc}") from None
        show(echo)
        check_same(message, echo, offset=total)
        count += 1
        total += len(message)
    # Tell the server we are done; it should close its side once it has
    # echoed everything, so the next recv() returns b"" (end of file).
    sock.shutdown(socket.SHUT_WR)
    extra = recv_until_eof(sock)
    if extra:
        raise EchoMismatch(f"{len(extra)} unexpected bytes after the last echo")
    return count, total


def echo_half_close(sock, messages, show):
    """Send everything, shut down our write side, then read the whole echo."""
    sent = bytearray()
    count = 0
    for message in messages:
        sock.sendall(message)
        sent += message
        count += 1
    # The server sees end of file but must still send us every byte it owes.
    sock.shutdown(socket.SHUT_WR)
    echo = recv_until_eof(sock)
    show(echo)
    check_same(bytes(sent), echo, offset=0)
    return count, len(sent)


def recv_exactly(sock, size):
    """recv() returns whatever has arrived: loop until we have `size` bytes."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = sock.recv(min(remaining, RECV_SIZE))
        if not chunk:
            raise EchoMismatch(f"server closed after {size - remaining} of {size} bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    """Read until the server closes its side."""
    chunks = []
    while chunk := sock.recv(RECV_SIZE):
        chunks.append(chunk)
    return b"".join(chunks)


def check_same(sent, echo, offset):
    """Raise EchoMismatch describing the first difference, if any."""
    if echo == sent:
        return
    for i, (want, got) in enumerate(zip(sent, echo)):
        if want != got:
            raise EchoMismatch(f"byte {offset + i}: sent {want:#04x}, got back {got:#04x}")
    raise EchoMismatch(f"sent {len(sent)} bytes, got back {len(echo)}")


def read_messages(args):
    """The messages to send: --message repeated, or stdin line by line."""
    if args.message is not None:
        line = args.message.encode() + b"\n"
        return (line for _ in range(args.count))
    # readline() returns as soon as one line is typed, so an interactive
    # user sees each echo right after pressing Enter.
    return iter(sys.stdin.buffer.readline, b"")


def make_printer(quiet):
    def show(echo):
        if not quiet:
            sys.stdout.buffer.write(echo)
            sys.stdout.buffer.flush()
    return show


def parse_args():
    parser = argparse.ArgumentParser(
        description="Blocking echo client: sends lines, prints and verifies the echo.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING). "
               "Exit status: 0 if the echo matched, 1 otherwise.",
    )
    add_address_args(parser, server=False)
    parser.add_argument("--message",
                        help="send this text (plus a newline) instead of reading stdin")
    parser.add_argument("--count", type=positive_int, default=1,
                        help="with --message: how many times to send it (default: %(default)s)")
    parser.add_argument("--half-close", action="store_true",
                        help="send everything, shut down the write side, then read the echo")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="verify the echo without printing it")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds any one socket operation may take, 0 = no limit "
                             "(default: %(default)s)")
    args = parser.parse_args()
    if args.count != 1 and args.message is None:
        parser.error("--count needs --message")
    return args


def main():
    args = parse_args()
    setup_logging()
    exchange = echo_half_close if args.half_close else echo_lockstep
    try:
        # create_connection() resolves the name with getaddrinfo() and tries
        # each address (IPv6 and IPv4) until one connects, like Rust's
        # TcpStream::connect((host, port)).
        with socket.create_connection((args.host, args.port),
                                      timeout=args.timeout or None) as sock:
            log.info("connected to %s", format_addr(sock.getpeername()))
            count, total = exchange(sock, read_messages(args), make_printer(args.quiet))
    except KeyboardInterrupt:  # leaving `with` has closed the socket
        log.info("interrupted")
        return 0
    except EchoMismatch as exc:
        log.error("echo mismatch: %s", exc)
        return 1
    except TimeoutError:
        log.error("timed out after %s s (is the server busy with another client?)",
                  args.timeout)
        return 1
    except OSError as exc:  # refused, reset, unknown host name...
        log.error("%s", exc)
        return 1
    log.info("echo verified: %d messages, %d bytes", count, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
