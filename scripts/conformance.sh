#!/usr/bin/env bash
# MCP conformance suite (server mode) against the Streamable HTTP transport.
#
# Starts `node dist/cli.js --http` on a free port, on the embedded sandbox with a fresh data
# dir, waits for /healthz, runs `conformance server` with conformance/expected-failures.yml as
# the baseline, stops the server and exits with the suite's code: any failure not in the
# baseline, or a baseline entry that now passes, fails the run.
#
# Usage: scripts/conformance.sh [extra conformance args, e.g. --scenario tools-list]
# Env:   CONFORMANCE_OUTPUT=DIR keeps the per-check results there.
# Needs: npm run build first.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f dist/cli.js ]]; then
  echo "conformance: dist/cli.js is missing; run npm run build first" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/clmcp-conformance.XXXXXX")
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean environment for the server: the sandbox, no token, nothing inherited from the caller.
unset_vars=()
while IFS= read -r v; do unset_vars+=(-u "$v"); done < <(compgen -e | grep -E '^(CAPILLARY_|MCP_)' || true)
env ${unset_vars[@]+"${unset_vars[@]}"} CAPILLARY_DATA_DIR="$work/data" CAPILLARY_LOG_LEVEL=warn \
  node dist/cli.js --http --port 0 2>"$work/server.log" &
pid=$!

url=""
for _ in $(seq 1 200); do
  url=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+/mcp' "$work/server.log" | head -n1 || true)
  [[ -n "$url" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "conformance: the server exited before listening:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.05
done
if [[ -z "$url" ]]; then
  echo "conformance: the server did not start within 10 s:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
node -e '
  const u = process.argv[1];
  const t = Date.now();
  (async () => {
    for (;;) {
      try { const r = await fetch(u); if (r.ok) return; } catch {}
      if (Date.now() - t > 10000) { console.error(`conformance: ${u} never answered 200`); process.exit(1); }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
' "${url%/mcp}/healthz"

echo "conformance: server at $url" >&2
args=(server --url "$url" --expected-failures conformance/expected-failures.yml)
[[ -n "${CONFORMANCE_OUTPUT:-}" ]] && args+=(-o "$CONFORMANCE_OUTPUT")
set +e
node_modules/.bin/conformance "${args[@]}" "$@"
code=$?
set -e
if [[ $code -ne 0 ]]; then
  echo "conformance: FAILED (exit $code); server log:" >&2
  cat "$work/server.log" >&2
fi
exit "$code"
