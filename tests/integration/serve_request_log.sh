#!/usr/bin/env bash
# The request log of `facelens serve` (issue 20): by default one JSON object per request on stderr
# (time, request_id, method, path, route, status, ms, bytes_in, bytes, client) and never the API
# key or the image; `--log-format text` writes lines for people; `--log-format off` none.
#   usage: serve_request_log.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
photo=$data/faces/face_recognition/obama.jpg
[[ -f $photo ]] || { echo "serve_request_log: no test photo under $data: skipped"; exit 77; }
work=$(mktemp -d)
fail() { echo "serve_request_log: $*"; [[ -f $work/err ]] && tail -20 "$work/err"; exit 1; }
pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
key=admin-key-0123456789abcdef

# Starts serve with the given extra options (stdout to $work/out, stderr to $work/err), sends the
# same four requests, stops it with SIGTERM.
run() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  FACELENS_API_KEYS="admin:$key" "$facelens" serve --port "$port" --no-gallery --provider cpu --max-concurrent 1 \
    "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null || fail "the server did not become ready ($*)"
  curl -s -o /dev/null -H "X-API-Key: $key" -H "X-Request-Id: detect-1" -F "image=@$photo" \
    "http://127.0.0.1:$port/v1/detect?top=1" || fail "detect"
  curl -s -o /dev/null -H "X-API-Key: $key" "http://127.0.0.1:$port/v1/nope" || fail "404"
  curl -s -o /dev/null -H "X-API-Key: wrong-key-0123456789" "http://127.0.0.1:$port/v1/models" || fail "401"
  kill -TERM $pid
  wait $pid || fail "exit code $? after SIGTERM"
  pid=
}

# Default: JSON lines.
run
python3 - "$work/err" "$key" "$(wc -c <"$photo")" <<'PY' || fail "JSON request log"
import json, sys
path, key, photo_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [l for l in open(path, encoding="utf-8") if l.startswith("{")]
logs = [json.loads(l) for l in lines]
fields = ["time", "request_id", "method", "path", "route", "status", "ms", "bytes_in", "bytes", "client"]
for j in logs:
    assert list(j.keys()) == fields, j
    assert j["time"].endswith("Z") and "T" in j["time"], j
    assert j["client"] == "127.0.0.1", j
text = open(path, encoding="utf-8").read()
assert key not in text, "the API key is in the log"
assert "JFIF" not in text and "Exif" not in text, "image bytes in the log"
detect = [j for j in logs if j["path"] == "/v1/detect"]
assert len(detect) == 1 and detect[0]["status"] == 200 and detect[0]["request_id"] == "detect-1", logs
assert detect[0]["route"] == "/v1/detect" and detect[0]["method"] == "POST" and detect[0]["bytes"] > 0, detect
assert detect[0]["bytes_in"] > photo_bytes and detect[0]["ms"] > 0, detect
assert any(j["status"] == 404 and j["route"] == "unmatched" for j in logs), logs
assert any(j["status"] == 401 and j["route"] == "/v1/models" for j in logs), logs
assert sum(1 for j in logs if j["path"] == "/ready") >= 1, logs
print("serve_request_log: %d JSON lines, one per request" % len(logs))
PY

# For people.
run --log-format text
grep -q '127.0.0.1 "POST" "/v1/detect" 200 ' "$work/err" || fail "no text line for the detect request"
grep -q '^{' "$work/err" && fail "JSON lines with --log-format text"
grep -q "$key" "$work/err" && fail "the API key is in the text log"
echo "serve_request_log: --log-format text writes lines for people"

# Off.
run --log-format off
grep -q '/v1/detect' "$work/err" && fail "a request line with --log-format off"
echo "serve_request_log: --log-format off writes none"
exit 0
