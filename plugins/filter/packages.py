"""Package filters: which packages an apt task still has to act on (logic in module_utils/_packages.py)."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.module_utils import _packages


def packages_missing(wanted: Any, facts: Any) -> list:
    try:
        return _packages.missing(wanted, facts)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"packages_missing: {exc}") from exc


def packages_present(unwanted: Any, facts: Any) -> list:
    try:
        return _packages.present(unwanted, facts)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"packages_present: {exc}") from exc


class FilterModule:
    """lmsops.stack package filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"packages_missing": packages_missing, "packages_present": packages_present}
