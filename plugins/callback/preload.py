# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: preload
type: aggregate
short_description: Load the plugins every task needs once, before the workers fork
version_added: 0.1.0
description:
  - ansible-playbook runs each task on each host in a worker process forked from the controller's
    main process. A plugin the main process has not loaded is loaded again by every worker that uses
    it. The main process does not template, so each worker loaded ansible-core's filter and test
    plugins, this collection's filter files, the lookups and the module-result decoders afresh (on
    this collection's lab, about 1200 workers per converge of C(site.yml)).
  - This callback loads them in the main process when the first play starts, so the forked workers
    inherit them. It also moves the main process's objects out of the garbage collector's reach
    (C(gc.freeze)) at the start of each play, so a collection in a worker does not touch, and thus
    copy, the memory it shares with the main process.
  - ansible-core compiles a Jinja template or expression afresh every time it evaluates one, and a
    worker's compilations die with it. On this collection's lab, one converge compiled some 12600
    times only about 1300 distinct templates, nearly all of them written in the roles' files. This
    callback keeps the compiled code of each template, keyed on its text and on every setting that
    shapes the code (the Jinja overrides, the backslash escaping, the default collection), and compiles
    the templates of this collection's roles and playbooks (task arguments, variables, conditions,
    the roles' C(templates/) files) in the main process when the first play starts. The workers
    inherit that code and compile only what is new to them.
  - A module runs on the host from the zip file ansible-core sends it (AnsiballZ), and Python compiles
    every source file it imports from a zip afresh. On this collection's lab most of a module run's CPU
    time on the host went into compiling ansible-core's module_utils. This callback adds the compiled
    bytecode of each source file to the zip, as the controller's Python compiles it. A host whose
    Python has the controller's bytecode version loads it; any other Python ignores it and compiles
    the source as before. ansible-core's module_utils are compiled once, in the main process, when the
    first play starts. Two things differ on a host that loads the bytecode, and only there. A
    traceback from inside a module names the file by its path in the zip
    (C(ansible/module_utils/basic.py)) rather than by the zip's temporary path on the host, and
    ansible-core cannot tell which collection a deprecation warning raised inside a module comes from.
    With a debugger or coverage extension of AnsiballZ configured, no bytecode is added.
  - It changes no result and prints nothing. A plugin it cannot load, or a template that does not
    compile, is skipped (shown with C(-vvv)); the workers then load or compile it themselves, as without
    this callback. With an ansible-core whose templating internals differ from 2.19's, the compile
    cache stays off; with one whose AnsiballZ builder differs, no bytecode is added. The plugins are
    preloaded in any case.
  - bench/RESULTS.md in the collection's source holds the control node CPU of the lab's converge
    with and without it.
author:
  - lmsops.stack maintainers (@lmsops)
options:
  compile_cache:
    description:
      - Keep the compiled code of templates and expressions, and compile this collection's templates
        before the workers fork. With V(false), the callback only preloads the plugins.
    type: bool
    default: true
    env:
      - name: LMSOPS_PRELOAD_COMPILE_CACHE
    ini:
      - section: callback_lmsops_preload
        key: compile_cache
  module_bytecode:
    description:
      - Add the compiled bytecode of each Python file to the modules' AnsiballZ payloads. With
        V(false), the modules reach the hosts as ansible-core builds them.
    type: bool
    default: true
    env:
      - name: LMSOPS_PRELOAD_MODULE_BYTECODE
    ini:
      - section: callback_lmsops_preload
        key: module_bytecode
requirements:
  - Enable it in ansible.cfg, C([defaults] callbacks_enabled = lmsops.stack.preload), or with
    C(ANSIBLE_CALLBACKS_ENABLED=lmsops.stack.preload).
