"""The app role and the deploy playbooks, checked the way an operator would: the release layout and its
permissions, the app answering through nginx on the app port (/, /health, a cached course), a job queued
on a web host processed by a worker host, a repeated deploy changing nothing, and a broken release
refused by the health gate with the host left on the release it ran.

Acts on the hosts of the `web` and `workers` groups (skips when there is none). Requests go from inside
each web host to its own private address (the app port is open to the load balancers only). No secret is
read or printed: the checks look at modes, owners and the app's answers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "roles" / "app" / "files" / "demo-lms"
APP_ROOT = "/srv/lms"
APP_USER = "lms"
DEFAULT_PORT = 8080
DEFAULT_KEEP = 5


# ---------------------------------------------------------------- helpers
def _literal(lab, name: str, var: str, default=None):
    return lab.literal(name, var, default)


def _app_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("web", "workers")


def _web_hosts(lab) -> list[str]:
    return lab.hosts_or_skip("web")


def _root(lab, name: str) -> str:
    return _literal(lab, name, "lmsops_app_root", APP_ROOT)


def _user(lab, name: str) -> str:
    return _literal(lab, name, "lmsops_app_user", APP_USER)


def _base_url(lab, name: str) -> str:
    address = lab.private_address(name)
    return f"http://{address}:{int(_literal(lab, name, 'nginx_app_port', DEFAULT_PORT))}"


def _get(lab, name: str, path: str) -> tuple[int, str]:
    """GET on the web host's own app vhost, from inside the host: status code and body."""
    out = lab.get_host(name).check_output(
        "curl -s -m 10 -o /tmp/.lmsops-test-body -w '%%{http_code}' %s; echo; cat /tmp/.lmsops-test-body",
        _base_url(lab, name) + path,
    )
    status, _, body = out.partition("\n")
    return int(status or 0), body


def _current(lab, name: str) -> str:
    return lab.get_host(name).check_output("readlink %s", _root(lab, name) + "/current")



# ---------------------------------------------------------------- the release layout
def test_current_points_at_a_complete_release(lab):
    for name in _app_hosts(lab):
        host = lab.get_host(name)
        root = _root(lab, name)
        current = _current(lab, name)
        assert current.startswith(root + "/releases/"), f"{name}: current -> {current}"
        release = current.rsplit("/", 1)[1]
        assert host.file(current + "/.lmsops-release").content_string.strip() == release, f"{name}: {current} is unfinished"
        assert host.file(current + "/public/index.php").is_file
        for link, target in ((".env", root + "/shared/.env"), ("storage", root + "/shared/storage")):
            f = host.file(f"{current}/{link}")
            assert f.is_symlink and f.linked_to == target, f"{name}: {current}/{link} is not a link to {target}"


def test_code_is_root_owned_and_not_writable_by_the_app_user(lab):
    for name in _app_hosts(lab):
        host = lab.get_host(name)
        current = _current(lab, name)
        writable = host.run("runuser -u %s -- find -L %s -path '*/storage' -prune -o -writable -print -quit",
                            _user(lab, name), current)
        assert writable.stdout.strip() == "", f"{name}: the app user can write {writable.stdout.strip()}"
        not_root = host.check_output("find %s %s -maxdepth 0 ! -user root -print; find %s ! -user root -print -quit",
                                     _root(lab, name), _root(lab, name) + "/releases", current)
        assert not_root == "", f"{name}: not owned by root: {not_root}"


def test_env_file_is_private_to_the_app_group(lab):
    for name in _app_hosts(lab):
        host = lab.get_host(name)
        env = host.file(_root(lab, name) + "/shared/.env")
        group = _literal(lab, name, "lmsops_app_group", APP_USER)
        assert (env.user, env.group, env.mode) == ("root", group, 0o640), (
            f"{name}: .env is {env.user}:{env.group} {oct(env.mode)}, wanted root:{group} 0640"
        )
        assert re.search(r"^APP_DEBUG=false$", env.content_string, re.M), f"{name}: APP_DEBUG is not false"
        cached = host.file(_current(lab, name) + "/bootstrap/cache/config.php")
        if cached.exists:  # the cached configuration holds the same secrets
            assert cached.mode & 0o007 == 0, f"{name}: bootstrap/cache/config.php is readable by others"


def test_storage_belongs_to_the_app_user(lab):
    for name in _app_hosts(lab):
        storage = lab.get_host(name).file(_root(lab, name) + "/shared/storage")
        assert storage.is_directory and storage.user == _user(lab, name) and storage.mode & 0o007 == 0, (
            f"{name}: shared/storage is {storage.user} {oct(storage.mode)}"
        )


