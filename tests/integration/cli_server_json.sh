#!/usr/bin/env bash
# The facelens program and the HTTP service print the same JSON for the same photo (issue 13: one
# result writer): detect, embed and analyze, verify of two photos, identify and verify against a
# gallery enrolled through the service. Compared parsed; the CLI's input names ("image", "image_a",
# "image_b") are the only fields the service cannot have. "providers" lists the services a process
# has loaded so far, so the CLI's (one command) must be a subset of the service's, same values.
#   usage: cli_server_json.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
dir=$data/faces/face_recognition
a=$dir/obama.jpg b=$dir/obama2.jpg two=$dir/two_people.jpg
[[ -f $a && -f $b && -f $two ]] || { echo "cli_server_json: no test photos under $data: skipped"; exit 77; }
work=$(mktemp -d)
fail() { echo "cli_server_json: $*"; [[ -f $work/server.log ]] && tail -20 "$work/server.log"; exit 1; }
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$facelens" serve --port "$port" --db "$work/gallery.db" --provider cpu >"$work/server.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 150); do curl -sf "$url/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$url/ready" >/dev/null || fail "the server did not become ready"
curl -sf -F "image=@$a" -F name=obama "$url/v1/identities" >/dev/null || fail "enrolment through the service failed"

compare() {  # what cli.json server.json
  python3 - "$@" <<'PY' || exit 1
import json, sys
what, cli_path, server_path = sys.argv[1:4]
cli = json.loads(open(cli_path).read().splitlines()[0])
srv = json.loads(open(server_path).read())
# The CLI's input names and where its threshold came from (flag, config, manifest) are the only
# fields the service cannot have.
for k in ("image", "image_a", "image_b", "threshold_source"):
    cli.pop(k, None)
if "providers" in cli or "providers" in srv:
    pc, ps = cli.pop("providers", None), srv.pop("providers", None)
    if pc is None or ps is None:
        sys.exit(f"{what}: providers only in {'the CLI' if ps is None else 'the service'}")
    for k, v in pc.items():
        if ps.get(k) != v:
            sys.exit(f"{what}: providers[{k}] is {v!r} in the CLI, {ps.get(k)!r} in the service")
def diff(x, y, path):
    if type(x) != type(y) and not (isinstance(x, (int, float)) and isinstance(y, (int, float))):
        return f"{path}: {x!r} vs {y!r}"
    if isinstance(x, dict):
        if list(x) != list(y):
            return f"{path}: keys {list(x)} vs {list(y)}"
        for k in x:
            d = diff(x[k], y[k], f"{path}.{k}")
            if d: return d
    elif isinstance(x, list):
        if len(x) != len(y):
            return f"{path}: {len(x)} vs {len(y)} items"
        for i, (u, v) in enumerate(zip(x, y)):
            d = diff(u, v, f"{path}[{i}]")
            if d: return d
    elif x != y:
        # Embedding values are floats in full; the same computation may differ in the last bits
        # with another thread count. Everything else is rounded by the writer and must match.
        if not (".embedding[" in path and abs(x - y) <= 1e-6):
            return f"{path}: {x!r} vs {y!r}"
    return ""
d = diff(cli, srv, what)
if d:
    sys.exit(d)
print(f"cli_server_json: {what}: same JSON ({len(json.dumps(srv))} bytes)")
PY
}

for cmd in detect embed analyze; do
  "$facelens" $cmd --json --provider cpu "$two" >"$work/cli.json" 2>"$work/cli.err" || fail "facelens $cmd: $(cat "$work/cli.err")"
  curl -sf -F "image=@$two" "$url/v1/$cmd" >"$work/server.json" || fail "/v1/$cmd failed"
  compare "$cmd" "$work/cli.json" "$work/server.json"
done
"$facelens" verify --json --provider cpu "$a" "$b" >"$work/cli.json" 2>"$work/cli.err" || fail "facelens verify: $(cat "$work/cli.err")"
curl -sf -F "image_a=@$a" -F "image_b=@$b" "$url/v1/verify" >"$work/server.json" || fail "/v1/verify failed"
compare verify "$work/cli.json" "$work/server.json"
"$facelens" gallery identify --json --provider cpu --db "$work/gallery.db" "$two" >"$work/cli.json" 2>"$work/cli.err" ||
  fail "facelens gallery identify: $(cat "$work/cli.err")"
curl -sf -F "image=@$two" "$url/v1/identify" >"$work/server.json" || fail "/v1/identify failed"
compare identify "$work/cli.json" "$work/server.json"
"$facelens" gallery verify --json --provider cpu --db "$work/gallery.db" "$b" obama >"$work/cli.json" 2>"$work/cli.err" ||
  fail "facelens gallery verify: $(cat "$work/cli.err")"
curl -sf -F "image=@$b" -F identity=obama "$url/v1/verify" >"$work/server.json" || fail "/v1/verify with an identity failed"
compare "verify against an identity" "$work/cli.json" "$work/server.json"
