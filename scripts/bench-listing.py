#!/usr/bin/env python3
"""Static-file latency while large directories are read: is the loop free?

    cargo build --release --example http_server
    scripts/bench-listing.py                          # target/release/examples/http_server
    ENTRIES=50000 ROUNDS=6 scripts/bench-listing.py path/to/http_server

Issue 15: a directory listing is "built from the directory read alone ... so a
50,000-entry directory does not stall other connections". Reading and sorting one takes
tens of milliseconds, and so does indexing it for content negotiation, which any name
that names nothing there asks for (`/big/nothing-here`); the server does both on its
directory thread, not on the loop. This measures what the other connections see
meanwhile.

Method:
* A temporary root holds `big/` with ENTRIES empty files (names of 30 bytes) and a
  3-byte `small.txt`; the server runs on it with RUST_LOG=warn (no access log).
* One thread fetches `/small.txt` in a loop, a fresh connection each, timing each from
  connect to the close.
* Meanwhile ROUNDS requests for `/big/`, one after another, each after touching `big/`
  (a directory changed within 2 s is never kept, so every request reads it again); then
  the same for `/big/nothing-here` (a 404, after the variant index is built).
* Prints, per target, its times, and the count, p50, p99 and max of the small requests
  meanwhile, in milliseconds. Environment: ENTRIES=50000, ROUNDS=6.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ENTRIES = int(os.environ.get("ENTRIES", "50000"))
ROUNDS = int(os.environ.get("ROUNDS", "6"))
HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "target", "release", "examples", "http_server")


def fetch(port, path):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    size = 0
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        size += len(chunk)
    sock.close()
    return size


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    with tempfile.TemporaryDirectory(prefix="bench-listing-") as root:
        big = os.path.join(root, "big")
        os.mkdir(big)
        for i in range(ENTRIES):
            open(os.path.join(big, f"file-{i:06d}-some-longer-name.txt"), "w").close()
        with open(os.path.join(root, "small.txt"), "w") as small:
            small.write("hi\n")
        port = free_port()
        server = subprocess.Popen(
            [BINARY, "--root", root, "--port", str(port)],
            env={**os.environ, "RUST_LOG": "warn"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    fetch(port, "/small.txt")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("the server did not start")
                    time.sleep(0.05)
            results = [measure(port, big, target) for target in ("/big/", "/big/nothing-here")]
        finally:
            server.kill()
            server.wait()
    print(f"{ENTRIES} entries in big/, {ROUNDS} requests for each target")
    print("| target | its times, ms | small-file requests meanwhile | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|---:|")
    for target, times, latencies in results:
        latencies.sort()
        ms = lambda seconds: f"{seconds * 1000:.2f}"
        print(f"| `{target}` | " + ", ".join(f"{t * 1000:.0f}" for t in times)
              + f" | {len(latencies)} | {ms(latencies[len(latencies) // 2])} "
              f"| {ms(latencies[int(len(latencies) * 0.99)])} | {ms(latencies[-1])} |")


def measure(port, big, target):
    """ROUNDS requests for target, each after touching big/, while /small.txt is fetched
    in a loop on another thread; returns (target, their times, the small latencies)."""
    stop = threading.Event()
    latencies = []

    def small_loop():
        while not stop.is_set():
            started = time.perf_counter()
            fetch(port, "/small.txt")
            latencies.append(time.perf_counter() - started)

    thread = threading.Thread(target=small_loop)
    thread.start()
    times = []
    for _ in range(ROUNDS):
        os.utime(big)
        started = time.perf_counter()
        fetch(port, target)
        times.append(time.perf_counter() - started)
    stop.set()
    thread.join()
    return target, times, latencies

if __name__ == "__main__":
    main()
