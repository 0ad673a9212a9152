"""Every role's meta/argument_specs.yml mirrors its defaults/main.yml.

Parametrized by the roles found under roles/, so a new role is covered without touching this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = (
    sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()) if (ROOT / "roles").is_dir() else []
)
TYPES = {"str", "list", "dict", "bool", "int", "float", "path", "raw", "jsonarg", "json", "bytes", "bits"}


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _defaults(role: str) -> dict[str, Any]:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    return (_load(path) or {}) if path.exists() else {}


def _entry_points(role: str) -> dict[str, Any]:
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    assert path.exists(), f"roles/{role}: meta/argument_specs.yml is missing"
    specs = (_load(path) or {}).get("argument_specs") or {}
    assert "main" in specs, f"roles/{role}: argument_specs has no 'main' entry point"
    return specs


def _options(entry: dict[str, Any]) -> dict[str, Any]:
    return (entry or {}).get("options") or {}


def _walk(options: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every option, nested sub-options included, with a dotted name."""
    for name, spec in options.items():
        yield prefix + name, spec or {}
        yield from _walk((spec or {}).get("options") or {}, prefix + name + ".")


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@pytest.mark.parametrize("role", ROLES)
def test_main_options_match_defaults(role: str) -> None:
    spec = set(_options(_entry_points(role)["main"]))
    defaults = set(_defaults(role))
    assert not spec - defaults, (
        f"roles/{role}: in argument_specs main but not in defaults/main.yml: {sorted(spec - defaults)}"
    )
    assert not defaults - spec, (
        f"roles/{role}: in defaults/main.yml but not in argument_specs main: {sorted(defaults - spec)}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_description_and_type(role: str) -> None:
    problems = []
    for entry_name, entry in _entry_points(role).items():
        if not (entry or {}).get("short_description") and not (entry or {}).get("description"):
            problems.append(f"entry point {entry_name} has no description")
        for name, spec in _walk(_options(entry)):
            if not spec.get("description"):
                problems.append(f"{entry_name}: {name} has no description")
            if spec.get("type") not in TYPES:
                problems.append(f"{entry_name}: {name} has no valid type (got {spec.get('type')!r})")
            if spec.get("type") == "list" and "elements" not in spec:
                problems.append(f"{entry_name}: {name} is a list without elements")
    assert not problems, f"roles/{role}: " + "; ".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role: str) -> None:
    defaults = _defaults(role)
    problems = []
    for name, spec in _options(_entry_points(role)["main"]).items():
        if name not in defaults or _is_template(defaults[name]):
            continue  # a missing name is reported above; a Jinja default is described, not compared
        spec = spec or {}
        if spec.get("default") != defaults[name]:
            problems.append(
                f"{name}: argument_specs default {spec.get('default')!r} != defaults/main.yml {defaults[name]!r}"
            )
    assert not problems, f"roles/{role}: " + "; ".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_preflight_validates_exactly_the_main_options(role: str) -> None:
    """site.yml validates a role through `preflight`: it must check everything `main` takes.

    Other entry points (a role's `jail`, `expose` or `users`) take their own inputs by design.
    """
    specs = _entry_points(role)
    assert "preflight" in specs, f"roles/{role}: no preflight entry point"
    main = set(_options(specs["main"]))
    pre = set(_options(specs["preflight"]))
    problems = {"missing from preflight": sorted(main - pre), "unknown to main": sorted(pre - main)}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"roles/{role}: {problems}"
    # site.yml's later plays skip the `main` check (rolespec_validate: false): the first play's check
    # must be the same in every type, choice and default, not only in its option names.
    differing = sorted(name for name in main if _options(specs["main"])[name] != _options(specs["preflight"])[name])
    assert not differing, f"roles/{role}: preflight checks these options differently from main: {differing}"


def _site_plays() -> list[dict[str, Any]]:
    return _load(ROOT / "playbooks" / "site.yml")


def _checked_roles() -> tuple[set[str], dict[str, list[str]]]:
    """The roles site.yml's first play checks on every host, and per group the roles it adds."""
    first = _site_plays()[0]
    expression = first["vars"]["__lmsops_roles"]
    every = set()
    for listed in re.findall(r"\[([^\]]*)\]", expression):
        every |= set(re.findall(r"'(\w+)'", listed))
    return every, first["vars"]["__lmsops_group_roles"]


def test_site_checks_every_role_it_imports_without_the_roles_own_check() -> None:
    """Each later play of site.yml imports its roles with rolespec_validate: false. That is only
    sound when the first play checked the role on every host the later play runs it on."""
    every, by_group = _checked_roles()
    assert {"common", "exporters", "backup"} <= every, every  # the expression was read
    imported = 0
    for play in _site_plays()[1:]:
        assert "roles" not in play, f"play {play['name']!r}: import its roles with rolespec_validate: false"
        groups = play["hosts"].split(":")
        for task in play.get("tasks", []):
            spec = task.get("ansible.builtin.import_role")
            assert spec, f"play {play['name']!r}: task {task.get('name')!r} is not a role import"
            assert spec.get("rolespec_validate") is False, f"play {play['name']!r}: {spec['name']} is checked twice"
            role = spec["name"].rsplit(".", 1)[-1]
            unchecked = [g for g in groups if role not in every and role not in by_group.get(g, [])]
            assert not unchecked, f"{role} runs on {unchecked} but the first play does not check it there"
            imported += 1
    assert imported >= len(ROLES) - 1, imported  # every role but capacity (checks only) is imported
