"""Plain pytest (`PYTHONPATH=<collections root> pytest tests/unit`): install ansible-core's collection
loader before any test imports the collection, as ansible-test does, so that plugin tests can load
`lmsops.stack.*` plugins by name through ansible-core's plugin loaders."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if not any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
    from ansible.plugins.loader import init_plugin_loader

    _spec = importlib.util.find_spec("ansible_collections")
    if _spec is not None and _spec.submodule_search_locations:
        init_plugin_loader([str(Path(list(_spec.submodule_search_locations)[0]).parent)])
