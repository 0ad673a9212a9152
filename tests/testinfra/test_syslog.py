"""The syslog role, checked the way an operator would: rsyslog runs everywhere, a line logged on any host
lands on every monitoring host under its own name, the received files are private and rotate, the
receivers listen on their private address only, and a receiver that was down gets what was logged
meanwhile (the senders' disk-assisted queue).

Acts on every inventory host; the receivers are the `monitoring` hosts (the role's default group). In
an inventory whose only monitoring host is every host (all-in-one) nothing is forwarded, and the
forwarding checks skip.
"""

from __future__ import annotations

import shlex
import time
import uuid

import pytest
from test_firewall import probe

REMOTE_DIR = "/var/log/remote"
PORT = 514
FORWARD_CONF = "/etc/rsyslog.d/60-lmsops-forward.conf"
RECEIVER_CONF = "/etc/rsyslog.d/60-lmsops-receiver.conf"
LOGROTATE = "/etc/logrotate.d/lmsops-remote-syslog"


def _receivers(lab) -> list[str]:
    return lab.hosts_or_skip("monitoring")


def _senders(lab) -> list[str]:
    senders = lab.outside("monitoring")
    if not senders:
        pytest.skip("every host is a monitoring host: nothing is forwarded")
    return senders


def _log(lab, sender: str, tag: str) -> str:
    marker = f"lmsops-test {uuid.uuid4().hex}"
    lab.get_host(sender).check_output(f"logger -t {tag} {shlex.quote(marker)}")
    return marker


def _wait_for(lab, receiver: str, sender: str, tag: str, marker: str, timeout: float) -> bool:
    """Whether `marker` shows up in the receiver's file of the sender's inventory name within `timeout`."""
    host = lab.get_host(receiver)
    path = f"{REMOTE_DIR}/{sender}/{tag}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run(f"grep -qF {shlex.quote(marker)} {path}").rc == 0:
            return True
        time.sleep(1)
    return False


def test_rsyslog_runs_with_a_valid_configuration_everywhere(lab):
    for name in lab.names:
        lab.assert_service_up(name, "rsyslog")
        check = lab.get_host(name).run("rsyslogd -N1")
        assert check.rc == 0, f"{name}: rsyslogd -N1 fails: {check.stderr}"
    for name in lab.hosts_in("monitoring"):
        assert lab.get_host(name).file(RECEIVER_CONF).exists, f"{name}: receives nothing"
        forward = lab.get_host(name).file(FORWARD_CONF)
        assert not (forward.exists and forward.contains(lab.private_address(name))), f"{name} forwards to itself"
    for name in lab.outside("monitoring"):
        assert not lab.get_host(name).file(RECEIVER_CONF).exists, f"{name} is no receiver but listens"


def test_a_line_logged_on_any_host_reaches_every_receiver(lab):
    receivers, senders = _receivers(lab), _senders(lab)
    sent = {sender: _log(lab, sender, "lmsops-test") for sender in senders}
    missing = [f"{s} -> {r}" for r in receivers for s, marker in sent.items()
               if not _wait_for(lab, r, s, "lmsops-test", marker, timeout=30)]
    assert not missing, f"not received within 30 s: {missing}"


def test_a_sender_cannot_file_lines_under_another_hosts_name(lab):
    """The receiver names a sender by the address it connects from, not by the name in the message."""
    receivers, senders = _receivers(lab), _senders(lab)
    if len(lab.names) < 3:
        pytest.skip("needs a receiver, a sender and a third host to impersonate")
    receiver, sender = receivers[0], senders[0]
    victim = next(n for n in lab.names if n not in (receiver, sender))
    marker = f"lmsops-test {uuid.uuid4().hex}"
    # An RFC 3164 line that claims to come from the victim, sent straight to the receiver's port.
    line = f"<13>Jan  1 00:00:00 {victim} lmsops-forged: {marker}"
    lab.get_host(sender).check_output(
        f"printf '%s\\n' {shlex.quote(line)} | nc -w 3 -q 1 {lab.private_address(receiver)} {PORT}")
    assert _wait_for(lab, receiver, sender, "lmsops-forged", marker, timeout=30), \
        f"the forged line from {sender} did not land under {sender}'s own name on {receiver}"
    victims_file = f"{REMOTE_DIR}/{victim}/lmsops-forged.log"
    assert lab.get_host(receiver).run(f"grep -qF {shlex.quote(marker)} {victims_file}").rc != 0, \
        f"{sender} wrote into {victim}'s logs on {receiver}"


def test_received_logs_are_private_and_rotate(lab):
    for name in _receivers(lab):
        host = lab.get_host(name)
        assert host.file(REMOTE_DIR).mode & 0o027 == 0, f"{name}: {REMOTE_DIR} is open to others"
        loose = host.run(f"find {REMOTE_DIR} \\( -type f -perm /0027 \\) -o \\( -type d -perm /0027 \\)").stdout.split()
        assert not loose, f"{name}: readable or writable by others: {loose}"
        check = host.run(f"logrotate -d {LOGROTATE}")
        assert check.rc == 0, f"{name}: logrotate rejects {LOGROTATE}: {check.stderr}"


def test_receivers_listen_on_the_private_address_for_inventory_hosts(lab):
    receivers = _receivers(lab)
    for name in receivers:
        listening = lab.get_host(name).check_output(f"ss -Hltn 'sport = :{PORT}'")
        address = lab.private_address(name)
        local = {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in listening.splitlines() if line.strip()}
        assert local == {address}, f"{name} listens for syslog on {sorted(local)}, wanted {address} only"
        for sender in lab.outside("monitoring"):
            result = probe(lab.get_host(sender), address, PORT)
            assert result.outcome == "open", f"{sender} cannot reach {name}:{PORT}: {result.output}"


def test_a_receiver_that_was_down_gets_what_was_logged_meanwhile(lab):
    receivers, senders = _receivers(lab), _senders(lab)
    receiver, sender = receivers[0], senders[0]
    host = lab.get_host(receiver)
    host.check_output("systemctl stop rsyslog.service syslog.socket")
    try:
        marker = _log(lab, sender, "lmsops-queue-test")
        time.sleep(3)
        assert not _wait_for(lab, receiver, sender, "lmsops-queue-test", marker, timeout=1)
    finally:
        host.check_output("systemctl start rsyslog.service")
    # The sender retries every 10 s.
    assert _wait_for(lab, receiver, sender, "lmsops-queue-test", marker, timeout=60), \
        f"{sender} did not deliver what it logged while {receiver} was down"
