"""What an admin checks by hand after the ssh role: sshd's effective configuration, host keys, moduli,
and that a client is offered public key authentication only.

Fixtures come from conftest.py: ``host`` (one lab host, root, podman backend) and ``lab``
(``hosts_in(group)``, ``address(name)``, ``get_host(name)``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "ssh"
SSH_OPTS = "-o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def _platform(host) -> str:
    info = host.system_info
    return f"{info.distribution.capitalize()}_{info.release.split('.')[0]}"


def _expected(host) -> dict:
    """The role's recommended algorithm lists for this host's platform (vars/main.yml + vars/<platform>.yml)."""
    data = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    platform_file = ROLE / "vars" / f"{_platform(host)}.yml"
    if platform_file.is_file():
        data.update(yaml.safe_load(platform_file.read_text()) or {})
    return data


def _sshd_t(host) -> dict[str, list[str]]:
    config: dict[str, list[str]] = {}
    for line in host.check_output("/usr/sbin/sshd -T").splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key.lower(), []).append(value)
    return config


def _other(host, lab) -> str:
    me = lab.name_of(host)
    others = [name for name in lab.names if name != me]
    if not others:
        pytest.skip("needs a second lab host as SSH client")
    return others[0]


def test_sshd_running_and_enabled(host):
    service = host.service("ssh")
    assert service.is_running
    assert service.is_enabled


def test_sshd_config_file(host):
    config = host.file("/etc/ssh/sshd_config")
    assert config.user == "root"
    assert config.mode == 0o600
    directives = [line.split()[0].lower() for line in config.content_string.splitlines() if line.strip()
                  and not line.lstrip().startswith("#")]
    assert "include" not in directives  # drop-ins (cloud-init's) must not override the role


def test_effective_authentication_settings(host):
    config = _sshd_t(host)
    assert config["permitrootlogin"] == ["no"]
    assert config["passwordauthentication"] == ["no"]
    assert config["kbdinteractiveauthentication"] == ["no"]
    assert config["pubkeyauthentication"] == ["yes"]
    assert config["permitemptypasswords"] == ["no"]
    assert config["maxauthtries"] == ["3"]
    assert config["maxsessions"] == ["2"]
    assert config["allowgroups"] == ["lmsops-admins"]
    for switch in ("x11forwarding", "allowagentforwarding", "allowtcpforwarding", "compression",
                   "tcpkeepalive", "usedns", "permituserenvironment"):
        assert config[switch] == ["no"], switch
    assert config["loglevel"] == ["VERBOSE"]
    assert int(config["clientaliveinterval"][0]) * int(config["clientalivecountmax"][0]) > 0


def test_effective_crypto_is_exactly_the_configured_sets(host):
    config = _sshd_t(host)
    expected = _expected(host)
    assert set(config["ciphers"][0].split(",")) == set(expected["__ssh_ciphers"])
    assert set(config["kexalgorithms"][0].split(",")) == set(expected["__ssh_kex_algorithms"])
    assert set(config["macs"][0].split(",")) == set(expected["__ssh_macs"])
    assert set(config["hostkeyalgorithms"][0].split(",")) == set(expected["__ssh_host_key_algorithms"])
    offered = ",".join(config["ciphers"] + config["kexalgorithms"] + config["macs"] + config["hostkeyalgorithms"])
    for weak in ("cbc", "sha1", "ecdh-sha2-nistp", "ecdsa", "ssh-rsa,", "hmac-md5"):
        assert weak not in offered + ",", weak


def test_host_keys_are_ed25519_and_large_rsa_only(host):
    config = _sshd_t(host)
    assert sorted(config["hostkey"]) == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]
    assert not host.file("/etc/ssh/ssh_host_ecdsa_key").exists
    assert not host.file("/etc/ssh/ssh_host_dsa_key").exists
    bits = int(host.check_output("ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key").split()[0])
    assert bits >= 3072


def test_moduli_are_at_least_3072_bits(host):
    sizes = host.check_output("awk '$1 !~ /^#/ {print $5}' /etc/ssh/moduli | sort -un").split()
    assert sizes, "moduli file is empty"
    assert min(int(size) for size in sizes) >= 3071  # the file stores bits - 1


def test_password_login_refused_and_only_publickey_offered(host, lab):
    client_name = _other(host, lab)
    client = lab.get_host(client_name)
    address = lab.address(lab.name_of(host))
    port = _sshd_t(host)["port"][0]
    # The refused login must not count toward a fail2ban ban of the client: a second run of the suite
    # within the jail's findtime would otherwise get it banned, and later tests reach sshd from it.
    jail = host.run("fail2ban-client status sshd").rc == 0
    if jail:
        host.check_output(f"fail2ban-client set sshd addignoreip {shlex.quote(lab.address(client_name))}")
    try:
        result = client.run(
            f"ssh -v {SSH_OPTS} -p {port} -o PreferredAuthentications=password,keyboard-interactive "
            f"-o PubkeyAuthentication=no root@{shlex.quote(address)} true"
        )
    finally:
        if jail:
            host.run(f"fail2ban-client set sshd delignoreip {shlex.quote(lab.address(client_name))}")
    assert result.rc != 0
    offered = re.findall(r"Authentications that can continue: (\S+)", result.stderr)
    assert offered and set(offered) == {"publickey"}, offered
    assert "Permission denied (publickey)" in result.stderr
