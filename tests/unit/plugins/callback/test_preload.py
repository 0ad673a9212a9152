"""lmsops.stack.preload loads, in the process it runs in, the plugins the forked workers would each
load again, freezes the garbage collector's view of that process, and never fails the run."""
from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible.plugins.loader import callback_loader

# Run in a fresh interpreter: this test process has long loaded what the callback loads.
CHILD = """
import gc, json, sys
from ansible.plugins.loader import init_plugin_loader, callback_loader
init_plugin_loader([sys.argv[1]])
watched = [m for m in sys.argv[2:]]
before = {m: m in sys.modules for m in watched}
cls = callback_loader.get("lmsops.stack.preload", class_only=True)
cls().v2_playbook_on_play_start(None)
print(json.dumps({"before": before, "after": {m: m in sys.modules for m in watched},
                  "frozen": gc.get_freeze_count()}))
"""

WATCHED = [
    # every filter file of the collection, through one filter name
    "ansible_collections.lmsops.stack.plugins.filter.capacity",
    "ansible_collections.lmsops.stack.plugins.filter.checks",
    "ansible_collections.lmsops.stack.plugins.filter.group_addresses",
    "ansible_collections.lmsops.stack.plugins.filter.packages",
    "ansible_collections.lmsops.stack.plugins.filter.systemd",
    # the lookups the roles use
    "ansible_collections.lmsops.stack.plugins.lookup.template",
    "ansible_collections.ansible.builtin.plugins.lookup.vars",
    "ansible_collections.ansible.builtin.plugins.lookup.env",
]


@pytest.fixture(scope="module")
def callback_class():
    cls = callback_loader.get("lmsops.stack.preload", class_only=True)
    assert cls is not None
    return cls


def _collections_root() -> str:
    spec = importlib.util.find_spec("ansible_collections")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(list(spec.submodule_search_locations)[0]).parent)


def test_loads_the_plugins_in_its_own_process():
    res = subprocess.run(
        [sys.executable, "-c", CHILD, _collections_root(), *WATCHED],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert not any(report["before"].values()), f"loaded before the callback ran: {report['before']}"
    missing = [m for m, loaded in report["after"].items() if not loaded]
    assert not missing, f"not loaded by the callback: {missing}"
    assert report["frozen"] > 0


class _Display:
    verbosity = 0

    def __init__(self):
        self.messages: list[str] = []

    def vvv(self, msg, host=None):
        self.messages.append(msg)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_a_plugin_it_cannot_load_is_skipped_with_a_message(callback_class, monkeypatch):
    module = sys.modules[callback_class.__module__]
    monkeypatch.setattr(module, "MODULES", ("lmsops_no_such_module", *module.MODULES))
    monkeypatch.setattr(module, "LOOKUPS", ("lmsops.stack.no_such_lookup_either",))
    display = _Display()
    cb = callback_class(display=display)
    cb.v2_playbook_on_play_start(None)
    assert any("module lmsops_no_such_module" in m for m in display.messages), display.messages
    assert any("lookup lmsops.stack.no_such_lookup_either: not found" in m for m in display.messages), display.messages
    # the other modules were still imported
    assert "ansible.module_utils._internal._json._profiles._module_legacy_m2c" in sys.modules


def test_loads_once_and_freezes_at_every_play(callback_class, monkeypatch):
    cb = callback_class(display=_Display())
    calls = []
    monkeypatch.setattr(cb, "preload", lambda: calls.append(1) or setattr(cb, "_loaded", True))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    for dummy in range(3):
        cb.v2_playbook_on_play_start(None)
    assert calls == [1, "freeze", "freeze", "freeze"]
