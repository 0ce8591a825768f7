#!/usr/bin/env python3
"""Scale-out end to end (issue 18): a real PostgreSQL 15 in a temporary directory, 3 `facelens
serve --db postgresql://...` replicas on loopback, HAProxy in front (deploy/haproxy/haproxy.cfg,
made runnable on loopback by scale_out_lib.haproxy_test_config), and the issue's scenarios:
  a. enrol through the balancer: every replica (asked directly) names the new identity within 1 s;
     delete it: within 1 s none does;
  b. SIGKILL one replica during a burst of 200 enrolments through the balancer: every enrolment
     answered 2xx is stored, the balancer keeps serving from the others, the restarted replica
     catches up;
  c. restart PostgreSQL during a burst: the replicas report not ready, reconnect and catch up; no
     acknowledged enrolment is lost; every answer meanwhile is right or a JSON 503 UNAVAILABLE
     (never a wrong identity, never a 5xx other than 503);
  d. two replicas enrolling the same name at the same moment make one identity with both faces.
Photos: ../shared/data/faces (skipped, exit 77, when absent); the 200 distinct images of the burst
are face_api_js photos with a PNG text chunk numbering each copy (the gallery refuses an image it
already has by the sha256 of its bytes). Everything started is stopped and removed at the end,
also on failure.
usage: scale_out.py FACELENS SOURCE_DIR DATA_DIR"""

import atexit
import glob
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale_out_lib import free_port, haproxy_test_config  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
T0 = time.monotonic()


def log(*a):
    print(f"[{time.monotonic() - T0:6.1f}s] scale_out:", *a, flush=True)


def skip(why):
    print("scale_out: skipped:", why, flush=True)
    sys.exit(77)


facelens, src, data = (os.path.abspath(p) for p in sys.argv[1:4])
faces = os.path.join(data, "faces")
if not os.path.isdir(os.path.join(faces, "face_api_js")):
    skip(f"no test photos under {faces}")
if not os.path.isfile(os.path.join(PG_BIN, "initdb")):
    skip(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb; scripts/setup.sh installs it)")
if not shutil.which("haproxy"):
    skip("haproxy is not installed (scripts/setup.sh installs it)")
as_postgres = os.geteuid() == 0  # initdb refuses root: run PostgreSQL as the postgres user
if as_postgres:
    try:
        pg_user = pwd.getpwnam("postgres")
    except KeyError:
        skip("running as root and there is no postgres user to run PostgreSQL as")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        log("FAIL:", what)
    return cond


# ---- processes, stopped and removed whatever happens -------------------------------------------
work = tempfile.mkdtemp(prefix="facelens_scale_out.")
procs = {}  # name -> Popen
pg = {}


def pg_cmd(*args):
    cmd = [os.path.join(PG_BIN, args[0]), *args[1:]]
    return ["runuser", "-u", "postgres", "--", *cmd] if as_postgres else cmd


