"""The nginx role, checked the way an operator would: https through the load balancers, the redirect, the
headers, what the outside cannot reach, the app port's firewall, maintenance mode, the rate limits, a
drain and its undoing, and fail2ban filters that read the request line only.

Acts on the hosts of `loadbalancers` and `web` (each check skips when its group is empty). Requests go
with curl from the hosts themselves (`-k`: the load balancer may still hold its self-signed placeholder);
"outside" is an inventory host in neither group. Checks that touch state (maintenance file, a drain, a
file in the document root) restore it before they end.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid

import pytest
from test_firewall import probe_many, probe_with_ssh

DEFAULT_APP_PORT = 8080
DEFAULT_LOGIN_PATHS = ["/login", "/password"]
DEFAULT_LOGIN_BURST = 20
DEFAULT_API_PATH = "/api/"
DEFAULT_API_BURST = 40
DEFAULT_LOGIN_RATE = "30r/m"
DEFAULT_API_RATE = "20r/s"
APP_ROOT = "/srv/lms"
DRAIN = "/usr/local/sbin/lmsops-nginx-drain"
APP_LOG = "/var/log/nginx/lmsops-app.access.log"
STATUS_LOG = "/var/log/nginx/lmsops-status.access.log"
LB_CONF = "/etc/nginx/conf.d/lmsops-lb.conf"
SECURITY_HEADERS = ("x-frame-options", "x-content-type-options", "referrer-policy", "content-security-policy")


# ---------------------------------------------------------------- helpers
def _lbs(lab) -> list[str]:
    return lab.hosts_or_skip("loadbalancers")


def _webs(lab) -> list[str]:
    return lab.hosts_or_skip("web")


def _literal(lab, name: str, var: str, default=None):
    return lab.literal(name, var, default)


def _app_port(lab, name: str) -> int:
    return int(_literal(lab, name, "nginx_app_port", DEFAULT_APP_PORT))


def _curl(host, url: str, *args: str) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names; repeated ones joined with ', ') and body of one request."""
    marker = "__lmsops_status__"
    cmd = ["curl", "-sk", "-m", "10", "-D", "/dev/stderr", "-w", f"\n{marker}%{{http_code}}", *args, url]
    result = host.run(" ".join(shlex.quote(c) for c in cmd))
    body, _, status = result.stdout.rpartition(f"\n{marker}")
    headers: dict[str, str] = {}
    for line in result.stderr.splitlines():
        if ":" in line and not line.startswith("HTTP/"):
            key, value = line.split(":", 1)
            key = key.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return int(status or 0), headers, body


PARALLEL = 8


def _timed_codes(host, url: str, count: int, *args: str) -> tuple[list[int], float]:
    """Status codes of `count` requests sent PARALLEL at a time, and the seconds they took on the host."""
    quoted = " ".join(shlex.quote(a) for a in args)
    out = host.check_output(
        f"date +%s.%N; seq {count} | xargs -P {PARALLEL} -I{{}} curl -sk -o /dev/null -w '%{{http_code}}\\n' "
        f"{quoted} {shlex.quote(url)}; date +%s.%N"
    ).split()
    return [int(c) for c in out[1:-1]], float(out[-1]) - float(out[0])


def _codes(host, url: str, count: int, *args: str) -> list[int]:
    return _timed_codes(host, url, count, *args)[0]


def _per_second(rate: str) -> float:
    """nginx's limit_req rate ("20r/s", "30r/m") in requests per second."""
    number, unit = re.fullmatch(r"(\d+)r/([sm])", rate).groups()
    return int(number) / (1 if unit == "s" else 60)


def _assert_limited(host, url: str, burst: int, rate: str, what: str, *args: str) -> None:
    """Far more requests than the burst: nginx lets through at most the burst, what the rate refills
    while they run (measured, so a slow host does not fail the test) and those in flight; 429 for the rest."""
    codes, took = _timed_codes(host, url, burst + 100, *args)
    allowed = burst + 1 + _per_second(rate) * took + PARALLEL
    passed = sum(1 for c in codes if c != 429)
    assert codes.count(429) >= 10 and passed <= allowed, (
        f"{what}: {passed} of {len(codes)} requests in {took:.1f} s were not limited (at most {allowed:.0f} may pass): {codes}")


def _outside(lab) -> list[str]:
    return lab.outside("loadbalancers", "web")


def _docroot(host) -> str | None:
    path = f"{APP_ROOT}/current/public"
    return path if host.file(path).is_directory else None


