"""Shared pieces of the scale-out tests (scale_out_deploy.py, scale_out.py): the HAProxy
configuration of deploy/haproxy made runnable on loopback by an unprivileged test."""

import re
import socket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def haproxy_test_config(text, errors_dir, bind_port, stats_port, replica_ports):
    """deploy/haproxy/haproxy.cfg with what needs root or a system path taken out (chroot, admin
    socket, user/group, daemon; the log goes to stderr instead of /dev/log), the error files read from `errors_dir`, the
    frontends bound to loopback ports and the example's replicas replaced by `replica_ports`
    (as many server lines as ports, named replica1, replica2, ...). Everything else (balancing,
    health checks on /ready, retries, timeouts) is the deployed configuration itself."""
    out, servers_done = [], False
    drop = re.compile(r"^\s*(chroot|stats socket|user |group |daemon\b)")
    for line in text.splitlines():
        if drop.match(line):
            continue
        line = re.sub(r"^(\s*)log /dev/log (\S+)", r"\1log stderr format raw \2", line)
        m = re.match(r"^(\s*)errorfile (\d+) \S*/([^/\s]+)$", line)
        if m:
            line = f"{m.group(1)}errorfile {m.group(2)} {errors_dir}/{m.group(3)}"
        m = re.match(r"^(\s*)bind :8080\s*$", line)
        if m:
            line = f"{m.group(1)}bind 127.0.0.1:{bind_port}"
        m = re.match(r"^(\s*)bind 127\.0\.0\.1:8404\s*$", line)
        if m:
            line = f"{m.group(1)}bind 127.0.0.1:{stats_port}"
        m = re.match(r"^(\s*)server replica\d+ ", line)
        if m:
            if not servers_done:
                for i, p in enumerate(replica_ports, 1):
                    out.append(f"{m.group(1)}server replica{i} 127.0.0.1:{p}")
                servers_done = True
            continue
        out.append(line)
    if not servers_done:
        raise ValueError("deploy/haproxy/haproxy.cfg has no 'server replicaN' line")
    return "\n".join(out) + "\n"
