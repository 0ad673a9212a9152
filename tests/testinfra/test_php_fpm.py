"""The php_fpm role, checked the way an operator would: the right PHP with the extensions the LMS needs on
the web and workers hosts, the application account, and on web hosts the app pool answering FastCGI on its
socket as the app user, sized by the capacity plan, with the hardened settings, OPcache, graceful reloads
and (with a cache host) sessions that land in Redis.

Requests go to the pool's unix socket with a small FastCGI client run by the host's python3 (what nginx
sends, without nginx). Acts on the `web` and `workers` hosts (skips when there are none). The Redis
password is templated by Ansible from the inventory and sent on stdin, never in a command line or message.
"""

from __future__ import annotations

import json
import re
import time

import pytest

DISTRO_PHP = {("debian", "12"): "8.2", ("ubuntu", "22.04"): "8.1", ("ubuntu", "24.04"): "8.3"}
# `php -m` names of the default php_fpm_extensions.
MODULES = ["mysqli", "pdo_mysql", "mysqlnd", "redis", "mbstring", "xml", "SimpleXML", "dom", "curl", "zip", "intl",
           "gd", "bcmath", "Zend OPcache", "readline"]

# A FastCGI client (responder role, GET): prints {"stdout": ..., "stderr": ...} of the response.
FCGI_CLIENT = r'''
import json, socket, struct, sys
path, script, uri = sys.argv[1:4]
params = {"SCRIPT_FILENAME": script, "SCRIPT_NAME": uri, "REQUEST_URI": uri, "DOCUMENT_URI": uri,
          "QUERY_STRING": "", "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
          "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "localhost", "SERVER_PORT": "8080", "HTTPS": "on"}
def record(kind, content):
    return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content
def length(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
body = b"".join(length(len(k.encode())) + length(len(v.encode())) + k.encode() + v.encode() for k, v in params.items())
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(path)
s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, body) + record(4, b"") + record(5, b""))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
out, err, i = b"", b"", 0
while i + 8 <= len(data):
    _, kind, _, clen, plen = struct.unpack("!BBHHB", data[i:i + 7])
    content = data[i + 8:i + 8 + clen]
    i += 8 + clen + plen
    if kind == 6:
        out += content
    elif kind == 7:
        err += content
    elif kind == 3:
        break
print(json.dumps({"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}))
'''

# What the test page reports: who runs it, the effective settings, OPcache, and a session write.
PROBE_PHP = r'''<?php
$ini = [];
foreach (["expose_php", "memory_limit", "upload_max_filesize", "post_max_size", "max_execution_time", "date.timezone",
          "opcache.enable", "opcache.validate_timestamps", "opcache.memory_consumption", "realpath_cache_size",
          "session.save_handler", "session.cookie_httponly", "session.use_strict_mode", "error_log"] as $k) {
    $ini[$k] = ini_get($k);
}
$status = function_exists("opcache_get_status") ? opcache_get_status(false) : false;
$session = null;
if (isset($_SERVER["HTTPS"])) {
    session_start();
    $_SESSION["probe"] = "lmsops";
    $session = ["id" => session_id(), "written" => session_write_close()];
}
echo json_encode(["user" => posix_getpwuid(posix_geteuid())["name"], "ini" => $ini,
                  "opcache" => $status ? $status["opcache_enabled"] : false, "session" => $session,
                  "sapi" => PHP_SAPI]);
'''


# ---------------------------------------------------------------- helpers
def _php_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("web", "workers")


def _web_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("web")


def _literal(lab, name: str, var: str, default=None):
    return lab.literal(name, var, default)


def _version(lab, name: str) -> str:
    given = _literal(lab, name, "php_fpm_version") or _literal(lab, name, "lmsops_php_version")
    if given:
        return str(given)
    release = lab.get_host(name).system_info
    return DISTRO_PHP[(release.distribution, release.release)]


def _app(lab, name: str) -> tuple[str, str, str, str]:
    """(app name, user, group, root) of the web-tier contract."""
    return (_literal(lab, name, "lmsops_app_name", "lms"), _literal(lab, name, "lmsops_app_user", "lms"),
            _literal(lab, name, "lmsops_app_group", "lms"), _literal(lab, name, "lmsops_app_root", "/srv/lms"))


def _socket(lab, name: str) -> str:
    return f"/run/php/php-fpm-{_app(lab, name)[0]}.sock"


