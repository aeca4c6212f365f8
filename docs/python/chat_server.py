#!/usr/bin/env python3
"""Chat server: line-based chat for many clients, on one `selectors` loop.

The course's echo server (echo_server.py) taught one connection at a time:
what a client sends goes back to that client. A chat server is the next step:
what one client sends goes to every *other* client, so one connection's input
becomes many connections' output, and a slow reader must not hold up the
rest. The loop is the same shape (listener with data=None, a namespace per
connection, EVENT_WRITE only while output is pending); what is new:

  * framing: bytes arrive in arbitrary pieces, lines are cut out of them, and
    a line longer than --max-line is thrown away up to its newline without
    ever being held in memory;
  * broadcast: each line is appended to every other client's output buffer;
  * a client whose unsent output passes --max-pending is dropped, so nobody
    else waits for it and memory stays bounded;
  * idle clients are timed out, and --max-clients caps the connections.

The wire protocol (a client such as `nc` can rely on it):

  * Lines end in "\\n"; a "\\r" before it is dropped. Every line the server
    sends ends in "\\n". Lines are bytes, not necessarily UTF-8.
  * On connect the server sends one notice line starting with "* ".
  * The first line is the nickname: 1-32 bytes of [A-Za-z0-9_-]. The server
    answers "* welcome NICK" and tells every other joined client
    "* NICK joined"; or "! invalid nickname" / "! nickname in use", and waits
    for another.
  * Then each line L not starting with "/" goes to every other joined client
    as "<NICK> L", in order; the sender gets nothing back.
  * "/who" answers "* users: " and the joined nicknames, sorted, separated by
    spaces; "/quit" answers "* bye" and closes; any other "/word" answers
    "! unknown command". (The command is the line's first word.)
  * When a joined client leaves (/quit, end of file, reset, idle timeout,
    dropped), the others get "* NICK left". Lines that arrived before a
    client's end of file are still delivered; a last piece with no newline is
    not a line and is discarded.
  * A line longer than --max-line bytes (not counting the newline) is
    discarded up to its newline, and the sender gets "! line too long".
  * A client with more than --max-pending bytes of unsent output is
    disconnected.
  * A client silent for --idle-timeout seconds gets "* idle timeout" and is
    closed (0 = never). One that has left (/quit, end of file) gets as long
    again to read what it is still owed, then is disconnected.
  * A connection beyond --max-clients gets "! server full" and is closed.

Rust version: examples/chat_server.rs (the same protocol, in src/chat/).

Run it:

    python3 chat_server.py                       # 127.0.0.1:65433
    python3 chat_server.py --host ::1 --port 9000 --idle-timeout 60
    LOGLEVEL=INFO python3 chat_server.py         # joins, leaves, drops

Talk to it, from two or more terminals:

    nc 127.0.0.1 65433                           # type a nickname, then lines
    nc -C 127.0.0.1 65433                        # \\r\\n line ends work too

Stop it with Ctrl-C (or SIGTERM).
"""

import argparse
import collections
import errno
import logging
import re
import resource
import selectors
import signal
import socket
import sys
import time
import types

from course import (add_address_args, format_addr, open_listener, positive_int,
                    setup_logging)

DEFAULT_PORT = 65433
RECV_SIZE = 64 * 1024  # at most one recv() of this size per connection per event
ACCEPT_PAUSE = 0.1  # seconds without accepting after running out of descriptors
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
NICKNAME = re.compile(rb"[A-Za-z0-9_-]{1,32}")

GREETING = b"* hello! send your nickname (1-32 of A-Z a-z 0-9 _ -)\n"

log = logging.getLogger("chat_server")


