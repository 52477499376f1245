#!/usr/bin/env bash
# make run: start three local redis-servers and three memcached, then
# walnut on examples/mixed.toml in the foreground (Redis pool on
# 127.0.0.1:22121, memcached pool on 127.0.0.1:22122). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh redis-server redis-cli memcached memccat
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
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 7001 7002 7003 7011 7012 7013 22121 22122; do
  if taken "$port"; then
    echo "port $port is taken by another process: stop it first" >&2; exit 1
  fi
done
for port in 7001 7002 7003; do
  mkdir -p "$work/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/$port" \
    --logfile "$work/redis-$port.log" &
  pids+=($!)
done
user=(); [ "$(id -u)" = 0 ] && user=(-u root)
for port in 7011 7012 7013; do
  memcached -p "$port" -l 127.0.0.1 -U 0 -m 64 "${user[@]}" &
  pids+=($!)
done
for port in 7001 7002 7003 7011 7012 7013; do
  for _ in $(seq 50); do taken "$port" && break; sleep 0.1; done
done
go build -o "$work/walnut" ./cmd/walnut
cat >&2 <<'MSG'
walnut: Redis pool on 127.0.0.1:22121 (redis-servers 7001-7003), memcached pool on 127.0.0.1:22122 (memcached 7011-7013)
try:  redis-cli -p 22121 set hello world
      exec 3<>/dev/tcp/127.0.0.1/22122; printf 'set hello 0 0 5\r\nworld\r\nget hello\r\nquit\r\n' >&3; cat <&3
MSG
"$work/walnut" -c examples/mixed.toml &
pids+=($!)
wait "${pids[-1]}"