def _fcgi(lab, name: str, sock: str, script: str, uri: str) -> dict[str, str]:
    result = lab.pipe(name, ["python3", "-", sock, script, uri], input=FCGI_CLIENT)
    assert result.returncode == 0, f"FastCGI request {uri} to {sock} on {name} failed: {result.stderr[-800:]}"
    return json.loads(result.stdout)


def _split(response: str) -> tuple[dict[str, str], str]:
    head, _, body = response.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return headers, body


@pytest.fixture(scope="module")
def probes(lab) -> dict[str, dict]:
    """Per web host: the test page's answer through the app pool (headers and decoded body)."""
    answers = {}
    for name in lab.hosts_in("web"):
        host = lab.get_host(name)
        directory = host.check_output("mktemp -d /tmp/lmsops-php-probe.XXXXXX")
        try:
            written = lab.pipe(name, ["sh", "-c", f"cat > {directory}/probe.php"], input=PROBE_PHP, timeout=30)
            assert written.returncode == 0, f"{name}: cannot write the test page: {written.stderr[-800:]}"
            host.check_output(f"chmod 0755 {directory} && chmod 0644 {directory}/probe.php")
            response = _fcgi(lab, name, _socket(lab, name), f"{directory}/probe.php", "/probe.php")
        finally:
            host.run(f"rm -rf {directory}")
        headers, body = _split(response["stdout"])
        try:
            data = json.loads(body)
        except ValueError:
            pytest.fail(f"{name}: the test page did not answer JSON: {response['stdout'][:300]!r} {response['stderr'][:300]!r}")
        answers[name] = {"headers": headers, "body": data}
    return answers


def _fpm_config(lab, name: str) -> dict[str, str]:
    """The app pool's pm.* values as php-fpm parsed them (php-fpm -tt; nothing else of its output is kept)."""
    binary = f"php-fpm{_version(lab, name)}"
    out = lab.get_host(name).run(f"{binary} -tt 2>&1").stdout
    values, pool = {}, None
    for line in out.splitlines():
        match = re.search(r"NOTICE:\s+\[(\S+)\]$", line)
        if match:
            pool = match.group(1)
            continue
        match = re.search(r"NOTICE:\s+(pm(?:\.[a-z_]+)?|listen(?:\.[a-z]+)?|user|group|request_\w+)\s+=\s+(.*)$", line)
        if match and pool == _app(lab, name)[0]:
            values[match.group(1)] = match.group(2).strip()
    return values


# ---------------------------------------------------------------- every PHP host
def test_php_version_and_extensions(lab):
    for name in _php_hosts(lab):
        host = lab.get_host(name)
        version = host.check_output("/usr/bin/php -r 'echo PHP_MAJOR_VERSION, \".\", PHP_MINOR_VERSION;'")
        assert version == _version(lab, name), f"{name}: /usr/bin/php is PHP {version}, expected {_version(lab, name)}"
        modules = set(host.check_output("/usr/bin/php -m").splitlines())
        missing = [m for m in MODULES if m not in modules]
        assert not missing, f"{name}: php -m lacks {missing}"


def test_no_development_packages(lab):
    for name in _php_hosts(lab):
        dev = lab.get_host(name).run("dpkg-query -W -f '${Package}\\n' 'php*-dev' 2>/dev/null").stdout.split()
        installed = [p for p in dev if lab.get_host(name).package(p).is_installed]
        assert not installed, f"{name}: PHP development packages (a compiler toolchain) installed: {installed}"


def test_cli_settings(lab):
    for name in _php_hosts(lab):
        out = lab.get_host(name).check_output(
            "/usr/bin/php -r 'foreach ([\"expose_php\", \"date.timezone\", \"memory_limit\"] as $k)"
            " echo $k, \"=\", ini_get($k), \"\\n\";'")
        values = dict(line.split("=", 1) for line in out.splitlines())
        assert values["expose_php"] in ("", "0"), f"{name}: expose_php is on for the CLI"
        assert values["date.timezone"], f"{name}: the CLI has no date.timezone"


def test_app_account(lab):
    for name in _php_hosts(lab):
        app, user_name, group, root = _app(lab, name)
        user = lab.get_host(name).user(user_name)
        assert user.exists, f"{name}: the application user {user_name} does not exist"
        assert user.uid < 1000, f"{name}: {user_name} is not a system account (uid {user.uid})"
        assert user.group == group, f"{name}: {user_name}'s group is {user.group}, expected {group}"
        assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin"), f"{name}: {user_name} can log in ({user.shell})"
        assert user.home == root, f"{name}: {user_name}'s home is {user.home}, expected {root}"


