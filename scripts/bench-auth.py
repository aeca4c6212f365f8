#!/usr/bin/env python3
"""Static-file latency while password checks run: is the loop free while bcrypt works?

    cargo build --release --example http_server
    scripts/bench-auth.py                                  # target/release/examples/http_server
    CHECKS=16 COST=12 SECONDS=3 scripts/bench-auth.py path/to/http_server

Issue 16: with 16 password checks of cost 12 (~250 ms each on one core) in flight, plain
static requests on the same server must still be answered within milliseconds, because
the checks run on the loop's worker pool (`--auth-workers`, 2 here), not on the loop.

Method:
* The server runs `--auth /docs/=USERS` (USERS written by `htpasswd -B -C COST`),
  `--auth-workers 2`, RUST_LOG=warn (no access log).
* Phase "idle": sequential `GET /style.css` for SECONDS on one keep-alive connection
  (python's http.client), each timed from send to the last body byte.
* Phase "busy": CHECKS threads each keep one `GET /docs/` with a wrong password (a new
  one each time: the cache never answers) in flight, on a connection of its own; after
  a short settling, static GETs are timed for SECONDS while they run. The checks
  answered meanwhile give the pool's throughput.
* Both phases in one run, side by side; figures in milliseconds, with the count of
  requests slower than the goal (20 ms).
* Then, on the idle server, TIMING_ROUNDS alternating 401s for a wrong password of a
  real user and for a user the file does not have: their medians should match (the
  unknown user is checked against a dummy hash of the same cost), so the answer's timing
  does not tell which names exist.

Prints markdown tables on stdout. Environment: CHECKS=16, COST=12, SECONDS=3,
TIMING_ROUNDS=8.
"""
import base64
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CHECKS = int(os.environ.get("CHECKS", "16"))
COST = int(os.environ.get("COST", "12"))
SECONDS = float(os.environ.get("SECONDS", "3"))
TIMING_ROUNDS = int(os.environ.get("TIMING_ROUNDS", "8"))
GOAL_MS = 20  # issue 16: static requests answered within 20 ms while checks run
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server(binary, users):
    env = dict(os.environ, RUST_LOG="warn")
    proc = subprocess.Popen(
        [binary, "--port", "0", "--auth", f"/docs/={users}", "--auth-workers", "2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "listening on" in line:
            addr = line.split("listening on ")[1].split()[0]
            host, port = addr.rsplit(":", 1)
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, host, int(port)
    proc.kill()
    sys.exit("bench-auth: the server did not say where it listens")


def timed_gets(host, port, seconds):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        conn.request("GET", "/style.css")
        res = conn.getresponse()
        res.read()
        times.append(time.perf_counter() - started)
        if res.status != 200:
            sys.exit(f"bench-auth: static GET answered {res.status}")
    conn.close()
    return times


def checker(host, port, stop, counts, index):
    n = 0
    while not stop.is_set():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        token = base64.b64encode(f"alice:wrong-{index}-{n}".encode()).decode()
        conn.request("GET", "/docs/", headers={"Authorization": f"Basic {token}"})
        res = conn.getresponse()
        res.read()
        conn.close()
        if res.status != 401:
            sys.exit(f"bench-auth: a wrong password got {res.status}")
        n += 1
        counts[index] = n


def timed_401(host, port, user, password):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    started = time.perf_counter()
    conn.request("GET", "/docs/", headers={"Authorization": f"Basic {token}"})
    res = conn.getresponse()
    res.read()
    took = time.perf_counter() - started
    conn.close()
    if res.status != 401:
        sys.exit(f"bench-auth: expected 401, got {res.status}")
    return took


def row(name, times, checks, seconds):
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    rate = f"{checks / seconds:.1f}" if seconds else "-"
    over = sum(1 for t in ms if t > GOAL_MS)
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.2f} | {p99:.2f} | "
            f"{ms[-1]:.2f} | {over} | {checks} | {rate} |")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "target/release/examples/http_server")
    if not os.path.exists(binary):
        sys.exit(f"bench-auth: {binary} not found (cargo build --release --example http_server)")
    if not shutil.which("htpasswd"):
        sys.exit("bench-auth: htpasswd not found (apt-get install apache2-utils)")
    tmp = tempfile.mkdtemp(prefix="bench-auth-")
    users = os.path.join(tmp, "users")
    subprocess.run(["htpasswd", "-cbB", "-C", str(COST), users, "alice", "right"],
                   check=True, capture_output=True)
    proc, host, port = start_server(binary, users)
    try:
        timed_gets(host, port, 0.2)  # warm-up: the small-file cache, the connection
        idle = timed_gets(host, port, SECONDS)

        stop = threading.Event()
        counts = [0] * CHECKS
        threads = [threading.Thread(target=checker, args=(host, port, stop, counts, i),
                                    daemon=True) for i in range(CHECKS)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # every checker has a check in flight
        before = sum(counts)
        started = time.monotonic()
        busy = timed_gets(host, port, SECONDS)
        seconds = time.monotonic() - started
        checks = sum(counts) - before
        stop.set()
        for t in threads:
            t.join(timeout=120)
        wrong, unknown = [], []
        for i in range(TIMING_ROUNDS):
            wrong.append(timed_401(host, port, "alice", f"nope{i}"))
            unknown.append(timed_401(host, port, f"nobody{i}", f"nope{i}"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"static GET /style.css latency (ms), {CHECKS} wrong-password checks of cost "
          f"{COST} in flight in the busy phase, --auth-workers 2, {os.cpu_count()} CPUs")
    print()
    print(f"| phase | requests | p50 | p99 | max | > {GOAL_MS} ms | checks answered | checks/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(row("idle", idle, 0, 0))
    print(row("busy", busy, checks, seconds))
    print()
    print(f"401 time (ms), {TIMING_ROUNDS} of each, alternating, idle server")
    print()
    print("| credentials | median | min | max |")
    print("|---|---:|---:|---:|")
    for name, times in [("wrong password, real user", wrong),
                        ("unknown user", unknown)]:
        ms = [t * 1000 for t in times]
        print(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} |")


if __name__ == "__main__":
    main()
