"""Unit tests for plugins/module_utils/_users.py (which admin accounts the common role would change)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.lmsops.stack.plugins.module_utils._users import keys_digest, parse, to_change

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF ops@lab"
OPS = {"name": "ops", "state": "present", "shell": "/bin/bash", "ssh_keys": [KEY]}
GONE = {"name": "gone", "state": "absent", "shell": "/bin/bash", "ssh_keys": []}


def read(**overrides):
    """The read of a converged host holding OPS, with some of its values replaced (None drops the line)."""
    values = {"shell": "/bin/bash", "groups": "ops,sudo", "maxdays": "", "homestat": "ops_750_directory",
              "sshstat": "ops_700_ops_600_", "keys": keys_digest([KEY])}
    values.update(overrides)
    return ["group"] + [f"user ops {k} {v}".rstrip(" ") for k, v in values.items() if v is not None]


NOTHING = {"group": False, "accounts": [], "homes": [], "keys": []}


@pytest.mark.parametrize(
    ("lines", "users", "expected"),
    [
        (read(), [OPS, GONE], NOTHING),
        (read(maxdays="-1"), [OPS], NOTHING),
        # The probe's empty value may lose its blank at the end of the output.
        (read() + ["user ops maxdays"], [OPS], NOTHING),
        (read(), [dict(OPS, ssh_keys=["ssh-ed25519   AAAAC3NzaC1lZDI1NTE5AAAAIF  ops@lab "])], NOTHING),
        (read()[1:], [OPS], dict(NOTHING, group=True)),
        (read(shell="/bin/sh"), [OPS], dict(NOTHING, accounts=["ops"])),
        (read(groups="ops2,sudo"), [OPS], dict(NOTHING, accounts=["ops"])),
        (read(maxdays="99999"), [OPS], dict(NOTHING, accounts=["ops"])),
        (read(homestat=""), [OPS], dict(NOTHING, accounts=["ops"], homes=["ops"])),
        (read(homestat="ops_755_directory"), [OPS], dict(NOTHING, homes=["ops"])),
        (read(homestat="root_750_directory"), [OPS], dict(NOTHING, homes=["ops"])),
        (read(sshstat="ops_700_ops_644_"), [OPS], dict(NOTHING, keys=["ops"])),
        (read(sshstat="ops_700_"), [OPS], dict(NOTHING, keys=["ops"])),  # no authorized_keys yet
        (read(keys=keys_digest([KEY, "ssh-ed25519 AAAAother intruder"])), [OPS], dict(NOTHING, keys=["ops"])),
        (read(), [dict(OPS, ssh_keys=[])], dict(NOTHING, keys=["ops"])),
        (read(keys=keys_digest([])), [dict(OPS, ssh_keys=[])], NOTHING),
        # A user that does not exist: everything for it; an absent one that exists: its account.
        (["group"], [OPS], {"group": False, "accounts": ["ops"], "homes": ["ops"], "keys": ["ops"]}),
        (read(), [dict(OPS, state="absent")], dict(NOTHING, accounts=["ops"])),
        # No read: everything runs.
        (None, [OPS, GONE], {"group": True, "accounts": ["ops", "gone"], "homes": ["ops"], "keys": ["ops"]}),
    ],
)
def test_to_change(lines, users, expected):
    assert to_change(lines, users, "ops") == expected


@pytest.mark.parametrize(
    ("lines", "users", "group", "error", "match"),
    [
        ("group", [OPS], "ops", TypeError, "output lines"),
        (["group", 3], [OPS], "ops", TypeError, "must be text"),
        (read(), "ops", "ops", TypeError, "admin users"),
        (read(), [{"state": "present"}], "ops", ValueError, "with a name"),
        (read(), [dict(OPS, state="locked")], "ops", ValueError, "present or absent"),
        (read(), [dict(OPS, ssh_keys=KEY)], "ops", ValueError, "list of key lines"),
        (read(), [OPS], "", ValueError, "admin group"),
    ],
)
def test_bad_input(lines, users, group, error, match):
    with pytest.raises(error, match=match):
        to_change(lines, users, group)


def test_keys_digest_matches_the_file_the_probe_reads():
    assert keys_digest([KEY]) == hashlib.sha256((KEY + "\n").encode()).hexdigest()
    assert keys_digest([]) == hashlib.sha256(b"").hexdigest()


@pytest.mark.skipif(shutil.which("getent") is None or shutil.which("sha256sum") is None, reason="needs getent and coreutils")
def test_the_role_probe_prints_what_parse_reads():
    """The role's probe (roles/common/vars/main.yml), run here for root, gives lines parse() reads."""
    root = Path(__file__).resolve().parents[4]
    probe = yaml.safe_load((root / "roles" / "common" / "vars" / "main.yml").read_text())["__common_users_probe"]
    out = subprocess.run(["sh", "-c", probe, "sh", "root", "root", "no-such-user-lmsops"], capture_output=True,
                         text=True, check=True).stdout
    group, users = parse(out.splitlines())
    assert group is True
    assert set(users) == {"root"}
    assert set(users["root"]) == {"shell", "groups", "maxdays", "homestat", "sshstat", "keys"}
    assert "root" in users["root"]["groups"].split(",")
    assert users["root"]["homestat"].startswith("root_") and users["root"]["homestat"].endswith("_directory")
    assert len(users["root"]["keys"]) == 64