class ChatServer:
    """The loop and the room: who is connected, under which nickname."""

    def __init__(self, listener, args):
        self.listener = listener
        self.max_line = args.max_line
        self.max_pending = args.max_pending
        self.idle_timeout = args.idle_timeout or None  # 0 means never
        self.max_clients = args.max_clients
        self.sel = selectors.DefaultSelector()
        self.sel.register(listener, selectors.EVENT_READ, data=None)
        self.clients = 0  # connections open now, joined or not
        self.joined = {}  # nickname (bytes) -> client, in joining order
        # Every open connection, by file descriptor, least recently heard
        # from first. A client that sends moves to the end (O(1)), so the
        # first one is always the next to time out: the loop never scans them
        # all to find its select() timeout. (A client that has left stays,
        # its clock restarted, until it has taken its last lines.)
        self.by_activity = collections.OrderedDict()
        # Clients to disconnect at once (over --max-pending, or a send
        # failed). Handled after the current event, not inside the broadcast
        # that found them: a "left" notice could push yet another client over
        # its limit, and that one's notice another...
        self.doomed = []
        self.accept_paused_until = None

    def serve_forever(self):
        while True:
            for key, mask in self.sel.select(self.next_timeout()):
                if key.data is None:
                    self.accept()
                else:
                    self.service(key.data, mask)
                self.drop_doomed()
            self.expire_idle()
            self.drop_doomed()
            if (self.accept_paused_until is not None
                    and time.monotonic() >= self.accept_paused_until):
                self.sel.register(self.listener, selectors.EVENT_READ, data=None)
                self.accept_paused_until = None

    def next_timeout(self):
        """How long select() may block: until the next idle timeout, or the
        end of an accept pause, whichever is first; None (forever) if neither."""
        deadlines = []
        if self.idle_timeout and self.by_activity:
            oldest = next(iter(self.by_activity.values()))
            deadlines.append(oldest.last_heard + self.idle_timeout)
        if self.accept_paused_until is not None:
            deadlines.append(self.accept_paused_until)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    # -- connections --------------------------------------------------------

    def accept(self):
        """Accept one connection (select() reports the listener again if more wait)."""
        try:
            conn, addr = self.listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return
        except OSError as exc:
            if exc.errno not in OUT_OF_RESOURCES:
                raise
            # As in echo_server.py: stop watching the listener for a while
            # rather than spin on it.
            log.warning("accept: %s; pausing accepts for %.1f s", exc, ACCEPT_PAUSE)
            self.sel.unregister(self.listener)
            self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE
            return
        conn.setblocking(False)
        if self.clients >= self.max_clients:
            # Best effort, never blocking: a fresh socket's send buffer is
            # empty, so this short line goes in one piece.
            log.warning("%s: server full (%d clients)", format_addr(addr), self.clients)
            try:
                conn.send(b"! server full\n")
            except OSError:
                pass
            conn.close()
            return
        self.clients += 1
        client = types.SimpleNamespace(
            sock=conn,
            fd=conn.fileno(),
            addr=addr,
            nick=None,  # set once the client has chosen a free nickname
            inb=bytearray(),  # the start of a line whose newline has not come yet
            discarding=False,  # inside a line that is too long, until its newline
            outb=bytearray(),  # lines for this client, not yet sent
            events=selectors.EVENT_READ,  # what it is registered for now
            reading=True,  # False once it quit, timed out or ended its input
            doomed=False,  # queued in self.doomed, about to be disconnected
            closed=False,
            last_heard=time.monotonic(),
        )
        log.info("%s: connected", format_addr(addr))
        self.sel.register(conn, selectors.EVENT_READ, data=client)
        self.by_activity[client.fd] = client
        self.send(client, GREETING)

    def service(self, client, mask):
        if client.closed:  # disconnected earlier in this round
            return
        try:
            if mask & selectors.EVENT_READ:
                self.read_some(client)
            if mask & selectors.EVENT_WRITE and not client.closed:
                self.write_some(client)
        except (ConnectionError, TimeoutError) as exc:
            log.info("%s: %s", self.name(client), exc)
            self.disconnect(client)
            return
        if not client.closed:
            self.update_interest(client)

    def read_some(self, client):
        try:
            chunk = client.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        if not chunk:
            # End of file. Every complete line before it has been handled
            # already (lines are handled as they arrive), so the client can
            # leave now; what we still owe it is flushed, then we close.
            log.info("%s: end of input", self.name(client))
            self.leave(client)
            return
        client.last_heard = time.monotonic()
        self.by_activity.move_to_end(client.fd)
        self.feed(client, chunk)

    def feed(self, client, chunk):
        """Cut complete lines out of the bytes received so far, and handle each.

        At most max_line + 1 bytes of a line are ever kept (+1 for a "\\r"
        that may turn out to precede the newline): past that, the line is too
        long whatever follows, so its bytes are dropped as they arrive and
        memory stays bounded however long the line is.
        """
        start = 0
        while client.reading:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            piece = chunk[start:end]
            start = end + 1
            if client.discarding:  # the newline that ends a line too long
                client.discarding = False
                continue
            if client.inb:
                piece = bytes(client.inb) + piece
                client.inb.clear()
            if piece.endswith(b"\r"):
                piece = piece[:-1]
            if len(piece) > self.max_line:
                self.send(client, b"! line too long\n")
            else:
                self.handle_line(client, piece)
        if not client.reading or client.discarding:
            return
        client.inb += chunk[start:]
        if len(client.inb) > self.max_line + 1:
            client.inb.clear()
            client.discarding = True
            self.send(client, b"! line too long\n")

    def handle_line(self, client, line):
        if client.nick is None:
            self.choose_nick(client, line)
        elif line.startswith(b"/"):
            command = line.split(b" ", 1)[0]
            if command == b"/who":
                self.send(client, b"* users: " + b" ".join(sorted(self.joined)) + b"\n")
            elif command == b"/quit":
                self.send(client, b"* bye\n")
                self.leave(client)
            else:
                self.send(client, b"! unknown command\n")
        else:
            message = b"<" + client.nick + b"> " + line + b"\n"
            self.broadcast(message, client)

    def choose_nick(self, client, nick):
        if not NICKNAME.fullmatch(nick):
            self.send(client, b"! invalid nickname\n")
        elif nick in self.joined:
            self.send(client, b"! nickname in use\n")
        else:
            client.nick = nick
            self.joined[nick] = client
            log.info("%s: joined as %s", format_addr(client.addr), nick.decode())
            self.send(client, b"* welcome " + nick + b"\n")
            self.broadcast(b"* " + nick + b" joined\n", client)

    def leave(self, client):
        """The client is done (quit, end of file, idle): it leaves the room at
        once, and is closed once what it is owed has been sent."""
        client.reading = False
        if client.nick is not None:
            del self.joined[client.nick]
            self.broadcast(b"* " + client.nick + b" left\n", client)
        if not client.outb:
            self.disconnect(client)
            return
        # It stays in by_activity, its clock restarted: a client that never
        # reads what it is owed is closed after one more idle timeout, instead
        # of holding its socket forever.
        if client.fd in self.by_activity:
            client.last_heard = time.monotonic()
            self.by_activity.move_to_end(client.fd)
        self.update_interest(client)

    def disconnect(self, client):
        """Close now, dropping any unsent output; tell the room if it was in it."""
        if client.closed:
            return
        client.closed = True
        client.reading = False
        self.by_activity.pop(client.fd, None)
        if client.nick is not None and self.joined.get(client.nick) is client:
            del self.joined[client.nick]
            self.broadcast(b"* " + client.nick + b" left\n", client)
        log.info("%s: closed", self.name(client))
        self.sel.unregister(client.sock)
        client.sock.close()
        self.clients -= 1

    def drop_doomed(self):
        while self.doomed:
            self.disconnect(self.doomed.pop())

    def expire_idle(self):
        if not self.idle_timeout:
            return
        now = time.monotonic()
        while self.by_activity:
            oldest = next(iter(self.by_activity.values()))
            if now < oldest.last_heard + self.idle_timeout:
                break
            if not oldest.reading:
                # It left a whole idle timeout ago and still has not taken what
                # it was owed: give up on it.
                log.info("%s: not reading its last lines, closing", self.name(oldest))
                self.disconnect(oldest)
                continue
            log.info("%s: idle timeout", self.name(oldest))
            self.send(oldest, b"* idle timeout\n")
            self.leave(oldest)

    # -- output -------------------------------------------------------------

    def broadcast(self, line, sender):
        for client in self.joined.values():
            if client is not sender:
                self.send(client, line)

    def send(self, client, line):
        """Queue one line for a client. Nothing is sent here: the loop sends
        when select() says the socket is writable, so a broadcast costs one
        append per client, and many lines go out in one send()."""
        if client.closed or client.doomed:
            return
        was_empty = not client.outb
        client.outb += line
        if len(client.outb) > self.max_pending:
            # Not reading its messages: drop it rather than hold ever more
            # for it (and never wait for it: the others keep flowing).
            log.warning("%s: more than %d bytes unsent, disconnecting",
                        self.name(client), self.max_pending)
            client.outb.clear()
            client.doomed = True
            self.doomed.append(client)
        elif was_empty:
            self.update_interest(client)

    def write_some(self, client):
        if not client.outb:
            return
        try:
            sent = client.sock.send(client.outb)
        except BlockingIOError:
            return
        del client.outb[:sent]
        if not client.outb and not client.reading:
            self.disconnect(client)  # quit, left or timed out: all sent now

    def update_interest(self, client):
        if client.closed:
            return
        events = selectors.EVENT_READ if client.reading else 0
        if client.outb:
            events |= selectors.EVENT_WRITE
        if events == 0:  # not reading, nothing left to send
            self.disconnect(client)
        elif events != client.events:
            self.sel.modify(client.sock, events, data=client)
            client.events = events

    def name(self, client):
        nick = client.nick.decode("ascii") if client.nick else "-"
        return f"{format_addr(client.addr)} ({nick})"

    def close(self):
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            key.fileobj.close()
        self.sel.close()
        self.listener.close()


