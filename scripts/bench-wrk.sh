#!/usr/bin/env bash
# Pass-through speed with wrk as the load generator, in its own process: the demo API directly,
# through nginx (Debian's, keep-alive upstream) and through `tollgate gateway` on an unpriced
# path, each measured in turn for ROUNDS rounds of SECS seconds at CONNS connections. PERF=1
# also records a perf profile of the gateway (target/bench-wrk/perf.data). Installs wrk and
# nginx from Debian when missing. The cargo bench (scripts/bench.sh) covers the priced cases.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} SECS=${SECS:-8} CONNS=${CONNS:-32}
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
    pkg=$tool; [ "$tool" = nginx ] && pkg=nginx-light
    echo "bench-wrk: installing $pkg (Debian package)..." >&2
    sudo_if env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >&2
  fi
done
cargo build --release -p tollgate --no-default-features >&2
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/tollgate"
rm -rf "$target/bench-wrk" && mkdir -p "$target/bench-wrk"
dir=$(cd "$target/bench-wrk" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port) ngx=$(free_port) gw=$(free_port) fac=$(free_port)

# The example config, charging as shipped; its facilitator is not running, so priced routes
# answer 503 and unpriced ones pass through (the gateway starts without its facilitator).
sed -e "s|^listen = .*|listen = \"127.0.0.1:$gw\"|" -e "s|^upstream = .*|upstream = \"http://127.0.0.1:$up\"|" \
  -e "s|^url = \"http://127.0.0.1:4022\"|url = \"http://127.0.0.1:$fac\"|" -e '/^bundle = /d' \
  fixtures/gateway.example.toml | awk '/^\[receipts\]/{skip=1;next} /^\[/{skip=0} !skip' > "$dir/gateway.toml"
cat > "$dir/nginx.conf" <<EOF
worker_processes auto;
user $(id -un);
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  upstream up { server 127.0.0.1:$up; keepalive 256; }
  server {
    listen 127.0.0.1:$ngx;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
"$bin" demo-api --listen "127.0.0.1:$up" >"$dir/demo.log" 2>&1 & pids+=($!)
"$(command -v nginx || echo /usr/sbin/nginx)" -p "$dir" -c "$dir/nginx.conf"
RUST_LOG=warn "$bin" gateway --config "$dir/gateway.toml" >"$dir/gateway.log" 2>&1 & gwpid=$!; pids+=($gwpid)
for port in $up $ngx $gw; do
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/tokens" && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/v2/tokens" || { echo "nothing answers on $port" >&2; exit 1; }
done

run() { wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$1/v2/tokens" |
  awk -v name="$2" '/Requests\/sec/{r=$2} $1=="50%"{p50=$2} $1=="99%"{p99=$2} END{printf "%-18s %10.0f req/s  p50 %-9s p99 %s\n", name, r, p50, p99}'; }
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$gw/v2/tokens" >/dev/null
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  run "$up" "direct"; run "$ngx" "nginx"; run "$gw" "gateway unpriced"
done
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 999 -g -p "$gwpid" -o "$dir/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
  run "$gw" "gateway (perf)"; wait $!
  echo "profile: $dir/perf.data"
fi
