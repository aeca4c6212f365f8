#!/usr/bin/env bash
# The caching proxy (examples/http_proxy) against Squid, side by side in one run: proxy CPU
# time per request, requests per second and system calls per request, for
#   hit    ab -k -X PROXY -c 10 on a URL the proxy has stored  (keep-alive client, no upstream)
#   miss   ab -k -X PROXY -c 10 on a URL answered `no-store`   (one upstream connection each)
# Prints a markdown table on stdout.
#
#   scripts/bench-proxy.sh            # full run, about 2 minutes
#   QUICK=1 scripts/bench-proxy.sh    # smoke test: tiny counts, about 15 s
#
# Method (docs/performance.md explains how to read the result):
# * One upstream for both: nginx (one process, access log off) serving a 2 KiB file twice,
#   as /hit.html with `Cache-Control: max-age=3600` and as /miss.html with `no-store`.
# * Squid as a memory-only forward proxy on loopback: no cache_dir, cache_mem 256 MB, objects
#   up to 8 MB in memory (the proxy's --max-object), collapsed_forwarding on, one worker, no
#   pinger, no access log, and `server_persistent_connections off`: this proxy asks its
#   upstream in HTTP/1.0, one connection per request, so Squid must too for the misses to
#   compare. http_proxy runs with RUST_LOG=warn (no access log either).
# * The proxy under test is pinned to CPU 0 (taskset -c 0); ab and nginx to CPU 1.
# * Proxy CPU: utime+stime from /proc/PID/stat (Squid: its process and its children) before
#   and after each load, divided by the requests ab completed. Every load must end with 0
#   failed and 0 non-2xx requests, and all of them kept alive, or the script fails.
# * System calls: perf stat -e raw_syscalls:sys_enter (or strace -c -f) attached to the proxy
#   during a separate, shorter ab run, divided by its requests.
#
# Environment (all optional): N=20000 requests per ab run, ROUNDS=2 loads per proxy and kind
#   (interleaved, order swapped each round), PORT_BASE=21400, QUICK=1.
# Needs: squid (apt-get install -y squid; keep its service from starting, or stop it: it
#   binds 3128, which this script does not use), nginx, ab (apache2-utils), curl, taskset.
# Bounded: every load has a count and runs under `timeout`; every process the script starts
# is killed on exit, even on failure or Ctrl-C; the temporary directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh # say, die, the clean-up on exit, need_tools, syscalls_per_request

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    N=${N:-500} SYSN=200 ROUNDS=${ROUNDS:-1}
else
    N=${N:-20000} SYSN=2000 ROUNDS=${ROUNDS:-2}
fi
PORT_BASE=${PORT_BASE:-21400}
UP_PORT=$((PORT_BASE + 0)) OURS_PORT=$((PORT_BASE + 1)) SQUID_PORT=$((PORT_BASE + 2))
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-proxy.XXXXXX")
REMOVE+=("$WORK")
# Squid, started as root, drops to user proxy, which must reach its files: they get a
# directory of their own under /tmp, since $TMPDIR may be private (mktemp -d makes 0700).
SQUID_DIR=$(mktemp -d /tmp/bench-proxy-squid.XXXXXX)
REMOVE+=("$SQUID_DIR")
chmod 755 "$SQUID_DIR"
LOG=$WORK/log.txt

need_tools "apt-get install -y squid nginx apache2-utils curl" ab nginx squid taskset curl
[[ $(nproc) -ge 2 ]] || say "warning: $(nproc) CPU(s): the proxy and the load will share one"
use_syscall_counter

cargo build --release --quiet --example http_proxy 2>>"$LOG" || die "build failed"
PROXY_BIN=target/release/examples/http_proxy

# --- the upstream: nginx, one file under two names with opposite caching rules -------------
mkdir -p "$WORK/root"
head -c 2048 /dev/urandom | base64 -w 76 | head -c 2048 >"$WORK/root/page.html"
write_nginx_conf "$WORK/nginx" 4096 <<EOF
    keepalive_timeout 15s;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        root $WORK/root;
        location = /hit.html { alias $WORK/root/page.html; add_header Cache-Control "max-age=3600"; }
        location = /miss.html { alias $WORK/root/page.html; add_header Cache-Control "no-store"; }
    }
EOF

# --- Squid: memory only, loopback, one worker, upstream keep-alive off ----------------------
cat >"$SQUID_DIR/squid.conf" <<EOF
http_port 127.0.0.1:$SQUID_PORT
visible_hostname bench-squid
http_access allow localhost
http_access deny all
cache_mem 256 MB
maximum_object_size_in_memory 8 MB
maximum_object_size 8 MB
collapsed_forwarding on
workers 1
pinger_enable off
access_log none
cache_store_log none
shutdown_lifetime 1 seconds
pid_filename $SQUID_DIR/squid.pid
cache_log $SQUID_DIR/cache.log
coredump_dir $SQUID_DIR
server_persistent_connections off
EOF
if [[ $(id -u) == 0 ]] && id proxy >/dev/null 2>&1; then chown -R proxy "$SQUID_DIR"; fi
squid -k parse -f "$SQUID_DIR/squid.conf" >>"$LOG" 2>&1 || die "squid -k parse failed"

