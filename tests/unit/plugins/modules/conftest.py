"""Run a module's main() in-process with given arguments and return its JSON result."""
from __future__ import annotations

import json
from unittest import mock

import pytest

from ansible.module_utils import _internal
from ansible.module_utils.common import warnings as common_warnings
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys):
    """``run_module(main, args)`` -> the module's result dict, with ``failed`` set when it failed."""

    def run(main, args):
        # As in a real module process: no warnings yet (they are collected process-wide), and not on the
        # controller (once a test imports controller code, warnings would go to its display instead).
        with patch_module_args(args), mock.patch.object(common_warnings, "_global_warnings", {}), \
                mock.patch.object(_internal, "is_controller", False):
            with pytest.raises(SystemExit) as exit_info:
                main()
        result = json.loads(capsys.readouterr().out)
        assert (exit_info.value.code != 0) == bool(result.get("failed")), result
        return result

    return run


@pytest.fixture
def warnings_of():
    """``warnings_of(result)`` -> the warning texts (ansible-core 2.19 wraps each in a WarningSummary)."""

    def texts(result):
        return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]

    return texts
