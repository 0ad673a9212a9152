"""The prometheus role, checked the way an operator would: Prometheus, Alertmanager and the blackbox
exporter run on the monitoring hosts; Prometheus scrapes every exporter of the inventory and every target
is up; the public URL's probe succeeds with a certificate it trusts; the configuration passes promtool;
ports 9090/9093 are closed to the other hosts; and, end to end, stopping Redis makes RedisDown fire in
Prometheus and reach the lab's webhook recorder through Alertmanager (tests/fixtures/alert_receiver.yml).

Acts on the hosts of the `monitoring` group (skips when there is none). Prometheus' HTTP API is read on
the monitoring host itself (127.0.0.1:9090), as the firewall allows.
"""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest
from test_firewall import probe

API = "http://127.0.0.1:9090/api/v1"
RECORDER_FILE = "/var/lib/lmsops-alert-receiver/alerts.jsonl"
UNITS = ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"]
# The contract of the exporters role: which job runs on the hosts of which groups.
JOBS_BY_GROUP = {"node": None, "mysqld": ["db"], "redis": ["cache"], "nginx": ["web", "loadbalancers"]}


# ---------------------------------------------------------------- helpers
def _monitoring(lab) -> list[str]:
    return lab.hosts_or_skip("monitoring")


def _get(host, path: str, query: str | None = None) -> dict:
    """The `data` of a Prometheus API answer; `query` is sent URL-encoded (GET)."""
    if query is None:
        out = host.run("curl -sS --max-time 10 %s", f"{API}/{path}")
    else:
        out = host.run("curl -sS --max-time 10 -G %s --data-urlencode %s", f"{API}/{path}", f"query={query}")
    assert out.rc == 0, f"Prometheus' API does not answer on {lab_name(host)}: {out.stderr}"
    data = json.loads(out.stdout)
    assert data.get("status") == "success", data
    return data["data"]


def lab_name(host) -> str:
    return host.backend.get_hostname()


