"""Addresses of inventory hosts and ufw rule bookkeeping for lmsops.stack.

Private to the collection (leading underscore): the filters in ``plugins/filter/group_addresses.py``
are thin wrappers around these functions. Everything here is plain Python (no Ansible imports) and
raises ``ValueError``/``TypeError`` with a message meant for the user; the wrappers turn those into
``AnsibleFilterError``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Where a host's private address comes from, most to least preferred.
PRIVATE_ADDRESS_VAR = "lmsops_private_address"

# ufw writes "any" source/destination as these per-family networks in user.rules / user6.rules.
ANY_SOURCES = ("0.0.0.0/0", "::/0")

_TUPLE_MARK = "### tuple ###"


def _address_sort_key(address: IPAddress) -> tuple[int, int]:
    return (address.version, int(address))


def _host_address(name: str, hostvars: Mapping[str, Any]) -> IPAddress:
    """The private address of one host, validated."""
    try:
        hvars = hostvars[name]
    except KeyError:
        raise ValueError(f"host '{name}' is in a group but has no hostvars") from None

    configured = hvars.get(PRIVATE_ADDRESS_VAR)
    if configured not in (None, ""):
        source = f"{PRIVATE_ADDRESS_VAR} of host '{name}'"
        value = configured
    else:
        facts = hvars.get("ansible_facts") or {}
        default_ipv4 = facts.get("default_ipv4") or {}
        value = default_ipv4.get("address")
        if value in (None, ""):
            reason = (
                "facts were not gathered for it"
                if not facts
                else "its facts have no default_ipv4 address (no IPv4 default route)"
            )
            raise ValueError(
                f"cannot tell the private address of host '{name}': {PRIVATE_ADDRESS_VAR} is not set and "
                f"{reason}; set {PRIVATE_ADDRESS_VAR} in the inventory or gather the 'network' facts subset "
                "for that host first"
            )
        source = f"ansible_facts['default_ipv4']['address'] of host '{name}'"

    if not isinstance(value, str):
        raise TypeError(f"{source} must be a string, got {type(value).__name__}")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"{source} is not an IP address: {value!r}") from None


def _group_members(groups: Mapping[str, Iterable[str]], from_groups: Iterable[str]) -> list[str]:
    """The host names of ``from_groups`` (each once, in group order), the groups checked first."""
    if isinstance(from_groups, (str, bytes)) or not isinstance(from_groups, Iterable):
        raise TypeError(
            f"from_groups must be a list of inventory group names, got {type(from_groups).__name__} {from_groups!r}"
        )
    wanted = list(from_groups)
    for group in wanted:
        if not isinstance(group, str):
            raise TypeError(f"group names must be strings, got {type(group).__name__} {group!r}")

    missing = [g for g in wanted if g not in groups]
    if missing:
        raise ValueError(
            "inventory group(s) {} do not exist; existing groups: {}".format(
                ", ".join(sorted(set(missing))), ", ".join(sorted(groups)) or "(none)"
            )
        )

    return list(dict.fromkeys(name for group in wanted for name in groups[group]))


def group_addresses(
    hostvars: Mapping[str, Any], groups: Mapping[str, Iterable[str]], from_groups: Iterable[str]
) -> list[str]:
    """Sorted, unique private addresses of every host in ``from_groups``.

    A host's address is its ``lmsops_private_address`` host variable when set, else
    ``ansible_facts['default_ipv4']['address']``. An empty group contributes nothing; a group that
    does not exist is an error (a typo would otherwise silently open nothing).
    """
    addresses = {_host_address(name, hostvars) for name in _group_members(groups, from_groups)}
    return [str(a) for a in sorted(addresses, key=_address_sort_key)]


def group_hosts_by_address(
    hostvars: Mapping[str, Any], groups: Mapping[str, Iterable[str]], from_groups: Iterable[str]
) -> dict[str, str]:
    """``{private address: inventory name}`` of every host in ``from_groups``, by address order.

    Addresses as :func:`group_addresses` finds them (same rule, same errors). Inventory names of hosts
    that share an address are joined with ``+`` in name order, so no host is silently dropped.
    """
    names: dict[IPAddress, list[str]] = {}
    for name in _group_members(groups, from_groups):
        names.setdefault(_host_address(name, hostvars), []).append(str(name))
    return {str(a): "+".join(sorted(names[a])) for a in sorted(names, key=_address_sort_key)}


def _parse_network(value: Any) -> IPNetwork | None:
    """The network ``value`` names, or None when it is not a valid CIDR (host bits set is invalid)."""
    if not isinstance(value, str) or value != value.strip() or "%" in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def is_cidr(value: Any) -> bool:
    """True when ``value`` is an IPv4/IPv6 network (``10.0.0.0/8``) or a single address.

    Host bits must be zero (``10.0.0.5/8`` is rejected: it is almost always a typo), zone ids
    (``fe80::1%eth0``) and surrounding whitespace are rejected, ``any`` is not a CIDR.
    """
    return _parse_network(value) is not None


def canonical_cidr(value: str) -> str:
    """The spelling ufw stores: ``10.1.2.3/32`` → ``10.1.2.3``, ``FD00:0::/64`` → ``fd00::/64``."""
    network = _parse_network(value)
    if network is None:
        raise ValueError(f"{value!r} is not a valid CIDR")
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _canonical_source(value: Any) -> tuple[str, ...]:
    """The ufw tuple sources a wanted rule's ``from`` stands for (``any`` is both families)."""
    if value in (None, "", "any"):
        return ANY_SOURCES
    return (canonical_cidr(value),)


