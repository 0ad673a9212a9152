"""Input-check filter: the failed entries of a role's check list, as messages (one evaluation per role)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ansible.errors import AnsibleFilterError

_TRUE = frozenset(("true", "yes", "on", "1", "y", "t"))
_FALSE = frozenset(("false", "no", "off", "0", "n", "f", ""))


def _passed(value: Any, var: str) -> bool:
    # Same reading as Jinja's `| bool` on what a check's template renders to, but strict: anything
    # that is not recognisably true or false is a defect of the check itself, not of the input.
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise AnsibleFilterError(f"failed_checks: the check of {var} gave {value!r}, not true or false")


def failed_checks(checks: Any) -> list[str]:
    """Return "<var>: <msg>" for every check whose ``ok`` is false, in order.

    Each check is a dict with ``var`` (what the user set), ``ok`` (the templated test) and ``msg``
    (what is allowed). Only ``ok`` is read for passing checks, so the messages of passing checks are
    never rendered.
    """
    if isinstance(checks, (str, bytes)) or not isinstance(checks, Sequence):
        raise AnsibleFilterError("failed_checks: expects a list of checks (dicts with var, ok and msg)")
    failed = []
    for index, check in enumerate(checks):
        if not isinstance(check, Mapping) or "var" not in check or "ok" not in check:
            raise AnsibleFilterError(f"failed_checks: check {index} is not a dict with var, ok and msg")
        var = str(check["var"])
        if not _passed(check["ok"], var):
            failed.append(f"{var}: {check.get('msg', 'is not valid')}".strip())
    return failed


class FilterModule:
    """lmsops.stack input-check filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"failed_checks": failed_checks}
