"""The exporters role, checked the way an operator would: each exporter runs on the hosts of its groups and
answers the monitoring hosts with real metrics (MySQL, Redis and nginx reached: `*_up 1`; the PHP-FPM pools
and supervisor's workers through node exporter's textfile collector), nobody else reaches the ports, and the
credentials are root-only files that appear in no command line.

Ports and names are the contract of issue 5: node 9100, mysqld 9104, redis 9121, nginx 9113; textfile
metrics lmsops_phpfpm_* (web hosts) and lmsops_supervisor_* (workers hosts).
"""

from __future__ import annotations

import re
import time

import pytest
from test_firewall import probe_many

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
ETC_DIR = "/etc/lmsops-exporters"
# job -> (unit, port, groups whose hosts run it; None: every host)
EXPORTERS = {
    "node": ("prometheus-node-exporter", 9100, None),
    "mysqld": ("prometheus-mysqld-exporter", 9104, ("db",)),
    "redis": ("prometheus-redis-exporter", 9121, ("cache",)),
    "nginx": ("prometheus-nginx-exporter", 9113, ("web", "loadbalancers")),
}
TIMER = "lmsops-textfile-collector.timer"


# ---------------------------------------------------------------- helpers
def _runs(lab, name: str, job: str) -> bool:
    groups = EXPORTERS[job][2]
    if lab.literal(name, f"exporters_{job}_enabled") is not None:
        return bool(lab.literal(name, f"exporters_{job}_enabled"))
    return groups is None or bool(set(lab.groups_of(name)) & set(groups))


def _port(lab, name: str, job: str) -> int:
    return int(lab.literal(name, f"exporters_{job}_port", EXPORTERS[job][1]))


def _targets(lab) -> list[tuple[str, str, int]]:
    """(host, job, port) of every exporter of the inventory."""
    return [(n, job, _port(lab, n, job)) for n in lab.names for job in EXPORTERS if _runs(lab, n, job)]


def _scraper(lab) -> str:
    return lab.hosts_or_skip("monitoring")[0]


def _scrape(lab, src: str, name: str, job: str) -> str:
    """GET /metrics of `job` on `name` from host `src`, over the network as Prometheus does."""
    url = f"http://{lab.private_address(name)}:{_port(lab, name, job)}/metrics"
    result = lab.get_host(src).run(f"curl -fsS --max-time 10 {url}")
    assert result.rc == 0, f"{src} cannot scrape {url}: {result.stderr.strip()}"
    return result.stdout


def _value(text: str, metric: str, labels: str = "") -> float | None:
    """The value of the first sample of `metric` whose labels contain `labels` (e.g. 'pool="lms"')."""
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(metric)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m and labels in (m.group(1) or ""):
            return float(m.group(2))
    return None


# ---------------------------------------------------------------- services
def test_exporters_running_and_enabled_on_the_hosts_of_their_groups(lab):
    for name in lab.names:
        for job, (unit, _, _) in EXPORTERS.items():
            if _runs(lab, name, job):
                lab.assert_service_up(name, unit)
            else:
                assert not lab.get_host(name).service(unit).is_running, f"{unit} runs on {name}, not in its groups"


def test_exporters_listen_on_the_private_address_only(lab):
    for name, job, port in _targets(lab):
        wanted = lab.literal(name, "exporters_listen_address") or lab.private_address(name)
        out = lab.get_host(name).check_output(f"ss -Hltn 'sport = :{port}'")
        listening = {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in out.splitlines() if line.strip()}
        assert listening == {wanted}, f"{job} exporter on {name} listens on {sorted(listening)}, wanted {wanted}"


def test_exporters_run_unprivileged(lab):
    for name, job, _ in _targets(lab):
        unit = EXPORTERS[job][0]
        user = lab.get_host(name).check_output(f"systemctl show -p User --value {unit}")
        assert user == "prometheus", f"{unit} on {name} runs as {user or 'root'}"


# ---------------------------------------------------------------- metrics, from the monitoring host
def test_node_exporter_answers_the_monitoring_host(lab):
    src = _scraper(lab)
    for name in lab.names:
        if not _runs(lab, name, "node"):
            continue
        text = _scrape(lab, src, name, "node")
        assert _value(text, "node_load1") is not None, f"{name}: no node_load1 in the node exporter's metrics"
        assert _value(text, "node_textfile_scrape_error") == 0, f"{name}: node exporter cannot read {TEXTFILE_DIR}"


def test_mysqld_exporter_reaches_the_database(lab):
    src = _scraper(lab)
    hosts = [n for n in lab.hosts_or_skip("db") if _runs(lab, n, "mysqld")]
    for name in hosts:
        text = _scrape(lab, src, name, "mysqld")
        assert _value(text, "mysql_up") == 1, f"{name}: mysql_up is {_value(text, 'mysql_up')}, wanted 1"
        assert _value(text, "mysql_global_status_uptime") is not None, f"{name}: no server status in the metrics"


