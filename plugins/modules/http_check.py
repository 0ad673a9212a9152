#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: http_check
short_description: Check an HTTP(S) health endpoint - status, body, JSON, latency and certificate expiry
version_added: 0.1.0
description:
  - Requests a URL and checks the status code, optionally the body against a regular expression
    and a field of a JSON body against a value, and judges the response time against warning and
    critical thresholds.
  - Retries with exponential back-off while the status, body or JSON check fails (a deploy
    restarting PHP-FPM, a load balancer draining), so a short blip is not reported as an outage.
  - For C(https) URLs, reads the server certificate and judges the days left before it expires.
author:
  - lmsops.stack maintainers (@lmsops)
requirements:
  - python >= 3.8
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - lmsops.stack.health
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - The URL to request, C(http://) or C(https://).
    type: str
    required: true
  method:
    description:
      - The request method. Health checks do not send bodies.
    type: str
    choices: [GET, HEAD]
    default: GET
  status_code:
    description:
      - Status codes that count as healthy; any other is C(critical).
    type: list
    elements: int
    default: [200]
  body_regex:
    description:
      - A Python regular expression the body must match (searched anywhere in the body).
      - Only the first MiB of the body is read.
    type: str
  json_path:
    description:
      - A field of the JSON body, as keys joined by dots (V(status), V(checks.db)); a number selects
        a list item (V(services.0.state)). Keys containing dots cannot be named.
      - Without O(json_value), the field must exist; with it, it must equal O(json_value).
    type: str
  json_value:
    description:
      - The value the O(json_path) field must have. Compared as JSON values; a string also matches
        the JSON text of a number, boolean or null (V("true") matches C(true), V("null") matches
        C(null)).
    type: raw
  headers:
    description:
      - Extra request headers.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds to wait for the connection and for each read, per attempt.
    type: float
    default: 10.0
  retries:
    description:
      - How many times to repeat the request after the first when the status, body or JSON check
        fails (V(0) for a single request). Slow responses and certificate expiry are not retried.
    type: int
    default: 2
  delay:
    description:
      - Seconds to wait before the first retry.
    type: float
    default: 1.0
  backoff:
    description:
      - Factor the wait grows by after each retry (V(2) waits 1 s, 2 s, 4 s ... with O(delay=1)).
    type: float
    default: 2.0
  follow_redirects:
    description:
      - V(none) reports a redirect as its status code; V(safe) follows redirects of C(GET) and
        C(HEAD) requests; V(all) follows every redirect.
    type: str
    choices: [none, safe, all]
    default: safe
  validate_certs:
    description:
      - Validate the server certificate of C(https) URLs. A certificate that fails validation makes
        the request fail, which is C(critical).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to validate the server certificate against, instead of the
        system's.
    type: path
  use_proxy:
    description:
      - Use the proxy from the C(http_proxy)/C(https_proxy) environment variables for the request.
      - The certificate expiry is always read over a direct connection.
    type: bool
    default: true
  latency_warn_ms:
    description:
      - Warn when the response (headers and body) takes longer than this many milliseconds.
      - The default is the plans' 95th-percentile response time objective; one slow sample is a
        hint, not an outage.
    type: float
    default: 500.0
  latency_crit_ms:
    description:
      - Critical when the response takes longer than this many milliseconds (the plans' "slow
        response" alert level).
    type: float
    default: 2000.0
  tls_warn_days:
    description:
      - Warn when the certificate expires in fewer than this many days.
    type: int
    default: 30
  tls_crit_days:
    description:
      - Critical when the certificate expires in fewer than this many days (the plans alert at 14;
        certbot renews at 30, so a certificate this close to expiry means renewal is failing).
    type: int
    default: 14
  body_excerpt_chars:
    description:
      - How many characters of the body to return in RV(body).
    type: int
    default: 256
notes:
  - Checks, by name in RV(checks) - C(http status), C(http body) (with O(body_regex)), C(http json)
    (with O(json_path)), C(http latency) and C(tls expiry) (C(https) only). The body and JSON checks
    are made only when the status is one of O(status_code).
  - The certificate is read on a second, direct TLS connection to the same host and port that does
    not validate it, whatever O(validate_certs) says - so its expiry is reported also for
    self-signed, privately signed and already expired certificates. Whether the certificate is
    trusted is judged by the request itself. Through a proxy, or behind a load balancer that
    terminates TLS differently per connection, this may be a different certificate.
  - The latency is the time of the last attempt, from sending the request to reading the body.
"""

EXAMPLES = r"""
- name: Check the LMS health endpoint from the control node
  lmsops.stack.http_check:
    url: https://lms.example.edu/health
    json_path: status
    json_value: ok
  delegate_to: localhost

- name: Check a backend directly, expecting its database check to pass, and collect the result
  lmsops.stack.http_check:
    url: http://10.0.0.21/health
    headers:
      Host: lms.example.edu
    json_path: checks.db
    json_value: true
    retries: 4
    delay: 2
    fail_on_critical: false
  register: web_health

- name: Check a page by its content with a private CA
  lmsops.stack.http_check:
    url: https://staging.example.edu/login
    body_regex: '<form[^>]+login'
    ca_path: /etc/ssl/certs/staging-ca.pem
"""

RETURN = r"""
status:
  description: The worst status of all checks.
  returned: always
  type: str
  sample: ok
  choices: [ok, warning, critical]
checks:
  description: Every check made, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check, for example C(http status).
      type: str
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    value:
      description: The measured value (a status code, milliseconds, days, a JSON value) or V(null).
      type: raw
    unit:
      description: Unit of RV(checks[].value) and the thresholds (C(ms), C(days)), or empty.
      type: str
    threshold:
      description: The thresholds or the expected result, for people (C(warn > 500 ms, crit > 2000 ms)).
      type: str
    warn:
      description: The warning threshold, when the check has one.
      type: float
    crit:
      description: The critical threshold, when the check has one.
      type: float
    message:
      description: One sentence saying what was found, and which threshold was crossed.
      type: str
  sample:
    - name: http latency
      status: ok
      value: 42.7
      unit: ms
      threshold: warn > 500 ms, crit > 2000 ms
      warn: 500.0
      crit: 2000.0
      message: http latency is 42.7 ms
warning_checks:
  description: Names of the checks with status C(warning).
  returned: always
  type: list
  elements: str
  sample: [tls expiry]
critical_checks:
  description: Names of the checks with status C(critical).
  returned: always
  type: list
  elements: str
  sample: []
url:
  description: The URL requested.
  returned: always
  type: str
  sample: https://lms.example.edu/health
status_code:
  description: Status code of the last attempt, V(null) when no response came back.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Milliseconds the last attempt took, also when it failed.
  returned: always
  type: float
  sample: 42.7
attempts:
  description: Requests made (1 plus the retries used).
  returned: always
  type: int
  sample: 1
error:
  description: Why the last attempt got no response (connection refused, time-out, certificate not trusted).
  returned: when the last attempt got no response
  type: str
  sample: "[Errno 111] Connection refused"
body:
  description: The start of the body (O(body_excerpt_chars) characters), decoded as text.
  returned: when a response came back
  type: str
  sample: '{"status": "ok", "checks": {"db": true, "redis": true}}'
body_truncated:
  description: Whether RV(body) is shorter than the body.
  returned: when a response came back
  type: bool
  sample: false
content_type:
  description: The C(Content-Type) of the response.
  returned: when a response came back
  type: str
  sample: application/json
json:
  description: The body parsed as JSON.
  returned: when the body is JSON
  type: raw
  sample: {status: ok, checks: {db: true, redis: true}}
tls_expiry_days:
  description: Whole days left before the server certificate expires (negative when it has expired).
  returned: for https URLs when the certificate could be read
  type: int
  sample: 61
tls_not_after:
  description: When the server certificate expires, ISO 8601 in UTC.
  returned: for https URLs when the certificate could be read
  type: str
  sample: "2025-03-01T12:00:00+00:00"
"""

import codecs
import datetime
import json
import re
import socket
import ssl
import time
import http.client
import urllib.error
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, open_url

from ansible_collections.lmsops.stack.plugins.module_utils import _health

MAX_BODY = 1024 * 1024
_MISSING = object()


# ---------------------------------------------------------------- certificate expiry (minimal DER)
def _tlv(der: bytes, pos: int):
    """One DER element at ``pos``: ``(tag, value start, value end)``."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER at offset %d" % pos)
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(der):
            raise ValueError("unsupported DER length at offset %d" % (pos - 1))
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER element at offset %d" % pos)
    return tag, pos, pos + length


def parse_asn1_time(tag: int, text: bytes) -> datetime.datetime:
    """A UTCTime (tag 0x17, ``YYMMDDHHMMSSZ``) or GeneralizedTime (0x18, ``YYYYMMDDHHMMSSZ``) in UTC."""
    try:
        value = text.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("unsupported certificate time %r" % text) from None
    digits = {0x17: 12, 0x18: 14}.get(tag)
    if digits is None:
        raise ValueError("not an ASN.1 time (tag 0x%02x)" % tag)
    if len(value) != digits + 1 or not value[:-1].isdigit() or value[-1] != "Z":
        raise ValueError("unsupported certificate time %r" % value)
    if tag == 0x17:
        parsed = datetime.datetime.strptime(value, "%y%m%d%H%M%SZ")
        # RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx (strptime pivots at 69).
        year = parsed.year % 100
        parsed = parsed.replace(year=(1900 if year >= 50 else 2000) + year)
    else:
        parsed = datetime.datetime.strptime(value, "%Y%m%d%H%M%SZ")
    return parsed.replace(tzinfo=datetime.timezone.utc)


def certificate_not_after(der: bytes) -> datetime.datetime:
    """The ``notAfter`` of an X.509 certificate in DER, read without any crypto library.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }
    """
    if not isinstance(der, (bytes, bytearray)) or not der:
        raise ValueError("no certificate")
    tag, start, dummy = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, pos, tbs_end = _tlv(der, start)
    if tag != 0x30:
        raise ValueError("certificate has no tbsCertificate")
    tag, value_start, value_end = _tlv(der, pos)
    if tag == 0xA0:  # explicit version
        pos = value_end
    for what in ("serial number", "signature algorithm", "issuer"):
        if pos >= tbs_end:
            raise ValueError("certificate ends before its %s" % what)
        tag, value_start, pos = _tlv(der, pos)
    tag, pos, validity_end = _tlv(der, pos)
    if tag != 0x30:
        raise ValueError("certificate has no validity")
    tag, value_start, pos = _tlv(der, pos)  # notBefore
    tag, value_start, value_end = _tlv(der, pos)  # notAfter
    if value_end > validity_end:
        raise ValueError("certificate validity is malformed")
    return parse_asn1_time(tag, der[value_start:value_end])


def days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days from ``now`` until ``not_after`` (rounded down; negative once expired)."""
    return int((not_after - now).total_seconds() // 86400)


def peer_certificate(host: str, port: int, timeout: float) -> bytes:
    """The server certificate in DER, read without validating it (expiry is judged, not trust)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("the server sent no certificate")
    return der


# ---------------------------------------------------------------- body and JSON
def charset(content_type: str) -> str:
    """The charset named in a Content-Type, when Python knows it; else UTF-8."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def json_lookup(document, path: str):
    """The value at a dotted path (``checks.db``, ``items.0.state``), or ``_MISSING``."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def json_matches(actual, expected) -> bool:
    """Equal as JSON values; a string also matches the JSON text of a scalar (``"true"`` ~ ``true``)."""
    if isinstance(expected, str) and not isinstance(actual, str):
        return not isinstance(actual, (dict, list)) and json.dumps(actual) == expected
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    return actual == expected


# ---------------------------------------------------------------- one request
def request(params: dict) -> dict:
    """One attempt: ``{status_code, latency_ms, body, content_type, error}``."""
    outcome = {"status_code": None, "body": None, "content_type": None, "error": None}
    start = time.monotonic()
    response = None
    try:
        response = open_url(
            params["url"],
            method=params["method"],
            headers=params["headers"],
            timeout=params["timeout"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            follow_redirects=params["follow_redirects"],
            use_proxy=params["use_proxy"],
        )
    except urllib.error.HTTPError as e:
        response = e  # a status outside 2xx still has a status, headers and a body
    except urllib.error.URLError as e:
        outcome["error"] = str(e.reason)
    except (UrlsConnectionError, OSError, http.client.HTTPException, ValueError) as e:
        outcome["error"] = str(e) or type(e).__name__
    if response is not None:
        try:
            outcome["status_code"] = response.getcode()
            headers = response.headers
            outcome["content_type"] = headers.get("Content-Type") if headers is not None else None
            outcome["body"] = response.read(MAX_BODY)
        except (OSError, http.client.HTTPException) as e:
            outcome["error"] = "reading the response failed: %s" % (str(e) or type(e).__name__)
            outcome["status_code"] = None
        finally:
            response.close()
    outcome["latency_ms"] = round((time.monotonic() - start) * 1000.0, 1)
    return outcome


def content_checks(outcome: dict, params: dict) -> tuple:
    """The checks that a retry may fix (status, body, JSON): ``(checks, text, parsed JSON or _MISSING)``."""
    url, expected = params["url"], params["status_code"]
    allowed = ", ".join(str(c) for c in expected)
    code = outcome["status_code"]
    text, document = None, _MISSING
    if code is None:
        return [_health.check("http status", _health.CRITICAL, None, "request to %s failed: %s" % (url, outcome["error"]),
                              threshold="in %s" % allowed)], text, document
    checks = [_health.expect("http status", code in expected, code, "in %s" % allowed,
                             "http status of %s is %d, expected %s" % (url, code, allowed),
                             ok_message="http status of %s is %d" % (url, code))]
    body = outcome["body"] or b""
    text = body.decode(charset(outcome["content_type"]), "replace")
    try:
        document = json.loads(text) if text.strip() else _MISSING
    except ValueError:
        document = _MISSING
    if code not in expected:
        return checks, text, document
    if params["body_regex"] is not None:
        checks.append(_health.expect(
            "http body", re.search(params["body_regex"], text) is not None, None, "matches %s" % params["body_regex"],
            "http body of %s does not match %r" % (url, params["body_regex"]),
            ok_message="http body of %s matches %r" % (url, params["body_regex"])))
    if params["json_path"] is not None:
        path, wanted = params["json_path"], params["json_value"]
        threshold = "%s == %s" % (path, json.dumps(wanted)) if wanted is not None else "%s present" % path
        if document is _MISSING:
            checks.append(_health.check("http json", _health.CRITICAL, None, "http body of %s is not JSON" % url, threshold=threshold))
        else:
            found = json_lookup(document, path)
            if found is _MISSING:
                checks.append(_health.check("http json", _health.CRITICAL, None,
                                            "http json of %s has no field %s" % (url, path), threshold=threshold))
            elif wanted is not None and not json_matches(found, wanted):
                checks.append(_health.check("http json", _health.CRITICAL, found,
                                            "http json field %s of %s is %s, expected %s" % (path, url, json.dumps(found), json.dumps(wanted)),
                                            threshold=threshold))
            else:
                checks.append(_health.check("http json", _health.OK, found,
                                            "http json field %s of %s is %s" % (path, url, json.dumps(found)), threshold=threshold))
    return checks, text, document


def run(params: dict, now=None) -> tuple:
    """Request with retries, then judge latency and certificate expiry: ``(checks, facts)``."""
    attempts, outcome, checks, text, document = 0, None, [], None, _MISSING
    while True:
        attempts += 1
        outcome = request(params)
        checks, text, document = content_checks(outcome, params)
        if all(c["status"] != _health.CRITICAL for c in checks) or attempts > params["retries"]:
            break
        time.sleep(params["delay"] * params["backoff"] ** (attempts - 1))

    facts = {
        "url": params["url"],
        "status_code": outcome["status_code"],
        "latency_ms": outcome["latency_ms"],
        "attempts": attempts,
    }
    if outcome["error"] is not None:
        facts["error"] = outcome["error"]
    if text is not None:
        limit = params["body_excerpt_chars"]
        facts["body"] = text[:limit]
        facts["body_truncated"] = len(text) > limit
        facts["content_type"] = outcome["content_type"]
        if document is not _MISSING:
            facts["json"] = document
        checks.append(_health.above("http latency", outcome["latency_ms"], params["latency_warn_ms"], params["latency_crit_ms"], "ms"))

    parts = urllib.parse.urlsplit(params["url"])
    if parts.scheme == "https" and parts.hostname:
        threshold = _health.threshold_text(params["tls_warn_days"], params["tls_crit_days"], "days", higher_is_worse=False)
        try:
            not_after = certificate_not_after(peer_certificate(parts.hostname, parts.port or 443, params["timeout"]))
        except (OSError, ValueError) as e:
            # Without a response the status check already says why; with one, an unreadable
            # certificate is worth a look but is not an outage.
            if text is not None:
                checks.append(_health.check("tls expiry", _health.WARNING, None,
                                            "tls expiry of %s:%d cannot be read: %s" % (parts.hostname, parts.port or 443, e),
                                            threshold=threshold, unit="days"))
        else:
            now = now or datetime.datetime.now(datetime.timezone.utc)
            facts["tls_expiry_days"] = days_left(not_after, now)
            facts["tls_not_after"] = not_after.isoformat()
            checks.append(_health.below("tls expiry", facts["tls_expiry_days"], params["tls_warn_days"], params["tls_crit_days"], "days"))
    return checks, facts


def build_module() -> AnsibleModule:
    argument_spec = dict(
        url=dict(type="str", required=True),
        method=dict(type="str", choices=["GET", "HEAD"], default="GET"),
        status_code=dict(type="list", elements="int", default=[200]),
        body_regex=dict(type="str"),
        json_path=dict(type="str"),
        json_value=dict(type="raw"),
        headers=dict(type="dict", default={}),
        timeout=dict(type="float", default=10.0),
        retries=dict(type="int", default=2),
        delay=dict(type="float", default=1.0),
        backoff=dict(type="float", default=2.0),
        follow_redirects=dict(type="str", choices=["none", "safe", "all"], default="safe"),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        use_proxy=dict(type="bool", default=True),
        latency_warn_ms=dict(type="float", default=500.0),
        latency_crit_ms=dict(type="float", default=2000.0),
        tls_warn_days=dict(type="int", default=30),
        tls_crit_days=dict(type="int", default=14),
        body_excerpt_chars=dict(type="int", default=256),
    )
    argument_spec.update(_health.health_argument_spec())
    return AnsibleModule(
        argument_spec=argument_spec,
        required_by={"json_value": "json_path"},
        supports_check_mode=True,
    )


def main() -> None:
    module = build_module()
    p = module.params
    parts = urllib.parse.urlsplit(p["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        module.fail_json(msg="url must start with http:// or https:// and name a host, got %r" % p["url"])
    try:
        valid_port = parts.port is None or parts.port > 0
    except ValueError:
        valid_port = False
    if not valid_port:
        module.fail_json(msg="url has an invalid port: %r" % p["url"])
    for name in ("timeout",):
        if p[name] <= 0:
            module.fail_json(msg="%s must be greater than 0, got %s" % (name, p[name]))
    for name in ("retries", "delay", "body_excerpt_chars"):
        if p[name] < 0:
            module.fail_json(msg="%s must not be negative, got %s" % (name, p[name]))
    if p["backoff"] < 1:
        module.fail_json(msg="backoff must be 1 or more (1 waits the same delay each time), got %s" % p["backoff"])
    if not p["status_code"]:
        module.fail_json(msg="status_code must name at least one status code")
    if p["body_regex"] is not None:
        try:
            re.compile(p["body_regex"])
        except re.error as e:
            module.fail_json(msg="body_regex is not a valid regular expression: %s" % e)
    for warn, crit, higher in (("latency_warn_ms", "latency_crit_ms", True), ("tls_warn_days", "tls_crit_days", False)):
        error = _health.validate_thresholds(warn, p[warn], crit, p[crit], higher_is_worse=higher)
        if error:
            module.fail_json(msg=error)
    checks, facts = run(p)
    _health.report(module, checks, p["fail_on_critical"], **facts)


if __name__ == "__main__":
    main()