def parse_ufw_tuples(user_rules: str) -> list[dict]:
    """The rules in ufw's ``user.rules``/``user6.rules`` text (``### tuple ###`` lines).

    A tuple line reads ``### tuple ### ACTION PROTO DPORT DST SPORT SRC DIRECTION [comment=HEX]``;
    the comment is hex-encoded UTF-8 and DIRECTION is ``in``, ``out`` or ``in_IFACE``. Lines that
    are not tuples, route rules (``route:ACTION``) and application rules (``… SRC DAPP SAPP
    DIRECTION``) are skipped.
    """
    if not isinstance(user_rules, str):
        raise TypeError(f"ufw user rules must be text, got {type(user_rules).__name__}")
    rules = []
    for line in user_rules.splitlines():
        line = line.strip()
        if not line.startswith(_TUPLE_MARK):
            continue
        fields = line[len(_TUPLE_MARK) :].split()
        if len(fields) < 7 or fields[0].startswith("route:"):
            continue
        action, proto, dport, dst, sport, src, direction = fields[:7]
        if direction.split("_")[0] not in ("in", "out"):
            continue  # application rule: "… SRC DAPP SAPP DIRECTION"
        comment = ""
        for extra in fields[7:]:
            if extra.startswith("comment="):
                try:
                    comment = bytes.fromhex(extra[len("comment=") :]).decode("utf-8")
                except ValueError:
                    comment = ""
        rules.append(
            {
                "rule": action,
                "proto": proto,
                "port": dport,
                "to": dst,
                "from_port": sport,
                "from": src,
                "direction": direction,
                "comment": comment,
            }
        )
    return rules


def _owned(comment: str, owners: Iterable[str]) -> bool:
    return any(comment == owner or comment.startswith(owner + " ") for owner in owners)


def ufw_stale_rules(user_rules: str, wanted: Iterable[Mapping[str, Any]], owners: Iterable[str]) -> list[dict]:
    """Rules ufw holds that carry one of our comments but are not wanted any more.

    ``user_rules`` is the text of ufw's user rules files; ``wanted`` the rules that should exist,
    each with ``rule``, ``from`` (CIDR, address or ``any``), ``port`` and ``proto``; ``owners`` the
    comments this caller owns: a held rule is ours when its comment equals an owner or starts with
    the owner and a space. Comments are not compared: ufw rewrites the comment of an existing rule
    in place. Returns dicts with ``rule``, ``from``, ``port``, ``proto`` and ``from_port`` (None
    for any), ready for ``community.general.ufw`` with ``delete: true``.
    """
    if isinstance(owners, str):
        owners = [owners]
    owners = [o for o in owners if o]
    if not owners:
        raise ValueError("owners must name at least one comment")

    keep = set()
    for index, rule in enumerate(wanted):
        try:
            action, source, port, proto = rule["rule"], rule.get("from", "any"), rule["port"], rule["proto"]
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"wanted rule #{index} must be a dict with rule, port and proto: {rule!r}") from None
        for src in _canonical_source(source):
            keep.add((str(action), str(proto), str(port), "any", src))

    stale = []
    for held in parse_ufw_tuples(user_rules):
        if held["direction"] != "in" or held["to"] not in ANY_SOURCES or not _owned(held["comment"], owners):
            continue
        key = (held["rule"], held["proto"], held["port"], held["from_port"], held["from"])
        if key in keep:
            continue
        stale.append(
            {
                "rule": held["rule"],
                "from": held["from"],
                "port": held["port"],
                "proto": held["proto"],
                "from_port": None if held["from_port"] == "any" else held["from_port"],
                "comment": held["comment"],
            }
        )
    return stale