def test_no_fpm_on_workers_only_hosts(lab):
    hosts = [n for n in lab.hosts_in("workers") if "web" not in lab.groups_of(n)]
    if not hosts:
        pytest.skip("no workers-only host in this inventory")
    for name in hosts:
        procs = lab.get_host(name).run("pgrep -c '^php-fpm'").stdout.strip()
        assert procs in ("", "0"), f"{name}: PHP-FPM runs on a workers-only host"


# ---------------------------------------------------------------- web hosts: the pool
def test_fpm_running_and_enabled(lab):
    for name in _web_hosts(lab):
        lab.assert_service_up(name, f"php{_version(lab, name)}-fpm")


def test_app_pool_workers_run_as_the_app_user(lab):
    for name in _web_hosts(lab):
        app, user, _, _ = _app(lab, name)
        host = lab.get_host(name)
        owners = set(host.check_output(f"ps -o user= -C php-fpm{_version(lab, name)} | sort -u").split())
        workers = host.check_output(f"pgrep -u {user} -c -f 'php-fpm: pool {app}$' || true").strip()
        assert int(workers or 0) >= 1, f"{name}: no worker of pool {app} runs as {user}"
        assert owners <= {"root", user}, f"{name}: PHP-FPM processes run as {owners}"
        assert not host.run("pgrep -f 'php-fpm: pool www$'").stdout.strip(), f"{name}: the distribution's www pool runs"
        assert not host.file(f"/etc/php/{_version(lab, name)}/fpm/pool.d/www.conf").exists, f"{name}: www.conf is there"


def test_app_socket_owned_by_nginx(lab):
    for name in _web_hosts(lab):
        sock = lab.get_host(name).file(_socket(lab, name))
        assert sock.is_socket, f"{name}: {_socket(lab, name)} is not a socket"
        assert (sock.user, sock.group, sock.mode) == ("www-data", "www-data", 0o660), (
            f"{name}: {_socket(lab, name)} is {sock.user}:{sock.group} {oct(sock.mode)}, expected www-data:www-data 0660")


def test_pool_file_protects_the_session_password(lab):
    for name in _web_hosts(lab):
        pool = lab.get_host(name).file(f"/etc/php/{_version(lab, name)}/fpm/pool.d/{_app(lab, name)[0]}.conf")
        assert pool.exists, f"{name}: the app pool file is missing"
        assert pool.user == "root" and pool.mode & 0o007 == 0, f"{name}: the pool file is readable by others"


def test_pool_sized_by_the_capacity_plan(lab):
    for name in _web_hosts(lab):
        plan = lab.capacity_plan(name)["php_fpm"]
        config = _fpm_config(lab, name)
        wanted = {"pm": plan["pm"], "pm.max_children": plan["max_children"], "pm.max_requests": plan["max_requests"]}
        if plan["pm"] == "dynamic":
            wanted.update({"pm.start_servers": plan["start_servers"], "pm.min_spare_servers": plan["min_spare_servers"],
                           "pm.max_spare_servers": plan["max_spare_servers"]})
        for key, literal in (("pm", "php_fpm_pm"), ("pm.max_children", "php_fpm_max_children")):
            if _literal(lab, name, literal) is not None:
                wanted[key] = _literal(lab, name, literal)
        got = {k: config.get(k) for k in wanted}
        assert got == {k: str(v) for k, v in wanted.items()}, f"{name}: pool sizes {got}, capacity plan {wanted}"
        assert config.get("pm.status_path") == "/fpm-status", f"{name}: pm.status_path is {config.get('pm.status_path')}"
        assert config.get("request_terminate_timeout", "0s") not in ("0", "0s"), f"{name}: no request_terminate_timeout"
        assert config.get("request_slowlog_timeout", "0s") not in ("0", "0s"), f"{name}: no slow log"


def test_ping_and_status_pages(lab):
    for name in _web_hosts(lab):
        headers, body = _split(_fcgi(lab, name, _socket(lab, name), "/fpm-ping", "/fpm-ping")["stdout"])
        assert body.strip() == "pong", f"{name}: /fpm-ping answered {body[:100]!r}"
        headers, body = _split(_fcgi(lab, name, _socket(lab, name), "/fpm-status", "/fpm-status")["stdout"])
        assert re.search(rf"^pool:\s+{_app(lab, name)[0]}$", body, re.MULTILINE), f"{name}: /fpm-status: {body[:200]!r}"


