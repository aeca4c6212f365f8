#!/usr/bin/env bash
# The HTTP/1.0 responder (examples/http_server) against nginx, side by side in one run:
# requests per second, server CPU time per request and system calls per request, for
#   conn     ab -n N -c 50            a new connection per request (HTTP/1.0, no keep-alive)
#   ab-k     ab -k -n N -c 50         keep-alive
#   wrk      wrk -t1 -c50 -dD         keep-alive, HTTP/1.1
#   1m       ab -c 10 on a 1 MiB file
#   64m      ab -c 10 on a 64 MiB file
# then the RSS of each server during 16 slow concurrent downloads of the 64 MiB file, and
# connection-per-request throughput of http_server with --workers 1 and 2. Prints markdown
# tables on stdout and writes an SVG chart (docs/bench-http.svg, or $SVG).
#
#   scripts/bench-http.sh            # full run, about 4 minutes
#   QUICK=1 scripts/bench-http.sh    # smoke test: tiny counts, about 20 s
#
# Method (docs/performance.md explains how to read the result):
# * Both servers serve the same directory: the bundled site/ plus a 1 MiB and a 64 MiB file
#   generated into a temporary directory. nginx runs as one process (master_process off,
#   worker_processes 1), access_log off, sendfile on, keepalive allowed; http_server runs
#   with RUST_LOG=warn (no access log either). Each server is pinned to CPU 0 (taskset -c 0)
#   and the load to CPU 1.
# * Server CPU: utime+stime from /proc/PID/stat before and after each load, divided by the
#   requests the load completed. The load tool usually saturates its core first, so this
#   (not requests/s) is the figure that compares the servers.
# * System calls: a separate, shorter ab run of each kind with `perf stat -e
#   raw_syscalls:sys_enter` attached to the server (or `strace -c -f` where perf does not
#   work), divided by the requests. A per-call breakdown of the connection-per-request case
#   comes from `strace -c` over a small run.
#
# Environment (all optional): N=20000 requests per ab run, D=10 seconds of wrk, ROUNDS=2
#   loads per server and kind (interleaved, order swapped each round),
#   PORT_BASE=21300, SVG=docs/bench-http.svg, QUICK=1.
# Bounded: every load has a count or a duration and runs under `timeout`; every process the
# script starts is killed on exit, even on failure or Ctrl-C; the temporary directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh # say, die, the clean-up on exit, need_tools, syscalls_per_request, wait_listening

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    N=${N:-500} D=${D:-1} N1M=40 N64M=10 SYSN=200 SLOW_SECS=2 ROUNDS=${ROUNDS:-1}
else
    N=${N:-20000} D=${D:-10} N1M=2000 N64M=40 SYSN=2000 SLOW_SECS=8 ROUNDS=${ROUNDS:-2}
fi
PORT_BASE=${PORT_BASE:-21300}
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
REMOVE+=("$WORK")
LOG=$WORK/log.txt
# The smoke run must not overwrite the chart of a real run.
if [[ $QUICK == 1 ]]; then SVG=${SVG:-$WORK/bench-http.svg}; else SVG=${SVG:-docs/bench-http.svg}; fi

need_tools "apt-get install -y apache2-utils wrk nginx curl" ab wrk nginx taskset curl python3
[[ $(nproc) -ge 2 ]] || say "warning: $(nproc) CPU(s): server and load will share one"
use_syscall_counter

cargo build --release --quiet --example http_server 2>>"$LOG" || die "build failed"
SERVER_BIN=target/release/examples/http_server

# --- the document root: the bundled site and two large files --------------------------------
ROOT=$WORK/root
cp -r site "$ROOT"
head -c $((1 << 20)) /dev/urandom >"$ROOT/1m.bin"
head -c $((64 << 20)) /dev/urandom >"$ROOT/64m.bin"
# http_server does not cache a file modified or changed within 2 s of reading it (the
# "racily clean" rule, src/http/site.rs): let the fresh copies settle, so that the loads
# measure its steady state, not the first seconds after a deploy.
sleep 2.5

# --- nginx, as the issue asks: one worker, access log off, sendfile on, keepalive allowed ---
write_nginx_conf "$WORK/nginx" 4096 <<EOF
    include /etc/nginx/mime.types;
    sendfile on;
    keepalive_timeout 15s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$((PORT_BASE + 1)) backlog=4096;
        root $ROOT;
    }
