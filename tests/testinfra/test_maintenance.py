"""playbooks/maintenance.yml, checked the way an operator would: it runs through on a healthy fleet and
leaves every web host in the load balancers' upstream, the app logs get a logrotate configuration that
logrotate accepts, a second run changes nothing, and on a fleet with a critical check it refuses to
patch anything (unless maintenance_force says to go on).

The refusal is provoked by stopping fail2ban (a unit health.yml checks on every host) on one web host:
harmless for the site, and restarted in `finally`. Needs the web group and a load balancer (skips
otherwise). No secret is read or printed.
"""

from __future__ import annotations

import re

import pytest

PLAYBOOK = "playbooks/maintenance.yml"
DRAIN = "/usr/local/sbin/lmsops-nginx-drain"
DRAIN_DIR = "/var/lib/lmsops-nginx/drained"
APP_ROOT = "/srv/lms"
LOGROTATE_CONF = "/etc/logrotate.d/lmsops-app"
REFUSAL = "maintenance refused"
# Lab hosts are containers: they see the whole machine's load average, which a converge elsewhere on the
# machine drives far above any threshold. These tests are about maintenance.yml, not the machine's load.
CALM = ("-e", "health_load_warn=1000", "-e", "health_load_crit=1000")



def _tail(proc) -> str:
    return (proc.stdout[-6000:] + "\n" + proc.stderr[-2000:]).strip()


def _upstream(lab, lb: str) -> dict[str, str]:
    """Each web host of the load balancer's upstream and its state (active, drained, held), as the drain
    entry point's script reports it."""
    out = lab.get_host(lb).check_output(f"{DRAIN} status")
    return dict(line.split() for line in out.splitlines() if line.strip())


def _assert_every_web_host_in(lab, webs: list[str]) -> None:
    for lb in lab.hosts_or_skip("loadbalancers"):
        states = _upstream(lab, lb)
        assert sorted(states) == sorted(webs), f"{lb}: upstream has {sorted(states)}, inventory web: {webs}"
        left_out = {h: s for h, s in states.items() if s != "active"}
        assert not left_out, f"{lb}: web hosts left out of the upstream after maintenance: {left_out}"
        records = lab.get_host(lb).check_output(f"ls -A {DRAIN_DIR}").split()
        assert not records, f"{lb}: drain records left behind in {DRAIN_DIR}: {records}"


@pytest.fixture(scope="module")
def first_run(lab):
    """One full maintenance run on the healthy lab (shared by the checks of its outcome)."""
    lab.hosts_or_skip("web")
    lab.hosts_or_skip("loadbalancers")
    return lab.playbook(PLAYBOOK, *CALM, timeout=1800)


def test_maintenance_runs_through_and_every_web_host_serves_again(lab, first_run):
    webs = lab.hosts_or_skip("web")
    assert first_run.returncode == 0, f"maintenance.yml failed:\n{_tail(first_run)}"
    assert REFUSAL not in first_run.stdout
    recap = lab.recap(first_run.stdout)
    assert set(lab.names) <= set(recap), f"hosts missing from the recap: {set(lab.names) - set(recap)}"
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap
    # Every step ran and the summary names every host.
    for play in ("Patch the operating system", "Rotate the app and worker logs", "Check the database tables",
                 "Remove old releases and cached packages", "Check the load balancers' certificates"):
        assert f"PLAY [{play}" in first_run.stdout, f"the play {play!r} did not run"
    summary = first_run.stdout[first_run.stdout.index("Print what was done on each host"):]
    for name in lab.names:
        assert f"{name}: " in summary, f"{name} is not in the summary"
    _assert_every_web_host_in(lab, webs)
    # Requests through the load balancer reach the app.
    for lb in lab.hosts_or_skip("loadbalancers"):
        codes = lab.get_host(lb).check_output(
            "for i in 1 2 3 4 5 6; do curl -sk -o /dev/null -w '%{http_code} ' https://127.0.0.1/health; done").split()
        assert codes == ["200"] * 6, f"{lb}: /health through the load balancer after maintenance: {codes}"


