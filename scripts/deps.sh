#!/usr/bin/env bash
# Installs, with Debian's apt-get, whatever of walnut's test and run
# dependencies is missing. Quiet and quick when everything is there.
set -euo pipefail
declare -A pkg_of=(
  [redis-server]=redis-server [redis-cli]=redis-tools [redis-benchmark]=redis-tools
  [memcached]=memcached [nutcracker]=nutcracker [memcaslap]=libmemcached-tools [memccat]=libmemcached-tools
  [gcc]=gcc
)
want=()
for bin in "$@"; do
  command -v "$bin" >/dev/null 2>&1 && continue
  [ -x "/usr/sbin/$bin" ] && continue
  want+=("${pkg_of[$bin]:-$bin}")
done
[ ${#want[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "missing ${want[*]}: install them with apt-get as root" >&2; exit 1; }
  sudo=sudo
fi
echo "installing ${want[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# Debian's packages may start their own daemons; walnut's tests and
# `make run` pick their own ports, but stop nutcracker's, which would hold
# 22121.
$sudo service nutcracker stop >/dev/null 2>&1 || true
$sudo service memcached stop >/dev/null 2>&1 || true