EOF

# --- helpers ---------------------------------------------------------------------------------
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }


# start NAME [WORKERS]: sets SPID and PORT. Pinned to CPU 0 (both CPUs for --workers 2).
start() {
    local name=$1 workers=${2:-1} cpus=0
    [[ $workers == 1 ]] || cpus=0,1
    case $name in
    nginx)
        PORT=$((PORT_BASE + 1))
        taskset -c $cpus nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" 2>>"$LOG" &
        ;;
    http_server)
        PORT=$((PORT_BASE + 2))
        RUST_LOG=warn taskset -c $cpus "$SERVER_BIN" --port "$PORT" --root "$ROOT" \
            --workers "$workers" 2>>"$LOG" &
        ;;
    esac
    SPID=$!
    PIDS+=("$SPID")
    wait_listening "$PORT" "$SPID" || die "$name did not start (see $LOG)"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# run_load KIND PORT: runs the load on CPU 1; prints "requests seconds rate_per_s kib_per_s failed".
run_load() {
    local kind=$1 port=$2 url="http://127.0.0.1:$2" out
    case $kind in
    conn) out=$(timeout 120 taskset -c 1 ab -q -n "$N" -c 50 -s 10 "$url/index.html" 2>>"$LOG") || true ;;
    ab-k) out=$(timeout 120 taskset -c 1 ab -q -k -n "$N" -c 50 -s 10 "$url/index.html" 2>>"$LOG") || true ;;
    1m) out=$(timeout 120 taskset -c 1 ab -q -n "$N1M" -c 10 -s 10 "$url/1m.bin" 2>>"$LOG") || true ;;
    64m) out=$(timeout 120 taskset -c 1 ab -q -n "$N64M" -c 10 -s 30 "$url/64m.bin" 2>>"$LOG") || true ;;
    wrk)
        out=$(timeout $((D + 30)) taskset -c 1 wrk -t1 -c50 -d"${D}s" "$url/index.html" 2>>"$LOG") || true
        awk '
            /requests in/ { n = $1; s = $4; sub(/s,$/, "", s) }
            /Requests\/sec:/ { r = $2 }
            /Transfer\/sec:/ { t = $2 }
            /Non-2xx|Socket errors/ { bad = 1 }
            END {
                k = t; if (t ~ /MB$/) k = t * 1024; else if (t ~ /GB$/) k = t * 1048576; else if (t ~ /KB$/) k = t + 0
                print n, s, r, k + 0, bad + 0
            }' <<<"$out"
        return
        ;;
    esac
    awk '
        /^Complete requests:/ { n = $3 }
        /^Failed requests:/ { f = $3 }
        /^Non-2xx responses:/ { f += $3 }
        /^Time taken for tests:/ { s = $5 }
        /^Requests per second:/ { r = $4 }
        /^Transfer rate:/ { t = $3 }
        END { print n + 0, s + 0, r + 0, t + 0, f + 0 }' <<<"$out"
}

# count_syscalls NAME PID PORT KIND: system calls per request over a SYSN-request ab run.
count_syscalls() {
    local k=""
    [[ $4 == conn ]] || k=-k
    syscalls_per_request "$2" "$SYSN" \
        timeout 120 taskset -c 1 ab -q $k -n "$SYSN" -c 50 -s 10 "http://127.0.0.1:$3/index.html"
}

# breakdown NAME PID PORT [PATH [RANGE]]: strace -c over 200 connection-per-request requests
# for PATH (default /index.html), one at a time, with `Range: RANGE` if given; prints
# "call=count_per_request ..." for calls made at least once per 10 requests.
breakdown() {
    local pid=$2 port=$3 path=${4:-/index.html} range=${5:-} file=$WORK/bd.txt tracer
    local header=()
    [[ -z $range ]] || header=(-H "Range: $range")
    strace -c -f -q -o "$file" -p "$pid" 2>>"$LOG" &
    tracer=$!
    PIDS+=("$tracer")
    sleep 0.5
    timeout 60 taskset -c 1 ab -q -n 200 -c 1 -s 10 "${header[@]}" "http://127.0.0.1:$port$path" >/dev/null 2>>"$LOG" || true
    sleep 0.2
    kill -TERM "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    awk '$1 ~ /^[0-9.]+$/ && $NF != "total" && $4 >= 20 { printf "%s=%.1f ", $NF, $4 / 200 }' "$file"
}