def test_redis_exporter_reaches_redis(lab):
    src = _scraper(lab)
    for name in [n for n in lab.hosts_or_skip("cache") if _runs(lab, n, "redis")]:
        text = _scrape(lab, src, name, "redis")
        assert _value(text, "redis_up") == 1, f"{name}: redis_up is {_value(text, 'redis_up')}, wanted 1"
        assert _value(text, "redis_uptime_in_seconds") is not None, f"{name}: no INFO data (wrong password?)"


def test_nginx_exporter_reaches_stub_status(lab):
    src = _scraper(lab)
    for name in [n for n in lab.hosts_or_skip("web", "loadbalancers") if _runs(lab, n, "nginx")]:
        text = _scrape(lab, src, name, "nginx")
        assert _value(text, "nginx_up") == 1, f"{name}: nginx_up is {_value(text, 'nginx_up')}, wanted 1"
        assert (_value(text, "nginx_connections_accepted") or 0) >= 1, f"{name}: no stub_status counters"


def test_phpfpm_pool_metrics_through_the_textfile_collector(lab):
    src = _scraper(lab)
    for name in lab.hosts_or_skip("web"):
        text = _scrape(lab, src, name, "node")
        pools = sorted(set(re.findall(r'^lmsops_phpfpm_up\{pool="([^"]+)"\}', text, re.MULTILINE)))
        assert pools, f"{name}: no lmsops_phpfpm_up in the node exporter's metrics"
        for pool in pools:
            label = f'pool="{pool}"'
            assert _value(text, "lmsops_phpfpm_up", label) == 1, f"{name}: pool {pool} did not answer its status page"
            max_children = _value(text, "lmsops_phpfpm_max_children", label)
            assert max_children and max_children >= 1, f"{name}: pool {pool} max_children {max_children}"
            for metric in ("active_processes", "idle_processes", "max_children_reached_total", "listen_queue"):
                value = _value(text, f"lmsops_phpfpm_{metric}", label)
                assert value is not None and value >= 0, f"{name}: pool {pool} has no lmsops_phpfpm_{metric}"
            # The status request itself is served by a worker.
            assert _value(text, "lmsops_phpfpm_active_processes", label) >= 1


def test_supervisor_metrics_through_the_textfile_collector(lab):
    src = _scraper(lab)
    for name in lab.hosts_or_skip("workers"):
        text = _scrape(lab, src, name, "node")
        groups = sorted(set(re.findall(r'^lmsops_supervisor_processes_expected\{group="([^"]+)"\}', text, re.MULTILINE)))
        assert groups, f"{name}: no lmsops_supervisor_processes_expected in the node exporter's metrics"
        status = lab.get_host(name).run("supervisorctl status").stdout
        for group in groups:
            label = f'group="{group}"'
            expected = _value(text, "lmsops_supervisor_processes_expected", label)
            running = _value(text, "lmsops_supervisor_processes_running", label)
            actual = sum(1 for line in status.splitlines() if line.startswith(f"{group}:") and " RUNNING " in line)
            assert expected >= 1 and running == expected == actual, (
                f"{name}: group {group} expected {expected}, running {running}; supervisorctl shows {actual} RUNNING")
            assert _value(text, "lmsops_supervisor_process_running", label) == 1


def test_textfile_metrics_are_fresh_and_written_atomically(lab):
    for name in sorted(set(lab.hosts_in("web")) | set(lab.hosts_in("workers"))):
        host = lab.get_host(name)
        assert host.service(TIMER).is_running and host.service(TIMER).is_enabled, f"{TIMER} is not active on {name}"
        interval = int(lab.literal(name, "exporters_textfile_collector_interval", 15))
        files = [f for f, g in (("lmsops_phpfpm.prom", "web"), ("lmsops_supervisor.prom", "workers"))
                 if name in lab.hosts_in(g)]
        for base in files:
            path = f"{TEXTFILE_DIR}/{base}"
            f = host.file(path)
            assert f.is_file and f.mode == 0o644, f"{name}: {path} missing or mode {oct(f.mode) if f.exists else '-'}"
            age = time.time() - f.mtime.timestamp()
            assert age < interval * 2 + 15, f"{name}: {path} is {age:.0f} s old, the timer runs every {interval} s"
        leftovers = host.run(f"find {TEXTFILE_DIR} -name '.lmsops_*'").stdout.split()
        assert not leftovers, f"{name}: temporary files left in {TEXTFILE_DIR}: {leftovers}"
        result = host.run("systemctl show -p Result --value lmsops-textfile-collector.service")
        assert result.stdout.strip() == "success", f"{name}: the textfile collector's last run: {result.stdout.strip()}"