def test_releases_are_pruned(lab):
    for name in _app_hosts(lab):
        keep = int(_literal(lab, name, "app_keep_releases", DEFAULT_KEEP))
        releases = lab.get_host(name).check_output("ls -1 %s", _root(lab, name) + "/releases").split()
        assert len(releases) <= keep, f"{name}: {len(releases)} releases kept, app_keep_releases is {keep}"


# ---------------------------------------------------------------- the app through nginx
def test_health_answers_ok_through_nginx(lab):
    for name in _web_hosts(lab):
        status, body = _get(lab, name, "/health")
        assert status == 200, f"{name}: /health answered {status}: {body[:200]}"
        data = json.loads(body)
        assert data["status"] == "ok" and data["checks"] == {"database": "ok", "redis": "ok"}, data
        assert data["release"] == _current(lab, name).rsplit("/", 1)[1], f"{name}: /health is served by another release"


def test_home_page_reads_a_course(lab):
    for name in _web_hosts(lab):
        status, body = _get(lab, name, "/")
        assert status == 200 and re.search(r"<p>Course [1-9]\d*: ", body), f"{name}: / answered {status}: {body[:300]}"


def test_course_is_cached_in_redis(lab):
    for name in _web_hosts(lab):
        _get(lab, name, "/courses/1")
        status, body = _get(lab, name, "/courses/1")
        assert status == 200 and json.loads(body)["source"] == "cache", f"{name}: {status} {body[:200]}"
        assert _get(lab, name, "/courses/99999")[0] == 404


def test_job_dispatched_on_a_web_host_is_processed_by_a_worker(lab):
    web = _web_hosts(lab)[0]
    workers = lab.hosts_in("workers")
    if not workers:
        pytest.skip("no workers host in this inventory")
    token = "test-" + uuid.uuid4().hex[:12]
    status, body = _get(lab, web, f"/jobs/dispatch?token={token}")
    assert status == 202, f"{web}: dispatch answered {status}: {body[:200]}"
    # The supervisor role runs the workers; without it, run one by hand until the queue is empty.
    worker = workers[0]
    # "[p]hp": the pattern must not match the shell that runs pgrep.
    running = any(lab.get_host(w).run("pgrep -f '[p]hp .*artisan queue:work'").rc == 0 for w in workers)
    if not running:
        lab.get_host(worker).run(
            "runuser -u %s -- php %s/current/artisan queue:work redis --sleep=1 --tries=3 --stop-when-empty",
            _user(lab, worker), _root(lab, worker))
    deadline = time.monotonic() + 20
    while True:
        data = json.loads(_get(lab, web, f"/jobs/{token}")[1])
        if data.get("status") == "processed" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert data.get("status") == "processed", f"job {token} was not processed: {data}"
    assert data["dispatched_by"] == web and data["processed_by"] in workers, data


# ---------------------------------------------------------------- deploys
def test_second_deploy_of_the_same_release_changes_nothing(lab):
    _app_hosts(lab)
    # The first run brings every host to the inventory's source (a test or a person may have deployed another).
    for _ in range(2):
        res = lab.playbook("playbooks/deploy.yml")
        assert res.returncode == 0, res.stdout[-3000:]
    recap = lab.recap(res.stdout)
    changed = {h: c["changed"] for h, c in recap.items() if c["changed"]}
    assert not changed, f"a deploy of the release the hosts run changed something: {changed}"


def test_broken_release_fails_the_health_gate_and_is_switched_back(lab, tmp_path):
    web = _web_hosts(lab)
    before = {name: _current(lab, name) for name in _app_hosts(lab)}
    broken = tmp_path / "broken-lms"
    shutil.copytree(DEMO, broken, symlinks=True)
    app = broken / "src" / "App.php"
    app.write_text(app.read_text().replace("$ok = !in_array('fail', $checks, true);", "$ok = false;"))
    res = lab.playbook("playbooks/deploy.yml", "-e", f"app_source_dir={broken}", "-e", "app_health_retries=1")
    assert res.returncode != 0, "the deploy of a release whose /health fails succeeded"
    # Failures go to stderr where the configuration says so (Molecule's does), and the YAML callback
    # wraps long messages: look in both, with the line breaks folded.
    output = " ".join((res.stdout + res.stderr).split())
    assert "failed its health gate on " + web[0] in output, output[-3000:]
    after = {name: _current(lab, name) for name in _app_hosts(lab)}
    assert after == before, f"releases changed: {before} -> {after}"
    status, body = _get(lab, web[0], "/health")
    assert status == 200, f"{web[0]}: /health answers {status} after the switch back: {body[:200]}"
    subprocess.run(["rm", "-rf", str(broken)], check=False)
