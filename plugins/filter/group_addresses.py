"""Jinja2 filters for the firewall role; the logic lives in module_utils/_inventory.py."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.module_utils import _inventory


def group_addresses(hostvars: Any, groups: Any, from_groups: Any) -> list:
    try:
        return _inventory.group_addresses(hostvars, groups, from_groups)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


def group_hosts_by_address(hostvars: Any, groups: Any, from_groups: Any) -> dict:
    try:
        return _inventory.group_hosts_by_address(hostvars, groups, from_groups)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


def is_cidr(value: Any) -> bool:
    return _inventory.is_cidr(value)


def ufw_stale_rules(user_rules: Any, wanted: Any, owners: Any) -> list:
    try:
        return _inventory.ufw_stale_rules(user_rules, wanted, owners)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


def ufw_missing_rules(user_rules: Any, wanted: Any) -> list:
    try:
        return _inventory.ufw_missing_rules(user_rules, wanted)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


def ufw_settings(text: Any) -> dict:
    try:
        return _inventory.ufw_settings(text)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    """lmsops.stack address and ufw filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "group_addresses": group_addresses,
            "group_hosts_by_address": group_hosts_by_address,
            "is_cidr": is_cidr,
            "ufw_stale_rules": ufw_stale_rules,
            "ufw_missing_rules": ufw_missing_rules,
            "ufw_settings": ufw_settings,
        }