# --- helpers ---------------------------------------------------------------------------------
# CPU ticks of a process and its children (Squid may fork helpers).
cpu_ticks() {
    local pid total=0 t
    for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

wait_url() { # URL PID [PROXY]
    local i
    for i in $(seq 100); do
        if [[ -n ${3:-} ]]; then
            curl -s -o /dev/null -x "$3" "$1" && return 0
        else
            curl -s -o /dev/null "$1" && return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

taskset -c 1 nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" 2>>"$LOG" &
PIDS+=("$!")
wait_url "http://127.0.0.1:$UP_PORT/hit.html" "$!" || die "nginx did not start"

# start NAME: sets SPID and PROXY (host:port). Pinned to CPU 0.
start() {
    case $1 in
    http_proxy)
        PROXY=127.0.0.1:$OURS_PORT
        RUST_LOG=warn taskset -c 0 "$PROXY_BIN" --port "$OURS_PORT" 2>>"$LOG" &
        ;;
    squid)
        PROXY=127.0.0.1:$SQUID_PORT
        taskset -c 0 squid -N -f "$SQUID_DIR/squid.conf" 2>>"$LOG" &
        ;;
    esac
    SPID=$!
    PIDS+=("$SPID")
    wait_url "http://127.0.0.1:$UP_PORT/hit.html" "$SPID" "http://$PROXY" || die "$1 did not start (see $LOG)"
    # The stored copy, and proof that each URL does what its name says.
    local hit miss
    hit=$(curl -s -D - -o /dev/null -x "http://$PROXY" "http://127.0.0.1:$UP_PORT/hit.html" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
    miss=$(curl -s -D - -o /dev/null -x "http://$PROXY" "http://127.0.0.1:$UP_PORT/miss.html" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
    [[ $hit == HIT* ]] || die "$1: /hit.html is not a hit (X-Cache: $hit)"
    [[ $miss == MISS* ]] || die "$1: /miss.html is not a miss (X-Cache: $miss)"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# run_load KIND: ab on CPU 1 through $PROXY; prints "requests seconds rate failed kept".
run_load() {
    local out
    out=$(timeout 300 taskset -c 1 ab -q -k -n "$N" -c 10 -s 10 -X "$PROXY" \
        "http://127.0.0.1:$UP_PORT/$1.html" 2>>"$LOG") || true
    awk '
        /^Complete requests:/ { n = $3 }
        /^Failed requests:/ { f = $3 }
        /^Non-2xx responses:/ { f += $3 }
        /^Keep-Alive requests:/ { k = $3 }
        /^Time taken for tests:/ { s = $5 }
        /^Requests per second:/ { r = $4 }
        END { print n + 0, s + 0, r + 0, f + 0, k + 0 }' <<<"$out"
}

# count_syscalls PID KIND: system calls per request over a SYSN-request ab run.
count_syscalls() {
    syscalls_per_request "$1" "$SYSN" \
        timeout 120 taskset -c 1 ab -q -k -n "$SYSN" -c 10 -s 10 -X "$PROXY" "http://127.0.0.1:$UP_PORT/$2.html"
}

declare -A CPU REQS RATE SYS
measure() { # NAME KIND
    local before after n s r f k
    before=$(cpu_ticks "$SPID")
    read -r n s r f k < <(run_load "$2")
    after=$(cpu_ticks "$SPID")
    [[ $n -gt 0 && $f == 0 ]] || die "$1 $2: $n requests completed, $f failed or non-2xx"
    [[ $k == "$n" ]] || die "$1 $2: only $k of $n requests kept the connection alive"
    CPU[$1.$2]=$(( ${CPU[$1.$2]:-0} + after - before ))
    REQS[$1.$2]=$(( ${REQS[$1.$2]:-0} + n ))
    RATE[$1.$2]="${RATE[$1.$2]:-}${RATE[$1.$2]:+ / }$r"
    say "$1 $2: $n requests in $s s ($r/s), $((after - before)) ticks"
}

ORDER=(http_proxy squid)
for round in $(seq "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        start "$name"
        for kind in hit miss; do measure "$name" "$kind"; done
        stop "$SPID"
    done
    ORDER=("${ORDER[1]}" "${ORDER[0]}")
done
for name in http_proxy squid; do
    start "$name"
    for kind in hit miss; do SYS[$name.$kind]=$(count_syscalls "$SPID" "$kind"); done
    stop "$SPID"
done

us_per_req() { awk -v t="$1" -v n="$2" -v hz="$TICK" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }'; }
echo "| load | proxy | requests/s (per round) | proxy CPU µs/request | system calls/request |"
echo "|---|---|---|---|---|"
for kind in hit miss; do
    for name in http_proxy squid; do
        echo "| $kind | $name | ${RATE[$name.$kind]} | $(us_per_req "${CPU[$name.$kind]}" "${REQS[$name.$kind]}") | ${SYS[$name.$kind]} |"
    done
done
for kind in hit miss; do
    awk -v a="${CPU[http_proxy.$kind]}" -v na="${REQS[http_proxy.$kind]}" \
        -v b="${CPU[squid.$kind]}" -v nb="${REQS[squid.$kind]}" -v k="$kind" \
        'BEGIN {
            if (b == 0 || nb == 0) printf "\n%s: too few clock ticks to compare (a QUICK run?)", k
            else printf "\n%s: http_proxy uses %.2f x the CPU per request of Squid", k, (a / na) / (b / nb)
        }'
done
echo
say "squid: $(squid -v | head -1); CPUs: $(nproc); N=$N ROUNDS=$ROUNDS"
