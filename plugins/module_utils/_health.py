# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Threshold evaluation and the result shape shared by the lmsops.stack health-check modules.

Every health module (``http_check``, ``service_health``, ``mysql_health``, ``redis_health``) turns
what it measured into a list of *checks*, one dict each::

    {"name": "disk usage /", "status": "warning", "value": 83.4, "unit": "%",
     "threshold": "warn > 80 %, crit > 90 %", "warn": 80.0, "crit": 90.0,
     "message": "disk usage / is 83.4 %, above the warning threshold 80 %"}

and hands them to :func:`report`, which adds the overall ``status`` (the worst of the checks), the
names of the warning and critical checks, emits an Ansible warning per problem and fails the task
when a check is critical (unless the caller asked to collect results only).

Everything but :func:`report` is pure Python without Ansible imports, so it is unit-tested directly.
Managed-node code: Python 3.8+, standard library only.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
STATUSES = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}

Number = Any  # int or float; bool is refused explicitly


def health_argument_spec() -> dict:
    """The options every health module shares (documented by the ``lmsops.stack.health`` fragment)."""
    return {"fail_on_critical": {"type": "bool", "default": True}}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value)
    )


def fmt(value: Any, unit: str = "") -> str:
    """A value for a message: integral floats without ``.0``, others to at most two decimals."""
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isinf(value):
            text = "infinite"
        elif value.is_integer():
            text = str(int(value))
        else:
            text = ("%.2f" % value).rstrip("0").rstrip(".")
    elif value is None:
        text = "unknown"
    else:
        text = str(value)
    return "%s %s" % (text, unit) if unit and value is not None else text


def check(
    name: str,
    status: str,
    value: Any,
    message: str,
    threshold: str = "",
    unit: str = "",
    warn: Optional[Number] = None,
    crit: Optional[Number] = None,
) -> dict:
    """One check result in the shared shape."""
    if status not in STATUSES:
        raise ValueError("status must be one of %s, got %r" % (", ".join(STATUSES), status))
    if not isinstance(name, str) or not name:
        raise ValueError("a check needs a non-empty name, got %r" % (name,))
    return {
        "name": name,
        "status": status,
        "value": value,
        "unit": unit,
        "threshold": threshold,
        "warn": warn,
        "crit": crit,
        "message": message,
    }


def threshold_text(warn: Optional[Number], crit: Optional[Number], unit: str = "", higher_is_worse: bool = True) -> str:
    """``warn > 80 %, crit > 90 %`` (or ``<`` when lower is worse); empty when nothing is judged."""
    sign = ">" if higher_is_worse else "<"
    parts = []
    if warn is not None:
        parts.append("warn %s %s" % (sign, fmt(warn, unit)))
    if crit is not None:
        parts.append("crit %s %s" % (sign, fmt(crit, unit)))
    return ", ".join(parts)


def validate_thresholds(
    warn_name: str, warn: Optional[Number], crit_name: str, crit: Optional[Number], higher_is_worse: bool = True
) -> Optional[str]:
    """An error message when a warn/crit pair is unusable, else None.

    Either may be None (that level is not judged). Both must be numbers, and the warning level must
    come before the critical one: ``warn <= crit`` when higher is worse, ``warn >= crit`` otherwise.
    """
    for name, value in ((warn_name, warn), (crit_name, crit)):
        if value is not None and not _is_number(value):
            return "%s must be a number, got %r" % (name, value)
    if warn is None or crit is None:
        return None
    if higher_is_worse and warn > crit:
        return "%s (%s) must not be greater than %s (%s)" % (warn_name, fmt(warn), crit_name, fmt(crit))
    if not higher_is_worse and warn < crit:
        return "%s (%s) must not be less than %s (%s)" % (warn_name, fmt(warn), crit_name, fmt(crit))
    return None


