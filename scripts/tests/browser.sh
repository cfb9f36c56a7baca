#!/usr/bin/env bash
# Browser tests of `labelnoise explore` (issue 13; docs/explore.md): installs Debian's
# chromium and playwright-core (npm, into web-tests/) when missing, builds the binary,
# starts `labelnoise explore` on a free port, runs web-tests/explore.test.mjs against it,
# keeps the screenshots and measurements under target/browser-artifacts/, stops the
# server, and prints "RESULT browser: N passed, M failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
artifacts="$PWD/target/browser-artifacts"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
}
trap cleanup EXIT
fail() {
    echo "browser: $1" >&2
    echo "RESULT browser: 0 passed, 1 failed"
    exit 1
}

echo "== browser: tools"
if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium"
    command -v apt-get >/dev/null || fail "chromium is missing and there is no apt-get to install it"
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null \
        || fail "apt-get install chromium failed"
fi
/usr/bin/chromium --version || fail "/usr/bin/chromium does not run"
command -v node >/dev/null || {
    echo "installing nodejs and npm"
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >/dev/null \
        || fail "apt-get install nodejs npm failed"
}
node --version
if [ ! -d web-tests/node_modules/playwright-core ]; then
    echo "installing playwright-core (npm ci in web-tests/)"
    (cd web-tests && npm ci --no-audit --no-fund) || fail "npm ci in web-tests/ failed"
fi

echo "== browser: build"
cargo build --release -p labelnoise-cli || fail "cargo build failed"

echo "== browser: server"
rm -rf "$artifacts"
mkdir -p "$artifacts"
log="$artifacts/server.log"
target/release/labelnoise explore --port 0 >"$log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -Eo 'http://[0-9.:]+/' "$log" | head -1)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$url" ] || { cat "$log"; fail "the server did not start"; }
echo "serving $url"

echo "== browser: tests"
out="$artifacts/tests.log"
(cd web-tests && EXPLORE_URL="$url" ARTIFACTS="$artifacts" CHROMIUM=/usr/bin/chromium node explore.test.mjs) 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
[ -n "$line" ] || line="0 passed, 1 failed"
kill -0 "$server_pid" 2>/dev/null || { echo "the server died during the tests"; status=1; }
echo "screenshots and measurements: $artifacts"
if [ "$status" -ne 0 ] && echo "$line" | grep -q ' 0 failed$'; then
    line="$(echo "$line" | grep -Eo '^[0-9]+ passed'), 1 failed"
fi
echo "RESULT browser: $line"
exit "$status"
