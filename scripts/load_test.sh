#!/usr/bin/env bash
# Load test of the HTTP service on loopback: POST /v1/embed with a one-face photo at 1, 8 and 32
# connections (wrk, DURATION seconds each), then the latency percentiles, errors and the
# server's metrics. Starts its own server on a free port and stops it at the end.
#   scripts/load_test.sh build/facelens [PHOTO]
set -euo pipefail
bin=$1
photo=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z $photo ]]; then
  photo=$top/../shared/data/faces/face_recognition/obama-240p.jpg
  [[ -f $photo ]] || photo=$top/.deps/samples/astronaut.png
fi
duration=${DURATION:-15}
command -v wrk >/dev/null || { echo "load_test: wrk is missing (apt-get install wrk)" >&2; exit 2; }
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" --no-gallery --provider cpu >"$tmp/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
# wrk posts the photo as multipart/form-data built once in Lua.
cat >"$tmp/post.lua" <<LUA
local f = io.open("$photo", "rb"); local img = f:read("*a"); f:close()
local b = "facelensboundary"
wrk.method = "POST"
wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n" .. img .. "\r\n--" .. b .. "--\r\n"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
local errors = 0
response = function(status, headers, body) if status ~= 200 then errors = errors + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests/s=%.1f p50_ms=%.1f p99_ms=%.1f non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
echo "photo: $photo, $duration s per run, server: $bin serve --port $port --no-gallery --provider cpu"
for c in 1 8 32; do
  t=$(( c < 2 ? 1 : 2 ))
  echo -n "connections=$c: "
  wrk -t$t -c$c -d${duration}s --latency --timeout 10s -s "$tmp/post.lua" "http://127.0.0.1:$port/v1/embed" | grep RESULT
done
echo "batch sizes and request counts from /metrics:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^facelens_(recognizer_batches_total|requests_total\{method="POST")' || true
