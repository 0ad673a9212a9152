"""The certbot role, checked the way an operator would: the load balancer serves the ACME certificate for its
names (not the placeholder), clients that trust the CA accept it, renewal works as the timer runs it, and a
renewal reaches nginx through the deploy hook.

Acts on the hosts of the `loadbalancers` group (skips when there is none or certbot_enabled is false).
Settings are templated by Ansible from the inventory. The checks that need the CA's root (pebble's, made
anew at every start of pebble and served on its management port) or that renew for real run only when the
ACME server is a host of the inventory (the lab's pebble, tests/fixtures/acme_server.yml): they never
force a renewal against a public CA.
"""

from __future__ import annotations

import secrets
import shlex
import socket
import ssl
import time
from urllib.parse import urlparse

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

TLS_DIR = "/etc/nginx/tls"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-lmsops-nginx"
HOST_CA_BUNDLE = "/etc/letsencrypt/lmsops-acme-ca.pem"
DROPIN = "/etc/systemd/system/certbot.service.d/90-lmsops.conf"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
PEBBLE_MANAGEMENT = "https://127.0.0.1:15000"
PEBBLE_CA = "/etc/pebble/ca.pem"  # the fixture's CA, which signs pebble's HTTPS certificate
TIMEOUT_S = 10


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="session")
def settings(lab) -> dict[str, dict]:
    """Per load balancer: the role's inputs as Ansible templates them (with the role's defaults)."""
    hosts = lab.hosts_in("loadbalancers")
    if not hosts:
        pytest.skip("no loadbalancers host in this inventory")
    expression = (
        "{{ {'enabled': certbot_enabled | default(true) | bool,"
        " 'domains': certbot_domains | default(([nginx_lb_server_name | default('')]"
        " + (nginx_lb_server_aliases | default([]))) | select | list),"
        " 'name': certbot_cert_name | default(nginx_lb_server_name | default('')),"
        f" 'server': certbot_acme_server | default('{LETS_ENCRYPT}'),"
        " 'bundle': certbot_acme_ca_bundle | default('')} | to_json }}"
    )
    values = lab.template(hosts, expression)
    enabled = {n: v for n, v in values.items() if v["enabled"]}
    if not enabled:
        pytest.skip("certbot_enabled is false on every load balancer")
    return enabled


def _acme_host(lab, server: str) -> str | None:
    """The inventory host that runs the ACME server (the lab's pebble), if any."""
    address = urlparse(server).hostname
    for name in lab.names:
        if address in (name, f"{name}.dns.podman", lab.address(name)):
            return name
    return None


def _pebble(lab, server: str, path: str) -> str:
    """A PEM from pebble's management API, read on pebble's host (skips when the server is not one)."""
    host = _acme_host(lab, server)
    if host is None:
        pytest.skip(f"the ACME server {server} is not a host of this inventory")
    result = lab.get_host(host).run(f"curl -sS --fail --cacert {PEBBLE_CA} {PEBBLE_MANAGEMENT}{path}")
    assert result.rc == 0, f"{host}: pebble's {path}: {result.stderr.strip()}"
    return result.stdout