# slow_rss NAME PID PORT: peak RSS (KiB) while 16 clients download the 64 MiB file at 4 MB/s.
slow_rss() {
    local pid=$2 port=$3 peak=0 r i
    local before
    before=$(rss_kib "$pid")
    for i in $(seq 16); do
        timeout $((SLOW_SECS + 5)) curl -s -o /dev/null --limit-rate 4M --max-time "$SLOW_SECS" \
            "http://127.0.0.1:$port/64m.bin" 2>>"$LOG" &
        PIDS+=("$!")
    done
    for i in $(seq $((SLOW_SECS * 10))); do
        r=$(rss_kib "$pid")
        ((r > peak)) && peak=$r
        sleep 0.1
    done
    wait "${PIDS[@]: -16}" 2>/dev/null || true
    echo "$before $peak"
}

# --- the runs --------------------------------------------------------------------------------
# Both servers run at once (an idle one costs nothing), and each load runs ROUNDS times per
# server, back to back, the order swapped every round: the machine's neighbours come and go,
# and interleaving spreads that noise over both servers instead of favouring whichever ran
# first.
RAW=$WORK/raw.txt # server kind round requests secs kib_per_s failed cpu_ticks
RESULTS=$WORK/results.txt # server kind requests secs rate kib_per_s failed cpu_us_per_req
: >"$RAW"
declare -A SC BD RSS PID_OF PORT_OF
failures=0
for name in nginx http_server; do
    start "$name"
    PID_OF[$name]=$SPID
    PORT_OF[$name]=$PORT
