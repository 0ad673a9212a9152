from __future__ import annotations

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils import _health


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (90.0, "%", "90 %"),
        (93.14159, "%", "93.14 %"),
        (0.7, "", "0.7"),
        (0.85, "", "0.85"),
        (14, "days", "14 days"),
        (None, "ms", "unknown"),
        ("active", "", "active"),
        (float("inf"), "", "infinite"),
    ],
)
def test_fmt(value, unit, expected):
    assert _health.fmt(value, unit) == expected


@pytest.mark.parametrize(
    ("value", "warn", "crit", "status", "message"),
    [
        (50.0, 80.0, 90.0, "ok", "disk usage / is 50 %"),
        (80.0, 80.0, 90.0, "ok", "disk usage / is 80 %"),  # strictly above, as the plans say "> 80 %"
        (80.1, 80.0, 90.0, "warning", "disk usage / is 80.1 %, above the warning threshold 80 %"),
        (90.0, 80.0, 90.0, "warning", "disk usage / is 90 %, above the warning threshold 80 %"),
        (93.4, 80.0, 90.0, "critical", "disk usage / is 93.4 %, above the critical threshold 90 %"),
        (93.4, None, 90.0, "critical", "disk usage / is 93.4 %, above the critical threshold 90 %"),
        (85.0, None, 90.0, "ok", "disk usage / is 85 %"),
        (99.0, 80.0, None, "warning", "disk usage / is 99 %, above the warning threshold 80 %"),
        (99.0, None, None, "ok", "disk usage / is 99 %"),
        (0, 80.0, 90.0, "ok", "disk usage / is 0 %"),
    ],
)
def test_above(value, warn, crit, status, message):
    result = _health.above("disk usage /", value, warn, crit, "%")
    assert result["status"] == status
    assert result["message"] == message
    assert result["value"] == value
    assert (result["warn"], result["crit"], result["unit"]) == (warn, crit, "%")


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        (60, "ok", "tls expiry is 60 days"),
        (30, "ok", "tls expiry is 30 days"),
        (29, "warning", "tls expiry is 29 days, below the warning threshold 30 days"),
        (14, "warning", "tls expiry is 14 days, below the warning threshold 30 days"),
        (13, "critical", "tls expiry is 13 days, below the critical threshold 14 days"),
        (-2, "critical", "tls expiry is -2 days, below the critical threshold 14 days"),
    ],
)
def test_below(value, status, message):
    result = _health.below("tls expiry", value, 30, 14, "days")
    assert (result["status"], result["message"]) == (status, message)
    assert result["threshold"] == "warn < 30 days, crit < 14 days"


@pytest.mark.parametrize("value", [None, "93", True, float("nan"), [1]])
def test_judging_needs_a_number(value):
    with pytest.raises(TypeError, match="expected a number"):
        _health.above("x", value, 1, 2)


@pytest.mark.parametrize(
    ("warn", "crit", "higher", "expected"),
    [
        (80, 90, True, "warn > 80 %, crit > 90 %"),
        (None, 90, True, "crit > 90 %"),
        (80, None, True, "warn > 80 %"),
        (None, None, True, ""),
        (70.0, None, False, "warn < 70 %"),
    ],
)
def test_threshold_text(warn, crit, higher, expected):
    assert _health.threshold_text(warn, crit, "%", higher_is_worse=higher) == expected


@pytest.mark.parametrize(
    ("warn", "crit", "higher", "error"),
    [
        (80.0, 90.0, True, None),
        (90.0, 90.0, True, None),
        (None, 90.0, True, None),
        (80.0, None, True, None),
        (95.0, 90.0, True, "disk_warn (95) must not be greater than disk_crit (90)"),
        (30, 14, False, None),
        (10, 14, False, "disk_warn (10) must not be less than disk_crit (14)"),
        ("80", 90.0, True, "disk_warn must be a number, got '80'"),
        (80.0, True, True, "disk_crit must be a number, got True"),
    ],
)
def test_validate_thresholds(warn, crit, higher, error):
    assert _health.validate_thresholds("disk_warn", warn, "disk_crit", crit, higher_is_worse=higher) == error