def _wait(predicate, timeout: float, step: float = 3.0):
    """predicate() until it returns something truthy, or the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _targets(host) -> list[dict]:
    return _get(host, "targets?state=active")["activeTargets"]


def _scrape_interval_s(lab, name: str) -> int:
    value = str(lab.literal(name, "prometheus_scrape_interval", "15s"))
    return int(value[:-1]) * {"s": 1, "m": 60}.get(value[-1], 1) if value[-1] in "sm" else 15


# ---------------------------------------------------------------- services and configuration
@pytest.mark.parametrize("unit", UNITS)
def test_services_run(lab, unit):
    for name in _monitoring(lab):
        lab.assert_service_up(name, unit)


def test_configuration_passes_promtool_and_amtool(lab):
    for name in _monitoring(lab):
        host = lab.get_host(name)
        config = host.run("promtool check config /etc/prometheus/prometheus.yml")
        assert config.rc == 0, f"{name}: promtool check config failed:\n{config.stdout}{config.stderr}"
        assert "SUCCESS" in config.stdout + config.stderr
        rules = host.run("promtool check rules /etc/prometheus/rules.d/lmsops.rules.yml")
        assert rules.rc == 0, f"{name}: promtool check rules failed:\n{rules.stdout}{rules.stderr}"
        am = host.run("amtool check-config /etc/prometheus/alertmanager.yml")
        assert am.rc == 0, f"{name}: amtool check-config failed:\n{am.stdout}{am.stderr}"


def test_alertmanager_configuration_is_not_world_readable(lab):
    for name in _monitoring(lab):
        f = lab.get_host(name).file("/etc/prometheus/alertmanager.yml")
        assert (f.user, f.group, f.mode) == ("root", "prometheus", 0o640), (
            f"{name}: alertmanager.yml (webhook URLs) is {f.user}:{f.group} {oct(f.mode)}, want root:prometheus 0640"
        )


# ---------------------------------------------------------------- scrape targets
def test_every_inventory_exporter_is_scraped(lab):
    """node on every host, mysqld on db, redis on cache, nginx on web and loadbalancers, each labelled
    with the inventory name; plus Prometheus, Alertmanager and the blackbox exporter themselves."""
    for name in _monitoring(lab):
        targets = _targets(lab.get_host(name))
        by_job: dict[str, set[str]] = {}
        for t in targets:
            by_job.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
        for job, groups in JOBS_BY_GROUP.items():
            want = set(lab.names) if groups is None else {h for g in groups for h in lab.hosts_in(g)}
            if want:
                assert want <= by_job.get(job, set()), f"{name}: job {job} lacks {sorted(want - by_job.get(job, set()))}"
        for job in ("prometheus", "alertmanager", "blackbox"):
            assert by_job.get(job) == {name}, f"{name}: job {job} scrapes {by_job.get(job)}"


def test_every_target_is_up(lab):
    for name in _monitoring(lab):
        host = lab.get_host(name)

        def down():
            return [t for t in _targets(host) if t["health"] != "up"]

        # Targets just added are "unknown" until their first scrape.
        late = _wait(lambda: not down(), timeout=3 * _scrape_interval_s(lab, name) + 10)
        bad = down()
        assert late and not bad, f"{name}: targets not up: " + "; ".join(
            f"{t['labels']['job']}/{t['labels']['instance']} {t['health']} {t.get('lastError', '')}" for t in bad
        )


def test_public_url_probe_succeeds_with_a_trusted_certificate(lab):
    for name in _monitoring(lab):
        host = lab.get_host(name)
        probes = [t for t in _targets(host) if t["labels"]["job"] == "blackbox_http"]
        if not probes:
            pytest.skip(f"{name}: no public URL to probe (nginx_lb_server_name unset)")
        success = _get(host, "query", "probe_success")["result"]
        assert success and all(r["value"][1] == "1" for r in success), f"{name}: probe failed: {success}"
        days = _get(host, "query", "(probe_ssl_earliest_cert_expiry - time()) / 86400")["result"]
        assert days, f"{name}: no certificate expiry read (is the URL https?)"
        assert all(float(r["value"][1]) > 0 for r in days), days


# ---------------------------------------------------------------- firewall
@pytest.mark.parametrize("port", [9090, 9093])
def test_ports_closed_to_other_hosts(lab, port):
    for name in _monitoring(lab):
        mon = lab.get_host(name)
        assert mon.socket(f"tcp://0.0.0.0:{port}").is_listening or mon.socket(f"tcp://:::{port}").is_listening, (
            f"{name}: nothing listens on {port}, the check below would prove nothing"
        )
        outsiders = lab.outside("monitoring")
        if not outsiders:
            pytest.skip("every host is a monitoring host")
        result = probe(lab.get_host(outsiders[0]), lab.address(name), port)
        assert result.outcome != "open", f"{outsiders[0]} reaches {name}:{port}: {result.output}"


def test_alertmanager_cluster_port_closed_and_blackbox_on_loopback(lab):
    for name in _monitoring(lab):
        host = lab.get_host(name)
        listening = host.run("ss -Htln").stdout
        assert ":9094 " not in listening, f"{name}: Alertmanager's cluster port listens:\n{listening}"
        assert "127.0.0.1:9115 " in listening, f"{name}: the blackbox exporter is not on 127.0.0.1:9115:\n{listening}"


# ---------------------------------------------------------------- end to end
def test_stopped_redis_fires_redis_down_and_reaches_the_webhook(lab):
    mon_name = _monitoring(lab)[0]
    caches = lab.hosts_in("cache")
    if not caches:
        pytest.skip("no cache host in this inventory")
    cache_name = caches[0]
    mon, cache = lab.get_host(mon_name), lab.get_host(cache_name)
    if not mon.file(RECORDER_FILE).exists and not mon.service("lmsops-alert-receiver").is_running:
        pytest.skip(f"{mon_name}: the webhook recorder (tests/fixtures/alert_receiver.yml) is not running")
    before = int(mon.run(f"cat {RECORDER_FILE} 2>/dev/null | wc -l").stdout.strip() or 0)

    def firing():
        return [
            a for a in _get(mon, "alerts")["alerts"]
            if a["labels"].get("alertname") == "RedisDown" and a["labels"].get("instance") == cache_name
            and a["state"] == "firing"
        ]

    def recorded():
        lines = mon.run(f"tail -n +{before + 1} {RECORDER_FILE}").stdout.splitlines()
        return [
            a for line in lines if line.strip() for a in json.loads(line).get("alerts", [])
            if a["labels"].get("alertname") == "RedisDown" and a["labels"].get("instance") == cache_name
            and a["status"] == "firing"
        ]

    assert not firing(), "RedisDown fires before Redis was stopped"
    cache.run("systemctl stop redis-server")
    try:
        # rule `for:` (30 s in the lab) + scrape and evaluation intervals + Alertmanager's group_wait.
        alerts = _wait(firing, timeout=150)
        assert alerts, f"RedisDown for {cache_name} did not fire in Prometheus within 150 s of stopping Redis"
        assert alerts[0]["labels"]["severity"] == "critical"
        sent = _wait(recorded, timeout=90)
        assert sent, f"RedisDown fired but did not reach the webhook recorder ({RECORDER_FILE}) within 90 s"
    finally:
        cache.run("systemctl start redis-server")
        # The queue workers (queue:work redis) exit at once without Redis; supervisord keeps restarting
        # them (startretries 100). Should one have been given up (FATAL), start it again anyway.
        for worker in lab.hosts_in("workers"):
            lab.get_host(worker).run("supervisorctl start all")
    assert cache.service("redis-server").is_running


def test_stale_backup_metric_fires_backup_too_old(lab):
    """A last-success time older than the threshold (26 h by default) makes BackupTooOld fire for that
    host: a metric file like the backup role's, with a job of its own, in the node exporter's textfile
    directory of the first host; removed afterwards."""
    mon_name = _monitoring(lab)[0]
    target_name = lab.names[0]
    mon, target = lab.get_host(mon_name), lab.get_host(target_name)
    path = "/var/lib/prometheus/node-exporter/lmsops_test_stale_backup.prom"
    job = "lmsops-test-stale"

    def firing():
        return [
            a for a in _get(mon, "alerts")["alerts"]
            if a["labels"].get("alertname") == "BackupTooOld" and a["labels"].get("instance") == target_name
            and a["labels"].get("exported_job") == job and a["state"] == "firing"
        ]

    assert not firing(), "BackupTooOld fires for the test job before its metric exists"
    # The node exporter merges a metric's series from several files only when their HELP and TYPE agree:
    # take them from the backup role's own file on the host.
    metric = "lmsops_backup_last_success_timestamp_seconds"
    head = target.run(
        f"grep -h -E '^# (HELP|TYPE) {metric} ' {os.path.dirname(path)}/lmsops_backup_*.prom | head -n 2"
    ).stdout
    stale = int(time.time()) - 27 * 3600
    target.run(
        f"printf '%s{metric}{{job=\"{job}\"}} {stale}\\n' {shlex.quote(head)} > {path}.tmp"
        f" && chmod 0644 {path}.tmp && mv {path}.tmp {path}"
    )
    try:
        alerts = _wait(firing, timeout=120)
        assert alerts, f"BackupTooOld did not fire for {target_name} with a last success 27 h ago"
        assert alerts[0]["labels"]["severity"] == "critical"
    finally:
        target.run(f"rm -f {path}")
