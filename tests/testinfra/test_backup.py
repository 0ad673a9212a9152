"""The backup role and the backup_verify / restore playbooks, checked the way an operator would: the timers
scheduled, the secrets root-only, a backup run that succeeds and refreshes its metric (and a failing one
that leaves the last success time alone), the app database backed up, dropped and brought back by
playbooks/restore.yml with every table's CHECKSUM TABLE equal to before, and backup_verify failing loudly on a
damaged repository (a damaged COPY of the repository: the real one is left alone).

Acts on every host (timers, files job, secrets) and on the `db` hosts (dumps, restore, verification). No
secret is read or printed: the checks look at modes, the jobs' exit codes, the metrics and the database.
"""

from __future__ import annotations

import re

import pytest

SCRIPT = "/usr/local/sbin/lmsops-backup"
CONFIG_DIR = "/etc/lmsops-backup"
DEFAULT_REPOSITORY = "/var/backups/restic"
DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
APP_DB = "lms"


# ---------------------------------------------------------------- helpers
def _db_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("db")


def _textfile_dir(lab, name: str) -> str:
    return lab.literal(name, "backup_textfile_dir", DEFAULT_TEXTFILE_DIR)


def _repository(lab, name: str) -> str:
    repo = lab.literal(name, "backup_repository", DEFAULT_REPOSITORY)
    if not str(repo).startswith("/"):
        pytest.skip(f"{name}: the repository {repo} is not local")
    return repo


def _sql(host, query: str) -> str:
    return host.check_output("mariadb --batch --skip-column-names -e %s", query)


def _table_state(host, db: str) -> dict[str, tuple[int, int]]:
    """Every base table's row count and CHECKSUM TABLE, as an operator compares them by hand."""
    names = _sql(host, f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' "
                       "AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1").split()
    state = {}
    for name in names:
        count = int(_sql(host, f"SELECT COUNT(*) FROM `{db}`.`{name}`"))
        checksum = int(_sql(host, f"CHECKSUM TABLE `{db}`.`{name}`").split()[-1])
        state[name] = (count, checksum)
    return state


def _metric(host, path: str, name: str) -> float:
    content = host.file(path).content_string
    match = re.search(r"^" + re.escape(name) + r" (\S+)$", content, re.M)
    assert match, f"{path} has no {name}:\n{content}"
    return float(match.group(1))


def _run_unit(host, job: str) -> None:
    """Start the job's service and wait for it, as the timer does; a oneshot start returns when the job ends."""
    res = host.run("systemctl start lmsops-backup-%s.service", job)
    log = host.run("journalctl -u lmsops-backup-%s.service -n 30 --no-pager", job).stdout
    assert res.rc == 0, f"lmsops-backup-{job}.service failed:\n{res.stderr}\n{log}"
    result = host.check_output("systemctl show -p Result --value lmsops-backup-%s.service", job)
    assert result == "success", f"lmsops-backup-{job}.service ended with {result}:\n{log}"


def _now(host) -> float:
    return float(host.check_output("date +%s.%N"))


# ---------------------------------------------------------------- schedule and secrets
def test_timers_are_active_and_scheduled(lab):
    for name in lab.names:
        host = lab.get_host(name)
        jobs = ["files", "verify"] + (["mysql", "binlog"] if "db" in lab.groups_of(name) else [])
        for job in jobs:
            lab.assert_service_up(name, f"lmsops-backup-{job}.timer")
            nxt = host.check_output("systemctl show -p NextElapseUSecRealtime --value lmsops-backup-%s.timer", job)
            assert nxt and nxt != "n/a", f"{name}: lmsops-backup-{job}.timer has no next run"
            unit = host.file(f"/etc/systemd/system/lmsops-backup-{job}.timer").content_string
            assert "Persistent=true" in unit and "RandomizedDelaySec=" in unit, f"{name}: {job} timer:\n{unit}"


