#!/usr/bin/env bash
# Smoke test with the MCP Inspector CLI (@modelcontextprotocol/inspector-cli), over stdio AND
# over Streamable HTTP, on the embedded sandbox: list the tools, read a balance, dry-run a
# redemption. The Inspector exits 0 even when a result has isError, so every JSON answer is
# checked here; any error result or a wrong tool list fails the script.
#
# Usage: scripts/inspector-smoke.sh   (after npm run build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -f "$root/dist/cli.js" ]]; then
  echo "inspector-smoke: dist/cli.js is missing; run npm run build first" >&2
  exit 2
fi
# The Inspector CLI proper (the mcp-inspector-cli launcher only re-spawns this file with
# node, which costs a process start per call).
inspector=(node "$root/node_modules/@modelcontextprotocol/inspector-cli/build/index.js")
# inspector-cli 1.0.3 reads ../package.json relative to the working directory: run it from a
# folder whose parent has one.
cd "$root/scripts"

work=$(mktemp -d "${TMPDIR:-/tmp}/clmcp-inspector.XXXXXX")
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

# The servers (stdio children of the Inspector, and the HTTP one) get the sandbox, fresh data
# dirs and nothing from the caller's CAPILLARY_*/MCP_* settings.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(CAPILLARY_|MCP_)' || true)
export CAPILLARY_LOG_LEVEL=warn

# check NAME FILE JS: runs JS with `r` = the parsed JSON answer; JS throws to fail.
check() {
  node -e '
    const [name, file, code] = process.argv.slice(1);
    let r;
    try { r = JSON.parse(require("fs").readFileSync(file, "utf8")); }
    catch (e) { console.error(`inspector-smoke: ${name}: not JSON: ${e.message}`); process.exit(1); }
    try { new Function("r", code)(r); }
    catch (e) {
      console.error(`inspector-smoke: ${name}: ${e.message}\n${JSON.stringify(r, null, 2).slice(0, 2000)}`);
      process.exit(1);
    }
    console.error(`inspector-smoke: ok   ${name}`);
  ' "$1" "$2" "$3"
}

LIST_OK='
  if (!Array.isArray(r.tools) || r.tools.length === 0) throw new Error("no tools listed");
  const names = r.tools.map((t) => t.name);
  for (const n of ["get_points_balance", "check_points_redeemable", "redeem_points", "reverse_redemption"])
    if (!names.includes(n)) throw new Error(`tool ${n} missing from ${names.join(", ")}`);
  if (new Set(names).size !== names.length) throw new Error("duplicate tool names");
  for (const t of r.tools) {
    if (t.inputSchema?.type !== "object") throw new Error(`${t.name}: no object inputSchema`);
    if (t.outputSchema?.type !== "object") throw new Error(`${t.name}: no object outputSchema`);
    if (typeof t.annotations?.readOnlyHint !== "boolean") throw new Error(`${t.name}: no readOnlyHint`);
  }'
BALANCE_OK='
  if (r.isError) throw new Error("isError result");
  const s = r.structuredContent;
  if (s?.environment !== "sandbox") throw new Error("not the sandbox");
  if (s.balance !== 5000 || s.customer_id !== "101") throw new Error("unexpected balance/customer");'
DRY_RUN_OK='
  if (r.isError) throw new Error("isError result");
  const q = r.structuredContent?.dry_run_request;
  if (!q || q.method !== "POST" || !String(q.url).endsWith("/v1.1/points/redeem")) throw new Error("no dry_run_request");
  if (JSON.stringify(q).includes("sandbox-password")) throw new Error("a secret in the preview");'

# run LABEL TARGET...: the three calls against one target (a command or a URL), in parallel.
run() {
  local label=$1
  shift
  "${inspector[@]}" "$@" --method tools/list >"$work/$label-list.json" 2>"$work/$label-list.err" &
  local p1=$!
  "${inspector[@]}" "$@" --method tools/call --tool-name get_points_balance \
    --tool-arg identifier_name=mobile --tool-arg 'identifier_value="919000000001"' \
    >"$work/$label-balance.json" 2>"$work/$label-balance.err" &
  local p2=$!
  "${inspector[@]}" "$@" --method tools/call --tool-name redeem_points \
    --tool-arg 'customer={"mobile":"919000000001"}' --tool-arg points=100 --tool-arg dry_run=true \
    >"$work/$label-dry.json" 2>"$work/$label-dry.err" &
  local p3=$!
  local step p
  for step in list:$p1 balance:$p2 dry:$p3; do
    p=${step#*:}
    if ! wait "$p"; then
      echo "inspector-smoke: $label ${step%%:*}: the Inspector failed:" >&2
      cat "$work/$label-${step%%:*}.err" >&2
      exit 1
    fi
  done
  check "$label tools/list" "$work/$label-list.json" "$LIST_OK"
  check "$label tools/call get_points_balance" "$work/$label-balance.json" "$BALANCE_OK"
  check "$label tools/call redeem_points (dry_run)" "$work/$label-dry.json" "$DRY_RUN_OK"
}

# stdio: the Inspector spawns the server itself.
CAPILLARY_DATA_DIR="$work/data-stdio" run stdio node "$root/dist/cli.js"

# Streamable HTTP: a server on a free port.
CAPILLARY_DATA_DIR="$work/data-http" node "$root/dist/cli.js" --http --port 0 2>"$work/http-server.log" &
pid=$!
url=""
for _ in $(seq 1 200); do
  url=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+/mcp' "$work/http-server.log" | head -n1 || true)
  [[ -n "$url" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/http-server.log" >&2; exit 1; }
  sleep 0.05
done
[[ -n "$url" ]] || { echo "inspector-smoke: the HTTP server did not start" >&2; cat "$work/http-server.log" >&2; exit 1; }
run http "$url"

# Both transports must list exactly the same tools.
node -e '
  const fs = require("fs");
  const names = (f) => JSON.parse(fs.readFileSync(f, "utf8")).tools.map((t) => t.name).join(",");
  const [a, b] = process.argv.slice(1).map(names);
  if (a !== b) { console.error(`inspector-smoke: stdio lists ${a}\n  but HTTP lists ${b}`); process.exit(1); }
' "$work/stdio-list.json" "$work/http-list.json"
echo "inspector-smoke: passed (stdio and Streamable HTTP)" >&2
