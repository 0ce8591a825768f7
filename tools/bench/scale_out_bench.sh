#!/usr/bin/env bash
# The scale-out measurements of the README (issue 18), PostgreSQL against SQLite, on one machine:
#   1. enrolment throughput and identify latency at 100k faces (gallery_bench --enroll 100000:
#      batches of 1000 embeddings per transaction, then 1000 identifies on the reopened gallery);
#   2. single enrolments (one face per transaction, as POST /v1/identities makes them): 10k, and
#      how long a second gallery on the same database then takes to apply them (gallery_bench
#      --catchup 10000; with PostgreSQL its watcher applies them as they come);
#   3. loading a 100k-face gallery (a replica's start), from each store (gallery_bench --open-only);
#   4. a replica that missed 10k changes: `facelens serve --db postgresql://...` stopped (SIGSTOP)
#      while another process makes 10k single enrolments, then resumed (SIGCONT): the time until
#      its /metrics shows every change applied (facelens_gallery_applied_seq = the database's).
# PostgreSQL 15 runs from a temporary directory on a free loopback port (as the postgres user when
# run as root), with its default durability (fsync, synchronous_commit on); SQLite with the
# gallery's default (durability full). Rows are gallery_bench's JSON lines, plus one for 4.
#   usage: tools/bench/scale_out_bench.sh [BUILD_DIR]   (default build/; run it under the CPU lock)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bench=$build/tools/bench/gallery_bench
facelens=$build/facelens
pgbin=/usr/lib/postgresql/15/bin
[[ -x $bench && -x $facelens ]] || { echo "scale_out_bench: build gallery_bench and facelens first" >&2; exit 2; }
[[ -x $pgbin/initdb ]] || { echo "scale_out_bench: PostgreSQL 15 is not installed ($pgbin)" >&2; exit 2; }

work=$(mktemp -d)
pgdir=$(mktemp -d)
as_pg=()
if [[ $(id -u) == 0 ]]; then
  chown postgres: "$pgdir"
  as_pg=(runuser -u postgres --)
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
replica=
cleanup() {
  [[ -n $replica ]] && { kill -CONT "$replica" 2>/dev/null; kill "$replica" 2>/dev/null; wait "$replica" 2>/dev/null; }
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work" "$pgdir"
}
trap cleanup EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null
psql() { "${as_pg[@]}" "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt "$@"; }
fresh_db() {  # a new empty database: its URL
  psql -c "CREATE DATABASE $1" postgres
  echo "postgresql://postgres@127.0.0.1:$port/$1"
}

echo "# 1. 100k enrolments (batches of 1000) and identify at 100k faces" >&2
"$bench" --sizes "" --enroll 100000 --batch 1000 --queries 1000 --db "$work/g100k.db"
"$bench" --sizes "" --enroll 100000 --batch 1000 --queries 1000 --db "$(fresh_db g100k)"
echo "# 2. 10k single enrolments, applied by a second gallery" >&2
"$bench" --sizes "" --enroll 0 --catchup 10000 --catchup-batch 1 --db "$work/c10k.db"
"$bench" --sizes "" --enroll 0 --catchup 10000 --catchup-batch 1 --db "$(fresh_db c10k)"
echo "# 3. a replica's start: loading 100k faces" >&2
"$bench" --open-only --db "$work/g100k.db"
"$bench" --open-only --db "postgresql://postgres@127.0.0.1:$port/g100k"

echo "# 4. a replica that missed 10k changes (SIGSTOP, 10k enrolments elsewhere, SIGCONT)" >&2
url=$(fresh_db missed)
rport=$(free_port)
"$facelens" serve --port "$rport" --db "$url" --provider cpu >"$work/replica.log" 2>&1 &
replica=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$rport/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$rport/ready" >/dev/null || { tail "$work/replica.log" >&2; exit 1; }
kill -STOP "$replica"
"$bench" --sizes "" --enroll 0 --catchup 10000 --catchup-batch 1 --db "$url" >"$work/writes.json"
target=$(psql -c "SELECT last_seq FROM facelens_meta" missed)
python3 - "$rport" "$replica" "$target" "$work/writes.json" <<'PY'
import json, os, re, signal, sys, time, urllib.request
port, pid, target = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
writes = json.loads(open(sys.argv[4]).read().splitlines()[-1])
def applied():
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    m = re.search(r"^facelens_gallery_applied_seq (\S+)$", page, re.M)
    return int(float(m.group(1))) if m else -1
t0 = time.monotonic()
os.kill(pid, signal.SIGCONT)
seen_behind = False
while True:
    a = applied()
    if a >= target:
        break
    seen_behind = True
    if time.monotonic() - t0 > 300:
        sys.exit("scale_out_bench: the replica did not catch up in 300 s")
    time.sleep(0.005)
took = time.monotonic() - t0
ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10).status
print(json.dumps({"bench": "replica_catchup", "store": "postgresql", "changes_missed": writes["changes"],
                  "database_seq": target, "seen_behind_after_sigcont": seen_behind,
                  "catchup_ms": round(took * 1000, 1), "ready_after": ready == 200}))
PY
