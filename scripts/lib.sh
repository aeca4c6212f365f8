# What bench-http.sh, bench-http-ab.sh, bench-proxy.sh and redbot-check.sh share, sourced
# by each after it has changed to the repository's root (`source scripts/lib.sh`): messages,
# the clean-up of every process and directory a script starts or makes, the checks for the
# tools it needs, and the system calls per request of a load.
# Not a program: it defines functions and sets the exit traps, nothing else.
#
# A script appends the process id of everything it starts to PIDS and every temporary
# directory it makes to REMOVE; on exit (even on failure or Ctrl-C) the processes are
# killed and waited for and the directories removed.

PIDS=()
REMOVE=()

say() { printf '%s\n' "$*" >&2; }

# die MESSAGE: "SCRIPT: MESSAGE" on stderr (and where the log is, once $LOG is set), exit 1.
die() {
    local name=${0##*/}
    say "${name%.sh}: $*"
    [[ -z ${LOG:-} ]] || say "log: $LOG"
    exit 1
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "${REMOVE[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# need_tools "APT HINT" TOOL...: dies naming the first TOOL not on PATH, and the hint.
need_tools() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found ($hint)"
    done
}

# use_syscall_counter: COUNTER=perf where `perf stat` can count system calls, else strace.
use_syscall_counter() {
    COUNTER=strace
    if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then COUNTER=perf; fi
    command -v strace >/dev/null || [[ $COUNTER == perf ]] || die "neither perf nor strace works"
}

# syscalls_per_request PID N LOAD...: runs the command LOAD (its output to $LOG, its
# failure ignored) with the system-call counter chosen by use_syscall_counter attached to
# PID, and prints the calls PID made divided by the N requests LOAD makes. Uses
# $WORK/sc.txt.
syscalls_per_request() {
    local pid=$1 n=$2 file=$WORK/sc.txt counter
    shift 2
    rm -f "$file"
    if [[ $COUNTER == perf ]]; then
        perf stat -e raw_syscalls:sys_enter -x, -o "$file" -p "$pid" 2>>"$LOG" &
    else
        strace -c -f -q -o "$file" -p "$pid" 2>>"$LOG" &
    fi
    counter=$!
    PIDS+=("$counter")
    # Let the counter attach before the load starts, and the last calls land before it stops.
    sleep 0.5
    "$@" >/dev/null 2>>"$LOG" || true
    sleep 0.2
    if [[ $COUNTER == perf ]]; then kill -INT "$counter"; else kill -TERM "$counter"; fi 2>/dev/null || true
    wait "$counter" 2>/dev/null || true
    if [[ $COUNTER == perf ]]; then
        awk -F, -v n="$n" '$3 == "raw_syscalls:sys_enter" { printf "%.1f", $1 / n }' "$file"
    else
        awk -v n="$n" '$NF == "total" { printf "%.1f", $4 / n }' "$file"
    fi
}

# wait_listening PORT PID: until a server on PORT answers /index.html (at most 10 s); fails
# at once if PID has exited.
wait_listening() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/index.html" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Writes DIR/nginx.conf for a benchmark or a comparison: one process in the foreground, no
# access log, every file it writes under DIR, CONNECTIONS per worker. The lines that make
# each run what it is (mime types, sendfile, keep-alive, the server block) come on stdin and
# go inside `http { }`.
write_nginx_conf() {
    local dir=$1 connections=$2
    mkdir -p "$dir"
    {
        cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $connections; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
        cat
        echo "}"
    } >"$dir/nginx.conf"
}