done
for kind in conn ab-k wrk 1m 64m; do
    for round in $(seq "$ROUNDS"); do
        order=(nginx http_server)
        ((round % 2 == 1)) || order=(http_server nginx)
        for name in "${order[@]}"; do
            pid=${PID_OF[$name]}
            kill -0 "$pid" 2>/dev/null || die "$name died (see $LOG)"
            before=$(cpu_ticks "$pid")
            read -r n secs rate kib failed < <(run_load "$kind" "${PORT_OF[$name]}")
            after=$(cpu_ticks "$pid")
            cpu=$(awk -v t=$((after - before)) -v n="$n" -v hz="$TICK" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')
            say "  $name $kind round $round: $n requests in $secs s, $rate/s, $kib KiB/s, failed $failed, CPU ${cpu} us/request"
            [[ $failed == 0 && $n -gt 0 ]] || failures=$((failures + 1))
            echo "$name $kind $round $n $secs $kib $failed $((after - before))" >>"$RAW"
        done
    done
done
# Totals over the rounds: requests/s = all requests / all seconds; CPU = all ticks / all requests.
awk -v hz="$TICK" '
    { k = $1 " " $2; if (!(k in n)) order[++m] = k; n[k] += $4; s[k] += $5; kib[k] += $6; r[k]++; f[k] += $7; t[k] += $8 }
    END {
        for (i = 1; i <= m; i++) {
            k = order[i]
            printf "%s %d %.3f %.1f %.1f %d %s\n", k, n[k], s[k], (s[k] > 0 ? n[k] / s[k] : 0), kib[k] / r[k], f[k],
                (n[k] > 0 ? sprintf("%.1f", t[k] / hz * 1e6 / n[k]) : "n/a")
        }
    }' "$RAW" >"$RESULTS"
for name in nginx http_server; do
    pid=${PID_OF[$name]}
    SC[$name,conn]=$(count_syscalls "$name" "$pid" "${PORT_OF[$name]}" conn)
    SC[$name,ab-k]=$(count_syscalls "$name" "$pid" "${PORT_OF[$name]}" ab-k)
    if command -v strace >/dev/null; then
        BD[$name]=$(breakdown "$name" "$pid" "${PORT_OF[$name]}")
        # 64 KiB from the middle of the 64 MiB file: a 206 by sendfile from an offset.
        BD[$name,range]=$(breakdown "$name" "$pid" "${PORT_OF[$name]}" /64m.bin "bytes=$((32 << 20))-$(((32 << 20) + 65535))")
    fi
    RSS[$name]=$(slow_rss "$name" "$pid" "${PORT_OF[$name]}")
done
for name in nginx http_server; do stop "${PID_OF[$name]}"; done

# --workers 1 vs 2: connection per request. Both CPUs are given to the server (and the load
# shares them), so on a 2-core machine this shows whether a second loop helps at all, not
# how it scales on a machine with cores to spare.
WORKERS=$WORK/workers.txt
: >"$WORKERS"
for w in 1 2; do
    start http_server "$w"
    out=$(timeout 120 ab -q -n "$N" -c 50 -s 10 "http://127.0.0.1:$PORT/index.html" 2>>"$LOG" |
        awk '/^Requests per second:/ { print $4 } /^Failed requests:/ { f = $3 } END { print f + 0 }' | paste -sd' ')
    echo "$w $out" >>"$WORKERS"
    stop "$SPID"
done

# --- the tables --------------------------------------------------------------------------------
echo "### Requests per second and server CPU per request"
echo
echo "| load | nginx req/s | http_server req/s | nginx CPU µs/req | http_server CPU µs/req | CPU ratio (ours/nginx) |"
echo "|---|---:|---:|---:|---:|---:|"
for kind in conn ab-k wrk 1m 64m; do
    awk -v k="$kind" '
        $2 == k && $1 == "nginx" { nr = $5; nc = $8; nk = $6 }
        $2 == k && $1 == "http_server" { hr = $5; hc = $8; hk = $6 }
        END {
            label["conn"] = "`ab -n N -c 50` (connection per request)"; label["ab-k"] = "`ab -k -n N -c 50`"
            label["wrk"] = "`wrk -t1 -c50`"; label["1m"] = "`ab -c 10`, 1 MiB file"; label["64m"] = "`ab -c 10`, 64 MiB file"
            r = (nc > 0) ? sprintf("%.2f", hc / nc) : "n/a"
            if (k == "1m" || k == "64m")
                printf "| %s | %.0f (%.0f MiB/s) | %.0f (%.0f MiB/s) | %s | %s | %s |\n", label[k], nr, nk / 1024, hr, hk / 1024, nc, hc, r
            else
                printf "| %s | %.0f | %.0f | %s | %s | %s |\n", label[k], nr, hr, nc, hc, r
        }' "$RESULTS"
done
echo
echo "### System calls per request (counted with $COUNTER over $SYSN requests)"
echo
echo "| load | nginx | http_server |"
echo "|---|---:|---:|"
echo "| connection per request | ${SC[nginx,conn]} | ${SC[http_server,conn]} |"
echo "| keep-alive (\`ab -k\`) | ${SC[nginx,ab-k]} | ${SC[http_server,ab-k]} |"
if [[ -n ${BD[nginx]:-} ]]; then
    echo
    echo "Per call, connection per request, one client at a time (\`strace -c\`, 200 requests):"
    echo
    echo "- nginx: ${BD[nginx]}"
    echo "- http_server: ${BD[http_server]}"
    echo
    echo "The same, for \`Range: bytes=33554432-33619967\` of the 64 MiB file (a 206, 64 KiB by sendfile from the middle):"
    echo
    echo "- nginx: ${BD[nginx,range]}"
    echo "- http_server: ${BD[http_server,range]}"
    # The goal: a range of a large file costs what a small file does, plus one sendfile.
    python3 - "${BD[http_server]}" "${BD[http_server,range]}" <<'PYEOF'
import sys
def calls(text):
    return {k: float(v) for k, v in (item.split("=") for item in text.split())}
small, ranged = calls(sys.argv[1]), calls(sys.argv[2])
extra = {k: round(ranged.get(k, 0) - small.get(k, 0), 2) for k in sorted(set(small) | set(ranged))}
extra = {k: v for k, v in extra.items() if abs(v) >= 0.1}
total = (sum(ranged.values()), sum(small.values()))
met = extra == {"sendfile": 1.0}
print()
print(f"- http_server, range minus small file: {' '.join(f'{k}={v:+g}' for k, v in extra.items()) or 'nothing'}"
      f" ({total[0]:.1f} vs {total[1]:.1f} calls per request): "
      + ("met (one sendfile more)" if met else "NOT met (goal: one sendfile more)"))
PYEOF
fi
echo
echo "### Memory: 16 concurrent downloads of the 64 MiB file at 4 MB/s each, ${SLOW_SECS} s"
echo
echo "| server | RSS before (MiB) | peak RSS (MiB) |"
echo "|---|---:|---:|"
for name in nginx http_server; do
    read -r b p <<<"${RSS[$name]}"
    awk -v n="$name" -v b="$b" -v p="$p" 'BEGIN { printf "| %s | %.1f | %.1f |\n", n, b / 1024, p / 1024 }'
done
echo
echo "### \`--workers\`: connection per request, server and load sharing both CPUs"
echo
echo "| workers | req/s | failed |"
echo "|---:|---:|---:|"
while read -r w r f; do echo "| $w | $r | $f |"; done <"$WORKERS"

# --- the chart -------------------------------------------------------------------------------
mkdir -p "$(dirname "$SVG")"
python3 - "$RESULTS" "$SVG" <<'EOF'
# Two panels of bar pairs, requests/s and server CPU per request. The loads differ by
# orders of magnitude, so each pair is drawn to its own scale (the larger bar full height)
# and labelled with its values: the chart shows ratios, the tables the figures.
import sys
rows = [line.split() for line in open(sys.argv[1])]
kinds = ["conn", "ab-k", "wrk", "1m", "64m"]
labels = {"conn": "ab, conn/request", "ab-k": "ab -k", "wrk": "wrk", "1m": "ab, 1 MiB", "64m": "ab, 64 MiB"}
def num(x):
    try:
        return float(x)
    except ValueError:
        return 0.0
data = {(r[0], r[1]): (num(r[4]), num(r[7])) for r in rows}
servers = [("nginx", "#5b8c4a"), ("http_server", "#2f6db5")]
W, pad, panel_h = 760, 50, 170
H = 2 * (panel_h + 95) + 45
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
       '<rect width="100%" height="100%" fill="white"/>']