"""

import gc
import importlib
import importlib.util
import inspect
import marshal
import os
import threading
import zipfile

import yaml

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, lookup_loader, test_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

try:  # ansible-core 2.19's templating internals; without them the compile cache stays off
    from ansible._internal._templating import _engine, _jinja_bits
except ImportError:  # pragma: no cover
    _engine = _jinja_bits = None

try:  # ansible-core 2.19's AnsiballZ builder; without it no bytecode is added
    from ansible.executor import module_common as _module_common
except ImportError:  # pragma: no cover
    _module_common = None

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _YamlLoader

# Resolving one filter of a collection loads every filter file of that collection, and the first
# built-in name loads all of ansible-core's filters (tests likewise): this collection's, and
# community.general's for the dict_kv filter the roles use.
FILTERS = ("to_json", "lmsops.stack.is_cidr", "community.general.dict_kv")
TESTS = ("match",)
# The lookups the collection's roles, playbooks and example inventories use.
LOOKUPS = (
    "lmsops.stack.template",
    "ansible.builtin.vars",
    "ansible.builtin.file",
    "ansible.builtin.env",
    "ansible.builtin.password",
)
# Imported on first use by every worker whose task uses them (collection packages, the decoders
# of module results); internal names, so a missing one is skipped.
MODULES = (
    "ansible_collections.ansible.builtin.plugins.filter",
    "ansible_collections.ansible.builtin.plugins.test",
    "ansible_collections.ansible.builtin.plugins.lookup",
    "ansible.module_utils._internal._json._profiles._module_legacy_c2m",
    "ansible.module_utils._internal._json._profiles._module_legacy_m2c",
)


# The task keywords whose strings ansible-core evaluates as Jinja expressions (conditions).
EXPRESSION_KEYS = frozenset(("when", "that", "changed_when", "failed_when", "until"))
# Where this collection's templates are written: its root (roles/, playbooks/), two levels above
# plugins/callback/.
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
YAML_DIRS = ("tasks", "handlers", "defaults", "vars")


class CompileCache:
    """Keep the code Jinja compiles, keyed on the template text and on everything that shapes the code.

    ansible-core compiles with AnsibleEnvironment.compile (templates) and compile_expression
    (expressions, which parse the text and compile the parsed tree). The key holds the text, the
    environment's lexer and code generation settings (the Jinja overrides of a template's header
    among them; every environment attribute Jinja's compiler reads but the filter and test maps),
    whether backslashes in string constants are escaped (only for texts that hold one),
    and the default collection, which decides how a short filter name resolves while compiling.
    Jinja's own compilations of included or imported templates (they carry a name) are left alone.
    """

    def __init__(self) -> None:
        self.codes: dict = {}
        self._expression = threading.local()

    @staticmethod
    def available() -> bool:
        env = getattr(_jinja_bits, "AnsibleEnvironment", None)
        return all((
            env is not None,
            hasattr(env, "compile"),
            hasattr(env, "compile_expression"),
            hasattr(_jinja_bits, "_TEMPLATE_OVERRIDE_FIELD_NAMES"),
            hasattr(_jinja_bits, "_TemplateCompileContext"),
            hasattr(_jinja_bits, "_TemplateConfig"),
            hasattr(getattr(_engine, "TemplateEngine", None), "_compile_template"),
            hasattr(getattr(_engine, "TemplateEngine", None), "_compile_expression"),
        ))

    def settings(self, env, text: str) -> tuple:
        context = _jinja_bits._TemplateCompileContext.current(optional=True)  # pylint: disable=protected-access
        escape = None if context is None else (context.escape_backslashes and "\\" in text)
        return (
            type(env),
            tuple(getattr(env, name) for name in _jinja_bits._TEMPLATE_OVERRIDE_FIELD_NAMES),  # pylint: disable=protected-access
            escape,
            env.optimized,
            env.autoescape,
            env.is_async,
            env.finalize,
            env.sandboxed,
            env.intercepted_binops,
            env.intercepted_unops,
            env.code_generator_class,
            tuple(sorted(env.extensions)),
            _jinja_bits._TemplateConfig.allow_embedded_templates,  # pylint: disable=protected-access
            AnsibleCollectionConfig.default_collection,
        )

    def install(self) -> None:
        """Wrap AnsibleEnvironment's compile and compile_expression with this cache (once)."""
        env_class = _jinja_bits.AnsibleEnvironment
        if getattr(env_class, "_lmsops_compile_cache", None) is not None:
            return
        compile_code = env_class.compile
        compile_expression = env_class.compile_expression
        cache = self

        def compile(env, source, name=None, filename=None, raw=False, defer_init=False):  # pylint: disable=redefined-builtin
            if isinstance(source, str):
                is_template, text = True, str(source)
            else:  # the parsed tree of the expression compile_expression is compiling
                is_template, text = False, getattr(cache._expression, "text", None)
            if text is None or name is not None or filename is not None or raw or defer_init:
                return compile_code(env, source, name, filename, raw, defer_init)
            key = (is_template, text) + cache.settings(env, text)
            code = cache.codes.get(key)
            if code is None:
                code = compile_code(env, source)
                cache.codes[key] = code
            return code

        def compile_expression_cached(env, source, undefined_to_none=True):
            cache._expression.text = str(source) if isinstance(source, str) else None
            try:
                return compile_expression(env, source, undefined_to_none)
            finally:
                cache._expression.text = None

        env_class.compile = compile
        env_class.compile_expression = compile_expression_cached
        env_class._lmsops_compile_cache = self  # pylint: disable=protected-access

    def warm(self, sources) -> list[str]:
        """Compile (kind, text) pairs the way ansible-core's workers will; return the texts that failed."""
        engine = _engine.TemplateEngine()
        options = {
            "template": _engine.TemplateOptions(escape_backslashes=True),
            "file": _engine.TemplateOptions(escape_backslashes=False),
            "expression": _engine.TemplateOptions(escape_backslashes=False),
        }
        failed = []
        for kind, text in sources:
            try:
                if kind == "expression":
                    compiled = engine._compile_expression(text, options[kind])  # pylint: disable=protected-access
                else:
                    compiled = engine._compile_template(text, options[kind])  # pylint: disable=protected-access
            except Exception:  # pylint: disable=broad-exception-caught
                compiled = None
            # a text that does not compile comes back as a callable that raises when rendered
            if not isinstance(compiled, (_jinja_bits.AnsibleTemplate, _jinja_bits.AnsibleTemplateExpression)):
                failed.append(text)
        return failed


