#!/usr/bin/env python3
"""The deployment examples of deploy/ are valid (issue 18):
- deploy/k8s/*.yaml parse; the kinds are there (Deployment, Service, Secret, ConfigMap); the
  Deployment runs 3 replicas whose readiness probe is GET /ready and liveness probe GET /health,
  routes the server has (docs/openapi.json, which test_server checks against Server::routes());
  probes and the Service name a container port; every Secret and ConfigMap the pods use exists
  with the keys they read; the database URL comes from a Secret and reaches facelens as --db.
- The facelens config files (deploy/facelens/facelens.toml, the ConfigMap's copy) are accepted by
  facelens itself (unknown keys are errors there).
- HAProxy accepts deploy/haproxy/haproxy.cfg (`haproxy -c`), with the error files and the system
  paths substituted, and health-checks the replicas on /ready.
- `systemd-analyze verify` accepts deploy/systemd/facelens@.service (skipped with the reason when
  systemd-analyze is absent).
usage: scale_out_deploy.py FACELENS SOURCE_DIR MODELS_DIR"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale_out_lib import haproxy_test_config  # noqa: E402

import yaml  # noqa: E402  (python3-yaml)

facelens, src, models = sys.argv[1:4]
deploy = os.path.join(src, "deploy")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


# ---- Kubernetes ---------------------------------------------------------------------------------
docs = []
for path in sorted(glob.glob(os.path.join(deploy, "k8s", "*.yaml"))):
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d is not None:
                docs.append((os.path.basename(path), d))
by_kind = {}
for name, d in docs:
    check(isinstance(d, dict) and "kind" in d and "apiVersion" in d, f"{name}: a document without kind/apiVersion")
    by_kind.setdefault(d.get("kind"), []).append(d)
for kind in ("Deployment", "Service", "Secret", "ConfigMap"):
    check(kind in by_kind, f"deploy/k8s: no {kind}")

kust = [d for _, d in docs if d.get("kind") == "Kustomization"]
if kust:
    for r in kust[0].get("resources", []):
        check(os.path.isfile(os.path.join(deploy, "k8s", r)), f"kustomization.yaml: resource {r} is missing")

openapi = json.load(open(os.path.join(src, "docs", "openapi.json")))
get_routes = {p for p, ops in openapi["paths"].items() if "get" in ops}
secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}

for dep in by_kind.get("Deployment", []):
    spec = dep["spec"]
    check(spec.get("replicas") == 3, f"Deployment {dep['metadata']['name']}: replicas {spec.get('replicas')}, not 3")
    labels = spec["template"]["metadata"]["labels"]
    check(
        all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
        "Deployment: selector does not match the pod labels",
    )
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    port_values = set(ports.values())

    def probe_ok(kind, want):
        p = c.get(kind)
        if not check(p is not None and "httpGet" in p, f"Deployment: no {kind} with httpGet"):
            return
        path, port = p["httpGet"]["path"], p["httpGet"]["port"]
        check(path == want, f"Deployment: {kind} on {path}, expected {want}")
        check(path in get_routes, f"Deployment: {kind} path {path} is not a GET route of the server (docs/openapi.json)")
        check(port in ports or port in port_values, f"Deployment: {kind} port {port} is not a container port")

    probe_ok("readinessProbe", "/ready")
    probe_ok("livenessProbe", "/health")
    res = c.get("resources", {})
    check("requests" in res and "limits" in res and "memory" in res["limits"], "Deployment: resources without requests and a memory limit")

    env = {e["name"]: e for e in c.get("env", [])}
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            s = secrets.get(ref["name"])
            if check(s is not None, f"Deployment: env {e['name']} reads Secret {ref['name']}, not in deploy/k8s"):
                keys = set(s.get("stringData", {})) | set(s.get("data", {}))
                check(ref["key"] in keys, f"Secret {ref['name']} has no key {ref['key']}")
    args = c.get("args", [])
    check("--db" in args, "Deployment: facelens is not given --db")
    if "--db" in args and args.index("--db") + 1 < len(args):
        m = re.fullmatch(r"\$\((\w+)\)", args[args.index("--db") + 1])
        check(
            m is not None and "secretKeyRef" in env.get(m.group(1), {}).get("valueFrom", {}),
            "Deployment: --db is not the value of an env variable read from a Secret",
        )
        if m and m.group(1) in env:
            ref = env[m.group(1)]["valueFrom"]["secretKeyRef"]
            url = secrets.get(ref["name"], {}).get("stringData", {}).get(ref["key"], "")
            check(url.startswith("postgresql://"), f"Secret {ref['name']}: {ref['key']} is not a postgresql:// URL")
    for v in pod.get("volumes", []):
        if "configMap" in v:
            check(v["configMap"]["name"] in configmaps, f"Deployment: volume {v['name']} reads a ConfigMap not in deploy/k8s")

for svc in by_kind.get("Service", []):
    sel = svc["spec"]["selector"]
    check(
        any(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()) for d in by_kind.get("Deployment", [])),
        f"Service {svc['metadata']['name']}: selector matches no Deployment's pods",
    )
    for p in svc["spec"]["ports"]:
        tp = p.get("targetPort")
        check(
            any(tp in [q.get("name") for q in d["spec"]["template"]["spec"]["containers"][0]["ports"]]
                or tp in [q["containerPort"] for q in d["spec"]["template"]["spec"]["containers"][0]["ports"]]
                for d in by_kind.get("Deployment", [])),
            f"Service {svc['metadata']['name']}: targetPort {tp} is no container port",
        )

# ---- facelens config files, checked by facelens ---------------------------------------------------
work = tempfile.mkdtemp(prefix="scale_out_deploy.")
try:
    configs = {"deploy/facelens/facelens.toml": open(os.path.join(deploy, "facelens", "facelens.toml")).read()}
    for name, cm in configmaps.items():
        for key, text in cm.get("data", {}).items():
            if key.endswith(".toml"):
                configs[f"ConfigMap {name} {key}"] = text
    for what, text in configs.items():
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            check(False, f"{what}: not TOML: {e}")
            continue
        path = os.path.join(work, "facelens.toml")
        with open(path, "w") as f:
            f.write(text)
        # The service tables ([server], [gallery]) and the engine tables ([models], [runtime]).
        r = run([facelens, "gallery", "list", "--config", path, "--db", os.path.join(work, "g.db")])
        check(r.returncode == 0, f"{what}: facelens refuses it: {r.stderr.strip()}")
        r = run([facelens, "info", "--config", path, "--models", models])
        check(r.returncode == 0, f"{what}: facelens info refuses it: {r.stderr.strip()}")

    # ---- HAProxy ---------------------------------------------------------------------------------
    cfg_text = open(os.path.join(deploy, "haproxy", "haproxy.cfg")).read()
    check(re.search(r"^\s*option httpchk\b", cfg_text, re.M) is not None, "haproxy.cfg: no option httpchk")
    check(re.search(r"http-check send meth GET uri /ready\b", cfg_text) is not None, "haproxy.cfg: the health check is not GET /ready")
    check(len(re.findall(r"^\s*server replica\d+ ", cfg_text, re.M)) == 3, "haproxy.cfg: not 3 replicas")
    for m in re.finditer(r"^\s*errorfile \d+ \S*/([^/\s]+)$", cfg_text, re.M):
        check(os.path.isfile(os.path.join(deploy, "haproxy", m.group(1))), f"haproxy.cfg: error file {m.group(1)} not in deploy/haproxy")
    if shutil.which("haproxy"):
        # As installed (the error files under /etc/haproxy/errors) and as the tests run it.
        installed = re.sub(r"(errorfile \d+ )\S*/", r"\1" + os.path.join(deploy, "haproxy") + "/", cfg_text)
        for what, text in (
            ("as deployed", installed),
            ("as tested", haproxy_test_config(cfg_text, os.path.join(deploy, "haproxy"), 18080, 18404, [18081, 18082, 18083])),
        ):
            path = os.path.join(work, "haproxy.cfg")
            with open(path, "w") as f:
                f.write(text)
            r = run(["haproxy", "-c", "-f", path])
            if check(r.returncode == 0, f"haproxy -c refuses deploy/haproxy/haproxy.cfg ({what}): {r.stdout}{r.stderr}"):
                if check("[WARNING]" not in r.stdout + r.stderr, f"haproxy -c warns ({what}): {r.stdout}{r.stderr}"):
                    print(f"scale_out_deploy: haproxy -c accepts deploy/haproxy/haproxy.cfg ({what})")
    else:
        check(False, "haproxy is not installed (scripts/setup.sh installs it)")

    # ---- systemd ---------------------------------------------------------------------------------
    unit = open(os.path.join(deploy, "systemd", "facelens@.service")).read()
    check(re.search(r"^ExecStart=\S+ serve .*--port %i", unit, re.M) is not None, "facelens@.service: ExecStart is not `facelens serve ... --port %i`")
    check("--db ${FACELENS_DB_URL}" in unit, "facelens@.service: --db does not come from FACELENS_DB_URL")
    for opt in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "User=facelens"):
        check(opt in unit, f"facelens@.service: no {opt}")
    env_example = open(os.path.join(deploy, "facelens", "facelens.env.example")).read()
    check(re.search(r"^FACELENS_DB_URL=postgresql://", env_example, re.M) is not None, "facelens.env.example: no FACELENS_DB_URL")
    if shutil.which("systemd-analyze"):
        udir = os.path.join(work, "units")
        os.mkdir(udir)
        with open(os.path.join(udir, "facelens@.service"), "w") as f:
            f.write(unit.replace("/usr/local/bin/facelens", os.path.abspath(facelens)))
        r = run(["systemd-analyze", "verify", os.path.join(udir, "facelens@8081.service")], cwd=udir)
        # Unknown keys and bad values are warnings (exit 0): any line about our unit fails.
        ours = [l for l in (r.stdout + r.stderr).splitlines() if "facelens@" in l]
        if check(r.returncode == 0 and not ours, f"systemd-analyze verify facelens@8081.service: {r.stdout}{r.stderr}"):
            print("scale_out_deploy: systemd-analyze verify accepts facelens@.service")
    else:
        print("scale_out_deploy: systemd-analyze not found: the unit's syntax is not verified (skipped)")
finally:
    shutil.rmtree(work, ignore_errors=True)

if failures:
    for f in failures:
        print("scale_out_deploy: FAIL:", f)
    sys.exit(1)
print(f"scale_out_deploy: {len(docs)} Kubernetes documents, configs, HAProxy and systemd unit ok")
