#!/usr/bin/env bash
# REDbot ("lint for HTTP", PyPI `redbot`) against examples/http_server and nginx serving the
# same files: every message REDbot reports for this server must also be reported for nginx,
# except the ones listed in EXCEPTIONS below (docs/http.md, "What REDbot says", says why).
#
#   scripts/redbot-check.sh          # about 30 s; .ci/run runs it
#   KEEP=1 scripts/redbot-check.sh   # also print both reports in full
#
# REDbot is installed with pip into a virtualenv of its own ($REDBOT_VENV, default
# target/redbot-venv), made on first use from PyPI, at a pinned version. The resources: the
# start page, the image, the large file (REDbot also checks a Range request, conditional
# requests and Vary on each) and the negotiated /negotiation/hello, which nginx (no
# MultiViews) serves as the variant it names, /negotiation/hello.en.html.
# Both servers run with one-minute freshness on every path (http_server --cache /=60,
# nginx `expires 60`), because REDbot's caching notes are half of what it says.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh # say, die, the clean-up on exit, need_tools, wait_listening

REDBOT_VERSION=2.7.1
VENV=${REDBOT_VENV:-target/redbot-venv}
PORT_BASE=${PORT_BASE:-21400}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/redbot-check.XXXXXX")
REMOVE+=("$WORK")

need_tools "apt-get install -y nginx curl python3-venv" nginx curl python3
if ! "$VENV/bin/redbot" --help >/dev/null 2>&1; then
    say "redbot-check: installing redbot $REDBOT_VERSION into $VENV"
    python3 -m venv "$VENV" || die "cannot make a virtualenv (apt-get install -y python3-venv)"
    timeout 600 "$VENV/bin/pip" install --quiet "redbot==$REDBOT_VERSION" ||
        die "cannot install redbot $REDBOT_VERSION from PyPI"
fi

cargo build --quiet --example http_server || die "build failed"
ROOT=$WORK/root
cp -r site "$ROOT"
# A copy made a moment ago has Last-Modified equal to Date, and REDbot's wording of that
# ("in 0 seconds" or "0 seconds ago") depends on which side of a second each server's
# clock read fell: date the copy as a deployed site would be.
find "$ROOT" -exec touch -d '2026-01-01 00:00:00 UTC' {} +

write_nginx_conf "$WORK/nginx" 256 <<EOF
    include /etc/nginx/mime.types;
    sendfile on;
    server {
        listen 127.0.0.1:$((PORT_BASE + 1));
        root $ROOT;
        expires 60;
        charset utf-8;
        charset_types text/css text/plain application/javascript;
        location /listing/ { autoindex on; }
    }
EOF

nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
PIDS+=($!)
wait_listening $((PORT_BASE + 1)) "$!" || die "nginx did not start"
RUST_LOG=warn target/debug/examples/http_server --port $((PORT_BASE + 2)) --root "$ROOT" --cache /=60 &
PIDS+=($!)
wait_listening $((PORT_BASE + 2)) "$!" || die "http_server did not start"

# Messages this server gets and nginx does not, kept on purpose (docs/http.md says why):
# fixed strings, one per element.
EXCEPTIONS=(
    # A note of approval: the listing has a Content-Length (HTTP/1.0), where nginx's
    # autoindex answers HTTP/1.1 with chunked coding and so has none to check.
    'The Content-Length header is correct.'
)

# notes FILE: REDbot's messages, one per line, sorted (the bullet lines of its report),
# numbers replaced by N: "The resource last changed 9 seconds ago" (or "1 second ago")
# depends on when the copy was made and when REDbot asked, not on the server.
notes() {
    sed -n 's/^ *\* //p' "$1" |
        sed -E 's/[0-9]+ (second|minute|hour|day|week|month|year)s?/N \1s/g; s/[0-9]+/N/g' | sort -u
}

status=0
for pair in /index.html:/index.html /logo.png:/logo.png /files/large.txt:/files/large.txt \
    /negotiation/hello:/negotiation/hello.en.html /listing/:/listing/; do
    ours=${pair%%:*} theirs=${pair#*:}
    timeout 120 "$VENV/bin/redbot" -o text "http://127.0.0.1:$((PORT_BASE + 2))$ours" >"$WORK/ours.txt" ||
        die "redbot failed on http_server $ours"
    timeout 120 "$VENV/bin/redbot" -o text "http://127.0.0.1:$((PORT_BASE + 1))$theirs" >"$WORK/nginx.txt" ||
        die "redbot failed on nginx $theirs"
    if [[ -n ${KEEP:-} ]]; then
        say "=== http_server $ours"; cat "$WORK/ours.txt" >&2
        say "=== nginx $theirs"; cat "$WORK/nginx.txt" >&2
    fi
    extra=$(comm -23 <(notes "$WORK/ours.txt") <(notes "$WORK/nginx.txt"))
    kept=$extra
    for pattern in ${EXCEPTIONS[@]+"${EXCEPTIONS[@]}"}; do
        kept=$(grep -v -F -- "$pattern" <<<"$kept" || true)
    done
    excused=$(comm -23 <(sort <<<"$extra") <(sort <<<"$kept") | sed '/^$/d')
    printf '%s (nginx: %s): %d messages, %d not reported for nginx, %d of them listed exceptions\n' \
        "$ours" "$theirs" "$(notes "$WORK/ours.txt" | wc -l)" "$(sed '/^$/d' <<<"$extra" | wc -l)" \
        "$(sed '/^$/d' <<<"$excused" | wc -l)"
    if [[ -n $excused ]]; then sed 's/^/    excepted: /' <<<"$excused"; fi
    if [[ -n $(sed '/^$/d' <<<"$kept") ]]; then
        sed 's/^/    NOT REPORTED FOR NGINX: /' <<<"$kept"
        status=1
    fi
done
exit $status