def _judge(
    name: str, value: Any, warn: Optional[Number], crit: Optional[Number], unit: str, higher_is_worse: bool
) -> dict:
    threshold = threshold_text(warn, crit, unit, higher_is_worse)
    if not _is_number(value):
        raise TypeError("%s: expected a number to judge, got %r" % (name, value))
    if higher_is_worse:
        crossed_crit = crit is not None and value > crit
        crossed_warn = warn is not None and value > warn
        side = "above"
    else:
        crossed_crit = crit is not None and value < crit
        crossed_warn = warn is not None and value < warn
        side = "below"
    if crossed_crit:
        status = CRITICAL
        message = "%s is %s, %s the critical threshold %s" % (name, fmt(value, unit), side, fmt(crit, unit))
    elif crossed_warn:
        status = WARNING
        message = "%s is %s, %s the warning threshold %s" % (name, fmt(value, unit), side, fmt(warn, unit))
    else:
        status = OK
        message = "%s is %s" % (name, fmt(value, unit))
    return check(name, status, value, message, threshold=threshold, unit=unit, warn=warn, crit=crit)


def above(name: str, value: Number, warn: Optional[Number], crit: Optional[Number], unit: str = "") -> dict:
    """Higher is worse: critical when ``value > crit``, warning when ``value > warn``."""
    return _judge(name, value, warn, crit, unit, higher_is_worse=True)


def below(name: str, value: Number, warn: Optional[Number], crit: Optional[Number], unit: str = "") -> dict:
    """Lower is worse: critical when ``value < crit``, warning when ``value < warn``."""
    return _judge(name, value, warn, crit, unit, higher_is_worse=False)


def expect(
    name: str,
    good: bool,
    value: Any,
    expected: str,
    message: str,
    severity: str = CRITICAL,
    ok_message: Optional[str] = None,
) -> dict:
    """A yes/no check: ok when ``good``, else ``severity`` with ``message`` (``expected`` is the threshold)."""
    if severity not in (WARNING, CRITICAL):
        raise ValueError("severity must be warning or critical, got %r" % (severity,))
    if good:
        return check(name, OK, value, ok_message or "%s is %s" % (name, fmt(value)), threshold=expected)
    return check(name, severity, value, message, threshold=expected)


def percent(part: Number, whole: Number, digits: int = 1) -> Optional[float]:
    """``part / whole`` in per cent, rounded; None when the whole is zero or negative."""
    if not (_is_number(part) and _is_number(whole)):
        raise TypeError("percent needs two numbers, got %r and %r" % (part, whole))
    if whole <= 0:
        return None
    return round(100.0 * part / whole, digits)


def worst(statuses: Iterable[str]) -> str:
    """The most severe status of the given ones; ``ok`` for none."""
    result = OK
    for status in statuses:
        if status not in _RANK:
            raise ValueError("unknown status %r" % (status,))
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def summarize(checks: Sequence[Mapping[str, Any]]) -> dict:
    """The common part of every health module's result."""
    names = [c["name"] for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError("check names must be unique, repeated: %s" % ", ".join(duplicates))
    return {
        "status": worst(c["status"] for c in checks),
        "checks": [dict(c) for c in checks],
        "warning_checks": [c["name"] for c in checks if c["status"] == WARNING],
        "critical_checks": [c["name"] for c in checks if c["status"] == CRITICAL],
    }


def failure_message(checks: Sequence[Mapping[str, Any]]) -> str:
    """``2 critical health checks: <message>; <message>`` for the critical checks."""
    critical = [c["message"] for c in checks if c["status"] == CRITICAL]
    noun = "check" if len(critical) == 1 else "checks"
    return "%d critical health %s: %s" % (len(critical), noun, "; ".join(critical))


def report(module: Any, checks: Sequence[Mapping[str, Any]], fail_on_critical: bool = True, **facts: Any) -> None:
    """Finish the module run: exit with the checks and facts, or fail when a check is critical.

    Each warning becomes an Ansible warning; so does each critical check when the caller collects
    results without failing (``fail_on_critical=false``), so nothing critical goes unseen.
    The result never reports a change: health checks only read.
    """
    result = dict(facts)
    result.update(summarize(checks))
    result["changed"] = False
    for c in checks:
        if c["status"] == WARNING:
            module.warn(c["message"])
        elif c["status"] == CRITICAL and not fail_on_critical:
            module.warn("critical: %s" % c["message"])
    if result["status"] == CRITICAL and fail_on_critical:
        module.fail_json(msg=failure_message(checks), **result)
    module.exit_json(**result)
