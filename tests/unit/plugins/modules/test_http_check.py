from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
import threading
import urllib.parse

import pytest

from ansible_collections.lmsops.stack.plugins.modules import http_check

UTC = datetime.timezone.utc
HEALTH = {"status": "ok", "checks": {"db": True, "redis": False}, "version": 3, "items": [{"state": "up"}]}


# ------------------------------------------------------------------ a local HTTP server
class Handler(http.server.BaseHTTPRequestHandler):
    """Paths: /ok (JSON), /text, /slow?ms=N, /flaky (503 until `failures` run out), /status/N, /redirect, /big."""

    failures = 0
    requests = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code, body=b"", content_type="text/plain; charset=utf-8", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the time-out test)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        type(self).requests.append((self.command, url.path, self.headers.get("X-Check")))
        if url.path == "/ok":
            self._send(200, json.dumps(HEALTH).encode(), "application/json")
        elif url.path == "/text":
            self._send(200, "Welcome to the LMS – sign in".encode("utf-8"))
        elif url.path == "/latin1":
            self._send(200, "caf\xe9".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif url.path == "/slow":
            threading.Event().wait(int(query.get("ms", "0")) / 1000.0)
            self._send(200, b"slow but fine")
        elif url.path == "/flaky":
            if type(self).failures > 0:
                type(self).failures -= 1
                self._send(503, b"upstream restarting")
            else:
                self._send(200, b'{"status": "ok"}', "application/json")
        elif url.path.startswith("/status/"):
            self._send(int(url.path.rsplit("/", 1)[1]), b'{"status": "down"}', "application/json")
        elif url.path == "/redirect":
            self._send(302, b"", headers={"Location": "/ok"})
        elif url.path == "/big":
            self._send(200, b"x" * 5000)
        else:
            self._send(404, b"not found")

    do_HEAD = do_GET


class Server:
    def __init__(self, tls_context=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls_context else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    Handler.failures, Handler.requests = 0, []
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def sleeps(monkeypatch):
    """The back-off waits of the module, recorded instead of slept."""
    waited = []
    monkeypatch.setattr(http_check.time, "sleep", waited.append)
    return waited


@pytest.fixture
def run_module(run_module):
    """The shared module runner, with latency thresholds far above any answer of the local test server:
    on a loaded machine a reply can take longer than the module's 500 ms default, and a test of a status
    code or a body must not turn into a latency warning. The latency tests set their own thresholds."""

    def run(main, args):
        return run_module(main, {"latency_warn_ms": 60000.0, "latency_crit_ms": 120000.0, **args})

    return run


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


# ------------------------------------------------------------------ DER, certificates
def tlv(tag, content):
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    length = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def fake_certificate(not_after, not_after_tag=0x17, version=True, padding=0):
    """A structurally valid X.509 skeleton: what certificate_not_after walks through."""
    tbs = b""
    if version:
        tbs += tlv(0xA0, tlv(0x02, b"\x02"))
    tbs += tlv(0x02, b"\x01\x23")  # serial
    tbs += tlv(0x30, tlv(0x06, b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b") + tlv(0x05, b""))  # sha256WithRSA
    tbs += tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + tlv(0x0C, b"x" * padding or b"ca"))))  # issuer
    tbs += tlv(0x30, tlv(0x17, b"240101000000Z") + tlv(not_after_tag, not_after))  # validity
    tbs += tlv(0x30, b"")  # subject, and so on
    return tlv(0x30, tlv(0x30, tbs) + tlv(0x30, b"") + tlv(0x03, b"\x00"))


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (0x17, b"250301120000Z", datetime.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)),
        (0x17, b"491231235959Z", datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (0x17, b"500101000000Z", datetime.datetime(1950, 1, 1, tzinfo=UTC)),  # RFC 5280 pivot, not strptime's
        (0x17, b"690101000000Z", datetime.datetime(1969, 1, 1, tzinfo=UTC)),
        (0x18, b"20510101000000Z", datetime.datetime(2051, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_asn1_time(tag, text, expected):
    assert http_check.parse_asn1_time(tag, text) == expected


@pytest.mark.parametrize(
    ("tag", "text"),
    [(0x17, b"2503011200Z"), (0x18, b"250301120000Z"), (0x04, b"250301120000Z"), (0x17, b"25030112000+0100"),
     (0x17, b"2503011200\xff0Z")],
)
def test_parse_asn1_time_bad_input(tag, text):
    with pytest.raises(ValueError):
        http_check.parse_asn1_time(tag, text)


@pytest.mark.parametrize(
    ("der", "expected"),
    [
        (fake_certificate(b"301231235959Z"), datetime.datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (fake_certificate(b"301231235959Z", version=False), datetime.datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (fake_certificate(b"20610101000000Z", 0x18), datetime.datetime(2061, 1, 1, tzinfo=UTC)),
        (fake_certificate(b"301231235959Z", padding=300), datetime.datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_certificate_not_after(der, expected):
    assert http_check.certificate_not_after(der) == expected


@pytest.mark.parametrize(
    ("der", "match"),
    [
        (b"", "no certificate"),
        (None, "no certificate"),
        (b"\x04\x02ab", "not a DER certificate"),
        (b"\x30\x05\x30", "truncated"),
        (fake_certificate(b"301231235959Z")[:40], "truncated"),
        (tlv(0x30, tlv(0x30, tlv(0x02, b"\x01"))), "ends before its signature algorithm"),
        (b"\x30\x85\x01\x02\x03\x04\x05", "unsupported DER length"),
    ],
)
def test_certificate_not_after_bad_input(der, match):
    with pytest.raises(ValueError, match=match):
        http_check.certificate_not_after(der)


@pytest.mark.parametrize(
    ("not_after", "now", "days"),
    [
        (datetime.datetime(2025, 3, 31, tzinfo=UTC), datetime.datetime(2025, 3, 1, tzinfo=UTC), 30),
        (datetime.datetime(2025, 3, 31, tzinfo=UTC), datetime.datetime(2025, 3, 1, 0, 0, 1, tzinfo=UTC), 29),
        (datetime.datetime(2025, 3, 1, tzinfo=UTC), datetime.datetime(2025, 3, 1, tzinfo=UTC), 0),
        (datetime.datetime(2025, 3, 1, tzinfo=UTC), datetime.datetime(2025, 3, 3, 12, tzinfo=UTC), -3),
    ],
)
def test_days_left(not_after, now, days):
    assert http_check.days_left(not_after, now) == days


def make_certificate(tmp_path, days):
    """A self-signed certificate for 127.0.0.1 valid for `days` days: (cert path, key path, not_after)."""
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=days, hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, not_after, cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("days", [10, 365, 9500])  # 9500 days: after 2049, a GeneralizedTime
def test_certificate_not_after_of_a_real_certificate(tmp_path, days):
    dummy, dummy2, not_after, der = make_certificate(tmp_path, days)
    assert http_check.certificate_not_after(der) == not_after


# ------------------------------------------------------------------ body and JSON helpers
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status", "ok"),
        ("checks.db", True),
        ("checks.redis", False),
        ("items.0.state", "up"),
        ("items.-1.state", "up"),
        ("version", 3),
        ("checks", {"db": True, "redis": False}),
        ("missing", http_check._MISSING),
        ("checks.db.deeper", http_check._MISSING),
        ("items.5.state", http_check._MISSING),
        ("items.x", http_check._MISSING),
    ],
)
def test_json_lookup(path, expected):
    assert http_check.json_lookup(HEALTH, path) == expected or http_check.json_lookup(HEALTH, path) is expected


@pytest.mark.parametrize(
    ("actual", "expected", "matches"),
    [
        ("ok", "ok", True),
        ("ok", "OK", False),
        (True, True, True),
        (True, "true", True),
        (True, 1, False),  # a boolean is not a number
        (1, True, False),
        (200, 200, True),
        (200, "200", True),
        (1.5, "1.5", True),
        (None, "null", True),
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1}, '{"a": 1}', False),
        ("200", 200, False),
    ],
)
def test_json_matches(actual, expected, matches):
    assert http_check.json_matches(actual, expected) is matches


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=ISO-8859-1", "iso8859-1"),
        ("application/json", "utf-8"),
        ("text/plain; charset=\"utf-8\"", "utf-8"),
        ("text/plain; charset=bogus-42", "utf-8"),
        (None, "utf-8"),
    ],
)
def test_charset(content_type, expected):
    assert http_check.charset(content_type) == expected


# ------------------------------------------------------------------ the module
def test_module_json_ok(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/ok"), "json_path": "checks.db", "json_value": True,
                                          "headers": {"X-Check": "yes"}})
    assert result["status"] == "ok", result
    assert result["changed"] is False
    assert [c["name"] for c in result["checks"]] == ["http status", "http json", "http latency"]
    assert result["status_code"] == 200
    assert result["attempts"] == 1
    assert result["json"] == HEALTH
    assert result["content_type"] == "application/json"
    assert result["latency_ms"] > 0
    assert "tls_expiry_days" not in result
    assert Handler.requests == [("GET", "/ok", "yes")]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        ({"json_path": "status", "json_value": "ok"}, "ok", 'http json field status of {url} is "ok"'),
        ({"json_path": "checks.redis", "json_value": True}, "critical",
         "http json field checks.redis of {url} is false, expected true"),
        ({"json_path": "checks.cache"}, "critical", "http json of {url} has no field checks.cache"),
        ({"json_path": "version", "json_value": "3"}, "ok", "http json field version of {url} is 3"),
    ],
)
def test_module_json_checks(run_module, server, args, status, message):
    url = server.url("/ok")
    result = run_module(http_check.main, dict(args, url=url, retries=0, fail_on_critical=False))
    check = by_name(result)["http json"]
    assert (check["status"], check["message"]) == (status, message.format(url=url))


