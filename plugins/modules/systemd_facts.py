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
options: {}
notes:
  - Facts describe the host when the module ran; units a later task installs are absent, and
    absent units always count as needing a change.
"""

EXAMPLES = r"""
- name: Read the systemd units
  lmsops.stack.systemd_facts:

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
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lmsops.stack.plugins.module_utils._systemd import parse_units


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    systemctl = module.get_bin_path("systemctl", required=True)
    outputs = []
    for listing in (["list-unit-files"], ["list-units", "--all"]):
        rc, out, err = module.run_command([systemctl] + listing + ["--no-legend", "--no-pager", "--plain"])
        if rc != 0:
            module.fail_json(msg="systemctl %s failed (rc %d): %s" % (listing[0], rc, err.strip()))
        outputs.append(out)
    module.exit_json(changed=False, ansible_facts={"systemd_units": parse_units(outputs[0], outputs[1])})


if __name__ == "__main__":
    main()
