"""Input-check filter: the failed entries of a role's check list (logic in module_utils/_checks.py)."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.module_utils import _checks


def failed_checks(checks: Any) -> list[str]:
    try:
        return _checks.failed_checks(checks)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"failed_checks: {exc}") from exc


class FilterModule:
    """lmsops.stack input-check filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"failed_checks": failed_checks}