def parse_args():
    parser = argparse.ArgumentParser(
        description="Line-based chat server on one selectors loop.",
        epilog="Log level: env var LOGLEVEL (DEBUG, INFO, WARNING...; default WARNING).",
    )
    add_address_args(parser, server=True)
    # Each program has its own port (echo 65432, chat 65433, UDP echo 65434),
    # so they can run side by side.
    parser.set_defaults(port=DEFAULT_PORT)
    parser.add_argument("--max-line", type=positive_int, default=4096,
                        help="longest line in bytes, newline not counted (default: %(default)s)")
    parser.add_argument("--max-pending", type=positive_int, default=1024 * 1024,
                        help="disconnect a client with more unsent bytes than this "
                             "(default: %(default)s)")
    parser.add_argument("--idle-timeout", type=float, default=300.0,
                        help="close a client silent this many seconds, 0 = never "
                             "(default: %(default)s)")
    parser.add_argument("--max-clients", type=positive_int, default=10_000,
                        help="refuse connections beyond this many (default: %(default)s)")
    args = parser.parse_args()
    if args.idle_timeout < 0:
        parser.error("--idle-timeout: must be 0 or more")
    return args


def raise_fd_limit(max_clients):
    """One descriptor per client: raise the soft limit (often 1024) to the hard
    one, and warn if even that is short of --max-clients (clients past it would
    wait for a descriptor instead of being told "! server full")."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spare = 16  # the listener, the selector, stdio, one to refuse a client with
    if hard != resource.RLIM_INFINITY and max_clients + spare > hard:
        log.warning("--max-clients %d is more than the descriptor limit (%d) allows; "
                    "clients past about %d will wait instead of getting "
                    '"! server full"', max_clients, hard, hard - spare)


def main():
    args = parse_args()
    setup_logging()
    raise_fd_limit(args.max_clients)
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except socket.gaierror as exc:
        log.error("cannot resolve %s: %s", args.host, exc)
        return 1
    except OSError as exc:
        log.error("%s", exc)
        return 1
    listener.setblocking(False)
    # SIGTERM (from kill, or a service manager) ends the loop as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    server = ChatServer(listener, args)
    log.info("listening on %s", format_addr(listener.getsockname()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("interrupted, shutting down")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
