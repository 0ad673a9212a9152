# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's input checks, evaluated once: the messages of those that fail.

Each role lists its checks as dicts with ``var`` (what the user set), ``ok`` (the templated test)
and ``msg`` (what is allowed), and asserts once that none fails (the failed_checks filter).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Sequence

_TRUE = frozenset(("true", "yes", "on", "1", "y", "t"))
_FALSE = frozenset(("false", "no", "off", "0", "n", "f", ""))


def _passed(value, var):
    # Same reading as Jinja's `| bool` on what a check's template renders to, but strict: anything
    # that is not recognisably true or false is a defect of the check itself, not of the input.
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("the check of %s gave %r, not true or false" % (var, value))


def failed_checks(checks):
    # type: (list) -> list
    """Return "<var>: <msg>" for every check whose ``ok`` is false, in order. Only ``ok`` is read
    for passing checks, so the messages of passing checks are never rendered."""
    if isinstance(checks, (str, bytes)) or not isinstance(checks, Sequence):
        raise TypeError("expects a list of checks (dicts with var, ok and msg)")
    failed = []
    for index, check in enumerate(checks):
        if not isinstance(check, Mapping) or "var" not in check or "ok" not in check:
            raise TypeError("check %d is not a dict with var, ok and msg" % index)
        var = str(check["var"])
        if not _passed(check["ok"], var):
            failed.append(("%s: %s" % (var, check.get("msg", "is not valid"))).strip())
    return failed
