#!/usr/bin/env bash
# Server CPU per request of two http_server builds and nginx, side by side: for telling a
# change's cost from the noise of a shared machine, which scripts/bench-http.sh's two
# rounds cannot (docs/performance.md, "Back under 9 system calls per request").
#
#   scripts/bench-http-ab.sh OLD_BINARY NEW_BINARY
#
# e.g. with main built in a copy of the tree:
#   git archive main | tar -x -C /tmp/main-src
#   (cd /tmp/main-src && cargo build --release --example http_server)
#   cargo build --release --example http_server
#   scripts/bench-http-ab.sh /tmp/main-src/target/release/examples/http_server \
#       target/release/examples/http_server
#
# Method, as bench-http.sh's: the bundled site/, each server pinned to CPU 0, `ab` on
# CPU 1, CPU time (utime+stime) from /proc/PID/stat around each load, divided by the
# requests. Loads: `ab -n N -c 50` (connection per request) and `ab -k -n N -c 50`, on
# /index.html, ROUNDS rounds, the three servers interleaved in every round.
#
# Environment (optional): N=20000 requests per load, ROUNDS=3, PORT_BASE=21380.
# Bounded: every load runs under `timeout`; the servers are killed and the temporary
# directory removed on exit, even on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh # say, die, the clean-up on exit, need_tools, wait_listening

[[ $# == 2 ]] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
OLD=$1 NEW=$2
N=${N:-20000} ROUNDS=${ROUNDS:-3} PORT_BASE=${PORT_BASE:-21380}
need_tools "apt-get install -y apache2-utils nginx curl" ab nginx taskset curl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http-ab.XXXXXX")
REMOVE+=("$WORK")

cp -r site "$WORK/root"
sleep 2.5 # past the cache's "racily clean" window (src/http/site.rs)
write_nginx_conf "$WORK/nginx" 4096 <<EOF
    include /etc/nginx/mime.types;
    sendfile on;
    keepalive_timeout 15s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT_BASE backlog=4096;
        root $WORK/root;
    }
EOF

declare -A PID PORT
start() { # NAME PORT COMMAND...
    local name=$1 port=$2
    shift 2
    taskset -c 0 "$@" 2>>"$WORK/log.txt" &
    PID[$name]=$!
    PORT[$name]=$port
    PIDS+=("$!")
    wait_listening "$port" "$!" || die "$name did not start"
}
start nginx "$PORT_BASE" nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"
start old $((PORT_BASE + 1)) env RUST_LOG=warn "$OLD" --port $((PORT_BASE + 1)) --root "$WORK/root"
start new $((PORT_BASE + 2)) env RUST_LOG=warn "$NEW" --port $((PORT_BASE + 2)) --root "$WORK/root"

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TICK=$(getconf CLK_TCK)
declare -A TOTAL
for round in $(seq "$ROUNDS"); do
    for load in conn keep; do
        for name in old new nginx; do
            flag=()
            [[ $load == keep ]] && flag=(-k)
            before=$(ticks "${PID[$name]}")
            timeout 120 taskset -c 1 ab -q "${flag[@]}" -n "$N" -c 50 \
                "http://127.0.0.1:${PORT[$name]}/index.html" >/dev/null 2>&1 ||
                { echo "ab failed against $name" >&2; exit 1; }
            used=$(($(ticks "${PID[$name]}") - before))
            TOTAL[$name.$load]=$((${TOTAL[$name.$load]:-0} + used))
            awk -v r="$round" -v l="$load" -v n="$name" -v t="$used" -v hz="$TICK" -v req="$N" \
                'BEGIN { printf "round %s %-4s %-5s %.1f us/request\n", r, l, n, t / hz * 1e6 / req }' >&2
        done
    done
done

echo "| load | old µs/req | new µs/req | nginx µs/req | new / nginx |"
echo "|---|---:|---:|---:|---:|"
for load in conn keep; do
    awk -v l="$load" -v o="${TOTAL[old.$load]}" -v w="${TOTAL[new.$load]}" \
        -v x="${TOTAL[nginx.$load]}" -v hz="$TICK" -v req=$((N * ROUNDS)) 'BEGIN {
        f = 1e6 / hz / req
        name = (l == "conn") ? "`ab -n N -c 50` (connection per request)" : "`ab -k -n N -c 50`"
        printf "| %s | %.1f | %.1f | %.1f | %.2f |\n", name, o * f, w * f, x * f, (x ? w / x : 0)
    }'
done
