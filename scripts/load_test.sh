#!/usr/bin/env bash
# Load test of the HTTP service on loopback: POST /v1/embed with a one-face photo at each of
# CONNECTIONS (wrk, DURATION seconds each), then the throughput, latency percentiles, errors, the
# throughput against one connection, and the server's metrics. Starts its own server on a free
# port (`facelens serve` defaults, plus SERVE_ARGS) and stops it at the end.
#   scripts/load_test.sh build/facelens [PHOTO]
# Environment:
#   BODY=raw|multipart|json   how the photo is sent (default raw: Content-Type image/jpeg|png)
#   CONNECTIONS="1 16"        wrk connection counts (the first is the reference of the ratio)
#   DURATION=15               seconds per count
#   SERVE_ARGS="--threads 1 --max-concurrent 2"   extra `facelens serve` options (split by spaces)
set -euo pipefail
bin=$1
photo=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z $photo ]]; then
  photo=$top/../shared/data/faces/face_recognition/obama-240p.jpg
  [[ -f $photo ]] || photo=$top/.deps/samples/astronaut.png
fi
duration=${DURATION:-15}
body=${BODY:-raw}
connections=${CONNECTIONS:-1 16}
read -r -a serve_args <<<"${SERVE_ARGS:-}"
case $body in raw | multipart | json) ;; *) echo "load_test: BODY must be raw, multipart or json" >&2; exit 2 ;; esac
command -v wrk >/dev/null || { echo "load_test: wrk is missing (apt-get install wrk)" >&2; exit 2; }
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" --no-gallery --provider cpu "${serve_args[@]}" >"$tmp/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { echo "load_test: the server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
case ${photo,,} in *.png) type=image/png ;; *.webp) type=image/webp ;; *.bmp) type=image/bmp ;; *) type=image/jpeg ;; esac
# The body is built once (in Lua for multipart and raw; base64 by python3 for JSON).
if [[ $body == json ]]; then
  python3 -c 'import base64, json, sys; sys.stdout.write(json.dumps({"image": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}))' "$photo" >"$tmp/body.json"
fi
cat >"$tmp/post.lua" <<LUA
local kind = "$body"
local f = io.open(kind == "json" and "$tmp/body.json" or "$photo", "rb"); local bytes = f:read("*a"); f:close()
wrk.method = "POST"
if kind == "multipart" then
  local b = "facelensboundary"
  wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p\"\r\nContent-Type: $type\r\n\r\n" .. bytes .. "\r\n--" .. b .. "--\r\n"
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
elseif kind == "json" then
  wrk.body = bytes
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.body = bytes
  wrk.headers["Content-Type"] = "$type"
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests/s=%.2f p50_ms=%.1f p99_ms=%.1f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
echo "photo: $photo ($type, sent as $body), $duration s per run, server: $bin serve --port $port --no-gallery --provider cpu ${serve_args[*]}"
first=""
for c in $connections; do
  t=$(( c < 2 ? 1 : 2 ))
  line=$(wrk -t$t -c$c -d${duration}s --latency --timeout 10s -s "$tmp/post.lua" "http://127.0.0.1:$port/v1/embed" | grep RESULT)
  rate=$(sed -E 's/.*requests\/s=([0-9.]+).*/\1/' <<<"$line")
  [[ -n $first ]] || first=$rate
  echo "connections=$c: ${line#RESULT } x$(python3 -c "print(f'{$rate / $first:.2f}' if $first > 0 else 'nan')") of connections=${connections%% *}"
done
echo "batch sizes and request counts from /metrics:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^facelens_(recognizer_batches_total|requests_total\{method="POST")' || true