def _served(address: str, name: str, cadata: str | None = None) -> x509.Certificate:
    """The certificate the load balancer serves on 443 for `name` (SNI); verified against `cadata` (chain
    and name) when given."""
    context = ssl.create_default_context(cadata=cadata) if cadata else ssl._create_unverified_context()
    with socket.create_connection((address, 443), timeout=TIMEOUT_S) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def _names(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(ext.value.get_values_for_type(x509.DNSName))


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else name.rfc4514_string()


def _lineage(lab, lb: str, name: str) -> x509.Certificate:
    pem = lab.get_host(lb).file(f"/etc/letsencrypt/live/{name}/cert.pem").content_string
    return x509.load_pem_x509_certificate(pem.encode())


def _certbot_env(lab, lb: str) -> str:
    """certbot.service's Environment= line, as the timer runs certbot (shell-quoted assignments)."""
    out = lab.get_host(lb).check_output("systemctl show certbot.service -p Environment --value")
    return " ".join(shlex.quote(word) for word in out.split())


def _private_server(lab, server: str) -> bool:
    return _acme_host(lab, server) is not None


# ---------------------------------------------------------------- the certificate nginx serves
def test_served_certificate_is_the_lineage_for_every_name(lab, settings):
    for lb, s in settings.items():
        lineage = _lineage(lab, lb, s["name"])
        assert _names(lineage) == set(s["domains"]), (
            f"{lb}: certificate {s['name']} is for {sorted(_names(lineage))}, wanted {sorted(s['domains'])}"
        )
        assert lineage.issuer != lineage.subject, f"{lb}: the lineage {s['name']} is self-signed"
        for domain in s["domains"]:
            served = _served(lab.address(lb), domain)
            assert served.serial_number == lineage.serial_number, (
                f"{lb} serves {_cn(served.subject)} (serial {served.serial_number:x}, issuer {_cn(served.issuer)}) "
                f"for {domain}, not the lineage's certificate (serial {lineage.serial_number:x}): "
                "the deploy hook did not install it, or nginx was not reloaded"
            )


def _current_issuer(lab, lb: str, s: dict) -> x509.Certificate:
    """pebble's intermediate, after checking that it issued what the load balancer serves (pebble makes a
    new CA at every start: a certificate from before its last restart chains to a root it no longer has)."""
    intermediate = x509.load_pem_x509_certificate(_pebble(lab, s["server"], "/intermediates/0").encode())
    served = _served(lab.address(lb), s["domains"][0])
    if served.issuer != intermediate.subject and _cn(served.issuer).startswith("Pebble Intermediate CA"):
        pytest.skip(f"pebble restarted since {lb}'s certificate was issued (new CA at every start): converge again")
    return intermediate


def test_certificate_comes_from_the_acme_servers_intermediate(lab, settings):
    for lb, s in settings.items():
        intermediate = _current_issuer(lab, lb, s)
        served = _served(lab.address(lb), s["domains"][0])
        assert served.issuer == intermediate.subject, (
            f"{lb}: issued by {_cn(served.issuer)}, not by the ACME server's {_cn(intermediate.subject)}"
        )


def test_clients_trusting_the_acme_root_accept_every_name(lab, settings):
    for lb, s in settings.items():
        _current_issuer(lab, lb, s)
        root = _pebble(lab, s["server"], "/roots/0")
        for domain in s["domains"]:
            try:
                _served(lab.address(lb), domain, cadata=root)
            except ssl.SSLCertVerificationError as exc:
                pytest.fail(f"{lb}: https://{domain}/ does not verify against the ACME server's root: {exc}")


def test_installed_files_are_the_lineage_and_the_key_is_private(lab, settings):
    for lb, s in settings.items():
        host = lab.get_host(lb)
        live, dest = f"/etc/letsencrypt/live/{s['name']}", f"{TLS_DIR}/{s['name']}"
        key = host.file(f"{dest}/privkey.pem")
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), (
            f"{lb}: {dest}/privkey.pem is {key.user}:{key.group} {oct(key.mode)}, wanted root:root 0600"
        )
        chain = host.file(f"{dest}/fullchain.pem")
        assert chain.user == "root" and not chain.mode & 0o022, f"{lb}: {dest}/fullchain.pem is writable by others"
        for f in ("fullchain.pem", "privkey.pem"):
            assert host.run(f"cmp -s {live}/{f} {dest}/{f}").rc == 0, f"{lb}: {dest}/{f} differs from {live}/{f}"


# ---------------------------------------------------------------- HTTP-01 and renewal
def test_acme_challenge_is_served_on_port_80(lab, settings):
    """What the ACME server fetches: http://<name>/.well-known/acme-challenge/<token> from the webroot."""
    for lb, s in settings.items():
        host = lab.get_host(lb)
        token, body = f"lmsops-test-{secrets.token_hex(8)}", secrets.token_hex(16)
        path = f"/var/www/acme/.well-known/acme-challenge/{token}"
        host.check_output(f"mkdir -p /var/www/acme/.well-known/acme-challenge && printf %s {body} > {path}")
        src = _acme_host(lab, s["server"]) or lb
        try:
            for domain in s["domains"]:
                got = lab.get_host(src).run(
                    f"curl -sS --max-time {TIMEOUT_S} --resolve {domain}:80:{lab.address(lb)} "
                    f"http://{domain}/.well-known/acme-challenge/{token}"
                )
                assert got.rc == 0 and got.stdout == body, (
                    f"{lb}: http://{domain}/.well-known/acme-challenge/ from {src}: {got.stdout[:200]!r} {got.stderr}"
                )
        finally:
            host.run(f"rm -f {path}")


