"""What an admin checks by hand after the fail2ban role: the service and its jails, and that a client
that fails to log in over SSH too often is really blocked (then unblocked again).

Fixtures come from conftest.py: ``host`` (one lab host, root, podman backend) and ``lab``
(``hosts_in(group)``, ``address(name)``, ``get_host(name)``).
"""

from __future__ import annotations

import ipaddress
import time

import pytest

SSH_OPTS = "-o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def _jails(host) -> list[str]:
    out = host.check_output("fail2ban-client status")
    line = next(line for line in out.splitlines() if "Jail list:" in line)
    return [name.strip() for name in line.split(":", 1)[1].split(",") if name.strip()]


def _banned(host, jail: str) -> list[str]:
    out = host.check_output(f"fail2ban-client status {jail}")
    line = next(line for line in out.splitlines() if "Banned IP list:" in line)
    return line.split(":", 1)[1].split()


def _ignored(host, jail: str, address: str) -> bool:
    out = host.check_output(f"fail2ban-client get {jail} ignoreip")
    entries = [part.strip(" |`-") for part in out.splitlines()[1:]]
    ip = ipaddress.ip_address(address)
    for entry in filter(None, entries):
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def test_fail2ban_running_and_enabled(host):
    service = host.service("fail2ban")
    assert service.is_running
    assert service.is_enabled
    assert host.run("fail2ban-client ping").stdout.strip().endswith("pong")


def test_sshd_and_recidive_jails_active(host):
    jails = _jails(host)
    assert "sshd" in jails
    assert "recidive" in jails


def test_sshd_jail_uses_the_journal(host):
    out = host.check_output("fail2ban-client status sshd")
    assert "Journal matches:" in out
    assert host.check_output("fail2ban-client get sshd maxretry").strip() == "3"


def test_failed_ssh_logins_get_the_client_banned(host, lab):
    target = lab.name_of(host)
    target_address = lab.address(target)
    clients = [
        name for name in lab.names
        if name != target and not _ignored(host, "sshd", lab.address(name))
    ]
    if not clients:
        pytest.skip("needs a second lab host whose address fail2ban does not ignore")
    client_name = clients[0]
    client = lab.get_host(client_name)
    client_address = lab.address(client_name)
    port = next(line.split()[1] for line in host.check_output("/usr/sbin/sshd -T").splitlines()
                if line.startswith("port "))
    maxretry = int(host.check_output("fail2ban-client get sshd maxretry").strip())
    assert client.run(f"nc -z -w 3 {target_address} {port}").rc == 0, "client cannot reach sshd before the test"

    # Keep this test's bans out of recidive (repeated lab runs would otherwise block the client for a week).
    host.run(f"fail2ban-client set recidive addignoreip {client_address}")
    try:
        for _ in range(maxretry + 1):
            # The ban may land in the middle of an attempt: the firewall then drops the rest of that
            # connection, which the client would retransmit into for some 15 minutes. Cut it short.
            client.run(f"timeout 15 ssh {SSH_OPTS} -p {port} nosuchuser@{target_address} true")
        deadline = time.monotonic() + 20
        while client_address not in _banned(host, "sshd") and time.monotonic() < deadline:
            time.sleep(1)
        assert client_address in _banned(host, "sshd")
        # The ban is real: the firewall now refuses the client's connections to sshd.
        assert client.run(f"nc -z -w 3 {target_address} {port}").rc != 0
    finally:
        host.run(f"fail2ban-client set sshd unbanip {client_address}")
        time.sleep(2)
        host.run(f"fail2ban-client unban {client_address}")
        host.run(f"fail2ban-client set recidive delignoreip {client_address}")
    assert client_address not in _banned(host, "sshd")
    assert client.run(f"nc -z -w 3 {target_address} {port}").rc == 0
