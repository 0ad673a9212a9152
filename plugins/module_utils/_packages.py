"""Which packages an apt task would have to touch, from the `package_facts` of the same run.

site.yml reads the installed packages once per host; each role's apt task runs only when one of its
packages is missing (or, for removals, still present). Without package facts (a role used on its own)
every package counts as missing, so apt always runs: skipping is an optimisation, never a guess.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence


def _names(wanted: Any) -> list[str]:
    if isinstance(wanted, str) or not isinstance(wanted, Sequence):
        raise TypeError(f"expected a list of package names, got {type(wanted).__name__}")
    for name in wanted:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"package names must be non-empty strings, got {name!r}")
    return list(wanted)


def _installed(facts: Any) -> Mapping[str, Any] | None:
    if not isinstance(facts, Mapping):
        raise TypeError(f"expected ansible_facts (a mapping), got {type(facts).__name__}")
    packages = facts.get("packages")
    if packages is None:
        return None
    if not isinstance(packages, Mapping):
        raise TypeError(f"ansible_facts['packages'] must be a mapping, got {type(packages).__name__}")
    return packages


def missing(wanted: Any, facts: Any) -> list[str]:
    """The wanted packages not installed; all of them when the facts hold no package list.

    A name with a version or release pin (``nginx=1.22*``, ``foo/bookworm-backports``) always counts
    as missing: only apt can tell whether the pin is satisfied.
    """
    names = _names(wanted)
    installed = _installed(facts)
    if installed is None:
        return names
    return [n for n in names if any(c in n for c in "=/*<>") or n not in installed]


def present(unwanted: Any, facts: Any) -> list[str]:
    """The unwanted packages still installed; all of them when the facts hold no package list.

    When the facts were read for some names only (``packages_scope``), a name outside them counts
    as installed: the facts cannot tell, so the removal runs.
    """
    names = _names(unwanted)
    installed = _installed(facts)
    if installed is None:
        return names
    scope = _scope(facts)
    return [n for n in names if n in installed or (scope is not None and n not in scope)]


def _scope(facts: Mapping[str, Any]) -> frozenset[str] | None:
    scope = facts.get("packages_scope")
    if scope is None:
        return None
    if isinstance(scope, (str, Mapping)) or not isinstance(scope, Sequence):
        raise TypeError(f"ansible_facts['packages_scope'] must be a list of names, got {type(scope).__name__}")
    return frozenset(scope)


def restrict(packages: Mapping[str, Any], names: Any) -> dict[str, Any]:
    """The facts of `dpkg_facts` with ``names``: the installed packages among them, and the names as
    ``packages_scope`` (sorted, without repeats)."""
    wanted = sorted(set(_names(names)))
    return {"packages": {n: packages[n] for n in wanted if n in packages}, "packages_scope": wanted}


# The dpkg-query format parse_dpkg_status reads: status abbreviation, name, version, architecture.
DPKG_QUERY_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n"


def parse_dpkg_status(text: Any) -> dict[str, list[dict[str, str]]]:
    """The installed packages in ``dpkg-query -W -f DPKG_QUERY_FORMAT`` output, shaped like the
    ``packages`` fact of ``ansible.builtin.package_facts`` (name → list of installed instances).

    Only packages dpkg reports as installed (status abbreviation ``ii``, or ``hi`` when held) count:
    removed packages whose configuration files remain (``rc``) and half-installed ones do not.
    """
    if not isinstance(text, str):
        raise TypeError(f"dpkg-query output must be text, got {type(text).__name__}")
    packages: dict[str, list[dict[str, str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"dpkg-query line {number} has {len(fields)} fields, expected 4: {line!r}")
        status, name, version, arch = (f.strip() for f in fields)
        if status[:2] not in ("ii", "hi") or not name:
            continue
        packages.setdefault(name, []).append({"name": name, "version": version, "arch": arch, "source": "apt"})
    return packages
