"""systemd filters: which wanted unit states a role still has to apply (logic in module_utils/_systemd.py)."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.module_utils import _systemd


def units_to_change(wanted: Any, facts: Any) -> list:
    try:
        return _systemd.units_to_change(wanted, facts)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"units_to_change: {exc}") from exc


class FilterModule:
    """lmsops.stack systemd filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"units_to_change": units_to_change}
