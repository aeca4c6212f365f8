#!/usr/bin/env bash
# Echo servers under load: messages per second, server CPU time and system calls per
# message, and memory per idle connection, for echo_server (the selector), echo_protocol
# (the same server on the protocol layer, src/event_loop/), echo_threads (a thread per client), echo_raw_mio (raw edge-triggered mio, the ceiling of a mio loop),
# echo_floor_c (scripts/echo-floor.c: the least any server can do per message, in C; it
# needs a C compiler, and is left out with a warning where there is none) and Python's
# selectors server (docs/python/echo_server.py). Prints markdown tables on stdout; progress
# and the servers' logs go to stderr / a log file.
#
#   scripts/bench-echo.sh              # full run (about 10 minutes; the estimate is printed)
#   D=5 ROUNDS=3 scripts/bench-echo.sh # longer runs, more rounds
#   QUICK=1 scripts/bench-echo.sh      # smoke test: one tiny configuration per server, < 1 min
#
# Method (docs/performance.md explains how to read the result):
# * Every server runs pinned to CPU 0 (taskset -c 0) and the load generator (echo_load) to
#   CPU 1, on 127.0.0.1 only. For each C in {1,50,500}, S in {64,4096} and mode in
#   {ping-pong, pipelined (16 in flight per connection)}, each server gets ROUNDS loads of
#   D seconds, the servers in rotating order.
# * Server CPU: utime+stime from /proc/PID/stat (all threads) before and after each load,
#   over the messages that load counted (connecting 500 clients is included, and is
#   noise). It is the stable figure when the load generator, not the server, saturates
#   its core. "server CPU %" says which one was the bottleneck.
# * System calls: a separate, shorter load (SC_D seconds) with `perf stat -e
#   raw_syscalls:sys_enter` (and one tracepoint per call of interest) attached to the
#   server, because counting costs ~0.15 us per call and would skew the CPU figures. If
#   perf does not work, `strace -c -f` does the count instead (slower still; same run).
# * Idle memory: each server fresh, VmRSS from /proc/PID/status before and after IDLE
#   connections (10,000) are opened by a small Python client and held; bytes per idle
#   connection = delta / IDLE.
#
# Environment (all optional):
#   D=3             seconds per load            ROUNDS=2       loads per server and configuration
#   SC_D=1          seconds of the counted load IDLE=10000     idle connections (0: skip that part)
#   QUICK=1         the smoke test              COUNTER=perf   or strace (default: perf if it works)
#   BENCH_CONFIGS="50 64 ping-pong;1 64 pipelined"   a subset of the configurations
#   BENCH_SERVERS="echo_server echo_raw_mio"         a subset of the servers
#   CC=cc           the C compiler for echo_floor_c
#   PORT_BASE=21100 first port; below the ephemeral range, so that the 10,000 client
#                   sockets cannot hold a port a server needs
#   KEEP=1          keep the work files (logs, raw results) even after a clean run
#   TMPDIR=/tmp     where the work directory is made
#
# The work directory (bench-echo.XXXXXX under $TMPDIR) is removed at the end of a clean run,
# and kept, with its path printed, when something failed, so that its log can be read.
#
# Bounded: every load by echo_load's own --duration + --grace, every wait here by a timeout;
# every process the script starts is killed on exit, even on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-echo: $*"; [[ -z ${LOG:-} ]] || say "log: $LOG"; exit 1; }

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    D=${D:-0.5} ROUNDS=${ROUNDS:-1} SC_D=${SC_D:-0.5} IDLE=${IDLE:-200}
    CONFIGS=("50 64 ping-pong")
else
    D=${D:-3} ROUNDS=${ROUNDS:-2} SC_D=${SC_D:-1} IDLE=${IDLE:-10000}
    CONFIGS=()
    for c in 1 50 500; do
        for s in 64 4096; do
            for m in ping-pong pipelined; do CONFIGS+=("$c $s $m"); done
        done
    done
fi
# A subset, for quick comparisons: BENCH_CONFIGS="50 64 ping-pong;1 64 ping-pong".
if [[ -n ${BENCH_CONFIGS:-} ]]; then IFS=';' read -r -a CONFIGS <<<"$BENCH_CONFIGS"; fi
read -r -a SERVERS <<<"${BENCH_SERVERS:-echo_server echo_protocol echo_threads echo_raw_mio echo_floor_c python}"
CC=${CC:-cc}
PORT_BASE=${PORT_BASE:-21100}
read -r EPHEMERAL_LO EPHEMERAL_HI </proc/sys/net/ipv4/ip_local_port_range
if ((PORT_BASE + 20 >= EPHEMERAL_LO && PORT_BASE <= EPHEMERAL_HI)); then
    say "warning: ports $PORT_BASE.. are in the ephemeral range $EPHEMERAL_LO-$EPHEMERAL_HI;" \
        "a server may find its port taken by a client socket"
