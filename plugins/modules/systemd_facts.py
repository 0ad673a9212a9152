#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: systemd_facts
short_description: Every systemd unit's load, active and enablement state as facts, in one read
version_added: 0.1.0
description:
  - Sets C(ansible_facts.systemd_units) from C(systemctl list-unit-files) and
    C(systemctl list-units --all), mapping each unit name to its C(unit_file_state) (enabled,
    disabled, static, masked...), C(load_state), C(active_state) and C(sub_state).
  - The collection's roles pass these facts to the P(lmsops.stack.units_to_change#filter) filter
    and run M(ansible.builtin.systemd_service) only for units whose state differs, so a converge
    that changes nothing does not run one module per service.
  - Unlike M(ansible.builtin.service_facts) it covers every unit type (timers, sockets) and runs two
    C(systemctl) listings only.
author:
  - lmsops.stack maintainers (@lmsops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
    description: Sets host facts.
  platform:
    platforms: posix
options:
  patterns:
    description:
      - Read only the units whose names match these shell-style patterns (as C(systemctl
        list-unit-files PATTERN...) takes them), such as V(nginx.service) or V(lmsops-backup-*).
      - Listing every unit file takes C(systemctl) about half a second on a small host, listing a few
        by name about a hundredth; and every task of a run copies each host's facts once, so fewer
        units make the whole run cheaper. C(ansible_facts.systemd_units_scope) then lists the
        patterns.
      - A name without a unit type means a service (V(nginx) is V(nginx.service)).
      - Without it, every unit is read.
    type: list
    elements: str
notes:
  - Facts describe the host when the module ran; units a later task installs are absent, and
    absent units always count as needing a change.
"""

EXAMPLES = r"""
- name: Read the systemd units
  lmsops.stack.systemd_facts:

- name: Read only the units a play manages
  lmsops.stack.systemd_facts:
    patterns: [nginx.service, "php*-fpm.service", "lmsops-backup-*"]

- name: Enable and start what is not yet
  ansible.builtin.systemd_service:
    name: "{{ item.name }}"
    enabled: "{{ item.enabled }}"
    state: "{{ item.state }}"
  loop: "{{ [{'name': 'nginx.service', 'enabled': true, 'state': 'started'}] | lmsops.stack.units_to_change(ansible_facts) }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    systemd_units:
      description: Unit name to its state.
      returned: always
      type: dict
      sample:
        ssh.service: {unit_file_state: enabled, load_state: loaded, active_state: active, sub_state: running}
    systemd_units_scope:
      description: The patterns read with O(patterns) (names completed with C(.service)); absent when every unit was read.
      returned: when O(patterns) is given
      type: list
      elements: str
      sample: [nginx.service, "lmsops-backup-*"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lmsops.stack.plugins.module_utils._systemd import parse_units, unit_patterns


def main():
    module = AnsibleModule(
        argument_spec={"patterns": {"type": "list", "elements": "str"}},
        supports_check_mode=True,
    )
    patterns = module.params["patterns"]
    if patterns is not None:
        try:
            patterns = unit_patterns(patterns)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        if not patterns:
            module.exit_json(changed=False, ansible_facts={"systemd_units": {}, "systemd_units_scope": []})
    systemctl = module.get_bin_path("systemctl", required=True)
    outputs = []
    for listing in (["list-unit-files"], ["list-units", "--all"]):
        rc, out, err = module.run_command([systemctl] + listing + ["--no-legend", "--no-pager", "--plain", "--"]
                                          + (patterns or []))
        # list-unit-files exits 1 when no unit file matches the patterns: an empty listing.
        if rc != 0 and not (patterns and rc == 1 and not out.strip() and not err.strip()):
            module.fail_json(msg="systemctl %s failed (rc %d): %s" % (listing[0], rc, err.strip()))
        outputs.append(out)
    facts = {"systemd_units": parse_units(outputs[0], outputs[1])}
    if patterns is not None:
        facts["systemd_units_scope"] = patterns
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
