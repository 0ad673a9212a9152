"""lmsops.stack.preload loads, in the process it runs in, the plugins the forked workers would each
load again, freezes the garbage collector's view of that process, and never fails the run."""
from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
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
    return _collections_roots()[0]


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
    monkeypatch.setattr(module.ModuleBytecode, "available", staticmethod(lambda: False))
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


# ---------------------------------------------------------------- bytecode in the modules' payloads
def _collections_roots() -> list[str]:
    """Every directory the ansible_collections namespace of this process spans (the collection under
    test and the collections of the ansible package), for a playbook run in a child process."""
    spec = importlib.util.find_spec("ansible_collections")
    assert spec is not None and spec.submodule_search_locations
    return [str(Path(location).parent) for location in spec.submodule_search_locations]


def _preload_module(callback_class):
    return sys.modules[callback_class.__module__]


def _zip_import(archive: Path, module: str) -> dict:
    """Import `module` from `archive` in a fresh interpreter; its __file__ and attribute X."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import importlib; "
            "m = importlib.import_module(sys.argv[2]); print(json.dumps({'file': m.__file__, 'X': getattr(m, 'X', None)}))")
    res = subprocess.run([sys.executable, "-c", code, str(archive), module], capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


@pytest.mark.parametrize("source, expected", [
    (b"X = 41 + 1\n", 42),
    (b"X = 'crlf'\r\nY = 1\r\n", "crlf"),                       # line endings normalised as zipimport does
    ("X = '\u00e9t\u00e9'\n", "\u00e9t\u00e9"),                    # text sources are encoded as UTF-8
    (b"# -*- coding: latin-1 -*-\nX = '\xe9'\n", "\u00e9"),        # a coding cookie is honoured
    (b"from __future__ import annotations\nX = 1\n", 1),
])
def test_bytecode_is_what_zipimport_loads(callback_class, tmp_path, source, expected):
    module = _preload_module(callback_class)
    pyc = module.bytecode("pkg/m.py", source)
    assert pyc is not None and pyc[:4] == importlib.util.MAGIC_NUMBER
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/__init__.py", b"")
        # the source says something else: the import proves which of the two was loaded
        zf.writestr("pkg/m.py", b"X = 'from the source'\n")
        zf.writestr("pkg/m.pyc", pyc)
    got = _zip_import(archive, "pkg.m")
    assert got == {"file": f"{archive}/pkg/m.pyc", "X": expected}


def test_bytecode_stays_off_when_ansible_cores_payload_writers_differ(callback_class, monkeypatch):
    module = _preload_module(callback_class)
    fake = type(sys)("fake_module_common")
    fake.recursive_finder = lambda name, module_fqn, module_data, zf, date_time, extension_manager: None
    fake._add_module_to_zip = lambda zf, date_time, remote_module_fqn, b_module_data, module_path, extension_manager: None
    monkeypatch.setattr(module, "_module_common", fake)
    assert module.ModuleBytecode.available()
    fake._add_module_to_zip = lambda zf, remote_module_fqn, date_time, b_module_data, module_path, extension_manager: None
    assert not module.ModuleBytecode.available()
    del fake._add_module_to_zip
    assert not module.ModuleBytecode.available()
    monkeypatch.setattr(module, "_module_common", None)
    assert not module.ModuleBytecode.available()


def test_bytecode_of_a_source_that_does_not_compile_is_none(callback_class):
    module = _preload_module(callback_class)
    assert module.bytecode("pkg/bad.py", b"def broken(:\n") is None
    assert module.bytecode("pkg/nul.py", b"X = 1\x00\n") is None


def test_bytecode_of_another_python_is_ignored(callback_class, tmp_path):
    """A host whose Python has another bytecode version compiles the source, as without the callback."""
    module = _preload_module(callback_class)
    pyc = bytearray(module.bytecode("pkg/m.py", b"X = 'from the bytecode'\n"))
    pyc[0:2] = (int.from_bytes(pyc[0:2], "little") + 1).to_bytes(2, "little")  # another version's magic
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/__init__.py", b"")
        zf.writestr("pkg/m.py", b"X = 'from the source'\n")
        zf.writestr("pkg/m.pyc", bytes(pyc))
    assert _zip_import(archive, "pkg.m") == {"file": f"{archive}/pkg/m.py", "X": "from the source"}


def test_the_zip_stand_in_writes_bytecode_next_to_each_source(callback_class, tmp_path):
    module = _preload_module(callback_class)
    stale = module.bytecode("pkg/known.py", b"X = 'stale'\n")
    fresh = module.bytecode("pkg/fresh.py", b"X = 'precompiled'\n")
    codes = {"pkg/known.py": (b"X = 'stale'\n", stale), "pkg/fresh.py": (b"X = 2\n", fresh)}
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as real:
        zf = module._BytecodeZip(real, codes)  # pylint: disable=protected-access
        info = zipfile.ZipInfo("pkg/__init__.py", date_time=(2020, 1, 2, 3, 4, 6))
        info.compress_type = zf.compression  # read through to the real zip
        zf.writestr(info, b"")
        zf.writestr("pkg/known.py", b"X = 'stale'\n")       # its source is the precompiled one: reused
        zf.writestr("pkg/fresh.py", b"X = 'compiled now'\n")  # its source changed: compiled again
        zf.writestr("pkg/data.json", b"{}")
        zf.writestr("pkg/broken.py", b"def broken(:\n")      # left for the host to report
        names = zf.namelist()
    assert sorted(names) == sorted([
        "pkg/__init__.py", "pkg/__init__.pyc", "pkg/known.py", "pkg/known.pyc", "pkg/fresh.py", "pkg/fresh.pyc",
        "pkg/data.json", "pkg/broken.py"])
    with zipfile.ZipFile(archive) as done:
        assert done.read("pkg/known.pyc") == stale
        assert done.getinfo("pkg/__init__.pyc").date_time == (2020, 1, 2, 3, 4, 6)
        assert done.getinfo("pkg/__init__.pyc").compress_type == zipfile.ZIP_DEFLATED
    assert _zip_import(archive, "pkg.fresh")["X"] == "compiled now"


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
        data: bytecode
      register: pinged
    - ansible.builtin.assert:
        that: pinged.ping == 'bytecode'
"""