def test_module_json_on_a_text_body(run_module, server):
    url = server.url("/text")
    result = run_module(http_check.main, {"url": url, "json_path": "status", "retries": 0})
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: http body of %s is not JSON" % url
    assert "json" not in result


def test_module_body_regex(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/text"), "body_regex": "Welcome to .* sign in"})
    assert result["status"] == "ok"
    assert result["body"] == "Welcome to the LMS – sign in"
    result = run_module(http_check.main, {"url": server.url("/text"), "body_regex": "^Maintenance", "retries": 0,
                                          "fail_on_critical": False})
    assert by_name(result)["http body"]["message"] == "http body of %s does not match '^Maintenance'" % server.url("/text")


def test_module_decodes_the_declared_charset(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/latin1"), "body_regex": "café"})
    assert result["status"] == "ok"
    assert result["body"] == "café"


def test_module_unexpected_status(run_module, server, sleeps):
    url = server.url("/status/500")
    result = run_module(http_check.main, {"url": url, "json_path": "status", "json_value": "ok"})
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: http status of %s is 500, expected 200" % url
    assert result["status_code"] == 500
    assert result["attempts"] == 3  # retries default to 2
    assert sleeps == [1.0, 2.0]  # delay 1 s, back-off factor 2
    assert [c["name"] for c in result["checks"]] == ["http status", "http latency"]  # no JSON check on a bad status
    assert result["json"] == {"status": "down"}


def test_module_expected_non_200_status(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/status/503"), "status_code": [200, 503]})
    assert result["status"] == "ok"


def test_module_retries_until_healthy(run_module, server, sleeps):
    Handler.failures = 2
    result = run_module(http_check.main, {"url": server.url("/flaky"), "retries": 3, "delay": 0.5, "backoff": 3,
                                          "json_path": "status", "json_value": "ok"})
    assert result["status"] == "ok", result
    assert result["attempts"] == 3
    assert sleeps == [0.5, 1.5]


def test_module_gives_up_after_the_retries(run_module, server, sleeps):
    Handler.failures = 5
    result = run_module(http_check.main, {"url": server.url("/flaky"), "retries": 1, "delay": 0})
    assert result["failed"] is True
    assert result["attempts"] == 2
    assert result["status_code"] == 503
    assert sleeps == [0.0]
    assert result["body"] == "upstream restarting"


@pytest.mark.parametrize(
    ("warn", "crit", "status"),
    [(5000.0, 10000.0, "ok"), (50.0, 10000.0, "warning"), (20.0, 50.0, "critical")],
)
def test_module_latency(run_module, server, warn, crit, status):
    result = run_module(http_check.main, {"url": server.url("/slow?ms=150"), "latency_warn_ms": warn,
                                          "latency_crit_ms": crit, "fail_on_critical": False})
    check = by_name(result)["http latency"]
    assert check["status"] == status
    assert check["value"] >= 150
    assert check["unit"] == "ms"
    assert result["attempts"] == 1  # slowness is not retried


def test_module_timeout(run_module, server, sleeps):
    result = run_module(http_check.main, {"url": server.url("/slow?ms=1500"), "timeout": 0.2, "retries": 0})
    assert result["failed"] is True
    assert "timed out" in result["msg"]
    assert result["status_code"] is None
    assert "http latency" not in by_name(result)


def test_module_connection_refused(run_module, sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = "http://127.0.0.1:%d/health" % port
    result = run_module(http_check.main, {"url": url, "retries": 2, "delay": 0.1})
    assert result["failed"] is True
    assert result["msg"].startswith("1 critical health check: request to %s failed: " % url)
    assert "refused" in result["msg"].lower()
    assert result["attempts"] == 3
    assert result["error"]
    assert "body" not in result
    assert [round(s, 3) for s in sleeps] == [0.1, 0.2]


def test_module_redirects(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/redirect"), "json_path": "status"})
    assert result["status"] == "ok"  # safe: GET follows
    result = run_module(http_check.main, {"url": server.url("/redirect"), "follow_redirects": "none", "retries": 0,
                                          "fail_on_critical": False})
    assert result["status_code"] == 302
    assert result["status"] == "critical"


def test_module_head(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/ok"), "method": "HEAD"})
    assert result["status"] == "ok"
    assert result["body"] == ""
    assert "json" not in result
    assert Handler.requests[0][0] == "HEAD"


def test_module_body_excerpt(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/big"), "body_excerpt_chars": 10})
    assert result["body"] == "x" * 10
    assert result["body_truncated"] is True


def test_module_check_mode(run_module, server):
    result = run_module(http_check.main, {"url": server.url("/ok"), "_ansible_check_mode": True})
    assert result["status"] == "ok"
    assert result["changed"] is False
    assert Handler.requests  # check mode reads like a normal run: nothing is changed either way


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"url": "ftp://example.org/"}, "url must start with http:// or https:// and name a host, got 'ftp://example.org/'"),
        ({"url": "example.org/health"}, "url must start with http:// or https:// and name a host, got 'example.org/health'"),
        ({"url": "https:///health"}, "url must start with http:// or https:// and name a host, got 'https:///health'"),
        ({"url": "https://lms.example.edu:44x/health"}, "url has an invalid port: 'https://lms.example.edu:44x/health'"),
        ({"url": "http://x/", "timeout": 0}, "timeout must be greater than 0, got 0.0"),
        ({"url": "http://x/", "retries": -1}, "retries must not be negative, got -1"),
        ({"url": "http://x/", "backoff": 0.5}, "backoff must be 1 or more (1 waits the same delay each time), got 0.5"),
        ({"url": "http://x/", "status_code": []}, "status_code must name at least one status code"),
        ({"url": "http://x/", "body_regex": "(unclosed"},
         "body_regex is not a valid regular expression: missing ), unterminated subpattern at position 0"),
        ({"url": "http://x/", "latency_warn_ms": 3000, "latency_crit_ms": 2000}, "latency_warn_ms (3000) must not be greater than latency_crit_ms (2000)"),
        ({"url": "http://x/", "tls_warn_days": 7}, "tls_warn_days (7) must not be less than tls_crit_days (14)"),
        ({"url": "http://x/", "json_value": "ok"}, "missing parameter(s) required by 'json_value': json_path"),
        ({"url": "http://x/", "method": "POST"}, "value of method must be one of: GET, HEAD, got: POST"),
    ],
)
def test_module_bad_input(run_module, args, msg):
    result = run_module(http_check.main, args)
    assert result["failed"] is True
    assert result["msg"] == msg


# ------------------------------------------------------------------ https
@pytest.fixture
def tls_server(tmp_path, request):
    days = request.param
    cert, key, not_after, dummy = make_certificate(tmp_path, days)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    Handler.failures, Handler.requests = 0, []
    srv = Server(context)
    srv.cert_path, srv.not_after = str(cert), not_after
    yield srv
    srv.stop()


@pytest.mark.parametrize("tls_server", [90], indirect=True)
def test_module_https_trusted_by_ca_path(run_module, tls_server):
    result = run_module(http_check.main, {"url": tls_server.url("/ok"), "ca_path": tls_server.cert_path})
    assert result["status"] == "ok", result
    assert result["tls_expiry_days"] == 90
    assert result["tls_not_after"] == tls_server.not_after.isoformat()
    assert by_name(result)["tls expiry"]["threshold"] == "warn < 30 days, crit < 14 days"


@pytest.mark.parametrize("tls_server", [20], indirect=True)
def test_module_https_expiry_warning(run_module, warnings_of, tls_server):
    result = run_module(http_check.main, {"url": tls_server.url("/ok"), "validate_certs": False})
    assert result["status"] == "warning"
    assert result["tls_expiry_days"] == 20
    assert "tls expiry is 20 days, below the warning threshold 30 days" in warnings_of(result)


@pytest.mark.parametrize("tls_server", [10], indirect=True)
def test_module_https_expiry_critical(run_module, tls_server):
    result = run_module(http_check.main, {"url": tls_server.url("/ok"), "validate_certs": False})
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: tls expiry is 10 days, below the critical threshold 14 days"


@pytest.mark.parametrize("tls_server", [200], indirect=True)
def test_module_https_untrusted_still_reports_expiry(run_module, tls_server, sleeps):
    result = run_module(http_check.main, {"url": tls_server.url("/ok"), "retries": 0, "fail_on_critical": False})
    assert result["status"] == "critical"
    assert by_name(result)["http status"]["status"] == "critical"
    assert "CERTIFICATE_VERIFY_FAILED" in result["error"]
    assert result["tls_expiry_days"] == 200  # read without validation, judged on its own
    assert by_name(result)["tls expiry"]["status"] == "ok"


def test_module_https_certificate_unreadable(run_module, server, monkeypatch):
    """A plain-HTTP server on an https URL's port: no response, and no certificate warning on top."""
    url = server.url("/ok").replace("http://", "https://")
    result = run_module(http_check.main, {"url": url, "retries": 0, "fail_on_critical": False})
    assert result["critical_checks"] == ["http status"]
    assert "tls expiry" not in by_name(result)
