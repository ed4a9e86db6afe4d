#!/usr/bin/env bash
# Reproduces the figures of docs/performance.md: builds presenced, then
# runs each load scenario against a freshly started server on loopback
# (the embedded default, with the configuration shown in the doc) and
# keeps every summary as JSON in $OUT (default ./perf-results).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-perf-results}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
go build -o "$WORK/presenced" ./cmd/presenced
P="$WORK/presenced"
cat > "$WORK/bench.yaml" <<'YAML'
presence:
  coalesce_interval: 0s
  max_subscriptions_per_user: 10
auth:
  rate_limit:
    requests_per_second: 0
backend:
  kind: native
  endpoints: [ep-01, ep-02, ep-03, ep-04, ep-05, ep-06, ep-07, ep-08, ep-09, ep-10]
  max_subscriptions_per_endpoint: 5000
log:
  level: warn
YAML

start() {
  if [ -f "$WORK/pid" ]; then kill "$(cat "$WORK/pid")" 2>/dev/null || true; sleep 1; fi
  rm -rf "$WORK/data"
  "$P" admin token create --config "$WORK/bench.yaml" --data-dir "$WORK/data" > "$WORK/admin.token"
  "$P" serve --config "$WORK/bench.yaml" --data-dir "$WORK/data" \
      --listen 127.0.0.1:28080 --admin-listen 127.0.0.1:28081 > "$WORK/serve.log" 2>&1 &
  echo $! > "$WORK/pid"
  for _ in $(seq 50); do curl -sf http://127.0.0.1:28081/readyz >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$WORK/serve.log"; exit 1
}

run() {
  local name=$1; shift
  start
  echo "=== $name: presenced bench $*"
  "$P" bench "$@" --target http://127.0.0.1:28080 --admin http://127.0.0.1:28081 \
      --admin-token "$(cat "$WORK/admin.token")" --json "$OUT/$name.json" 2>/dev/null
}

run subscribe-10000 subscribe --watchers 10000 --contacts 100 --distinct 50000 --batch 100 --concurrency 32 --duration 20s
run subscribe-2500  subscribe --watchers 2500 --contacts 100 --distinct 50000 --batch 100 --concurrency 32 --duration 10s
run fanout-10000-500  fanout --watchers 10000 --contacts 20 --distinct 1000 --rate 500 --duration 20s --warmup 5s
run fanout-10000-1000 fanout --watchers 10000 --contacts 20 --distinct 1000 --rate 1000 --concurrency 64 --duration 20s --warmup 5s
run fanout-5000-500   fanout --watchers 5000 --contacts 20 --distinct 1000 --rate 500 --duration 20s --warmup 5s
run fanout-2500-500   fanout --watchers 2500 --contacts 20 --distinct 1000 --rate 500 --duration 20s --warmup 5s
run fanout-1000-200   fanout --watchers 1000 --contacts 50 --distinct 1000 --rate 200 --duration 30s --warmup 5s
run fanout-10000-500-sse fanout --watchers 10000 --contacts 20 --distinct 1000 --rate 500 --transport sse --duration 20s --warmup 5s
run lookup-1 lookup --batch 1000 --concurrency 1 --distinct 1000 --duration 15s
run lookup-4 lookup --batch 1000 --concurrency 4 --distinct 1000 --duration 15s
run idle-19000 idle --connections 19000 --sources 127.0.0.1,127.0.0.2 --settle 35s --duration 40s
run churn churn --rate 2000 --watchers 2000 --contacts 50 --distinct 10000 --duration 15s
echo "summaries in $OUT/"
