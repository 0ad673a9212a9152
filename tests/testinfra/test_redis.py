"""The redis role, checked the way an operator would: the server runs and listens where it should, who
may reach it, as whom, what it refuses, and that it is sized by the capacity plan.

Acts on the hosts of the `cache` group (skips when there is none). Passwords: `redis_password` and
`redis_users` templated by Ansible from the inventory (the lab's come from password lookups); the checks
that log in skip when they cannot be templated. They go to the hosts on stdin (`Lab.pipe`), never
in a command line nor an assertion message.
"""

from __future__ import annotations

import re

import pytest
from ansible_collections.lmsops.stack.plugins.module_utils import _capacity
from test_firewall import TIMEOUT_S, probe_with_ssh

DEFAULT_PORT = 6379
DEFAULT_ALLOWED = ["web", "workers"]


# ---------------------------------------------------------------- helpers
def _cache_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("cache")


def _literal(lab, name: str, var: str, default=None):
    return lab.literal(name, var, default)


def _port(lab, name: str) -> int:
    return int(_literal(lab, name, "redis_port", DEFAULT_PORT))


@pytest.fixture(scope="session")
def credentials(lab) -> dict[str, dict[str, str]]:
    """Per cache host, user name -> password (`default` is the admin), templated by Ansible."""
    expression = (
        "{{ {'default': redis_password | default('')}"
        " | combine(redis_users | default([]) | items2dict(key_name='name', value_name='password')) | to_json }}"
    )
    return lab.template(lab.hosts_in("cache"), expression)


def _password(credentials, name: str, user: str) -> str:
    password = credentials.get(name, {}).get(user)
    if not password:
        pytest.skip(f"{name}: the password of Redis user {user} cannot be templated from the inventory")
    return password


def _app_user(credentials, name: str) -> str:
    users = [u for u in credentials.get(name, {}) if u != "default"]
    if not users:
        pytest.skip(f"{name}: no application user in redis_users")
    return users[0]


def _resp(*commands: list[str]) -> bytes:
    """Commands in the Redis protocol (arrays of bulk strings), whatever characters they hold."""
    out = b""
    for command in commands:
        out += f"*{len(command)}\r\n".encode()
        for word in command:
            data = word.encode()
            out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def _talk(lab, src: str, address: str, port: int, *commands: list[str]) -> list[str]:
    """Send commands with netcat from host `src`, the last one QUIT; the server's reply lines."""
    payload = _resp(*commands, ["QUIT"])
    result = lab.pipe(src, ["nc", "-q", "1", "-w", str(TIMEOUT_S), address, str(port)], input=payload, timeout=30)
    return result.stdout.decode(errors="replace").splitlines()


def _admin(lab, credentials, name: str, *args: str) -> str:
    """redis-cli on the cache host as the admin (`default` user), the password on stdin."""
    script = 'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli --no-auth-warning "$@"'
    result = lab.pipe(name, ["sh", "-c", script, "sh", *args],
                      input=_password(credentials, name, "default") + "\n", timeout=30)
    assert result.returncode == 0, f"redis-cli {' '.join(args)} on {name}: {result.stderr.strip()}"
    return result.stdout


def _app_sources(lab, cache: str) -> list[str]:
    """Hosts of the allowed groups to connect from; the cache host itself when it is one (all-in-one)."""
    groups = _literal(lab, cache, "redis_allowed_groups", DEFAULT_ALLOWED)
    members = sorted({n for g in groups for n in lab.hosts_in(g)})
    others = [n for n in members if n != cache]
    return others or [n for n in members if n == cache]


# ---------------------------------------------------------------- the server
def test_redis_running_and_enabled(lab):
    for name in _cache_hosts(lab):
        lab.assert_service_up(name, "redis-server")


def test_redis_listens_on_the_private_address_and_loopback_only(lab):
    for name in _cache_hosts(lab):
        port = _port(lab, name)
        out = lab.get_host(name).check_output(f"ss -Hltn 'sport = :{port}'")
        listening = {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in out.splitlines() if line.strip()}
        wanted = set(_literal(lab, name, "redis_bind") or [lab.private_address(name), "127.0.0.1"])
        assert listening == wanted, f"{name} listens on {sorted(listening)} for port {port}, wanted {sorted(wanted)}"


def test_configuration_is_not_readable_by_others(lab):
    for name in _cache_hosts(lab):
        host = lab.get_host(name)
        for path in ("/etc/redis/redis.conf", "/etc/redis/users.acl"):
            f = host.file(path)
            assert f.exists, f"{name}: {path} is missing"
            assert (f.user, f.group, f.mode) == ("redis", "redis", 0o640), (
                f"{name}: {path} is {f.user}:{f.group} {oct(f.mode)}, wanted redis:redis 0640"
            )


def test_acl_file_holds_no_password_in_clear(lab, credentials):
    for name in _cache_hosts(lab):
        content = lab.get_host(name).file("/etc/redis/users.acl").content_string
        for user in ["default", _app_user(credentials, name)]:
            clear = _password(credentials, name, user) in content
            assert not clear, f"{name}: {user}'s password is in clear in users.acl"
            assert re.search(rf"^user {re.escape(user)} on #[0-9a-f]{{64}} ", content, re.MULTILINE), content


