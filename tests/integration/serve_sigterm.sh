#!/usr/bin/env bash
# Graceful shutdown of `facelens serve` (issue 15): 8 /v1/embed requests in flight when SIGTERM
# (then SIGINT) arrives are all answered 200, new connections are refused, the program exits 0.
#   usage: serve_sigterm.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
photo=$data/faces/face_recognition/obama.jpg
[[ -f $photo ]] || { echo "serve_sigterm: no test photo under $data: skipped"; exit 77; }
work=$(mktemp -d)
fail() { echo "serve_sigterm: $*"; [[ -f $work/server.log ]] && tail -20 "$work/server.log"; exit 1; }
pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

for sig in TERM INT; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$facelens" serve --port "$port" --no-gallery --provider cpu --max-concurrent 2 >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null || fail "the server did not become ready"
  rm -f "$work"/code.*
  for i in $(seq 8); do
    curl -s -o /dev/null -w '%{http_code}' -F "image=@$photo" "http://127.0.0.1:$port/v1/embed" >"$work/code.$i" &
  done
  # Until all 8 are inside the server (running or waiting for an analysis slot).
  inflight=0
  for _ in $(seq 100); do
    inflight=$(curl -s "http://127.0.0.1:$port/metrics" |
      awk '/^facelens_inflight/ {n += $2} END {print n + 0}')
    (( inflight >= 8 )) && break
    sleep 0.02
  done
  (( inflight >= 2 )) || fail "SIG$sig: only $inflight requests in flight when the signal was to be sent"
  kill -$sig $pid
  wait $pid
  rc=$?
  pid=
  wait  # the curls
  [[ $rc == 0 ]] || fail "SIG$sig: exit code $rc, expected 0"
  for i in $(seq 8); do
    [[ $(cat "$work/code.$i") == 200 ]] || fail "SIG$sig: request $i answered '$(cat "$work/code.$i")', expected 200"
  done
  curl -s --max-time 2 "http://127.0.0.1:$port/health" >/dev/null && fail "SIG$sig: still answering after exit"
  grep -q "stopped" "$work/server.log" || fail "SIG$sig: no 'stopped' line"
  echo "serve_sigterm: SIG$sig with $inflight requests in flight: all 8 answered 200, exit 0"
done