def _kept_ping_payload(tmp_path: Path, bytecode: bool) -> Path:
    """Run a playbook with the callback on this machine, keep the module's payload, return its zip."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_CALLBACKS_ENABLED="lmsops.stack.preload",
        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(_collections_roots()),
        ANSIBLE_KEEP_REMOTE_FILES="1",
        ANSIBLE_PIPELINING="0",
        ANSIBLE_REMOTE_TMP=str(tmp_path / "remote"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"),
        LMSOPS_PRELOAD_MODULE_BYTECODE=str(bytecode).lower(),
    )
    res = subprocess.run(
        [sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", str(tmp_path / "play.yml"),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, check=False, timeout=300, env=env, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    payloads = list((tmp_path / "remote").rglob("AnsiballZ_ping.py"))
    assert len(payloads) == 1, payloads
    res = subprocess.run([sys.executable, str(payloads[0]), "explode"], capture_output=True, text=True,
                         check=False, timeout=60, cwd=payloads[0].parent)
    assert res.returncode == 0, res.stderr
    exploded = payloads[0].parent / "debug_dir"
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(exploded.rglob("*")):
            if path.is_file() and path.name != "args":
                zf.write(path, path.relative_to(exploded).as_posix())
    return archive


def test_a_module_run_through_the_callback_carries_and_loads_bytecode(tmp_path):
    archive = _kept_ping_payload(tmp_path, bytecode=True)
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert "ansible/module_utils/basic.py" in sources and "ansible/modules/ping.py" in sources
    assert {n for n in names if n.endswith(".pyc")} == {n + "c" for n in sources}
    assert _zip_import(archive, "ansible.module_utils.basic")["file"].endswith("/ansible/module_utils/basic.pyc")


def test_with_module_bytecode_off_the_payload_is_ansible_cores(tmp_path):
    archive = _kept_ping_payload(tmp_path, bytecode=False)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "ansible/module_utils/basic.py" in names
    assert not [n for n in names if n.endswith(".pyc")]