def stop_process(name, sig=signal.SIGTERM, wait=15):
    p = procs.pop(name, None)
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def cleanup():
    for name in list(procs):
        stop_process(name, signal.SIGKILL if name == "haproxy" else signal.SIGTERM, 10)
    if pg.get("data") and os.path.isdir(pg["data"]):
        subprocess.run(pg_cmd("pg_ctl", "-D", pg["data"], "-m", "immediate", "-w", "stop"), capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
    if pg.get("dir"):
        shutil.rmtree(pg["dir"], ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # ctest's timeout: atexit still runs


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def fail_now(what, logs=()):
    check(False, what)
    for p in logs:
        print(f"---- {os.path.basename(p)} (last lines)\n{tail(p)}", flush=True)
    report_and_exit()


def report_and_exit():
    if failures:
        print(f"scale_out: {len(failures)} failure(s):", flush=True)
        for f in failures:
            print("  -", f, flush=True)
        for name in ("replica1", "replica2", "replica3", "haproxy", "postgres"):
            p = os.path.join(work, name + ".log")
            if os.path.exists(p):
                print(f"---- {name}.log (last lines)\n{tail(p, 15)}", flush=True)
        sys.exit(1)
    log("all scenarios passed")
    sys.exit(0)


# ---- HTTP -------------------------------------------------------------------------------------------
class Answer:
    def __init__(self, status, body, sent, took):
        self.status, self.body, self.sent, self.took = status, body, sent, took
        try:
            self.json = json.loads(body)
        except ValueError:
            self.json = None

    def error_code(self):
        return (self.json or {}).get("error", {}).get("code") if isinstance(self.json, dict) else None

    def __repr__(self):
        return f"{self.status} {self.body[:200]!r}"


def request(port, method, path, body=None, content_type=None, timeout=30):
    sent = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {"Connection": "close"}
        if content_type:
            headers["Content-Type"] = content_type
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        out = Answer(r.status, r.read().decode(errors="replace"), sent, time.monotonic() - sent)
        c.close()
        return out
    except (OSError, http.client.HTTPException) as e:
        return Answer(0, f"{type(e).__name__}: {e}", sent, time.monotonic() - sent)


def multipart(fields, image):
    b = "scaleout" + uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="f"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
    parts.append(f"--{b}--\r\n".encode())
    return b"".join(parts), "multipart/form-data; boundary=" + b


def enrol(port, name, image):
    body, ct = multipart({"name": name}, image)
    return request(port, "POST", "/v1/identities", body, ct)


def identify(port, image):
    body, ct = multipart({}, image)
    return request(port, "POST", "/v1/identify", body, ct)


def identity_of(answer):
    """The identity named for the largest face of an identify answer (None: unknown)."""
    if answer.status != 200 or not answer.json or not answer.json.get("faces"):
        return None
    return answer.json["faces"][0].get("identity")


def listing(port):
    """GET /v1/identities: [(name, faces)] as listed, None when not answered 200."""
    a = request(port, "GET", "/v1/identities")
    if a.status != 200:
        return None
    return [(i["name"], i["faces"]) for i in a.json["identities"]]


def names(port):
    """The identities listed: {name: faces}, None when not answered 200."""
    got = listing(port)
    return None if got is None else dict(got)


def metrics(port):
    a = request(port, "GET", "/metrics")
    out = {}
    for line in a.body.splitlines() if a.status == 200 else []:
        m = re.match(r"^(facelens_gallery_\w+)(?:\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def wait_ready(port, seconds, proc=None):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if request(port, "GET", "/ready", timeout=2).status == 200:
            return True
        time.sleep(0.1)
    return False


# ---- images -------------------------------------------------------------------------------------------
def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_variant(png, n):
    """The same picture with a tEXt chunk numbering it (other bytes, other sha256)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ihdr_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    payload = b"tEXt" + b"facelens-scale-out\x00" + str(n).encode()
    chunk = struct.pack(">I", len(payload) - 4) + payload + struct.pack(">I", zlib.crc32(payload) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


bases = [read(p) for p in sorted(glob.glob(os.path.join(faces, "face_api_js", "*.png")))]
if len(bases) < 10:
    skip(f"fewer than 10 photos in {faces}/face_api_js")
counter = iter(range(1, 1 << 30))


def keep_single_faces(port):
    """Only the photos in which the detector finds exactly one face (enrolment refuses others)."""
    global bases
    keep = []
    for img in bases:
        body, ct = multipart({}, img)
        a = request(port, "POST", "/v1/detect", body, ct)
        if a.status == 200 and len(a.json.get("faces", [])) == 1:
            keep.append(img)
    bases = keep


def distinct_image():
    n = next(counter)
    return png_variant(bases[n % len(bases)], n)


# Probes: people who are not in face_api_js (the burst enrols its photos under many names).
probe_a = read(os.path.join(faces, "face_recognition", "obama-240p.jpg"))
probe_c = read(os.path.join(faces, "openface", "clapton-2.jpg"))


# ---- PostgreSQL ---------------------------------------------------------------------------------
def start_postgres():
    pg["dir"] = tempfile.mkdtemp(prefix="facelens_scale_out_pg.")
    pg["data"] = os.path.join(pg["dir"], "data")
    pg["port"] = free_port()
    if as_postgres:
        os.chown(pg["dir"], pg_user.pw_uid, pg_user.pw_gid)
    # Passwords over TCP (as deployed: pg_hba.conf.snippet), trust on the Unix socket for setup.
    r = subprocess.run(pg_cmd("initdb", "-D", pg["data"], "-U", "postgres", "--auth-local=trust",
                              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"),
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail_now(f"initdb failed: {r.stdout}{r.stderr}")
    pg_start()
    # The role and database as deploy/postgresql/setup.sql makes them; the replicas connect as
    # deploy/facelens/facelens.env.example says: the URL without the password, PGPASSWORD beside.
    pg["password"] = uuid.uuid4().hex
    r = subprocess.run(pg_cmd("psql", "-h", pg["dir"], "-p", str(pg["port"]), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                              "-v", f"password={pg['password']}", "-f", "-", "postgres"),
                       input=read(os.path.join(src, "deploy", "postgresql", "setup.sql")).decode(),
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail_now(f"deploy/postgresql/setup.sql failed: {r.stdout}{r.stderr}")
    pg["url"] = f"postgresql://facelens@127.0.0.1:{pg['port']}/facelens?application_name=facelens-scale-out"


def pg_start():
    opts = f"-p {pg['port']} -k {pg['dir']} -c listen_addresses=127.0.0.1 -c max_connections=60"
    r = subprocess.run(pg_cmd("pg_ctl", "-D", pg["data"], "-l", os.path.join(pg["dir"], "postgres.log"), "-o", opts,
                              "-w", "-t", "60", "start"), capture_output=True, text=True)
    if r.returncode != 0:
        fail_now(f"pg_ctl start failed: {r.stdout}{r.stderr}\n{tail(os.path.join(pg['dir'], 'postgres.log'))}")


def pg_stop():
    r = subprocess.run(pg_cmd("pg_ctl", "-D", pg["data"], "-m", "fast", "-w", "-t", "60", "stop"),
                       capture_output=True, text=True)
    check(r.returncode == 0, f"pg_ctl stop failed: {r.stdout}{r.stderr}")


# ---- facelens replicas and HAProxy ------------------------------------------------------------------
replica_ports = [free_port() for _ in range(3)]


def start_replica(i):
    name = f"replica{i + 1}"
    logf = open(os.path.join(work, name + ".log"), "a")
    procs[name] = subprocess.Popen(
        [facelens, "serve", "--host", "127.0.0.1", "--port", str(replica_ports[i]), "--db", pg["url"],
         "--provider", "cpu", "--max-concurrent", "2", "--max-queue", "64"],
        stdout=logf, stderr=subprocess.STDOUT, cwd=work, env={**os.environ, "PGPASSWORD": pg["password"]})
    logf.close()
    return procs[name]


def start_haproxy():
    cfg = haproxy_test_config(read(os.path.join(src, "deploy", "haproxy", "haproxy.cfg")).decode(),
                              os.path.join(src, "deploy", "haproxy"), lb_port, stats_port, replica_ports)
    path = os.path.join(work, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    logf = open(os.path.join(work, "haproxy.log"), "a")
    procs["haproxy"] = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=logf, stderr=subprocess.STDOUT)
    logf.close()


def lb_servers_up():
    """Replicas HAProxy has in rotation (its stats page as CSV)."""
    a = request(stats_port, "GET", "/haproxy;csv", timeout=2)
    up = set()
    for line in a.body.splitlines() if a.status == 200 else []:
        f = line.split(",")
        if len(f) > 17 and f[0] == "facelens_replicas" and f[1].startswith("replica") and f[17].startswith("UP"):
            up.add(f[1])
    return up


def wait_lb(n, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if len(lb_servers_up()) >= n:
            return True
        time.sleep(0.2)
    return False


lb_port, stats_port = free_port(), free_port()
log(f"PostgreSQL, replicas on {replica_ports}, HAProxy on {lb_port} (work dir {work})")
start_postgres()
log(f"PostgreSQL 15 up on 127.0.0.1:{pg['port']}")
for i in range(3):
    start_replica(i)
for i in range(3):
    if not wait_ready(replica_ports[i], 180, procs[f"replica{i + 1}"]):
        fail_now(f"replica{i + 1} did not become ready", [os.path.join(work, f"replica{i + 1}.log")])
start_haproxy()
if not wait_lb(3, 20):
    fail_now(f"HAProxy does not see 3 ready replicas (up: {sorted(lb_servers_up())})",
             [os.path.join(work, "haproxy.log")])
log("3 replicas ready, all in HAProxy's rotation")
keep_single_faces(replica_ports[0])
if len(bases) < 10:
    fail_now(f"fewer than 10 photos of {faces}/face_api_js with exactly one face detected")
log(f"{len(bases)} single-face photos from face_api_js")

# /ready and /metrics of a replica in step.
for p in replica_ports:
    m = metrics(p)
    check(m.get("facelens_gallery_connected") == 1, f"replica :{p}: /metrics facelens_gallery_connected {m.get('facelens_gallery_connected')}, expected 1")
    check(m.get("facelens_gallery_lag_changes") == 0, f"replica :{p}: /metrics facelens_gallery_lag_changes {m.get('facelens_gallery_lag_changes')}, expected 0")
    check("facelens_gallery_last_sync_timestamp_seconds" in m, f"replica :{p}: /metrics has no facelens_gallery_last_sync_timestamp_seconds")


# ---- a. enrol through the balancer, seen by every replica within 1 s; delete, gone within 1 s ------
def first_time_on_each(predicate, limit):
    """Asks every replica (one thread each) until predicate(answer) holds: per replica, the
    seconds from now to the sending of the first request whose answer held (None: never within
    `limit` seconds of sending)."""
    start = time.monotonic()
    out = [None] * len(replica_ports)

    def poll(i):
        while time.monotonic() - start < limit:
            a = identify(replica_ports[i], probe_a)
            if predicate(a):
                out[i] = a.sent - start
                return
            time.sleep(0.02)

    ts = [threading.Thread(target=poll, args=(i,)) for i in range(len(replica_ports))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


for p in replica_ports:  # nobody is enrolled yet: unknown everywhere
    check(identity_of(identify(p, probe_a)) is None, f"replica :{p} names someone in an empty gallery")
a = enrol(lb_port, "alice", probe_a)
check(a.status == 201, f"a: enrolment of alice through the balancer: {a}")
seen = first_time_on_each(lambda r: identity_of(r) == "alice", 5)
log("a: alice named by each replica after (s):", [None if s is None else round(s, 3) for s in seen])
check(all(s is not None and s <= 1.0 for s in seen), f"a: not every replica named alice within 1 s of the enrolment: {seen}")
d = request(lb_port, "DELETE", "/v1/identities/alice")
check(d.status == 200, f"a: delete of alice through the balancer: {d}")
gone = first_time_on_each(lambda r: r.status == 200 and identity_of(r) is None, 5)
log("a: alice unknown to each replica after (s):", [None if s is None else round(s, 3) for s in gone])
check(all(s is not None and s <= 1.0 for s in gone), f"a: not every replica stopped naming alice within 1 s of the delete: {gone}")


# ---- bursts -------------------------------------------------------------------------------------------
def burst(n, prefix, workers, on_progress=None, until=None):
    """Up to n enrolments of distinct images through the balancer by `workers` threads (fewer
    when until() becomes true first): the answers by name, and the (name, answer) pairs in the
    order they came back. After a 503 a worker waits 0.1 s (its Retry-After, shortened)."""
    jobs = [(f"{prefix}{k:03d}", distinct_image()) for k in range(n)]
    lock = threading.Lock()
    results, order = {}, []

    def work_():
        while True:
            with lock:
                if not jobs or (until and until()):
                    return
                name, img = jobs.pop(0)
            a = enrol(lb_port, name, img)
            with lock:
                results[name] = a
                order.append((name, a))
                done = len(order)
            if on_progress:
                on_progress(done)
            if a.status == 503:
                time.sleep(0.1)

    ts = [threading.Thread(target=work_) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results, order


# ---- b. SIGKILL one replica during a burst of 200 enrolments ------------------------------------------
killed = {}


def kill_replica2(done):
    if done == 50 and "at" not in killed:
        killed["at"] = time.monotonic()
        procs["replica2"].send_signal(signal.SIGKILL)
        log("b: replica2 killed (SIGKILL) after 50 answers")


results, order = burst(200, "burst_b_", 6, kill_replica2)
procs["replica2"].wait(10)
procs.pop("replica2")
ok = {n for n, a in results.items() if 200 <= a.status < 300}
statuses = {}
for a in results.values():
    statuses[a.status] = statuses.get(a.status, 0) + 1
log(f"b: 200 enrolments through the balancer: statuses {statuses}")
check(len(ok) >= 190, f"b: only {len(ok)} of 200 enrolments answered 2xx ({statuses})")
check(all(a.status in (201, 502, 503, 504) for a in results.values()),
      f"b: answers other than 201 or the balancer's 502/503/504: {statuses}")
late = [a for n, a in order if "at" in killed and a.sent > killed["at"] + 0.5]
check(late and all(200 <= a.status < 300 for a in late),
      f"b: enrolments sent after the kill were not all served by the other replicas: "
      f"{[a.status for a in late if not 200 <= a.status < 300]}")
stored = names(lb_port)
check(stored is not None and ok <= set(stored),
      f"b: acknowledged enrolments missing afterwards: {sorted(ok - set(stored or {}))[:10]}")
check(stored is not None and {n for n in stored if n.startswith("burst_b_")} <= set(results),
      "b: identities stored that were never sent")
# The killed replica restarts and catches up from the database.
start_replica(1)
if not wait_ready(replica_ports[1], 180, procs["replica2"]):
    fail_now("b: the killed replica did not become ready after its restart", [os.path.join(work, "replica2.log")])
again = names(replica_ports[1])
check(again is not None and ok <= set(again), "b: the restarted replica lacks acknowledged enrolments")
check(wait_lb(3, 20), "b: HAProxy did not take the restarted replica back")
log(f"b: {len(ok)} acknowledged enrolments all stored; replica2 restarted with {len(again or {})} identities")


# ---- c. restart PostgreSQL during a burst ----------------------------------------------------------------
c_enrol = enrol(lb_port, "carol", probe_c)
check(c_enrol.status == 201, f"c: enrolment of carol: {c_enrol}")
for p in replica_ports:
    wait_ready(p, 5)
outage = {}
stop_watch = threading.Event()
ready_seen = {p: [] for p in replica_ports}  # (time, status)
probe_answers = []  # identify answers of the three replicas during the burst
lb_answers = []


def watch_ready(p):
    while not stop_watch.is_set():
        a = request(p, "GET", "/ready", timeout=2)
        ready_seen[p].append((a.sent, a.status, a))
        time.sleep(0.05)


def watch_identify(p):
    while not stop_watch.is_set():
        probe_answers.append((p, identify(p, probe_c)))
        time.sleep(0.05)


def restart_postgres(done):
    if done == 15 and "stop" not in outage:
        threading.Thread(target=_restart, daemon=True).start()


def _restart():
    outage["stop"] = time.monotonic()
    pg_stop()
    log("c: PostgreSQL stopped (fast shutdown)")
    time.sleep(3)
    pg_start()
    outage["start"] = time.monotonic()
    log("c: PostgreSQL started again")


watchers = [threading.Thread(target=watch_ready, args=(p,)) for p in replica_ports]
watchers += [threading.Thread(target=watch_identify, args=(p,)) for p in replica_ports]
for t in watchers:
    t.start()
# The burst goes on through the outage until 4 s after PostgreSQL is back (at most 300).
results_c, order_c = burst(300, "burst_c_", 3, restart_postgres,
                           until=lambda: "start" in outage and time.monotonic() > outage["start"] + 4)
end = time.monotonic() + 60
while "start" not in outage and time.monotonic() < end:
    time.sleep(0.1)
check("start" in outage, "c: PostgreSQL did not restart")
recovered = [wait_ready(p, 30) for p in replica_ports]
recovered_at = time.monotonic()
stop_watch.set()
for t in watchers:
    t.join()
check(all(recovered), f"c: replicas not ready 30 s after PostgreSQL restarted: {[p for p, r in zip(replica_ports, recovered) if not r]}")
back = [min((t for t, st, _ in ready_seen[p] if st == 200 and t > outage.get("start", 0)), default=None)
        for p in replica_ports]
log("c: replicas ready again after PostgreSQL restarted (s):",
    [None if t is None else round(t - outage["start"], 2) for t in back])
check(wait_lb(3, 20), f"c: HAProxy did not take the replicas back (up: {sorted(lb_servers_up())})")
late_ok = [a for n, a in order_c if a.sent > outage.get("start", 1e18) + 3 and a.status == 201]
check(late_ok, "c: no enrolment through the balancer succeeded after PostgreSQL came back")

statuses_c = {}
for a in results_c.values():
    statuses_c[a.status] = statuses_c.get(a.status, 0) + 1
log(f"c: {len(results_c)} enrolments through the balancer around the restart: statuses {statuses_c}")
for p in replica_ports:
    not_ready = [a for t, s, a in ready_seen[p] if s == 503]
    check(not_ready, f"c: replica :{p} never reported not ready during the outage")
    check(all(a.error_code() == "UNAVAILABLE" for a in not_ready),
          f"c: replica :{p}: /ready 503 without the UNAVAILABLE JSON error: {not_ready[:1]}")
    if not_ready:
        log(f"c: replica :{p} /ready during the outage: {not_ready[0].json['error']['message']!r}")
# Every answer is right or a clear 503: enrolments through the balancer, identifies on each replica.
for name, a in results_c.items():
    check(a.status == 201 or (a.status == 503 and a.error_code() == "UNAVAILABLE"),
          f"c: enrolment {name}: {a} (expected 201 or 503 UNAVAILABLE)")
wrong = [(p, a) for p, a in probe_answers if a.status == 200 and identity_of(a) != "carol"]
unclear = [(p, a) for p, a in probe_answers if a.status != 200 and not (a.status == 503 and a.error_code() == "UNAVAILABLE")]
refused = [(p, a) for p, a in probe_answers if a.status == 503]
log(f"c: {len(probe_answers)} identifies on the replicas: {len(refused)} answered 503 UNAVAILABLE, "
    f"{len(wrong)} wrong, {len(unclear)} unclear")
check(not wrong, f"c: wrong identify answers during the outage: {wrong[:3]}")
check(not unclear, f"c: identify answers neither right nor 503 UNAVAILABLE: {unclear[:3]}")
check(any(a.status == 503 for n, a in order_c), "c: no enrolment was refused during the outage (did it happen?)")
ok_c = {n for n, a in results_c.items() if a.status == 201}
for i, p in enumerate(replica_ports):
    have = names(p) or {}
    check(ok_c <= set(have), f"c: replica{i + 1} lacks acknowledged enrolments after the restart: {sorted(ok_c - set(have))[:5]}")
    check(ok <= set(have), f"c: replica{i + 1} lacks the enrolments of b after the restart")
    m = metrics(p)
    check(m.get("facelens_gallery_connected") == 1 and m.get("facelens_gallery_lag_changes") == 0,
          f"c: replica{i + 1} metrics after the restart: connected {m.get('facelens_gallery_connected')}, "
          f"lag {m.get('facelens_gallery_lag_changes')}")
# Caught up and in step again: a change on one replica is seen by the others within 1 s.
a = enrol(replica_ports[0], "after_restart", distinct_image())
check(a.status == 201, f"c: enrolment after the restart: {a}")
t0 = time.monotonic()
late = []
for p in replica_ports[1:]:
    while time.monotonic() - t0 < 5 and "after_restart" not in (names(p) or {}):
        time.sleep(0.02)
    late.append(time.monotonic() - t0)
check(all(s <= 1.0 for s in late), f"c: an enrolment after the restart reached the other replicas after {late} s")
log(f"c: {len(ok_c)} acknowledged enrolments all on every replica; a new one reached the others in "
    f"{max(late):.2f} s")

# ---- d. the same name enrolled on two replicas at the same moment --------------------------------------
for k in range(5):
    name = f"twin_{k}"
    imgs = [distinct_image(), distinct_image()]
    barrier = threading.Barrier(2)
    answers = [None, None]

    def go(j):
        barrier.wait()
        answers[j] = enrol(replica_ports[j], name, imgs[j])

    ts = [threading.Thread(target=go, args=(j,)) for j in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(all(x.status == 201 for x in answers), f"d: {name} enrolled on two replicas at once: {answers}")
    listed = listing(lb_port) or []
    have = dict(listed)
    check(have.get(name) == 2, f"d: {name}: {have.get(name)} faces, expected one identity with 2")
    one = request(lb_port, "GET", f"/v1/identities/{name}")
    check(one.status == 200 and len(one.json.get("face_list", [])) == 2,
          f"d: GET /v1/identities/{name}: {one}")
    check(sum(1 for n, _ in listed if n == name) == 1, f"d: {name} listed {sum(1 for n, _ in listed if n == name)} times")
log("d: 5 names enrolled on two replicas at the same moment: one identity with both faces each")

report_and_exit()