def test_credentials_are_root_only(lab):
    for name in lab.names:
        host = lab.get_host(name)
        directory = host.file(CONFIG_DIR)
        assert (directory.user, directory.mode) == ("root", 0o700), f"{name}: {CONFIG_DIR} is {oct(directory.mode)}"
        for path in (f"{CONFIG_DIR}/password", f"{CONFIG_DIR}/restic.env"):
            f = host.file(path)
            assert f.is_file and (f.user, f.group, f.mode) == ("root", "root", 0o600), (
                f"{name}: {path} is {f.user}:{f.group} {oct(f.mode)}, wanted root:root 0600"
            )
        repo = lab.literal(name, "backup_repository", DEFAULT_REPOSITORY)
        if str(repo).startswith("/"):
            r = host.file(repo)
            assert r.is_directory and r.mode == 0o700, f"{name}: the repository {repo} is {oct(r.mode)}"
            assert host.file(repo + "/config").exists, f"{name}: {repo} is not an initialised restic repository"


# ---------------------------------------------------------------- runs and metrics
@pytest.mark.parametrize("job", ["files", "mysql"])
def test_backup_run_succeeds_and_refreshes_its_metrics(lab, job):
    names = lab.names if job == "files" else _db_hosts(lab)
    for name in names:
        host = lab.get_host(name)
        before = _now(host)
        _run_unit(host, job)
        prom = f"{_textfile_dir(lab, name)}/lmsops_backup_{job}.prom"
        stamp = _metric(host, prom, f'lmsops_backup_last_success_timestamp_seconds{{job="{job}"}}')
        assert stamp >= before - 1, f"{name}: {job} metric not refreshed ({stamp} < {before})"
        assert _metric(host, prom, f'lmsops_backup_last_size_bytes{{job="{job}"}}') > 0
        assert _metric(host, prom, f'lmsops_backup_last_duration_seconds{{job="{job}"}}') > 0
        f = host.file(prom)
        assert f.mode == 0o644, f"{name}: {prom} is {oct(f.mode)}"
        listing = host.check_output("%s snapshots", SCRIPT)
        assert (f"db:{APP_DB}" in listing) if job == "mysql" else ("files" in listing), listing


def test_failed_run_keeps_the_last_success_time(lab, tmp_path):
    """A run that fails (here: a repository that does not exist) leaves the last success time, so the
    stale-backup alert sees the backup getting older."""
    name = lab.names[0]
    host = lab.get_host(name)
    prom = f"{_textfile_dir(lab, name)}/lmsops_backup_files.prom"
    if not host.file(prom).exists:
        _run_unit(host, "files")
    work = "/tmp/lmsops-backup-test-fail"
    host.check_output(
        "rm -rf {w} && mkdir -m 0700 {w} && cp {p} {w}/ && "
        "sed 's|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=\"{w}/no-repository\"|' {c}/restic.env > {w}/restic.env && "
        "python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c.update(env_file=sys.argv[2]+\"/restic.env\", "
        "textfile_dir=sys.argv[2], lock_file=sys.argv[2]+\"/lock\"); json.dump(c, open(sys.argv[2]+\"/config.json\",\"w\"))' "
        "{c}/config.json {w}".format(w=work, p=prom, c=CONFIG_DIR))
    try:
        before = _metric(host, f"{work}/lmsops_backup_files.prom", 'lmsops_backup_last_success_timestamp_seconds{job="files"}')
        res = host.run("LMSOPS_BACKUP_CONFIG=%s/config.json %s files", work, SCRIPT)
        assert res.rc != 0 and "FAILED" in res.stderr, f"{name}: a backup to a missing repository did not fail: {res.stdout}"
        after = _metric(host, f"{work}/lmsops_backup_files.prom", 'lmsops_backup_last_success_timestamp_seconds{job="files"}')
        assert after == before, f"{name}: a failed run moved the last success time from {before} to {after}"
    finally:
        host.run("rm -rf %s", work)


# ---------------------------------------------------------------- restore
def test_restore_refuses_without_confirmation(lab):
    name = _db_hosts(lab)[0]
    before = _sql(lab.get_host(name), "SHOW DATABASES")
    res = lab.playbook("playbooks/restore.yml", "--limit", name)
    assert res.returncode != 0, "restore.yml ran without restore_confirm=yes"
    assert "restore_confirm=yes" in res.stdout + res.stderr, res.stdout[-2000:]
    assert _sql(lab.get_host(name), "SHOW DATABASES") == before