def test_php_runs_as_the_app_user_with_the_hardened_settings(lab, probes):
    for name, answer in probes.items():
        body, headers = answer["body"], answer["headers"]
        assert "x-powered-by" not in headers, f"{name}: the response tells the PHP version ({headers['x-powered-by']})"
        assert body["sapi"] == "fpm-fcgi" and body["user"] == _app(lab, name)[1], f"{name}: the page ran as {body['user']}"
        ini = body["ini"]
        upload = f"{_literal(lab, name, 'php_fpm_upload_max_mb', 256)}M"
        assert ini["upload_max_filesize"] == upload and ini["post_max_size"] == upload, f"{name}: upload limits {ini}"
        assert ini["expose_php"] in ("", "0"), f"{name}: expose_php is on"
        assert ini["date.timezone"], f"{name}: no date.timezone"
        assert ini["session.cookie_httponly"] == "1" and ini["session.use_strict_mode"] == "1", f"{name}: session cookies {ini}"
        assert ini["error_log"].endswith("/error.log"), f"{name}: the pool has no error log of its own ({ini['error_log']})"


def test_opcache_enabled_and_sized(lab, probes):
    for name, answer in probes.items():
        body = answer["body"]
        assert body["opcache"] is True, f"{name}: OPcache is not enabled in PHP-FPM"
        plan = lab.capacity_plan(name)["php_fpm"]
        wanted = _literal(lab, name, "php_fpm_opcache_memory_mb", plan["opcache_memory_mb"])
        assert body["ini"]["opcache.memory_consumption"] == str(wanted), f"{name}: OPcache memory {body['ini']}"
        timestamps = bool(_literal(lab, name, "php_fpm_opcache_validate_timestamps", False))
        assert body["ini"]["opcache.validate_timestamps"] in (("1",) if timestamps else ("", "0")), f"{name}: {body['ini']}"


def test_sessions_land_in_redis(lab, probes):
    caches = lab.hosts_in("cache")
    if not caches:
        for name, answer in probes.items():
            assert answer["body"]["ini"]["session.save_handler"] == "files", f"{name}: sessions not in files"
        pytest.skip("no cache host in this inventory: sessions are files")
    password = lab.template(caches[:1], "{{ redis_password | default('') | to_json }}").get(caches[0])
    for name, answer in probes.items():
        if _literal(lab, name, "php_fpm_session_save_handler", "redis") != "redis":
            continue
        assert answer["body"]["ini"]["session.save_handler"] == "redis", f"{name}: sessions are not in Redis"
        session = answer["body"]["session"]
        assert session and session["written"], f"{name}: the session could not be written: {session}"
        if not password:
            pytest.skip("the Redis admin password cannot be templated from the inventory")
        key = f"PHPREDIS_SESSION:{session['id']}"
        script = 'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli --no-auth-warning "$@"'
        result = lab.pipe(
            caches[0],
            ["sh", "-c", script, "sh", "EVAL",
             "local v = redis.call('GET', KEYS[1]); local t = redis.call('TTL', KEYS[1]);"
             " redis.call('DEL', KEYS[1]); return {v or '', t}", "1", key],
            input=password + "\n", timeout=30,
        )
        assert result.returncode == 0, f"redis-cli on {caches[0]}: {result.stderr.strip()}"
        value, ttl = (result.stdout.splitlines() + ["", ""])[:2]
        assert "lmsops" in value, f"{name}: the session written through PHP-FPM is not in Redis on {caches[0]}"
        assert int(ttl) > 0, f"{name}: the session key has no expiry (TTL {ttl})"


def test_reload_is_graceful(lab):
    for name in _web_hosts(lab):
        host = lab.get_host(name)
        service = f"php{_version(lab, name)}-fpm"
        before = host.check_output(f"systemctl show -p MainPID --value {service}")
        host.check_output(f"systemctl reload {service}")
        for _ in range(20):
            time.sleep(0.5)
            workers = host.run(f"pgrep -P {before} -c").stdout.strip()
            if host.service(service).is_running and int(workers or 0) > 0:
                break
        after = host.check_output(f"systemctl show -p MainPID --value {service}")
        assert before == after, f"{name}: the reload replaced the PHP-FPM master ({before} -> {after})"
        _, body = _split(_fcgi(lab, name, _socket(lab, name), "/fpm-ping", "/fpm-ping")["stdout"])
        assert body.strip() == "pong", f"{name}: the pool does not answer after a reload"