def test_app_logs_have_a_logrotate_configuration_logrotate_accepts(lab, first_run):
    assert first_run.returncode == 0, "maintenance.yml failed (see the first test)"
    for name in lab.hosts_or_skip("web", "workers"):
        host = lab.get_host(name)
        root = lab.literal(name, "lmsops_app_root", APP_ROOT)
        conf = host.file(LOGROTATE_CONF)
        assert conf.is_file and conf.user == "root" and conf.mode == 0o644, f"{name}: {LOGROTATE_CONF}"
        assert f"{root}/shared/storage/logs/*.log" in conf.content_string
        # logrotate's own reading of it (debug mode rotates nothing): it parses and looks at the app logs.
        check = host.run(f"logrotate --debug {LOGROTATE_CONF}")
        assert check.rc == 0, f"{name}: logrotate rejects {LOGROTATE_CONF}: {check.stderr[-800:]}"
        assert "error" not in check.stderr.lower(), f"{name}: {check.stderr[-800:]}"
        assert f"considering log {root}/shared/storage/logs/" in check.stderr, check.stderr[-800:]
        assert host.service("logrotate.timer").is_enabled, f"{name}: logrotate.timer would not rotate daily"


def test_a_second_run_changes_nothing(lab, first_run):
    assert first_run.returncode == 0, "maintenance.yml failed (see the first test)"
    again = lab.playbook(PLAYBOOK, *CALM, timeout=1800)
    assert again.returncode == 0, f"second maintenance.yml run failed:\n{_tail(again)}"
    recap = lab.recap(again.stdout)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    assert not changed, f"a second run changed something: {changed}\n{_tail(again)}"
    _assert_every_web_host_in(lab, lab.hosts_or_skip("web"))


def test_refuses_when_a_host_is_critical_and_goes_on_when_forced(lab):
    webs = lab.hosts_or_skip("web")
    lab.hosts_or_skip("loadbalancers")
    victim = webs[-1]
    units = lab.literal(victim, "health_units_all", ["ssh", "fail2ban"]) or []
    if "fail2ban" not in units:
        pytest.skip("fail2ban is not a unit health.yml checks here (health_units_all)")
    host = lab.get_host(victim)
    if not host.service("fail2ban").is_running:
        pytest.skip(f"fail2ban does not run on {victim}")
    before = {lb: _upstream(lab, lb) for lb in lab.hosts_or_skip("loadbalancers")}
    try:
        host.check_output("systemctl stop fail2ban")
        refused = lab.playbook(PLAYBOOK, *CALM, timeout=900)
        assert refused.returncode != 0, f"maintenance.yml went on with fail2ban stopped on {victim}:\n{_tail(refused)}"
        # Failures go to stderr where the configuration says so (Molecule's does): look in both.
        message = re.search(rf"{REFUSAL}: .*?maintenance_force=true", refused.stdout + refused.stderr, re.S)
        assert message, f"no refusal message:\n{_tail(refused)}"
        text = " ".join(message.group(0).split())
        assert f"{victim}: unit fail2ban is inactive" in text, text
        assert "PLAY [Patch the operating system" not in refused.stdout, "patching started despite the refusal"
        assert {lb: _upstream(lab, lb) for lb in before} == before, "the refusal touched the load balancers"

        # maintenance_force goes on (one cheap step, the certificates, is enough to show it).
        forced = lab.playbook(PLAYBOOK, *CALM, "-e", "maintenance_force=true", "--tags", "maintenance_certs",
                              timeout=900)
        assert forced.returncode == 0, f"maintenance_force did not go on:\n{_tail(forced)}"
        assert "maintenance_force is set: going on" in forced.stdout
        assert "PLAY [Check the load balancers' certificates" in forced.stdout
    finally:
        host.run("systemctl start fail2ban")
    assert host.service("fail2ban").is_running, f"fail2ban did not start again on {victim}"
