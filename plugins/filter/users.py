"""Admin user filter: what the common role's user tasks would change (logic in module_utils/_users.py)."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.module_utils import _users


def admin_users_to_change(lines: Any, users: Any, group: Any) -> dict:
    try:
        return _users.to_change(lines, users, group)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"admin_users_to_change: {exc}") from exc


class FilterModule:
    """lmsops.stack admin user filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"admin_users_to_change": admin_users_to_change}