fi
DEPTH=16
GRACE=5
EX=target/release/examples
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-echo.XXXXXX")
LOG=$WORK/log.txt
PIDS=()

cleanup() {
    local status=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ $status == 0 && ${KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    else
        say "bench-echo: work files kept in $WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge $((IDLE + 100)) ]] || die "need $((IDLE + 100)) descriptors, ulimit -n is $(ulimit -n)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v python3 >/dev/null || die "python3 not found"
[[ $(nproc) -ge 2 ]] || say "warning: $(nproc) CPU(s): server and load will share one"

# --- the system-call counter -------------------------------------------------------------
SC_EVENTS=raw_syscalls:sys_enter
COUNTER=${COUNTER:-auto} # perf, strace, or auto: perf if it works
if [[ $COUNTER != strace ]] && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    COUNTER=perf
    for call in read recvfrom write sendto epoll_wait epoll_pwait epoll_pwait2 poll ppoll epoll_ctl; do
        if perf stat -e "syscalls:sys_enter_$call" true >/dev/null 2>&1; then
            SC_EVENTS+=",syscalls:sys_enter_$call"
        fi
    done
elif [[ $COUNTER != perf ]] && command -v strace >/dev/null; then
    COUNTER=strace
else
    die "neither perf (apt-get install -y linux-perf) nor strace works: cannot count system calls"
fi

runs=$((${#CONFIGS[@]} * ${#SERVERS[@]}))
estimate=$(awk -v r="$runs" -v d="$D" -v n="$ROUNDS" -v s="$SC_D" -v i="$IDLE" \
    'BEGIN { printf "%.0f", r * (n * (d + 0.6) + s + 1.0) + 4 * (3 + i / 2500) + 20 }')
say "bench-echo: $runs server x configuration pairs, $ROUNDS x ${D} s + ${SC_D} s each;" \
    "idle memory with $IDLE connections; about $estimate s (plus the build)"
say "bench-echo: system calls counted with $COUNTER"

cargo build --release --quiet --example echo_server --example echo_protocol --example echo_threads \
    --example echo_raw_mio --example echo_load 2>>"$LOG" || die "build failed"
if [[ " ${SERVERS[*]} " == *" echo_floor_c "* ]]; then
    if ! command -v "$CC" >/dev/null; then
        # Asked for by name, it must run; in the default list, it is a bonus.
        [[ -z ${BENCH_SERVERS:-} ]] || die "echo_floor_c needs a C compiler (CC=$CC not found)"
        say "warning: no C compiler ($CC): echo_floor_c left out"
        read -r -a SERVERS <<<"${SERVERS[*]/echo_floor_c/}"
    else
        "$CC" -O2 -o "$WORK/echo-floor" scripts/echo-floor.c 2>>"$LOG" || die "cannot compile scripts/echo-floor.c"
    fi
fi

# --- helpers -------------------------------------------------------------------------------
# cpu_ticks PID: "utime+stime utime" of the whole process (every thread), in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $12 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
now() { date +%s.%N; }
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<" $2"; }

# start_server NAME PORT [extra args]: starts it on CPU 0, waits until it listens; sets SPID.
# Fails (status 1, logged) if it exits or does not listen within 10 s.
start_server() {
    local name=$1 port=$2
    shift 2
    case $name in
    python) taskset -c 0 python3 docs/python/echo_server.py --port "$port" "$@" 2>>"$LOG" & ;;
    echo_floor_c) taskset -c 0 "$WORK/echo-floor" --port "$port" "$@" 2>>"$LOG" & ;;
    *) taskset -c 0 "$EX/$name" --port "$port" "$@" 2>>"$LOG" & ;;
    esac
    SPID=$!
    PIDS+=("$SPID")
    local i
    for i in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            sleep 0.2 # let it finish with the probe connection
            return 0
        fi
        if ! kill -0 "$SPID" 2>/dev/null; then
            say "bench-echo: $name exited at start (see $LOG)"
            return 1
        fi
        sleep 0.1
    done
    say "bench-echo: $name is not listening on port $port after 10 s"
    return 1
}

stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# load PORT C S MODE SECONDS: runs echo_load on CPU 1; prints its summary line.
load() {
    taskset -c 1 "$EX/echo_load" --port "$1" --conns "$2" --size "$3" --mode "$4" \
        --depth "$DEPTH" --duration "$5" --grace "$GRACE" 2>>"$LOG"
}

# count_syscalls PID PORT C S MODE: one load of SC_D seconds with the counter attached.
# Prints "msgs total recv send epoll_wait poll epoll_ctl".
count_syscalls() {
    local pid=$1 port=$2 out rc=0 counter msgs
    local file=$WORK/syscalls.txt
    rm -f "$file"
    if [[ $COUNTER == perf ]]; then
        perf stat -e "$SC_EVENTS" -x, -o "$file" -p "$pid" 2>>"$LOG" &
    else
        strace -c -f -q -o "$file" -p "$pid" 2>>"$LOG" &
    fi
    counter=$!
    PIDS+=("$counter")
    sleep 0.5 # attached before the load starts
    out=$(load "$port" "$3" "$4" "$5" "$SC_D") || rc=$?
    sleep 0.1
    # perf prints its counts on SIGINT; strace detaches and prints its summary on SIGTERM.
    if [[ $COUNTER == perf ]]; then kill -INT "$counter"; else kill -TERM "$counter"; fi 2>/dev/null || true
    wait "$counter" 2>/dev/null || true
    msgs=$(field msgs "$out")
    [[ $rc == 0 && -n $msgs ]] || { echo "ERR"; return; }
    if [[ $COUNTER == perf ]]; then
        awk -F, -v msgs="$msgs" '
            { n = ($1 ~ /^[0-9]+$/) ? $1 : 0; e = $3; sub(/^syscalls:sys_enter_/, "", e) }
            e == "raw_syscalls:sys_enter" { total = n }
            e == "read" || e == "recvfrom" { recv += n }
            e == "write" || e == "sendto" { send += n }
            e ~ /^epoll_(p?wait2?)$/ { ew += n }
            e == "poll" || e == "ppoll" { poll += n }
            e == "epoll_ctl" { ctl += n }
            END { print msgs, total + 0, recv + 0, send + 0, ew + 0, poll + 0, ctl + 0 }' "$file"
    else
        awk -v msgs="$msgs" '
            $NF == "total" { total = $4 }
            $1 ~ /^[0-9.]+$/ && $NF != "total" {
                n = $4; e = $NF
                if (e == "read" || e == "recvfrom") recv += n
                if (e == "write" || e == "sendto") send += n
                if (e ~ /^epoll_(p?wait2?)$/) ew += n
                if (e == "poll" || e == "ppoll") poll += n
                if (e == "epoll_ctl") ctl += n
            }
            END { print msgs, total + 0, recv + 0, send + 0, ew + 0, poll + 0, ctl + 0 }' "$file"
    fi
}

# --- the load runs --------------------------------------------------------------------------
# One instance of each server for all loads, on its own port; an idle server costs nothing.
declare -A PID_OF PORT_OF
i=0
for name in "${SERVERS[@]}"; do
    PORT_OF[$name]=$((PORT_BASE + i))
    start_server "$name" "${PORT_OF[$name]}" || die "cannot start $name"
    PID_OF[$name]=$SPID
    i=$((i + 1))
done

RESULTS=$WORK/results.txt # C S mode server msgs secs wall cpu_ticks p50 p99 errors user_ticks
SYSCALLS=$WORK/syscalls-per-run.txt # C S mode server msgs total recv send epoll_wait poll ctl
: >"$RESULTS"
: >"$SYSCALLS"
failures=0
started=$(now)
for config in "${CONFIGS[@]}"; do
    read -r C S MODE <<<"$config"
    say "C=$C S=$S $MODE"
    for round in $(seq "$ROUNDS"); do
        # Rotate the order each round, so no server always runs first (or last).
        for k in "${!SERVERS[@]}"; do
            name=${SERVERS[$(((k + round - 1) % ${#SERVERS[@]}))]}
            pid=${PID_OF[$name]}
            kill -0 "$pid" 2>/dev/null || die "$name died (see $LOG)"
            read -r before user_before < <(cpu_ticks "$pid")
            t0=$(now)
            rc=0
            out=$(load "${PORT_OF[$name]}" "$C" "$S" "$MODE" "$D") || rc=$?
            t1=$(now)
            read -r after user_after < <(cpu_ticks "$pid")
            # Each load's own CPU per message, so the spread behind the means can be read.
            say "  $name: $out cpu_us_per_msg=$(awk -v t=$((after - before)) -v m="$(field msgs "$out")" \
                -v hz="$TICK" 'BEGIN { if (m > 0) printf "%.2f", t / hz * 1e6 / m; else print "n/a" }')"
            errors=$(field errors "$out")
            if [[ $rc != 0 || -z $errors ]]; then
                failures=$((failures + 1))
                errors=${errors:-1}
                [[ $errors != 0 ]] || errors=1
            fi
            echo "$C $S $MODE $name $(field msgs "$out") $(field secs "$out")" \
                "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $((after - before))" \
                "$(field p50_us "$out") $(field p99_us "$out") $errors" \
                "$((user_after - user_before))" >>"$RESULTS"
        done
    done
    for name in "${SERVERS[@]}"; do
        counts=$(count_syscalls "${PID_OF[$name]}" "${PORT_OF[$name]}" "$C" "$S" "$MODE")
        [[ $counts != ERR ]] || failures=$((failures + 1))
        echo "$C $S $MODE $name $counts" >>"$SYSCALLS"
    done
done
for name in "${SERVERS[@]}"; do stop_server "${PID_OF[$name]}"; done
load_secs=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')

# --- idle memory ------------------------------------------------------------------------------
HOLDER=$WORK/hold.py
cat >"$HOLDER" <<'EOF'
# Opens N connections to 127.0.0.1:PORT, says "ready", holds them until stdin closes.
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]
print("ready", len(conns), flush=True)
sys.stdin.read()
EOF
IDLE_RESULTS=$WORK/idle.txt # server before_kib after_kib
SERVERS_IDLE=("${SERVERS[@]}")
: >"$IDLE_RESULTS"
i=10
((IDLE > 0)) || SERVERS_IDLE=()
for name in "${SERVERS_IDLE[@]}"; do
    port=$((PORT_BASE + i))
    i=$((i + 1))
    extra=()
    # 10,000 idle connections: the echo servers' default cap (10,000, lowered to fit the
    # descriptor limit) may be short; ask for room, and fail loudly if the limit has none.
    [[ $name != echo_server && $name != echo_protocol ]] || extra=(--max-conns $((IDLE + 100)))
    if ! start_server "$name" "$port" "${extra[@]}"; then
        echo "$name - ERR" >>"$IDLE_RESULTS"
        failures=$((failures + 1))
        continue
    fi
    pid=$SPID
    sleep 0.3
    fds=$(fd_count "$pid")
    before=$(rss_kib "$pid")
    # The holder's stdin is a pipe we keep open; closing it (or killing it) ends it.
    rm -f "$WORK/hold.out"
    exec {hold_in}> >(exec timeout 120 taskset -c 1 python3 "$HOLDER" "$port" "$IDLE" >"$WORK/hold.out" 2>>"$LOG")
    PIDS+=("$!")
    ok=0
    for _ in $(seq 600); do # the server has accepted them all: one descriptor each
        if [[ $(fd_count "$pid") -ge $((fds + IDLE)) ]] && grep -q ready "$WORK/hold.out" 2>/dev/null; then
            ok=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    after=$(rss_kib "$pid" 2>/dev/null || echo "")
    if [[ $ok == 1 && -n $after ]]; then
        echo "$name $before $after" >>"$IDLE_RESULTS"
        say "idle: $name $before KiB -> $after KiB"
    else
        echo "$name $before ERR" >>"$IDLE_RESULTS"
        say "idle: $name did not hold $IDLE connections (see $LOG)"
        failures=$((failures + 1))
    fi
    exec {hold_in}>&-
    stop_server "$pid"
    sleep 0.3
done

# --- the tables ---------------------------------------------------------------------------
awk -v tick="$TICK" -v idle="$IDLE" -v counter="$COUNTER" -v d="$D" -v rounds="$ROUNDS" -v quick="$QUICK" \
    -v scd="$SC_D" -v depth="$DEPTH" -v syscalls_file="$SYSCALLS" -v idle_file="$IDLE_RESULTS" '
function key(c, s, m) { return c SUBSEP s SUBSEP m }
function fmt(x, p) { return (x == "") ? "n/a" : sprintf("%." p "f", x) }
# A goal is "not measured" when a server it compares with was left out of the run, and
# "not judged" in a quick run: half-second loads on a shared machine are noise.
function verdict(x, ok) { return (x == "") ? "not measured" : quick ? "not judged (QUICK=1)" : ok ? "met" : "NOT met" }
BEGIN { nserv = split("echo_server echo_protocol echo_threads echo_raw_mio echo_floor_c python", serv, " ") }
{
    k = key($1, $2, $3); n = $4
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k; cs[k] = $1; ss[k] = $2; ms[k] = $3 }
    msgs[k, n] += $5; secs[k, n] += $6; wall[k, n] += $7; cpu[k, n] += $8
    p50[k, n] += $9; p99[k, n] += $10; runs[k, n]++; errs[k, n] += $11; user[k, n] += $12
}
END {
    while ((getline line < syscalls_file) > 0) {
        split(line, f, " ")
        k = key(f[1], f[2], f[3]); n = f[4]
        if (f[5] == "ERR" || f[5] == 0) { sc[k, n] = ""; continue }
        sc[k, n] = f[6] / f[5]
        for (j = 7; j <= 11; j++) br[k, n, j] = f[j] / f[5]
    }
    print "| C | S | mode | server | msgs/s | p50 µs | p99 µs | server CPU % | CPU µs/msg | of which user | syscalls/msg | CPU/msg vs raw mio | msgs per CPU-s vs Python |"
    print "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nk; i++) {
        k = order[i]
        for (j = 1; j <= nserv; j++) {
            n = serv[j]
            if (!((k, n) in runs)) continue
            us[k, n] = (msgs[k, n] > 0) ? cpu[k, n] / tick * 1e6 / msgs[k, n] : ""
        }
        for (j = 1; j <= nserv; j++) {
            n = serv[j]
            if (!((k, n) in runs)) continue
            vs_raw = ""; vs_py = ""
            if ((n == "echo_server" || n == "echo_protocol") && us[k, "echo_raw_mio"] > 0 && us[k, n] > 0)
                vs_raw = sprintf("%.2f", us[k, n] / us[k, "echo_raw_mio"])
            # Every server against Python, so that the floor shows what any server could reach.
            if (n != "python" && us[k, "python"] > 0 && us[k, n] > 0)
                vs_py = sprintf("%.1f", us[k, "python"] / us[k, n])
            rate = (secs[k, n] > 0) ? msgs[k, n] / secs[k, n] : ""
            label = (n == "python") ? "python echo_server.py" : n
            if (errs[k, n] > 0) label = label " (**" errs[k, n] " errors**)"
            usr = (msgs[k, n] > 0) ? user[k, n] / tick * 1e6 / msgs[k, n] : ""
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
                cs[k], ss[k], ms[k], label, fmt(rate, 0), fmt(p50[k, n] / runs[k, n], 0), \
                fmt(p99[k, n] / runs[k, n], 0), fmt(100 * cpu[k, n] / tick / wall[k, n], 0), \
                fmt(us[k, n], 2), fmt(usr, 2), fmt(sc[k, n], 2), vs_raw, vs_py
        }
    }
    printf "\nmsgs/s, p50, p99: echo_load, mean of %d load(s) of %s s; pipelined = %d messages in flight per connection.\n", rounds, d, depth
    printf "server CPU: utime+stime of the server (all threads) over the same loads; CPU %% of its one core;\n"
    printf "  \"of which user\": utime alone (the rest is the kernel: TCP on loopback, system calls, wake-ups).\n"
    printf "syscalls/msg: a separate %s s load with %s attached (counting slows the server).\n", scd, counter == "perf" ? "perf stat -e raw_syscalls:sys_enter" : "strace -c -f"
    printf "vs raw mio: that server'"'"'s CPU per message / echo_raw_mio'"'"'s (lower is better; goal for echo_server <= 1.05 at C=50).\n"
    printf "vs Python: that server'"'"'s messages per CPU-second / Python'"'"'s (goal for echo_server: >= 3).\n"
    printf "echo_floor_c: scripts/echo-floor.c, one epoll_wait per wake-up and one read + one write per message, in C.\n"

    print "\nSystem calls per message, by call (same counting run):\n"
    print "| C | S | mode | server | recv | send | epoll_wait | poll | epoll_ctl | other | total |"
    print "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nk; i++) {
        k = order[i]
        for (j = 1; j <= nserv; j++) {
            n = serv[j]
            if (!((k, n) in sc) || sc[k, n] == "") continue
            other = sc[k, n]
            for (x = 7; x <= 11; x++) other -= br[k, n, x]
            printf "| %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", \
                cs[k], ss[k], ms[k], (n == "python") ? "python" : n, br[k, n, 7], br[k, n, 8], \
                br[k, n, 9], br[k, n, 10], br[k, n, 11], other, sc[k, n]
        }
    }
    print "\nrecv = read + recvfrom; send = write + sendto; epoll_wait includes epoll_pwait; poll includes ppoll."

    if (idle > 0) {
        printf "\nMemory per idle connection, %d connections held open:\n\n", idle
        print "| server | RSS before (KiB) | RSS with idle connections (KiB) | bytes per idle connection |"
        print "|---|---:|---:|---:|"
    } else {
        print "\nMemory per idle connection: not measured (IDLE=0)."
    }
    while ((getline line < idle_file) > 0) {
        split(line, f, " ")
        per = (f[3] == "ERR") ? "failed" : sprintf("%.0f", (f[3] - f[2]) * 1024 / idle)
        rss[f[1]] = per
        rss_n[f[1]] = (f[3] - f[2]) * 1024 / idle
        printf "| %s | %s | %s | %s |\n", (f[1] == "python") ? "python echo_server.py" : f[1], f[2], f[3], per
    }

    print "\nGoals (echo_server):\n"
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (cs[k] != 50 || !((k, "echo_server") in runs)) continue
        r = (us[k, "echo_raw_mio"] > 0) ? us[k, "echo_server"] / us[k, "echo_raw_mio"] : ""
        p = (us[k, "python"] > 0) ? us[k, "python"] / us[k, "echo_server"] : ""
        printf "- C=50 S=%s %s: CPU/msg %s x raw mio (<= 1.05: %s); syscalls/msg %s (<= 2.1: %s); %s x Python (>= 3: %s)\n", \
            ss[k], ms[k], fmt(r, 2), verdict(r, r <= 1.05), \
            fmt(sc[k, "echo_server"], 2), verdict(sc[k, "echo_server"], sc[k, "echo_server"] <= 2.1), \
            fmt(p, 1), verdict(p, p >= 3)
    }
    print "\nGoals (echo_protocol, the protocol layer, against echo_server in the same run):\n"
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (cs[k] != 50 || !((k, "echo_protocol") in runs) || !((k, "echo_server") in runs)) continue
        r = (us[k, "echo_server"] > 0) ? us[k, "echo_protocol"] / us[k, "echo_server"] : ""
        pa = sc[k, "echo_protocol"]; pb = sc[k, "echo_server"]
        printf "- C=50 S=%s %s: CPU/msg %s x echo_server (<= 1.10: %s); syscalls/msg %s vs %s (no more: %s)\n", \
            ss[k], ms[k], fmt(r, 2), verdict(r, r <= 1.10), fmt(pa, 2), fmt(pb, 2), \
            verdict((pa == "" || pb == "") ? "" : pa, pa <= pb + 0.005)
    }
    lo = ""; hi = ""
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (us[k, "python"] > 0 && us[k, "echo_server"] > 0) {
            x = us[k, "python"] / us[k, "echo_server"]
            if (lo == "" || x < lo) { lo = x; lk = k }
            if (hi == "" || x > hi) { hi = x; hk = k }
        }
    }
    if (lo != "") {
        split(lk, a, SUBSEP); split(hk, b, SUBSEP)
        printf "- messages per CPU-second vs Python, every row: %.1fx (C=%s S=%s %s) to %.1fx (C=%s S=%s %s)\n", \
            lo, a[1], a[2], a[3], hi, b[1], b[2], b[3]
    }
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (cs[k] != 50 || !(us[k, "echo_floor_c"] > 0 && us[k, "python"] > 0)) continue
        printf "- the floor, C=50 S=%s %s: echo_floor_c is %.1f x Python; echo_server is %s of the floor'"'"'s messages per CPU-second\n", \
            ss[k], ms[k], us[k, "python"] / us[k, "echo_floor_c"], \
            (us[k, "echo_server"] > 0) ? sprintf("%.2f", us[k, "echo_floor_c"] / us[k, "echo_server"]) : "n/a"
    }
    if ("echo_server" in rss)
        printf "- bytes per idle connection: %s (<= 512: %s)\n", rss["echo_server"], quick ? "not judged (QUICK=1)" : (rss["echo_server"] != "failed" && rss_n["echo_server"] <= 512) ? "met" : "NOT met"
}' "$RESULTS"

say "bench-echo: loads took $load_secs s; $failures failure(s)"
[[ $failures == 0 ]] || exit 1
