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
  "$facelens" serve --port "$port" --no-gallery --provider cpu --max-concurrent 1 >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null || fail "the server did not become ready"
  # 8 /v1/embed requests: all sent but their last byte on 8 connections, then the 8 last bytes at
  # once and the signal 20 ms later, while one runs and seven wait for the analysis slot.
  python3 - "$port" "$photo" "$sig" "$pid" >"$work/codes" <<'PY' &
import os, signal, socket, sys, time
port, photo, sig, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
img = open(photo, "rb").read()
b = b"facelensboundary"
body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n\r\n' + img +
        b"\r\n--" + b + b"--\r\n")
req = (b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary=" + b +
       b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
for c in conns: c.sendall(req[:-1])
time.sleep(0.2)
for c in conns: c.sendall(req[-1:])
time.sleep(0.02)
os.kill(pid, signal.SIGTERM if sig == "TERM" else signal.SIGINT)
for c in conns:
    c.settimeout(30)
    data = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            data += d
    except Exception as e:
        data = data or str(e).encode()
    print(data[9:12].decode(errors="replace") or "none")
PY
  client=$!
  wait $pid
  rc=$?
  pid=
  wait $client
  [[ $rc == 0 ]] || fail "SIG$sig: exit code $rc, expected 0"
  [[ $(grep -c '^200$' "$work/codes") == 8 ]] || fail "SIG$sig: answers $(tr '\n' ' ' <"$work/codes"), expected 8 x 200"
  curl -s --max-time 2 "http://127.0.0.1:$port/health" >/dev/null && fail "SIG$sig: still answering after exit"
  grep -q "stopped" "$work/server.log" || fail "SIG$sig: no 'stopped' line"
  echo "serve_sigterm: SIG$sig with 8 requests in flight: all 8 answered 200, exit 0"
done
