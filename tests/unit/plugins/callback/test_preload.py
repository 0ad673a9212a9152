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
    # the compile cache is tested in a child process below; keep this process's templating as it is
    monkeypatch.setattr(module.CompileCache, "available", staticmethod(lambda: False))
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


# The compile cache. It patches ansible-core's Jinja environment class for the whole process, so each
# test runs in a fresh interpreter: it renders a table of templates and expressions without the cache,
# then with it (first compiling, then from the cache), and reports what it got.
CACHE_CHILD = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader, callback_loader
init_plugin_loader([sys.argv[1]])
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

module = sys.modules[callback_loader.get("lmsops.stack.preload", class_only=True).__module__]
request = json.loads(sys.argv[2])
templar = Templar(loader=DataLoader(), variables={"name": "web", "items": [1, 2], "greeting": "hi"})

def render(kind, text, escape):
    try:
        if kind == "expression":
            return repr(templar.evaluate_expression(trust_as_template(text), escape_backslashes=escape))
        if kind == "conditional":
            return repr(templar.evaluate_conditional(trust_as_template(text)))
        if kind == "file":  # as the lmsops.stack.template lookup renders a template file
            return repr(templar.template(trust_as_template(text), escape_backslashes=False, overrides={"trim_blocks": True}))
        return repr(templar.template(trust_as_template(text), escape_backslashes=escape))
    except Exception as exc:
        return "error: " + type(exc).__name__ + ": " + str(exc).splitlines()[0]

cache = module.CompileCache()
report = {}
if request["mode"] == "render":
    report["before"] = [render(*case) for case in request["cases"]]
    cache.install()
    report["cold"] = [render(*case) for case in request["cases"]]
    report["codes_cold"] = len(cache.codes)
    report["warm"] = [render(*case) for case in request["cases"]]
    report["codes_warm"] = len(cache.codes)
else:
    report["sources"] = sorted(module.template_sources(request["root"]))
    cache.install()
    report["failed"] = cache.warm(report["sources"])
    report["codes_warmed"] = len(cache.codes)
    report["rendered"] = [render(*case) for case in request["cases"]]
    report["codes_rendered"] = len(cache.codes)
print(json.dumps(report))
"""


def _cache_child(request: dict) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CACHE_CHILD, _collections_root(), json.dumps(request)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


RENDER_CASES = [
    ["template", "{{ name | upper }}-{{ items | length }}", True],
    # the same text, with and without backslash escaping: two different results, two cache entries
    # (an expression has no {{ }}, where the escaping applies: the same result, kept apart all the same)
    ["template", "{{ 'a\\nb' | length }}", True],
    ["template", "{{ 'a\\nb' | length }}", False],
    ["expression", "'a\\nb' | length", True],
    ["expression", "'a\\nb' | length", False],
    # the same loop, with the default trim_blocks and with a header that turns it off
    ["template", "{% for i in items %}\n{{ i }}{% endfor %}", True],
    ["template", "#jinja2:trim_blocks:False\n{% for i in items %}\n{{ i }}{% endfor %}", True],
    ["template", "#jinja2:variable_start_string:'[%', variable_end_string:'%]'\n[% name %] {{ name }}", True],
    ["expression", "name == 'web' and items | length == 2", False],
    ["conditional", "greeting is defined and name != 'db'", False],
    ["file", "# {{ greeting }}\n{% if name %}\nname={{ name }}\n{% endif %}\n", False],
    # errors stay the same errors
    ["template", "{{ name | lmsops_no_such_filter }}", True],
    ["template", "{{ name ", True],
    ["expression", "name ==", False],
]


def test_the_compile_cache_renders_what_ansible_core_renders():
    report = _cache_child({"mode": "render", "cases": RENDER_CASES})
    before = report["before"]
    # the table is meaningful: escaping, trim_blocks and the header each change the result
    assert before[1:5] == ["4", "3", "3", "3"], before
    assert before[5] != before[6] and before[7] == "'web {{ name }}'", before
    assert before[11].startswith("error:") and before[12].startswith("error:") and before[13].startswith("error:")
    assert report["cold"] == before
    assert report["warm"] == before
    # the second pass compiled nothing new; every text that compiles has its own entry (the three
    # errors have none), the escaped and unescaped twins included
    assert report["codes_warm"] == report["codes_cold"] == len(RENDER_CASES) - 3


def test_the_warm_up_compiles_what_the_tasks_will_compile(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "tasks").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "templates" / "sub").mkdir(parents=True)
    (tmp_path / "playbooks").mkdir()
    (role / "tasks" / "main.yml").write_text(
        "- name: Say hello\n"
        "  ansible.builtin.debug:\n"
        "    msg: \"{{ greeting }} {{ name }}\"\n"
        "  when: name is defined\n"
        "- name: Check\n"
        "  ansible.builtin.assert:\n"
        "    that:\n"
        "      - items | length > 1\n"
        "    fail_msg: plain words\n"
    )
    (role / "defaults" / "main.yml").write_text("demo_greeting: \"{{ greeting | upper }}\"\ndemo_plain: no template here\n")
    (role / "templates" / "sub" / "app.conf.j2").write_text("# {{ greeting }}\n{% if name %}\nname={{ name }}\n{% endif %}\n")
    (role / "templates" / "broken.j2").write_text("{{ oops\n")
    (tmp_path / "playbooks" / "site.yml").write_text(
        "- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n      changed_when: false\n      failed_when: \"'x' in items\"\n"
    )
    (tmp_path / "playbooks" / "notes.txt").write_text("{{ not yaml the callback reads }}\n")

    report = _cache_child({
        "mode": "warm", "root": str(tmp_path),
        "cases": [
            ["template", "{{ greeting }} {{ name }}", True],
            ["template", "{{ greeting | upper }}", True],
            ["conditional", "name is defined", False],
            ["conditional", "items | length > 1", False],
            ["file", "# {{ greeting }}\n{% if name %}\nname={{ name }}\n{% endif %}\n", False],
        ],
    })
    assert report["sources"] == sorted([
        ["template", "{{ greeting }} {{ name }}"],
        ["expression", "name is defined"],
        ["expression", "items | length > 1"],
        ["template", "{{ greeting | upper }}"],
        ["file", "# {{ greeting }}\n{% if name %}\nname={{ name }}\n{% endif %}\n"],
        ["file", "{{ oops\n"],
        ["expression", "'x' in items"],
    ])
    # a template that does not compile is reported, not raised, and not kept
    assert report["failed"] == ["{{ oops\n"]
    assert report["codes_warmed"] == len(report["sources"]) - 1
    # rendered as tasks render them, every text was found in the cache: nothing new was compiled
    assert report["rendered"] == ["'hi web'", "'HI'", "True", "True", "'# hi\\nname=web\\n'"]
    assert report["codes_rendered"] == report["codes_warmed"]
