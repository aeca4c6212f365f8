#!/usr/bin/env python3
"""Chat server under load: server CPU per line, two builds of chat_server side by side.

    cargo build --release --example chat_server
    cp target/release/examples/chat_server /tmp/chat_server-before   # the build to beat
    # ... change the code, build again ...
    scripts/bench-chat.py /tmp/chat_server-before target/release/examples/chat_server
    ROUNDS=5 BENCH_CONFIGS="1 1000000 32" scripts/bench-chat.py A B   # more rounds, one load

Written for issue 14's LineDecoder redesign (the decoder sits on the chat server's hot
path: every byte a client sends goes through it), and fit for any change to the chat
server or the protocol layer under it. Prints a markdown table on stdout.

Method (as scripts/bench-echo.sh):
* Each server runs pinned to CPU 0 (taskset -c 0), this load generator to CPU 1, on
  127.0.0.1. `--max-pending` is raised so that no receiver is dropped for being slower
  than the sender, and `--idle-timeout 0` (never).
* A load: R receivers join the room, then one sender joins and sends L lines of B bytes
  in one `sendall` (pipelined: the server reads 64 KiB at a time, so most reads hold many
  lines and end inside one). It ends when every receiver has read every `<s> line`.
* Server CPU: time on CPU from /proc/PID/task/*/schedstat (ns) just before the sender starts and once the
  last byte has arrived, per line *sent* (each is decoded once and delivered R times).
* Each configuration runs ROUNDS times per build, the builds alternating (A B, B A, ...),
  so that a slower minute of the shared machine does not land on one build only. The
  figure per build is the median; the ratio is B's median over A's.

Environment: ROUNDS=4 (loads per build and configuration), BENCH_CONFIGS="R L B;..."
(default "1 1000000 32;10 200000 32;1 100000 1000"), PORT=21900, SYSCALLS=1 (count the
server's system calls per line with `perf stat`, on stderr; that run's CPU figures are
not comparable with a run without it).
"""
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

COUNT_SYSCALLS = os.environ.get("SYSCALLS") == "1"


def cpu_seconds(pid):
    """Time on CPU of every thread of `pid`, in ns resolution: the first field of each
    /proc/PID/task/TID/schedstat (utime+stime in /proc/PID/stat counts 10 ms ticks, too
    coarse for a load of a tenth of a second)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that has just ended
    return total / 1e9


def minor_faults(pid):
    """Page faults served without I/O (fresh memory touched): field 10 of /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def read_line(sock, buf):
    while b"\n" not in buf[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buf[0] += chunk
    line, _, buf[0] = buf[0].partition(b"\n")
    return line


def join(port, nick, deadline):
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    buf = [b""]
    read_line(sock, buf)  # the greeting
    sock.sendall(nick + b"\n")
    welcome = read_line(sock, buf)
    if welcome != b"* welcome " + nick:
        raise RuntimeError(f"{nick}: {welcome!r}")
    return sock, buf


def one_load(binary, port, receivers, lines, size):
    server = subprocess.Popen(
        ["taskset", "-c", "0", binary, "--port", str(port), "--max-pending", str(1 << 30),
         "--idle-timeout", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    try:
        deadline = time.monotonic() + 10
        socks = [join(port, b"r%d" % i, deadline) for i in range(receivers)]
        sender, _ = join(port, b"s", deadline)
        notice = b"* s joined"
        for sock, buf in socks:
            # Earlier receivers were told of the later ones first.
            while read_line(sock, buf) != notice:
                pass
        line = b"m" * size + b"\n"
        payload = line * lines
        want = lines * (len(b"<s> ") + len(line))
        for sock, buf in socks:
            sock.setblocking(False)
        sel = selectors.DefaultSelector()
        got = {}
        for sock, buf in socks:
            got[sock] = len(buf[0])
            sel.register(sock, selectors.EVENT_READ)
        counter = None
        if COUNT_SYSCALLS:
            # Started before the load and stopped after it: counting costs CPU of its own,
            # so the CPU figure of such a run is not comparable with the others.
            out = f"/tmp/bench-chat-perf.{os.getpid()}"
            counter = subprocess.Popen(
                ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(server.pid),
                 "-o", out], stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # perf attaches
        before = cpu_seconds(server.pid)
        faults = minor_faults(server.pid)
        start = time.monotonic()
        sending = threading.Thread(target=sender.sendall, args=(payload,))
        sending.start()
        left = receivers
        while left:
            for key, _ in sel.select(timeout=30):
                chunk = key.fileobj.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("a receiver was closed")
                got[key.fileobj] += len(chunk)
                if got[key.fileobj] >= want:
                    sel.unregister(key.fileobj)
                    left -= 1
            if time.monotonic() - start > 300:
                raise RuntimeError("load did not finish in 300 s")
        after = cpu_seconds(server.pid)
        faults = minor_faults(server.pid) - faults
        elapsed = time.monotonic() - start
        sending.join()
        if counter:
            counter.send_signal(signal.SIGINT)
            counter.wait()
            with open(out) as f:
                calls = [int(l.split(",")[0]) for l in f if "raw_syscalls" in l]
            os.unlink(out)
            print(f"  system calls per line: {calls[0] / lines:.4f}", file=sys.stderr)
        if any(n != want for n in got.values()):
            raise RuntimeError(f"receivers got {set(got.values())} bytes, want {want}")
        print(f"  page faults per 1,000 lines: {faults / lines * 1000:.2f}", file=sys.stderr)
        return (after - before) / lines * 1e6, lines / elapsed
    finally:
        server.terminate()
        server.wait()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    builds = sys.argv[1:]
    os.sched_setaffinity(0, {1})
    rounds = int(os.environ.get("ROUNDS", "4"))
    configs = os.environ.get("BENCH_CONFIGS", "1 1000000 32;10 200000 32;1 100000 1000")
    port = int(os.environ.get("PORT", "21900"))
    print(f"A = {builds[0]}\nB = {builds[1]}\n")
    print("| receivers, lines x bytes | CPU µs/line A | B | B/A | lines/s A | B |")
    print("|---|---:|---:|---:|---:|---:|")
    for config in configs.split(";"):
        receivers, lines, size = map(int, config.split())
        cpu = {b: [] for b in builds}
        rate = {b: [] for b in builds}
        for r in range(rounds):
            order = builds if r % 2 == 0 else builds[::-1]
            for binary in order:
                port += 1
                us, per_s = one_load(binary, port, receivers, lines, size)
                cpu[binary].append(us)
                rate[binary].append(per_s)
                print(f"  {config}: {binary}: {us:.3f} us/line, {per_s:,.0f} lines/s",
                      file=sys.stderr)
        a, b = (statistics.median(cpu[x]) for x in builds)
        ra, rb = (statistics.median(rate[x]) for x in builds)
        print(f"| {receivers}, {lines:,} x {size} B | {a:.3f} | {b:.3f} | {b / a:.2f} "
              f"| {ra:,.0f} | {rb:,.0f} |")


if __name__ == "__main__":
    main()