def test_expect():
    good = _health.expect("unit nginx", True, "active", "active", "never shown")
    assert good["status"] == "ok" and good["message"] == "unit nginx is active" and good["threshold"] == "active"
    bad = _health.expect("unit nginx", False, "failed", "active", "unit nginx is failed, expected active")
    assert bad["status"] == "critical" and bad["message"] == "unit nginx is failed, expected active"
    soft = _health.expect("failed units", False, 2, "none", "2 failed units", severity=_health.WARNING)
    assert soft["status"] == "warning"
    with pytest.raises(ValueError, match="severity"):
        _health.expect("x", False, 1, "", "", severity="ok")


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(1, 3, 33.3), (0, 10, 0.0), (10, 10, 100.0), (5, 0, None), (2, 1, 200.0)],
)
def test_percent(part, whole, expected):
    assert _health.percent(part, whole) == expected


def test_percent_bad_input():
    with pytest.raises(TypeError):
        _health.percent("1", 2)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "ok"),
        (["ok", "ok"], "ok"),
        (["ok", "warning"], "warning"),
        (["critical", "warning", "ok"], "critical"),
    ],
)
def test_worst(statuses, expected):
    assert _health.worst(statuses) == expected


def test_worst_refuses_unknown_status():
    with pytest.raises(ValueError, match="unknown status"):
        _health.worst(["ok", "unknown"])


def test_check_validates_its_input():
    with pytest.raises(ValueError, match="status must be one of"):
        _health.check("x", "fine", 1, "x")
    with pytest.raises(ValueError, match="non-empty name"):
        _health.check("", "ok", 1, "x")


def _checks():
    return [
        _health.above("disk usage /", 50.0, 80, 90, "%"),
        _health.above("memory usage", 85.0, 80, 90, "%"),
        _health.above("load per cpu", 1.2, 0.7, 0.85),
        _health.expect("unit nginx", False, "failed", "active", "unit nginx is failed (failed), expected active"),
    ]


def test_summarize():
    summary = _health.summarize(_checks())
    assert summary["status"] == "critical"
    assert summary["warning_checks"] == ["memory usage"]
    assert summary["critical_checks"] == ["load per cpu", "unit nginx"]
    assert [c["name"] for c in summary["checks"]] == ["disk usage /", "memory usage", "load per cpu", "unit nginx"]


def test_summarize_refuses_duplicate_names():
    with pytest.raises(ValueError, match="repeated: x"):
        _health.summarize([_health.above("x", 1, 2, 3), _health.above("x", 1, 2, 3)])


def test_failure_message_names_check_value_and_threshold():
    message = _health.failure_message(_checks())
    assert message == (
        "2 critical health checks: load per cpu is 1.2, above the critical threshold 0.85; "
        "unit nginx is failed (failed), expected active"
    )


class FakeModule:
    """Records what report() does with a module; exit_json/fail_json end the run like the real ones."""

    class Done(Exception):
        pass

    def __init__(self):
        self.warnings = []
        self.result = None
        self.failed = None

    def warn(self, message):
        self.warnings.append(message)

    def exit_json(self, **result):
        self.failed, self.result = False, result
        raise self.Done()

    def fail_json(self, msg, **result):
        self.failed, self.result = True, dict(result, msg=msg)
        raise self.Done()


@pytest.mark.parametrize("fail_on_critical", [True, False])
def test_report_with_a_critical_check(fail_on_critical):
    module = FakeModule()
    with pytest.raises(FakeModule.Done):
        _health.report(module, _checks(), fail_on_critical, load={"cpus": 4})
    assert module.failed is fail_on_critical
    assert module.result["changed"] is False
    assert module.result["status"] == "critical"
    assert module.result["load"] == {"cpus": 4}
    if fail_on_critical:
        assert module.result["msg"].startswith("2 critical health checks: load per cpu is 1.2")
        assert module.warnings == ["memory usage is 85 %, above the warning threshold 80 %"]
    else:
        assert "msg" not in module.result
        assert module.warnings == [
            "memory usage is 85 %, above the warning threshold 80 %",
            "critical: load per cpu is 1.2, above the critical threshold 0.85",
            "critical: unit nginx is failed (failed), expected active",
        ]


def test_report_all_ok():
    module = FakeModule()
    with pytest.raises(FakeModule.Done):
        _health.report(module, [_health.above("memory usage", 10.0, 80, 90, "%")])
    assert module.failed is False
    assert module.warnings == []
    assert module.result["status"] == "ok"
    assert module.result["warning_checks"] == [] and module.result["critical_checks"] == []


def test_health_argument_spec():
    assert _health.health_argument_spec() == {"fail_on_critical": {"type": "bool", "default": True}}