def test_renewal_timer_is_active(lab, settings):
    for lb in settings:
        timer = lab.get_host(lb).service("certbot.timer")
        assert timer.is_running, f"{lb}: certbot.timer is not active: no renewals"
        assert timer.is_enabled, f"{lb}: certbot.timer would not come back after a reboot"


def test_timer_renewals_trust_the_acme_servers_ca(lab, settings):
    for lb, s in settings.items():
        host = lab.get_host(lb)
        env = host.check_output("systemctl show certbot.service -p Environment --value")
        if not s["bundle"]:
            assert "REQUESTS_CA_BUNDLE" not in env and not host.file(DROPIN).exists, f"{lb}: {env}"
            continue
        assert f"REQUESTS_CA_BUNDLE={HOST_CA_BUNDLE}" in env.split(), f"{lb}: certbot.service environment: {env}"
        with open(s["bundle"], encoding="ascii") as handle:
            assert host.file(HOST_CA_BUNDLE).content_string.strip() == handle.read().strip(), (
                f"{lb}: {HOST_CA_BUNDLE} is not certbot_acme_ca_bundle ({s['bundle']})"
            )


def test_renew_dry_run_passes_as_the_timer_runs_it(lab, settings):
    for lb, s in settings.items():
        # certbot's --dry-run goes to Let's Encrypt's staging directory unless --server names another one.
        server = "" if s["server"] == LETS_ENCRYPT else f"--server {shlex.quote(s['server'])}"
        result = lab.get_host(lb).run(
            f"env {_certbot_env(lab, lb)} certbot renew --dry-run --no-random-sleep-on-renew "
            f"--cert-name {shlex.quote(s['name'])} {server}"
        )
        assert result.rc == 0, f"{lb}: certbot renew --dry-run: {(result.stdout + result.stderr)[-1500:]}"


def test_renewal_reaches_nginx_through_the_deploy_hook(lab, settings):
    """A real renewal (forced; only against the inventory's own ACME server): the hook installs the new
    certificate and reloads nginx, which then serves it."""
    for lb, s in settings.items():
        if not _private_server(lab, s["server"]):
            pytest.skip(f"{s['server']} is not the inventory's ACME test server: no forced renewal against it")
        hook = lab.get_host(lb).file(HOOK)
        assert hook.exists and hook.user == "root" and hook.mode & 0o100, f"{lb}: {HOOK} missing or not executable"
        before = _served(lab.address(lb), s["domains"][0]).serial_number
        result = lab.get_host(lb).run(
            f"env {_certbot_env(lab, lb)} certbot renew --force-renewal --no-random-sleep-on-renew "
            f"--cert-name {shlex.quote(s['name'])}"
        )
        assert result.rc == 0, f"{lb}: certbot renew --force-renewal: {(result.stdout + result.stderr)[-1500:]}"
        assert "Hook 'deploy-hook' ran" in result.stdout + result.stderr, result.stdout + result.stderr
        new = _lineage(lab, lb, s["name"]).serial_number
        assert new != before, f"{lb}: the lineage did not change"
        deadline = time.monotonic() + TIMEOUT_S
        while (served := _served(lab.address(lb), s["domains"][0]).serial_number) != new:
            assert time.monotonic() < deadline, f"{lb} still serves {served:x} after the renewal to {new:x}"
            time.sleep(0.5)


def test_nothing_is_left_of_a_failed_or_partial_run(lab, settings):
    for lb, s in settings.items():
        out = lab.get_host(lb).run(f"ls -A {TLS_DIR}/{shlex.quote(s['name'])}").stdout.split()
        assert sorted(out) == ["fullchain.pem", "privkey.pem"], f"{lb}: {TLS_DIR}/{s['name']} holds {out}"
