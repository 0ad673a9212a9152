# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of systemd units, read in one go, and which wanted unit states differ from it.

`systemd_facts` reads every unit with two `systemctl` listings; a role's service task then runs
only for the units whose state differs (`units_to_change`), which on a converged host is none. As
with the package facts, no facts means every unit counts as different: skipping is an
optimisation, never a guess.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

# `systemctl is-enabled` exits 0 for these unit file states: nothing to enable.
ENABLED_STATES = frozenset(["enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"])
# States in which `systemctl start` has nothing to do / `stop` has nothing to do.
STARTED_STATES = frozenset(["active", "reloading", "refreshing"])
STOPPED_STATES = frozenset(["inactive", "failed"])
_UNIT_TYPES = (".service", ".socket", ".timer", ".target", ".mount", ".automount", ".path", ".slice", ".scope",
               ".swap", ".device")


def parse_units(unit_files_text, units_text):
    # type: (str, str) -> dict
    """Unit name → {unit_file_state, load_state, active_state, sub_state} from the output of
    `systemctl list-unit-files --no-legend --plain` and `systemctl list-units --all --no-legend --plain`.
    A unit missing from one listing has None for that listing's fields."""
    for name, text in (("unit files", unit_files_text), ("units", units_text)):
        if not isinstance(text, str):
            raise TypeError("systemctl list-%s output must be text, got %s" % (name.replace(" ", "-"), type(text).__name__))
    units = {}  # type: dict
    blank = {"unit_file_state": None, "load_state": None, "active_state": None, "sub_state": None}
    for line in unit_files_text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            units.setdefault(fields[0], dict(blank))["unit_file_state"] = fields[1]
    for line in units_text.splitlines():
        fields = line.split(None, 4)
        if len(fields) >= 4:
            unit = units.setdefault(fields[0], dict(blank))
            unit["load_state"], unit["active_state"], unit["sub_state"] = fields[1], fields[2], fields[3]
    return units


def unit_name(name):
    # type: (object) -> str
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ValueError("unit names must be non-empty strings without spaces, got %r" % (name,))
    return name if name.endswith(_UNIT_TYPES) else name + ".service"


def unit_patterns(patterns):
    # type: (object) -> list
    """The patterns `systemctl list-unit-files` and `list-units` take for `systemd_facts`' patterns
    option: names without a unit type get .service (as `systemctl start nginx` does), patterns with
    `*`, `?` or `[` stay as they are; repeats go. Raises ValueError naming the bad ones."""
    if isinstance(patterns, (str, bytes, dict)) or not isinstance(patterns, (list, tuple)):
        raise ValueError("patterns must be a list of unit names or shell-style patterns, got %r" % (patterns,))
    bad = [p for p in patterns
           if not isinstance(p, str) or not p.strip() or p.startswith("-") or any(c.isspace() for c in p)]
    if bad:
        raise ValueError("patterns must be unit names or shell-style patterns without spaces or a leading '-'; "
                         "not valid: %s" % ", ".join(repr(p) for p in bad))
    out = []  # type: list
    for pattern in patterns:
        if not any(c in pattern for c in "*?["):
            pattern = unit_name(pattern)
        if pattern not in out:
            out.append(pattern)
    return out


def _check_wanted(index, item):
    if not isinstance(item, dict) or "name" not in item:
        raise ValueError("wanted unit #%d must be a dict with a name, got %r" % (index, item))
    for key in ("enabled", "masked"):
        if item.get(key) is not None and not isinstance(item[key], bool):
            raise ValueError("wanted unit %s: %s must be true, false or null, got %r" % (item["name"], key, item[key]))
    if item.get("state") not in (None, "", "started", "stopped"):
        raise ValueError("wanted unit %s: state must be started, stopped or null, got %r" % (item["name"], item["state"]))


def differs(item, unit):
    # type: (dict, dict | None) -> bool
    """Whether a wanted unit state ({name, enabled, masked, state}) differs from a unit's facts."""
    if unit is None:
        return True
    file_state = unit.get("unit_file_state")
    if item.get("masked") is True and file_state != "masked":
        return True
    if item.get("masked") is False and file_state in ("masked", "masked-runtime"):
        return True
    if item.get("enabled") is True and file_state not in ENABLED_STATES:
        return True
    if item.get("enabled") is False and file_state not in ("disabled", "masked", "masked-runtime", "static", None):
        return True
    if item.get("state") == "started" and unit.get("active_state") not in STARTED_STATES:
        return True
    if item.get("state") == "stopped" and unit.get("active_state") not in STOPPED_STATES | {None}:
        return True
    return False


def units_to_change(wanted, facts):
    # type: (object, object) -> list
    """The wanted unit states that differ from the host's `systemd_units` facts, in order; all of
    them when the facts hold no unit list."""
    if isinstance(wanted, (str, dict)) or not isinstance(wanted, (list, tuple)):
        raise TypeError("expected a list of wanted unit states, got %s" % type(wanted).__name__)
    if not isinstance(facts, dict):
        raise TypeError("expected ansible_facts (a mapping), got %s" % type(facts).__name__)
    units = facts.get("systemd_units")
    if units is not None and not isinstance(units, dict):
        raise TypeError("ansible_facts['systemd_units'] must be a mapping, got %s" % type(units).__name__)
    out = []
    for index, item in enumerate(wanted):
        _check_wanted(index, item)
        name = unit_name(item["name"])
        if units is None or differs(item, units.get(name)):
            out.append(dict(item))
    return out