def panel(top, title, index, fmt):
    out.append(f'<text x="{pad}" y="{top - 26}" font-size="14" font-weight="bold">{title}</text>')
    gw = (W - 2 * pad) / len(kinds)
    for i, k in enumerate(kinds):
        vals = [data.get((s, k), (0, 0))[index] for s, _ in servers]
        peak = max(vals + [1e-9])
        for j, ((s, color), v) in enumerate(zip(servers, vals)):
            h = panel_h * v / peak
            w = (gw - 30) / 2
            x = pad + i * gw + 15 + j * w
            out.append(f'<rect x="{x:.1f}" y="{top + panel_h - h:.1f}" width="{w - 4:.1f}" height="{h:.1f}" fill="{color}"/>')
            out.append(f'<text x="{x + (w - 4) / 2:.1f}" y="{top + panel_h - h - 4:.1f}" text-anchor="middle" font-size="11">{fmt(v)}</text>')
        out.append(f'<text x="{pad + i * gw + gw / 2:.1f}" y="{top + panel_h + 18}" text-anchor="middle">{labels[k]}</text>')
    out.append(f'<line x1="{pad}" y1="{top + panel_h}" x2="{W - pad}" y2="{top + panel_h}" stroke="#333"/>')
panel(75, "Requests per second (higher is better)", 0, lambda v: f"{v:,.0f}")
panel(75 + panel_h + 95, "Server CPU per request, µs (lower is better)", 1, lambda v: f"{v:,.1f}")
for j, (s, color) in enumerate(servers):
    out.append(f'<rect x="{W - 230 + j * 100}" y="14" width="12" height="12" fill="{color}"/>')
    out.append(f'<text x="{W - 213 + j * 100}" y="24">{s}</text>')
out.append(f'<text x="{pad}" y="{H - 8}" font-size="10" fill="#555">Each pair is drawn to its own scale. Made by scripts/bench-http.sh; docs/performance.md has the method.</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
EOF
say "bench-http: chart written to $SVG"
((failures == 0)) || die "$failures load(s) had failed requests or none completed (see $LOG)"