# ---------------------------------------------------------------- both faces
def test_nginx_running_enabled_and_configuration_valid(lab):
    for name in lab.hosts_or_skip("web", "loadbalancers"):
        host = lab.get_host(name)
        lab.assert_service_up(name, "nginx")
        test = host.run("nginx -t")
        assert test.rc == 0, f"{name}: nginx -t fails: {test.stderr}"
        assert not host.file("/etc/nginx/sites-enabled/default").exists, f"{name}: the default site is enabled"
        dump = host.check_output("nginx -T 2>/dev/null")
        assert re.search(r"^\s*server_tokens off;", dump, re.MULTILINE), f"{name}: server_tokens is not off"
        # Access logs hold client addresses and URLs: not for every local user to read.
        for log in host.check_output("find /var/log/nginx -maxdepth 1 -type f -name '*.log'").split():
            mode = host.file(log).mode
            assert mode & 0o007 == 0, f"{name}: {log} is readable by others ({oct(mode)})"


# ---------------------------------------------------------------- load balancer
def test_https_through_the_load_balancer_serves_the_app_with_security_headers(lab):
    for lb in _lbs(lab):
        sources = [lb] + _outside(lab)[:1]
        for src in sources:
            url = f"https://{'127.0.0.1' if src == lb else lab.private_address(lb)}/"
            status, headers, body = _curl(lab.get_host(src), url)
            assert status in (200, 302, 503), f"{url} from {src}: HTTP {status}: {body[:300]}"
            assert headers.get("server") == "nginx", f"{url} from {src} shows the version: {headers.get('server')}"
            for name in SECURITY_HEADERS + ("strict-transport-security",):
                assert name in headers, f"{url} from {src}: no {name} header ({sorted(headers)})"
                assert ", " not in headers[name] or name == "content-security-policy", (
                    f"{url} from {src}: {name} sent twice: {headers[name]}"
                )
            assert headers["x-frame-options"] == "SAMEORIGIN"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["strict-transport-security"].startswith("max-age=")


def test_http_redirects_to_https_except_acme_challenges(lab):
    for lb in _lbs(lab):
        host = lab.get_host(lb)
        server_name = _literal(lab, lb, "nginx_lb_server_name")
        status, headers, _ = _curl(host, "http://127.0.0.1/some/page?x=1")
        assert status == 301, f"http on {lb}: HTTP {status}"
        location = headers.get("location", "")
        assert location.startswith("https://") and location.endswith("/some/page?x=1"), location
        if server_name:
            assert location == f"https://{server_name}/some/page?x=1", location
        token = f"lmsops-test-{uuid.uuid4().hex}"
        challenge = f"/var/www/acme/.well-known/acme-challenge/{token}"
        host.run(f"mkdir -p /var/www/acme/.well-known/acme-challenge && echo {token} > {challenge}")
        try:
            status, _, body = _curl(host, f"http://127.0.0.1/.well-known/acme-challenge/{token}")
            assert (status, body.strip()) == (200, token), f"ACME challenge on {lb}: HTTP {status} {body[:200]}"
        finally:
            host.run(f"rm -f {challenge}")