def _wanted_key(index: int, rule: Any) -> tuple[str, str, str, tuple[str, ...], str]:
    try:
        action, source, port, proto = rule["rule"], rule.get("from", "any"), rule["port"], rule["proto"]
    except (KeyError, TypeError, AttributeError):
        raise ValueError(f"wanted rule #{index} must be a dict with rule, port and proto: {rule!r}") from None
    return str(action), str(proto), str(port), _canonical_source(source), str(rule.get("comment") or "")


def ufw_missing_rules(user_rules: str, wanted: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The wanted rules ufw does not hold yet (or holds with another comment), in the order given.

    A rule from ``any`` counts as held when either family's tuple (``0.0.0.0/0`` or ``::/0``) is
    there: ufw writes the IPv6 one only when IPv6 filtering is on. Only rules to any destination
    and from any source port are considered held, as the firewall role writes them.
    """
    held = set()
    for rule in parse_ufw_tuples(user_rules):
        if rule["direction"] == "in" and rule["to"] in ANY_SOURCES and rule["from_port"] == "any":
            held.add((rule["rule"], rule["proto"], rule["port"], rule["from"], rule["comment"]))
    missing = []
    for index, rule in enumerate(wanted):
        action, proto, port, sources, comment = _wanted_key(index, rule)
        if not any((action, proto, port, src, comment) in held for src in sources):
            missing.append(dict(rule))
    return missing


_UFW_POLICIES = {"DROP": "deny", "REJECT": "reject", "ACCEPT": "allow"}
_UFW_DIRECTIONS = {
    "DEFAULT_INPUT_POLICY": "incoming",
    "DEFAULT_OUTPUT_POLICY": "outgoing",
    "DEFAULT_FORWARD_POLICY": "routed",
}


def ufw_settings(text: str) -> dict:
    """ufw's current settings from the text of ``/etc/default/ufw``, ``/etc/ufw/ufw.conf`` and
    the first line of ``ufw status`` (other lines are ignored).

    Returns ``installed`` (any of them was read), ``active`` (``Status: active``), ``enabled_at_boot``
    (``ENABLED=yes``), ``ipv6`` (bool or None), ``logging`` (``off``, ``low`` … ``full``, or None) and
    ``defaults`` (``incoming``/``outgoing``/``routed`` → ``allow``/``deny``/``reject`` or None), in
    the terms ``community.general.ufw`` takes.
    """
    if not isinstance(text, str):
        raise TypeError(f"ufw settings must be text, got {type(text).__name__}")
    state: dict[str, Any] = {
        "installed": False,
        "active": False,
        "enabled_at_boot": False,
        "ipv6": None,
        "logging": None,
        "defaults": {"incoming": None, "outgoing": None, "routed": None},
    }
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Status:"):
            state["installed"] = True
            state["active"] = line.split(":", 1)[1].strip() == "active"
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip().strip("\"'")
        if key in _UFW_DIRECTIONS:
            state["installed"] = True
            state["defaults"][_UFW_DIRECTIONS[key]] = _UFW_POLICIES.get(value.upper())
        elif key == "IPV6":
            state["installed"] = True
            state["ipv6"] = value.lower() == "yes"
        elif key == "ENABLED":
            state["installed"] = True
            state["enabled_at_boot"] = value.lower() == "yes"
        elif key == "LOGLEVEL":
            state["installed"] = True
            state["logging"] = value.lower() or None
    return state
