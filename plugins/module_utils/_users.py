# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which admin accounts the common role's user tasks would change, from one read of the host.

The common role reads the admin group and users with one command (`sh -c PROBE sh GROUP NAME...`)
and runs its group, user, home directory and authorized_keys tasks only for what
differs. Without a read (None) everything counts as differing: skipping is an optimisation, never a
guess.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import re
from collections.abc import Mapping, Sequence

# The read (roles/common/vars/main.yml, __common_users_probe) prints "group" when the admin group
# exists and, for each admin user that exists, "user NAME KEY VALUE" lines: shell, groups
# (comma-separated), maxdays (the shadow maximum password age), homestat (owner, octal mode and type
# of the home directory, joined by _), sshstat (owner and mode of ~/.ssh and of authorized_keys, each
# followed by _), keys (SHA-256 of authorized_keys, blanks squeezed, trailing ones dropped).
_LINE = re.compile(r"^user (\S+) (\S+)(?: (.*))?$")


def parse(lines):
    # type: (object) -> tuple
    """(group exists, {user: {key: value}}) from the probe's output lines."""
    if isinstance(lines, (str, bytes)) or not isinstance(lines, Sequence):
        raise TypeError("expects the read's output lines (a list), got %s" % type(lines).__name__)
    group, users = False, {}  # type: bool, dict
    for line in lines:
        if not isinstance(line, str):
            raise TypeError("output lines must be text, got %r" % (line,))
        if line.strip() == "group":
            group = True
            continue
        match = _LINE.match(line.rstrip("\n"))
        if match:
            users.setdefault(match.group(1), {})[match.group(2)] = match.group(3) or ""
    return group, users


def keys_digest(keys):
    # type: (list) -> str
    """SHA-256 of what an exclusive authorized_key run leaves, as the probe reads it back."""
    lines = [" ".join(k.split()) for k in keys]
    return hashlib.sha256(("\n".join(lines) + "\n" if lines else "").encode("utf-8")).hexdigest()


def _check_users(users):
    if isinstance(users, (str, bytes)) or not isinstance(users, Sequence):
        raise TypeError("expects the admin users (a list of dicts), got %s" % type(users).__name__)
    for index, user in enumerate(users):
        if not isinstance(user, Mapping) or not isinstance(user.get("name"), str) or not user["name"]:
            raise ValueError("admin user #%d must be a dict with a name, got %r" % (index, user))
        if user.get("state", "present") not in ("present", "absent"):
            raise ValueError("admin user %s: state must be present or absent, got %r" % (user["name"], user.get("state")))
        keys = user.get("ssh_keys", [])
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or not all(isinstance(k, str) for k in keys):
            raise ValueError("admin user %s: ssh_keys must be a list of key lines" % user["name"])


def to_change(lines, users, group):
    # type: (object, object, str) -> dict
    """{group: bool, accounts: [...], homes: [...], keys: [...]}: whether the group task runs, and
    the names of the users whose account, home directory or authorized_keys task would change
    something. ``users`` are the admin users with defaults filled in (state, shell, ssh_keys)."""
    _check_users(users)
    if not isinstance(group, str) or not group:
        raise ValueError("the admin group must be a name, got %r" % (group,))
    names = [u["name"] for u in users]
    present = [u for u in users if u.get("state", "present") == "present"]
    if lines is None:
        return {"group": True, "accounts": names, "homes": [u["name"] for u in present],
                "keys": [u["name"] for u in present]}
    group_exists, now = parse(lines)
    accounts, homes, keys = [], [], []
    for user in users:
        name, seen = user["name"], now.get(user["name"])
        if user.get("state", "present") == "absent":
            if seen is not None:
                accounts.append(name)
            continue
        if (seen is None or seen.get("shell") != user.get("shell", "/bin/bash")
                or group not in seen.get("groups", "").split(",")
                or seen.get("maxdays") not in ("", "-1")
                or not seen.get("homestat", "").endswith("_directory")):
            accounts.append(name)
        if seen is None or seen.get("homestat") != "%s_750_directory" % name:
            homes.append(name)
        if (seen is None or seen.get("sshstat") != "%s_700_%s_600_" % (name, name)
                or seen.get("keys") != keys_digest(user.get("ssh_keys", []))):
            keys.append(name)
    return {"group": not group_exists, "accounts": accounts, "homes": homes, "keys": keys}
