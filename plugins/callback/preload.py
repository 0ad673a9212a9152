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
  - It changes no result and prints nothing. A plugin it cannot load is skipped (shown with C(-vvv));
    the workers then load it themselves, as without this callback.
  - bench/RESULTS.md in the collection's source holds the control node CPU of the lab's converge
    with and without it.
author:
  - lmsops.stack maintainers (@lmsops)
requirements:
  - Enable it in ansible.cfg, C([defaults] callbacks_enabled = lmsops.stack.preload), or with
    C(ANSIBLE_CALLBACKS_ENABLED=lmsops.stack.preload).
"""

import gc
import importlib

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, lookup_loader, test_loader

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


class CallbackModule(CallbackBase):
    """Preload plugins in the controller's main process."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lmsops.stack.preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None) -> None:
        super().__init__(display=display, options=options)
        self._loaded = False

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

    def v2_playbook_on_play_start(self, play) -> None:
        if not self._loaded:
            self.preload()
        gc.freeze()