# ---------------------------------------------------------------- firewall
def test_exporter_ports_dropped_for_hosts_outside_monitoring(lab):
    """Every exporter port, probed from each host outside the monitoring group (but itself: loopback is not
    filtered): the firewall drops the packet (timeout), it does not even answer 'refused'."""
    outsiders = lab.outside("monitoring")
    if not outsiders:
        pytest.skip("every host is a monitoring host")
    targets = [(name, job, port, src) for name, job, port in _targets(lab) for src in outsiders if src != name]
    if not targets:
        pytest.skip("no host outside monitoring other than the exporters' own host")
    results = probe_many(lab, [(src, lab.private_address(name), port) for name, _, port, src in targets])
    for (name, job, port, src), result in zip(targets, results):
        assert result.outcome == "timeout", f"{job} exporter {name}:{port} from {src}: {result}"


def test_exporter_ports_open_to_the_monitoring_hosts(lab):
    targets = [(name, job, port, src) for src in lab.hosts_or_skip("monitoring")
               for name, job, port in _targets(lab) if name != src]
    results = probe_many(lab, [(src, lab.private_address(name), port) for name, _, port, src in targets])
    for (name, job, port, src), result in zip(targets, results):
        assert result.outcome == "open", f"{job} exporter {name}:{port} from {src}: {result}"


# ---------------------------------------------------------------- credentials
def test_credentials_are_root_only_and_never_in_a_command_line(lab):
    checked = 0
    for name in lab.names:
        host = lab.get_host(name)
        for job, base, secret in (("mysqld", "mysqld-exporter.cnf", "password"), ("redis", "redis-exporter.env",
                                                                                    "REDIS_PASSWORD")):
            if not _runs(lab, name, job):
                continue
            f = host.file(f"{ETC_DIR}/{base}")
            assert f.is_file, f"{name}: {f.path} missing"
            assert (f.user, f.group, f.mode) == ("root", "root", 0o600), (
                f"{name}: {f.path} is {f.user}:{f.group} {oct(f.mode)}, wanted root:root 0600")
            assert host.file(ETC_DIR).mode == 0o700
            # The exporters' own user cannot read the file on disk (the mysqld exporter gets a private copy
            # from systemd, the redis exporter its environment).
            assert host.run(f"runuser -u prometheus -- cat {f.path}").rc != 0, f"{name}: prometheus reads {f.path}"
            assert secret in host.check_output(f"cat {f.path}")
            value = re.search(rf"^{secret}\s*=\s*\"?([^\"\n]+)", host.check_output(f"cat {f.path}"), re.MULTILINE)
            assert value, f"{name}: no {secret} in {f.path}"
            cmdlines = host.check_output("ps -eo args")
            unit = host.check_output(f"systemctl cat {EXPORTERS[job][0]}")
            assert value.group(1) not in cmdlines, f"{name}: the {job} exporter's password is in a command line"
            assert value.group(1) not in unit, f"{name}: the {job} exporter's password is in its unit"
            checked += 1
    if not checked:
        pytest.skip("no db or cache host in this inventory")


def test_a_changed_credential_shows_in_the_diff_as_changed_but_not_its_value(lab):
    """site.yml --check --diff with a new password for the mysqld exporter: the credentials file would
    change, and neither the diff nor the verbose result shows the new password (config_files'
    secret_content) or the current one. Check mode: nothing on the host changes."""
    dbs = [name for name in lab.names if _runs(lab, name, "mysqld")]
    if not dbs:
        pytest.skip("no db host in this inventory")
    name = dbs[0]
    current = re.search(r'^password\s*=\s*"?([^"\n]+)', lab.get_host(name).check_output(f"cat {ETC_DIR}/mysqld-exporter.cnf"),
                        re.MULTILINE)
    assert current, f"{name}: no password in the mysqld exporter's credentials"
    new = "lmsopsDiffCheck" + str(int(time.time()))
    # every host: the input checks need the facts of the whole inventory
    res = lab.playbook("site.yml", "--check", "--diff", "-v", "--tags", "exporters",
                       "-e", f"exporters_mysqld_password={new}")
    output = res.stdout + res.stderr
    assert res.returncode == 0, output[-3000:]
    assert "(new secret content, not shown)" in output, "the diff does not say the credentials would change"
    assert new not in output, "the new password is in the output"
    assert current.group(1) not in output, "the current password is in the output"
    # check mode: the file on the host is as it was
    assert new not in lab.get_host(name).check_output(f"cat {ETC_DIR}/mysqld-exporter.cnf")
