"""Unit tests for the config_files module, run in-process against files in a temporary directory."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.lmsops.stack.plugins.modules import config_files


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def run(run_module):
    def go(files, check=False, diff=False, **extra):
        args = {"files": files, "_ansible_check_mode": check, "_ansible_diff": diff, **extra}
        return run_module(config_files.main, args)
    return go


def test_content_created_then_unchanged(run, tmp_path):
    dest = str(tmp_path / "a.conf")
    item = {"dest": dest, "content": "x = 1\n", "mode": "0640"}
    first = run([item])
    assert first["changed"] and first["changed_files"] == [dest]
    assert open(dest).read() == "x = 1\n" and mode_of(dest) == 0o640
    second = run([item])
    assert not second["changed"] and second["files"] == [{"dest": dest, "state": "file", "changed": False}]


def test_check_mode_changes_nothing_and_predicts(run, tmp_path):
    dest = tmp_path / "a.conf"
    result = run([{"dest": str(dest), "content": "new\n", "mode": "0644"}], check=True, diff=True)
    assert result["changed"] and not dest.exists()
    assert result["diff"][0]["after"] == "new\n" and "(absent)" in result["diff"][0]["before_header"]
    dest.write_text("old\n")
    result = run([{"dest": str(dest), "content": "new\n", "mode": "0644"}], check=True)
    assert result["changed"] and dest.read_text() == "old\n"


def test_mode_only_change(run, tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("same\n")
    os.chmod(dest, 0o666)
    result = run([{"dest": str(dest), "content": "same\n", "mode": "0600"}], diff=True)
    assert result["changed"] and mode_of(dest) == 0o600
    assert any("attributes" in d["before_header"] for d in result["diff"])


def test_only_the_changed_file_is_reported(run, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a\n")
    os.chmod(a, 0o644)
    result = run([{"dest": str(a), "content": "a\n", "mode": "0644"}, {"dest": str(b), "content": "b\n", "mode": "0644"}])
    assert result["changed_files"] == [str(b)]


def test_validate_failure_keeps_the_old_file(run, tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("good\n")
    result = run([{"dest": str(dest), "content": "bad\n", "mode": "0644", "validate": "grep -q good %s"}])
    assert result["failed"] and str(dest) in result["msg"] and "failed validation" in result["msg"]
    assert dest.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.conf"]  # no temporary file left behind


def test_validate_success_and_placeholder_required(run, tmp_path):
    dest = tmp_path / "a.conf"
    ok = run([{"dest": str(dest), "content": "good\n", "mode": "0644", "validate": "grep -q good %s"}])
    assert ok["changed"] and dest.read_text() == "good\n"
    bad = run([{"dest": str(dest), "content": "other\n", "mode": "0644", "validate": "true"}])
    assert bad["failed"] and "must contain %s" in bad["msg"]


def test_settings_edit_in_place(run, tmp_path):
    dest = tmp_path / "login.defs"
    dest.write_text("# doc\nPASS_MAX_DAYS\t99999\nUMASK 022\n")
    os.chmod(dest, 0o644)
    item = {"dest": str(dest), "settings": {"PASS_MAX_DAYS": 365, "UMASK": "027"}, "mode": "0644"}
    assert run([item])["changed"]
    assert dest.read_text() == "# doc\nPASS_MAX_DAYS 365\nUMASK 027\n"
    assert not run([item])["changed"]


def test_settings_missing_file(run, tmp_path):
    dest = tmp_path / "sysstat"
    item = {"dest": str(dest), "settings": {"ENABLED": '"true"'}, "separator": "=", "mode": "0644"}
    failed = run([item])
    assert failed["failed"] and "does not exist" in failed["msg"]
    predicted = run([item], check=True)
    assert predicted["changed"] and not dest.exists()
    created = run([dict(item, create=True)])
    assert created["changed"] and dest.read_text() == 'ENABLED="true"\n'


def test_bad_settings_fail_before_anything_changes(run, tmp_path):
    first = tmp_path / "first"
    result = run([{"dest": str(first), "content": "x\n", "mode": "0644"},
                  {"dest": str(tmp_path / "second"), "settings": {"BAD KEY": 1}, "create": True}])
    assert result["failed"] and "BAD KEY" in result["msg"] and not first.exists()


def test_directory_and_absent(run, tmp_path):
    directory = tmp_path / "d" / "e"
    made = run([{"dest": str(directory), "state": "directory", "mode": "0750"}])
    assert made["changed"] and directory.is_dir() and mode_of(directory) == 0o750
    assert not run([{"dest": str(directory), "state": "directory", "mode": "0750"}])["changed"]
    gone = tmp_path / "gone"
    gone.write_text("x")
    assert run([{"dest": str(gone), "state": "absent"}])["changed"] and not gone.exists()
    assert not run([{"dest": str(gone), "state": "absent"}])["changed"]
    refused = run([{"dest": str(directory), "state": "absent"}])
    assert refused["failed"] and "is a directory" in refused["msg"]


def test_exists_creates_an_empty_file_and_keeps_content(run, tmp_path):
    log = tmp_path / "access.log"
    item = {"dest": str(log), "state": "exists", "mode": "0640"}
    predicted = run([item], check=True, diff=True)
    assert predicted["changed"] and not log.exists() and "(absent)" in predicted["diff"][0]["before_header"]
    made = run([item])
    assert made["changed"] and log.read_bytes() == b"" and mode_of(log) == 0o640
    log.write_bytes(b"GET / 200\n\xff not utf-8\n")
    os.chmod(log, 0o644)
    fixed = run([item])
    assert fixed["changed"] and mode_of(log) == 0o640 and log.read_bytes() == b"GET / 200\n\xff not utf-8\n"
    assert not run([item])["changed"]


def test_secret_content_is_written_but_never_shown(run, tmp_path):
    secret, plain = tmp_path / "credentials", tmp_path / "app.conf"
    password = "s3cr3t-pa55word"
    items = [
        {"dest": str(secret), "secret_content": f"password={password}\n", "mode": "0600"},
        {"dest": str(plain), "content": "port = 80\n", "mode": "0644"},
    ]
    predicted = run(items, check=True, diff=True)
    assert predicted["changed_files"] == [str(secret), str(plain)] and not secret.exists()
    written = run(items, diff=True)
    assert secret.read_text() == f"password={password}\n" and mode_of(secret) == 0o600
    assert written["changed_files"] == [str(secret), str(plain)]
    for result in (predicted, written):
        assert password not in repr(result), result
        diffs = {d["after_header"]: d for d in result["diff"]}
        assert diffs[str(secret)]["after"] == "(new secret content, not shown)\n"
        assert diffs[str(plain)]["after"] == "port = 80\n"  # the plain file's diff is still shown
    assert not run(items)["changed"]
    # a new secret: the diff says it changed, and shows neither the old nor the new one
    items[0]["secret_content"] = "password=an0ther-0ne\n"
    changed = run(items, diff=True)
    assert changed["changed_files"] == [str(secret)] and secret.read_text() == "password=an0ther-0ne\n"
    assert "an0ther-0ne" not in repr(changed) and password not in repr(changed)
    assert changed["diff"][0]["before"] == "(secret content, not shown)\n"
    # removed: the diff of the removal does not show what the file held either
    removed = run([{"dest": str(secret), "state": "absent", "secret_content": ""}], diff=True)
    assert removed["changed"] and not secret.exists() and "an0ther-0ne" not in repr(removed)


@pytest.mark.parametrize(
    ("item", "match"),
    [
        pytest.param({"dest": "relative/path", "content": "x"}, "absolute path", id="relative"),
        pytest.param({"dest": "/tmp/x", "content": "x", "settings": {"A": 1}}, "exactly one of", id="both"),
        pytest.param({"dest": "/tmp/x"}, "exactly one of", id="neither"),
        pytest.param({"dest": "/tmp/x", "content": "x", "secret_content": "hunter2-secret"}, "only one of content, secret_content",
                     id="content-and-secret"),
        pytest.param({"dest": "/tmp/x", "settings": {"A": 1}, "secret_content": "hunter2-secret"}, "only one of content, secret_content",
                     id="settings-and-secret"),
        pytest.param({"dest": "/tmp/x", "state": "exists", "content": "x"}, "neither content nor settings", id="exists-content"),
        pytest.param({"dest": "/tmp", "state": "exists"}, "is a directory", id="exists-directory"),
        pytest.param({"dest": "/nonexistent-dir/x", "content": "x"}, "does not exist", id="no-directory"),
    ],
)
def test_bad_items(run, item, match):
    result = run([item])
    assert result["failed"] and match in result["msg"]


@pytest.mark.parametrize("check", [False, True])
def test_stat_reports_paths_after_the_files(run, tmp_path, check):
    made, store, gone = tmp_path / "made", tmp_path / "store", tmp_path / "gone"
    store.write_text("x")
    result = run([{"dest": str(made), "state": "directory", "mode": "0755"}], check=check,
                 stat=[str(made), str(store), str(gone)])
    assert result["stat"] == {
        # In check mode the directory is only made on paper: the report says what is there.
        str(made): {"exists": not check, "isdir": not check},
        str(store): {"exists": True, "isdir": False},
        str(gone): {"exists": False, "isdir": False},
    }
    assert run([], stat=[])["stat"] == {}