def test_backup_drop_restore_gives_every_table_back(lab):
    """Backup -> DROP DATABASE -> playbooks/restore.yml -> every table's row count and checksum as before."""
    name = _db_hosts(lab)[0]
    host = lab.get_host(name)
    before = _table_state(host, APP_DB)
    assert before and sum(rows for rows, _ in before.values()) > 0, f"{name}: the {APP_DB} database holds no rows: {before}"
    _run_unit(host, "mysql")

    # A write after the backup, then a restore with the database there: the write is undone and the live
    # database is kept first in a safety dump.
    _sql(host, f"INSERT INTO `{APP_DB}`.courses (title, summary) VALUES ('written after the backup', 'x')")
    safety_before = host.check_output("%s snapshots | grep -c safety || true", SCRIPT)
    res = lab.playbook("playbooks/restore.yml", "-e", "restore_confirm=yes", timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert _table_state(host, APP_DB) == before, "the restore did not bring back the backed-up data"
    safety_after = host.check_output("%s snapshots | grep -c safety || true", SCRIPT)
    assert int(safety_after) == int(safety_before) + 1, "no safety dump was taken before the restore"

    # The database gone: the restore brings back every table.
    _sql(host, f"DROP DATABASE `{APP_DB}`")
    assert APP_DB not in _sql(host, "SHOW DATABASES").split()
    res = lab.playbook("playbooks/restore.yml", "-e", "restore_confirm=yes", timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    after = _table_state(host, APP_DB)
    assert after == before, f"tables differ after the restore:\nbefore {before}\nafter  {after}"
    # The app answers on the restored database (restore.yml checked /health too).
    for web in lab.hosts_in("web"):
        address = lab.private_address(web)
        port = str(int(lab.literal(web, "nginx_app_port", 8080)))
        out = lab.get_host(web).check_output("curl -s -m 10 -o /dev/null -w '%%{http_code}' http://%s:%s/", address, port)
        assert out == "200", f"{web}: the app answered {out} after the restore"


# ---------------------------------------------------------------- verification
def test_verify_passes_and_reports(lab):
    names = _db_hosts(lab)
    for name in names:
        _run_unit(lab.get_host(name), "mysql")
    res = lab.playbook("playbooks/backup_verify.yml")
    assert res.returncode == 0, res.stdout[-4000:]
    assert "every row count and CHECKSUM TABLE equal to the manifest" in res.stdout, res.stdout[-3000:]
    for name in names:
        host = lab.get_host(name)
        prom = f"{_textfile_dir(lab, name)}/lmsops_backup_verify.prom"
        assert _metric(host, prom, "lmsops_backup_verify_ok") == 1
        assert _now(host) - _metric(host, prom, "lmsops_backup_verify_last_success_timestamp_seconds") < 600
        assert "lmsops_verify_" not in _sql(host, "SHOW DATABASES"), f"{name}: a scratch database was left behind"


def test_verify_fails_loudly_on_a_damaged_repository(lab):
    """A copy of the repository with one pack file damaged: restic check reading all data must fail, and so
    must the playbook, naming the damage. The real repository is not touched."""
    name = _db_hosts(lab)[0]
    host = lab.get_host(name)
    repo = _repository(lab, name)
    copy = repo.rstrip("/") + "-damaged-copy"
    host.check_output("rm -rf %s && cp -a %s %s", copy, repo, copy)
    try:
        pack = host.check_output("find %s/data -type f -size +2k -printf '%%s %%p\\n' | sort -n | tail -n 1 | cut -d' ' -f2",
                                 copy)
        assert pack, f"{name}: no pack file in {copy}/data"
        size = int(host.check_output("stat -c %%s %s", pack))
        host.check_output("printf 'DAMAGED-BY-TEST-DAMAGED-BY-TEST' | dd of=%s bs=1 seek=%s conv=notrunc status=none",
                          pack, str(size // 2))
        res = lab.playbook("playbooks/backup_verify.yml", "--limit", name, "-e", f"backup_verify_repository={copy}",
                           "-e", "backup_verify_read_data_subset=100%")
        out = res.stdout + res.stderr
        assert res.returncode != 0, f"backup_verify.yml passed on a damaged repository:\n{out[-3000:]}"
        assert "BACKUP VERIFICATION FAILED" in out and "REPOSITORY DAMAGED" in out, out[-3000:]
    finally:
        host.run("rm -rf %s", copy)
    # The real repository is sound.
    assert host.run("%s verify --read-data-subset ''", SCRIPT).rc == 0
