#!/usr/bin/env bash
# make run: start three local redis-servers and walnut on
# examples/quickstart.toml in the foreground; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh redis-server redis-cli
work=$(mktemp -d /tmp/walnut-run.XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM
for port in 7001 7002 7003; do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "port $port is taken by a running redis-server: stop it first" >&2; exit 1
  fi
  mkdir -p "$work/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/$port" \
    --logfile "$work/redis-$port.log" &
  pids+=($!)
done
for port in 7001 7002 7003; do
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
go build -o "$work/walnut" ./cmd/walnut
echo "redis-servers on 7001-7003; walnut on 127.0.0.1:22121. Try: redis-cli -p 22121 set hello world" >&2
"$work/walnut" -c examples/quickstart.toml &
pids+=($!)
wait "${pids[-1]}"
