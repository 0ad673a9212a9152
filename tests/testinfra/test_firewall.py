"""The firewall role, checked the way an operator would: ufw state, and real connections between hosts.

A probe is `nc -z -w 3` from one host to another. "Connection refused" comes back at once when the
packet reached the target and nothing listens: the firewall let it through. A drop shows up as a
timeout after the full 3 s.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest

DB_PORT = 3306  # the site playbook exposes MySQL/MariaDB on db hosts to the web and workers groups
TIMEOUT_S = 3


class Probe(NamedTuple):
    outcome: str  # "open", "refused" or "timeout"
    elapsed_ms: int
    output: str


def probe(src, address: str, port: int) -> Probe:
    """TCP-connect from host `src` to address:port and classify the answer."""
    cmd = (
        "start=$(date +%s%N); "
        f"nc -z -v -w {TIMEOUT_S} {address} {port} 2>&1; rc=$?; "
        'echo "rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))"'
    )
    out = src.run(cmd).stdout
    match = re.search(r"rc=(\d+) ms=(\d+)", out)
    assert match, f"cannot read the probe's result: {out!r}"
    rc, elapsed = int(match.group(1)), int(match.group(2))
    if rc == 0 and "succeeded" in out:
        outcome = "open"
    elif "refused" in out.lower():
        outcome = "refused"
    elif "timed out" in out.lower() or elapsed >= (TIMEOUT_S - 0.5) * 1000:
        outcome = "timeout"
    else:
        outcome = f"other (rc={rc})"
    return Probe(outcome, elapsed, out.strip())


def ssh_port(lab, name: str) -> int:
    return int(lab.hostvars[name].get("firewall_ssh_port", 22))


def test_ufw_active_with_default_policies(host, lab):
    name = host.backend.get_hostname()
    hostvars = lab.hostvars[name]
    status = host.run("ufw status verbose")
    assert status.rc == 0, status.stderr
    assert "Status: active" in status.stdout
    incoming = hostvars.get("firewall_default_incoming", "deny")
    outgoing = hostvars.get("firewall_default_outgoing", "allow")
    routed = hostvars.get("firewall_default_routed", "deny")
    assert f"Default: {incoming} (incoming), {outgoing} (outgoing), {routed} (routed)" in status.stdout
    assert host.service("ufw").is_enabled, "ufw would not come back after a reboot"


def test_ufw_allows_ssh(host, lab):
    status = host.run("ufw status").stdout
    port = ssh_port(lab, host.backend.get_hostname())
    assert re.search(rf"^{port}/tcp\s+(ALLOW|LIMIT)\b.*# lmsops:ssh", status, re.MULTILINE), status


def test_ssh_reachable_from_another_host(host, lab):
    name = host.backend.get_hostname()
    others = [n for n in lab.names if n != name]
    if not others:
        pytest.skip("a single host: no other host to connect from")
    result = probe(lab.get_host(others[0]), lab.address(name), ssh_port(lab, name))
    assert result.outcome == "open", f"SSH on {name} from {others[0]}: {result}"


def _db_hosts(lab) -> list[str]:
    hosts = lab.hosts_in("db")
    if not hosts:
        pytest.skip("no db host in this lab")
    return hosts


def test_db_port_open_to_the_app_tier(lab):
    checked = 0
    for db in _db_hosts(lab):
        sources = [n for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db]
        for src in sorted(set(sources)):
            result = probe(lab.get_host(src), lab.address(db), DB_PORT)
            # refused: the packet got through and nothing listens yet; open: something listens
            assert result.outcome in ("open", "refused"), f"{db}:{DB_PORT} from {src}: {result}"
            checked += 1
    if not checked:
        pytest.skip("no web or workers host apart from the db hosts (all-in-one)")


def test_db_port_closed_to_other_hosts_that_still_reach_ssh(lab):
    checked = 0
    for db in _db_hosts(lab):
        for src in (n for n in lab.outside("web", "workers") if n != db):
            src_host = lab.get_host(src)
            result = probe(src_host, lab.address(db), DB_PORT)
            assert result.outcome == "timeout", f"{db}:{DB_PORT} from {src} should be dropped: {result}"
            assert result.elapsed_ms >= (TIMEOUT_S - 0.5) * 1000, result
            ssh = probe(src_host, lab.address(db), ssh_port(lab, db))
            assert ssh.outcome == "open", f"SSH on {db} from {src}: {ssh}"
            checked += 1
    if not checked:
        pytest.skip("every host is in web or workers or is the db host (all-in-one)")


def test_role_run_alone_opens_its_own_port(lab):
    """site.yml opens every role's port in the firewall role's one ufw pass; a role run on its own
    (here `--tags mysql`, which skips the firewall role) still opens its port itself."""
    db = _db_hosts(lab)[0]
    sources = sorted({lab.private_address(n) for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db})
    if not sources:
        pytest.skip("no web or workers host apart from the db hosts (all-in-one)")
    db_host = lab.get_host(db)
    for src in sources:
        db_host.check_output(f"ufw delete allow from {src} to any port {DB_PORT} proto tcp")
    client = next(n for n in lab.hosts_in("web") + lab.hosts_in("workers") if n != db)
    closed = probe(lab.get_host(client), lab.address(db), DB_PORT)
    assert closed.outcome == "timeout", f"the rules were deleted, yet {db}:{DB_PORT} answers {client}: {closed}"

    res = lab.playbook("site.yml", "--tags", "mysql")
    recap = lab.recap(res.stdout)
    assert res.returncode == 0 and recap, res.stdout[-3000:] + res.stderr[-2000:]
    assert recap[db]["changed"] >= 1, recap
    assert "lmsops.stack.firewall : Allow the wanted rules" in res.stdout, res.stdout[-3000:]
    rules = db_host.check_output("ufw status")
    for src in sources:
        assert re.search(rf"^{DB_PORT}/tcp\s+ALLOW\s+{re.escape(src)}\s+# lmsops:mysql$", rules, re.M), rules
    reopened = probe(lab.get_host(client), lab.address(db), DB_PORT)
    assert reopened.outcome in ("open", "refused"), f"{db}:{DB_PORT} from {client}: {reopened}"