# The flags word of an unchecked hash-based .pyc (PEP 552): the loader does not hash the source again.
# The zip never changes after it is built, so its bytecode cannot go stale.
UNCHECKED_HASH_PYC = (1).to_bytes(4, "little")


def _as_bytes(source) -> bytes:
    """A payload file's content as ansible-core hands it to the zip (text or bytes), as bytes."""
    return bytes(source) if isinstance(source, (bytes, bytearray)) else str(source).encode("utf-8")


def bytecode(arcname: str, source) -> bytes | None:
    """The .pyc data for the source of `arcname` in a module's zip, compiled as Python's zipimport would
    compile it (line endings normalised, no inherited future flags, no optimisation), or None for a
    source that does not compile: the host then compiles it and reports the error itself."""
    data = _as_bytes(source).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    try:
        code = compile(data, arcname, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    return importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_PYC + importlib.util.source_hash(data) + marshal.dumps(code)


class _BytecodeZip:
    """Stands in for the payload's ZipFile while ansible-core writes it: next to each Python source it
    writes the source's bytecode. zipimport looks for NAME.pyc before NAME.py; a .pyc of another Python
    version fails its magic check, and zipimport then compiles NAME.py."""

    def __init__(self, zf, codes: dict) -> None:
        self._zf = zf
        self._codes = codes

    def __getattr__(self, name):
        return getattr(self._zf, name)

    def writestr(self, zinfo_or_arcname, data, *args, **kwargs):
        self._zf.writestr(zinfo_or_arcname, data, *args, **kwargs)
        arcname = getattr(zinfo_or_arcname, "filename", zinfo_or_arcname)
        if not (isinstance(arcname, str) and arcname.endswith(".py")):
            return
        source = _as_bytes(data)
        known = self._codes.get(arcname)
        pyc = known[1] if known is not None and known[0] == source else bytecode(arcname, source)
        if pyc is None:
            return
        if isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo = zipfile.ZipInfo(arcname + "c", date_time=zinfo_or_arcname.date_time)
            zinfo.compress_type = zinfo_or_arcname.compress_type
        else:
            zinfo = arcname + "c"
        self._zf.writestr(zinfo, pyc, *args, **kwargs)


class ModuleBytecode:
    """Add bytecode to the AnsiballZ payloads ansible-core builds (its recursive_finder writes the
    module_utils, _add_module_to_zip the module and its packages), with ansible-core's module_utils
    compiled once beforehand."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[bytes, bytes]] = {}

    # The leading parameters of the two writers in ansible-core 2.19, which the wrappers pass on by position.
    SIGNATURES = {
        "recursive_finder": ("name", "module_fqn", "module_data", "zf", "date_time", "extension_manager"),
        "_add_module_to_zip": ("zf", "date_time", "remote_module_fqn", "b_module_data", "module_path", "extension_manager"),
    }

    @classmethod
    def available(cls) -> bool:
        if _module_common is None:
            return False
        if getattr(_module_common, "_lmsops_module_bytecode", None) is not None:
            return True  # installed already: the names hold the wrappers now
        for name, wanted in cls.SIGNATURES.items():
            try:
                params = tuple(inspect.signature(getattr(_module_common, name, None)).parameters)
            except (TypeError, ValueError):
                return False
            if params[:len(wanted)] != wanted:
                return False
        return True

    def precompile(self) -> int:
        """Compile every source file of ansible-core's module_utils, under its name in a module's zip."""
        import ansible  # pylint: disable=import-outside-toplevel

        base = os.path.dirname(os.path.realpath(ansible.__file__))
        top = os.path.dirname(base)
        for folder, _dirs, names in os.walk(os.path.join(base, "module_utils")):
            for name in names:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as handle:
                        source = handle.read()
                except OSError:
                    continue
                arcname = os.path.relpath(path, top).replace(os.sep, "/")
                pyc = bytecode(arcname, source)
                if pyc is not None:
                    self.codes[arcname] = (source, pyc)
        return len(self.codes)

    def install(self) -> None:
        """Wrap the two writers of ansible-core's payload zip (once)."""
        if getattr(_module_common, "_lmsops_module_bytecode", None) is not None:
            return
        finder = _module_common.recursive_finder
        add_module = _module_common._add_module_to_zip  # pylint: disable=protected-access
        codes = self.codes

        def wrap(zf, extension_manager):
            # A debugger maps the sources' paths, and coverage reads the sources: leave those alone.
            if getattr(extension_manager, "extension_names", ()):
                return zf
            return _BytecodeZip(zf, codes)

        def recursive_finder(name, module_fqn, module_data, zf, date_time, extension_manager, *args, **kwargs):
            return finder(name, module_fqn, module_data, wrap(zf, extension_manager), date_time,
                          extension_manager, *args, **kwargs)

        def add_module_to_zip(zf, date_time, remote_module_fqn, b_module_data, module_path, extension_manager, *args, **kwargs):
            return add_module(wrap(zf, extension_manager), date_time, remote_module_fqn, b_module_data, module_path,
                              extension_manager, *args, **kwargs)

        _module_common.recursive_finder = recursive_finder
        _module_common._add_module_to_zip = add_module_to_zip  # pylint: disable=protected-access
        _module_common._lmsops_module_bytecode = self  # pylint: disable=protected-access


def template_sources(root: str) -> list[tuple[str, str]]:
    """The (kind, text) pairs to compile from a collection root: the strings of the roles' task,
    handler, default and variable files and of the playbooks that hold a template, the conditions
    (as expressions), and every file of the roles' templates/ directories."""
    found: dict = {}

    def walk(node, key=None) -> None:
        if isinstance(node, str):
            if key in EXPRESSION_KEYS:
                found[("expression", node)] = None
            if _jinja_bits.is_possibly_template(node):
                found[("template", node)] = None
        elif isinstance(node, dict):
            for name, value in node.items():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, key)

    roles = os.path.join(root, "roles")
    yaml_files = []
    for role in sorted(os.listdir(roles)) if os.path.isdir(roles) else []:
        for sub in YAML_DIRS:
            folder = os.path.join(roles, role, sub)
            if os.path.isdir(folder):
                yaml_files += [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith((".yml", ".yaml"))]
        templates = os.path.join(roles, role, "templates")
        for folder, _dirs, names in os.walk(templates):
            for name in sorted(names):
                try:
                    with open(os.path.join(folder, name), encoding="utf-8") as handle:
                        found[("file", handle.read())] = None
                except (OSError, UnicodeDecodeError):
                    continue
    playbooks = os.path.join(root, "playbooks")
    if os.path.isdir(playbooks):
        yaml_files += [os.path.join(playbooks, n) for n in sorted(os.listdir(playbooks)) if n.endswith((".yml", ".yaml"))]
    for path in yaml_files:
        try:
            with open(path, encoding="utf-8") as handle:
                walk(yaml.load(handle, Loader=_YamlLoader))  # nosec B506: a safe loader
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
    return list(found)