def test_kernel_and_unit_settings(lab):
    for name in _cache_hosts(lab):
        host = lab.get_host(name)
        sysctl = host.file("/etc/sysctl.d/90-lmsops-redis.conf")
        assert sysctl.exists and re.search(r"^vm\.overcommit_memory = 1$", sysctl.content_string, re.MULTILINE)
        if host.run("test -w /proc/sys/vm/overcommit_memory").rc == 0:  # a VM; containers cannot set it
            assert host.file("/proc/sys/vm/overcommit_memory").content_string.strip() == "1"
        props = dict(
            line.split("=", 1)
            for line in host.check_output(
                "systemctl show redis-server -p ProtectSystem -p ReadWritePaths -p NoNewPrivileges -p DropInPaths"
            ).splitlines()
        )
        assert props["ProtectSystem"] == "strict" and props["NoNewPrivileges"] == "yes", props
        assert "90-lmsops.conf" in props["DropInPaths"], props
        assert "/etc/redis" not in props["ReadWritePaths"], f"{name}: Redis may rewrite its configuration: {props}"


# ---------------------------------------------------------------- who may connect, as whom
def test_unauthenticated_commands_are_refused(lab):
    for cache in _cache_hosts(lab):
        for src in _app_sources(lab, cache):
            reply = _talk(lab, src, lab.private_address(cache), _port(lab, cache), ["PING"])
            assert reply and reply[0].startswith("-NOAUTH"), f"PING without AUTH on {cache} from {src}: {reply}"


def test_app_user_works_and_is_kept_from_admin_commands(lab, credentials):
    for cache in _cache_hosts(lab):
        user = _app_user(credentials, cache)
        for src in _app_sources(lab, cache):
            reply = _talk(
                lab, src, lab.private_address(cache), _port(lab, cache),
                ["AUTH", user, _password(credentials, cache, user)], ["PING"],
                ["FLUSHALL"], ["CONFIG", "GET", "maxmemory"], ["KEYS", "*"],
            )
            assert reply[:2] == ["+OK", "+PONG"], f"{user} on {cache} from {src}: {reply[:2]}"
            for command, line in zip(("FLUSHALL", "CONFIG GET", "KEYS"), reply[2:5]):
                assert line.startswith(("-NOPERM", "-ERR unknown command")), f"{command} as {user} on {cache}: {line}"


def test_wrong_password_is_refused(lab):
    for cache in _cache_hosts(lab):
        src = _app_sources(lab, cache)[0]
        reply = _talk(lab, src, lab.private_address(cache), _port(lab, cache), ["AUTH", "not-the-password-at-all"])
        assert reply and reply[0].startswith("-WRONGPASS"), reply


def test_redis_port_dropped_for_hosts_outside_the_allowed_groups(lab):
    pairs = [(cache, src) for cache in _cache_hosts(lab)
             for src in lab.outside(*_literal(lab, cache, "redis_allowed_groups", DEFAULT_ALLOWED)) if src != cache]
    if not pairs:
        pytest.skip("every other host is in an allowed group (all-in-one)")
    results = probe_with_ssh(lab, [(src, cache, lab.private_address(cache), _port(lab, cache)) for cache, src in pairs])
    for (cache, src), (result, ssh) in zip(pairs, results):
        assert result.outcome == "timeout", f"{cache}:{_port(lab, cache)} from {src} should be dropped: {result}"
        assert ssh.outcome == "open", f"SSH on {cache} from {src}: {ssh}"


# ---------------------------------------------------------------- sized by the capacity plan
def _expected_memory(lab, name: str) -> tuple[int, str]:
    """maxmemory (bytes) and policy the role should have set, from the inventory and the capacity code."""
    plan = lab.capacity_plan(name)
    settings = _literal(lab, name, "capacity_settings") or _literal(lab, name, "lmsops_capacity_settings") or {}
    persistence = _literal(lab, name, "redis_persistence", plan["redis"]["persistence"])
    use = _literal(lab, name, "redis_use", plan["redis"]["use"])
    redis = _capacity.redis_maxmemory(plan["budget"]["redis_mb"], persistence, use, settings)
    maxmemory_mb = _literal(lab, name, "redis_maxmemory_mb", redis["maxmemory_mb"])
    policy = _literal(lab, name, "redis_maxmemory_policy", redis["maxmemory_policy"])
    return int(maxmemory_mb) * 1024 * 1024, policy


def test_maxmemory_and_policy_follow_the_capacity_plan(lab, credentials):
    for name in _cache_hosts(lab):
        maxmemory, policy = _expected_memory(lab, name)
        got = _admin(lab, credentials, name, "CONFIG", "GET", "maxmemory").split()
        assert got == ["maxmemory", str(maxmemory)], f"{name}: {got}, the capacity plan says {maxmemory} bytes"
        got = _admin(lab, credentials, name, "CONFIG", "GET", "maxmemory-policy").split()
        assert got == ["maxmemory-policy", policy], f"{name}: {got}, the capacity plan says {policy}"