def test_tls_versions_and_certificate_files(lab):
    for lb in _lbs(lab):
        host = lab.get_host(lb)
        for version, wanted in (("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)):
            result = host.run(f"echo | timeout 10 openssl s_client -connect 127.0.0.1:443 {version} 2>&1")
            ok = "Cipher is (NONE)" not in result.stdout and result.rc == 0
            assert ok == wanted, f"{lb}: TLS {version} {'refused' if wanted else 'accepted'}:\n{result.stdout[-600:]}"
        name = _literal(lab, lb, "nginx_lb_server_name")
        if name:
            key = host.file(f"/etc/nginx/tls/{name}/privkey.pem")
            assert (key.user, key.mode) == ("root", 0o600), f"{lb}: {key.path} is {key.user} {oct(key.mode)}"
            assert host.file(f"/etc/nginx/tls/{name}/fullchain.pem").exists


def test_monitoring_pages_are_not_reachable_through_the_load_balancer(lab):
    for lb in _lbs(lab):
        for src in [lb] + _outside(lab)[:1]:
            base = f"https://{'127.0.0.1' if src == lb else lab.private_address(lb)}"
            for path in ("/nginx-status", "/fpm-status", "/fpm-ping"):
                status, _, body = _curl(lab.get_host(src), base + path)
                assert status in (403, 404), f"{base}{path} from {src}: HTTP {status}: {body[:200]}"
                assert "Active connections" not in body and "pool:" not in body


def test_rate_limits_answer_429_beyond_the_burst(lab):
    """From the load balancer itself: 127.0.0.1 is never banned by fail2ban (fail2ban_ignoreip)."""
    for lb in _lbs(lab):
        if _literal(lab, lb, "nginx_rate_limit_enabled", True) is False:
            continue
        host = lab.get_host(lb)
        login = (_literal(lab, lb, "nginx_rate_limit_login_paths") or DEFAULT_LOGIN_PATHS)[0]
        burst = int(_literal(lab, lb, "nginx_rate_limit_login_burst", DEFAULT_LOGIN_BURST))
        rate = _literal(lab, lb, "nginx_rate_limit_login_rate", DEFAULT_LOGIN_RATE)
        _assert_limited(host, f"https://127.0.0.1{login}", burst, rate, f"POST {login} on {lb}", "-X", "POST", "-d", "x=1")
        assert _codes(host, f"https://127.0.0.1{login}", 1)[0] != 429, f"GET {login} on {lb} is limited too"
        api = _literal(lab, lb, "nginx_rate_limit_api_path", DEFAULT_API_PATH)
        burst = int(_literal(lab, lb, "nginx_rate_limit_api_burst", DEFAULT_API_BURST))
        rate = _literal(lab, lb, "nginx_rate_limit_api_rate", DEFAULT_API_RATE)
        _assert_limited(host, f"https://127.0.0.1{api}lmsops-test", burst, rate, f"{api} on {lb}")
        status, headers, _ = _curl(host, f"https://127.0.0.1{api}lmsops-test")
        if status == 429:
            assert "x-frame-options" in headers, f"the 429 page of {lb} lacks the security headers"


def _nginx_pids(host) -> str:
    """The master and worker processes of nginx: unchanged means nginx did not reload."""
    return host.check_output("pgrep -d, -x nginx")


def _app_requests(lab, web: str) -> int:
    return int(lab.get_host(web).check_output(f"wc -l < {APP_LOG}"))


def test_drain_takes_a_web_host_out_and_puts_it_back(lab):
    for lb in _lbs(lab):
        host = lab.get_host(lb)
        states = dict(line.split() for line in host.check_output(f"{DRAIN} status").splitlines())
        active = sorted(n for n, s in states.items() if s == "active")
        assert active, f"{lb}: no active web host in the upstream: {states}"
        if len(active) == 1:
            out = host.check_output(f"{DRAIN} drain {active[0]}")
            assert out.startswith("kept:"), f"{lb}: the last active web host was not kept: {out}"
            assert not host.file(f"/var/lib/lmsops-nginx/drained/{active[0]}").exists
            continue
        target, others = active[-1], active[:-1]
        pids = _nginx_pids(host)
        try:
            out = host.check_output(f"{DRAIN} drain {target}")
            assert out.startswith("changed:"), out
            # One drained host: no reload (the client connections of the load balancer stay open).
            assert _nginx_pids(host) == pids, f"{lb} reloaded nginx to drain {target}: {out}"
            assert host.file(f"/var/lib/lmsops-nginx/drained/{target}").exists
            assert f"{target} drained" in host.check_output(f"{DRAIN} status").splitlines()
            assert host.check_output(f"{DRAIN} drain {target}").startswith("ok:"), "a second drain changed something"
            assert json.loads(host.check_output("/etc/ansible/facts.d/lmsops_nginx.fact"))["drained"] == [target]
            # Requests keep being served, by the others only.
            before = _app_requests(lab, target)
            codes = _codes(host, "https://127.0.0.1/", 8)
            assert not set(codes) & {502, 504}, f"{lb} with {target} drained: {codes}"
            assert _app_requests(lab, target) == before, f"{target} got requests while drained at {lb}"
            if len(others) >= 2:
                # A second drained host: both get `down`, and nginx reloads.
                second = others[-1]
                try:
                    assert host.check_output(f"{DRAIN} drain {second}").startswith("changed:")
                    for name in (target, second):
                        line = host.check_output(f"grep -m1 'lmsops-host={name} ' {LB_CONF}")
                        assert " down;" in line and line.endswith("state=drained"), line
                finally:
                    host.check_output(f"{DRAIN} active {second}")
                line = host.check_output(f"grep -m1 'lmsops-host={target} ' {LB_CONF}")
                assert line.endswith("state=active"), f"{target} alone drained keeps down: {line}"
        finally:
            out = host.check_output(f"{DRAIN} active {target}")
        assert out.startswith("changed:"), out
        assert not host.file(f"/var/lib/lmsops-nginx/drained/{target}").exists
        assert f"{target} active" in host.check_output(f"{DRAIN} status").splitlines()
        before = _app_requests(lab, target)
        _codes(host, "https://127.0.0.1/", 8)
        assert _app_requests(lab, target) > before, f"{target} gets no requests after it was put back at {lb}"


def test_fail2ban_filters_read_the_request_line_only(lab):
    line = '203.0.113.9 - - [22/Nov/2026:10:00:00 +0000] "{request}" {status} 153 "{referer}" "{agent}"'
    cases = [
        # (filter, request, status, referer, user agent, should match)
        ("nginx-lmsops-probe", "GET /.env HTTP/1.1", 403, "-", "curl/8", True),
        ("nginx-lmsops-probe", "POST /blog/wp-login.php HTTP/1.1", 404, "-", "curl/8", True),
        ("nginx-lmsops-probe", "GET /phpMyAdmin/index.php HTTP/2.0", 404, "-", "curl/8", True),
        ("nginx-lmsops-probe", "GET /courses/12 HTTP/2.0", 200, "https://evil.example/.env", "Mozilla/5.0", False),
        ("nginx-lmsops-probe", "GET /courses HTTP/2.0", 200, "https://lms.example/wp-login.php", "wp-login.php", False),
        ("nginx-lmsops-probe", "GET /search?q=.env HTTP/1.1", 200, "-", "curl/8", False),
        ("nginx-lmsops-probe", "GET /.well-known/acme-challenge/x HTTP/1.1", 200, "-", "curl/8", False),
        ("nginx-lmsops-login", "POST /login HTTP/2.0", 429, "-", "curl/8", True),
        ("nginx-lmsops-login", "POST /password/email HTTP/1.1", 429, "-", "curl/8", True),
        ("nginx-lmsops-login", "POST /login HTTP/2.0", 302, "-", "curl/8", False),
        ("nginx-lmsops-login", "GET /courses HTTP/2.0", 429, "https://x.example/login", "POST /login", False),
    ]
    for lb in _lbs(lab):
        if _literal(lab, lb, "nginx_fail2ban_enabled", True) is False:
            continue
        host = lab.get_host(lb)
        for jail in ("nginx-lmsops-probe", "nginx-lmsops-login"):
            status = host.run(f"fail2ban-client status {jail}")
            assert status.rc == 0 and "lmsops-lb.access.log" in status.stdout, f"{lb}: jail {jail}: {status.stdout}"
        for jail, request, code, referer, agent, wanted in cases:
            text = line.format(request=request, status=code, referer=referer, agent=agent)
            out = host.check_output(f"fail2ban-regex {shlex.quote(text)} /etc/fail2ban/filter.d/{jail}.local")
            matched = re.search(r"^Lines: 1 lines, 0 ignored, 1 matched", out, re.MULTILINE) is not None
            assert matched == wanted, f"{lb}: {jail} {'missed' if wanted else 'matched'}: {text}"


# ---------------------------------------------------------------- app vhost
def test_app_port_open_to_load_balancers_only(lab):
    opened, dropped = [], []
    for web in _webs(lab):
        port = _app_port(lab, web)
        opened += [(lb, lab.private_address(web), port) for lb in lab.hosts_in("loadbalancers") if lb != web]
        dropped += [(src, web, port) for src in lab.outside("loadbalancers") if src != web]
    for (lb, address, port), result in zip(opened, probe_many(lab, opened)):
        assert result.outcome == "open", f"{address}:{port} from the load balancer {lb}: {result}"
    results = probe_with_ssh(lab, [(src, web, lab.private_address(web), port) for src, web, port in dropped])
    for (src, web, port), (result, ssh) in zip(dropped, results):
        assert result.outcome == "timeout", f"{web}:{port} from {src} should be dropped: {result}"
        assert ssh.outcome == "open", f"SSH on {web} from {src}: {ssh}"
    if not dropped:
        pytest.skip("no host outside loadbalancers to probe from")


def test_local_monitoring_pages_answer_on_loopback(lab):
    for web in _webs(lab):
        host = lab.get_host(web)
        base = f"http://127.0.0.1:{_app_port(lab, web)}"
        marker = f"/nginx-status?lmsops-test={uuid.uuid4().hex}"
        status, _, body = _curl(host, base + marker)
        # Logged, to the status pages' log rather than the app's.
        assert host.run(f"grep -qF {shlex.quote(marker)} {STATUS_LOG}").rc == 0, f"{web}: {marker} not in {STATUS_LOG}"
        assert host.run(f"grep -qF {shlex.quote(marker)} {APP_LOG}").rc != 0, f"{web}: {marker} in {APP_LOG}"
        assert status == 200 and "Active connections" in body, f"{web}: /nginx-status: HTTP {status} {body[:200]}"
        status, _, body = _curl(host, base + "/fpm-ping")
        assert status == 200 and body.strip() == "pong", f"{web}: /fpm-ping: HTTP {status} {body[:200]}"
        status, _, body = _curl(host, base + "/fpm-status")
        assert status == 200 and "pool:" in body, f"{web}: /fpm-status: HTTP {status} {body[:200]}"
        # The private address is not loopback: refused there.
        status, _, _ = _curl(host, f"http://{lab.private_address(web)}:{_app_port(lab, web)}/nginx-status")
        assert status == 403, f"{web}: /nginx-status on the private address: HTTP {status}"


def test_only_the_front_controller_runs_and_dotfiles_are_denied(lab):
    for web in _webs(lab):
        host = lab.get_host(web)
        docroot = _docroot(host)
        if docroot is None:
            pytest.skip(f"{web}: no release in {APP_ROOT}/current")
        name = f"lmsops-test-{uuid.uuid4().hex}"
        base = f"http://127.0.0.1:{_app_port(lab, web)}"
        host.run(
            f"printf '<?php echo \"executed\";' > {docroot}/{name}.php && echo secret > {docroot}/.{name} "
            f"&& echo 'body{{}}' > {docroot}/{name}.css"
        )
        try:
            status, _, body = _curl(host, f"{base}/{name}.php")
            assert status == 404 and "executed" not in body and "<?php" not in body, f"{web}: {name}.php: {status}"
            status, _, body = _curl(host, f"{base}/.{name}")
            assert status == 403 and "secret" not in body, f"{web}: dotfile: HTTP {status}"
            status, headers, _ = _curl(host, f"{base}/{name}.css")
            assert status == 200 and "max-age=" in headers.get("cache-control", ""), f"{web}: css: {status} {headers}"
            assert "x-content-type-options" in headers, f"{web}: the static location lost the security headers"
        finally:
            host.run(f"rm -f {docroot}/{name}.php {docroot}/.{name} {docroot}/{name}.css")


def test_maintenance_mode_serves_503_except_health(lab):
    for web in _webs(lab):
        host = lab.get_host(web)
        flag = f"{APP_ROOT}/shared/maintenance"
        if not host.file(f"{APP_ROOT}/shared").is_directory:
            pytest.skip(f"{web}: no {APP_ROOT}/shared")
        if host.file(flag).exists:
            pytest.skip(f"{web} is in maintenance mode now; not touching it")
        base = f"http://127.0.0.1:{_app_port(lab, web)}"
        host.run(f"touch {flag}")
        try:
            status, headers, body = _curl(host, f"{base}/courses")
            assert status == 503 and headers.get("retry-after", "").isdigit(), f"{web}: {status} {headers}"
            assert "maintenance" in body.lower(), f"{web}: not the maintenance page: {body[:200]}"
            assert "x-frame-options" in headers
            status, _, body = _curl(host, f"{base}/courses", "-X", "POST")
            assert status == 503, f"{web}: POST during maintenance: {status}"
            status, _, body = _curl(host, f"{base}/health")
            assert "maintenance" not in body.lower(), f"{web}: /health got the maintenance page (HTTP {status})"
        finally:
            host.run(f"rm -f {flag}")
        status, _, body = _curl(host, f"{base}/courses")
        assert "down for maintenance" not in body.lower(), f"{web}: still in maintenance after the file went"


def test_fastcgi_keepalive_stays_well_below_the_pool(lab):
    """nginx workers x idle FastCGI connections must not pin the app pool's children (PERFORMANCE-NOTES)."""
    for web in _webs(lab):
        host = lab.get_host(web)
        dump = host.check_output("nginx -T 2>/dev/null")
        block = re.search(r"upstream lmsops_php \{(.*?)\}", dump, re.DOTALL)
        assert block, f"{web}: no lmsops_php upstream"
        keepalive = re.search(r"^\s*keepalive (\d+);", block.group(1), re.MULTILINE)
        if not keepalive:
            continue
        plan = lab.capacity_plan(web)
        max_children = int(_literal(lab, web, "php_fpm_max_children", plan["php_fpm"]["max_children"]))
        workers = int(plan["cpus"])
        assert workers * int(keepalive.group(1)) * 2 <= max_children, (
            f"{web}: {workers} workers x keepalive {keepalive.group(1)} against pm.max_children {max_children}"
        )