class CallbackModule(CallbackBase):
    """Preload plugins in the controller's main process."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lmsops.stack.preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None) -> None:
        super().__init__(display=display, options=options)
        self._loaded = False
        self.compile_cache = CompileCache()
        self.module_bytecode = ModuleBytecode()

    def _try(self, what: str, load) -> None:
        try:
            found = load()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._display.vvv(f"lmsops.stack.preload: not preloaded: {what}: {exc}")
            return
        if found is None:
            self._display.vvv(f"lmsops.stack.preload: not preloaded: {what}: not found")

    def preload(self) -> None:
        """Load the plugins and modules the workers would otherwise each load again."""
        for name in FILTERS:
            self._try(f"filter {name}", lambda name=name: filter_loader.get(name))
        for name in TESTS:
            self._try(f"test {name}", lambda name=name: test_loader.get(name))
        for name in LOOKUPS:
            self._try(f"lookup {name}", lambda name=name: lookup_loader.get(name, class_only=True))
        for name in MODULES:
            self._try(f"module {name}", lambda name=name: importlib.import_module(name))
        self._loaded = True
        if self._wanted("module_bytecode"):
            if ModuleBytecode.available():
                self.module_bytecode.precompile()
                self.module_bytecode.install()
            else:
                self._display.vvv("lmsops.stack.preload: this ansible-core's AnsiballZ builder differs from 2.19's: no bytecode")
        if not self._wanted("compile_cache"):
            return
        if not CompileCache.available():
            self._display.vvv("lmsops.stack.preload: this ansible-core's templating differs from 2.19's: no compile cache")
            return
        self.compile_cache.install()
        failed = self.compile_cache.warm(template_sources(COLLECTION_ROOT))
        for text in failed:
            self._display.vvv(f"lmsops.stack.preload: not precompiled: {text[:80]!r}")

    def _wanted(self, option: str) -> bool:
        try:
            return bool(self.get_option(option))
        except KeyError:  # options not set up (the callback used outside ansible-playbook)
            return True

    def v2_playbook_on_play_start(self, play) -> None:
        if not self._loaded:
            self.preload()
        gc.freeze()
