#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dpkg_facts
short_description: The installed Debian packages as facts, read from the dpkg database
version_added: 0.1.0
description:
  - Sets C(ansible_facts.packages) in the shape M(ansible.builtin.package_facts) gives it
    (name to a list of C(name), C(version), C(arch), C(source)), read with C(dpkg-query).
  - M(ansible.builtin.package_facts) with the apt manager loads the whole apt cache, every package
    the mirrors offer, through python-apt; dpkg-query reads only the installed ones. Measured on the
    project's lab (6 hosts on 2 CPUs), reading the facts on every host took 11.5 s with
    package_facts against 2.3 s for a plain command (the ad-hoc floor is 2.2 s).
  - Only installed packages count (dpkg status C(ii), or C(hi) when held); removed packages whose
    configuration files remain do not.
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
    platforms: debian
options:
  names:
    description:
      - Read only these packages. The facts then hold the installed ones of them, and
        C(ansible_facts.packages_scope) lists the names asked for, so that
        P(lmsops.stack.packages_present#filter) counts a package outside them as present (its
        task runs) instead of guessing it is absent.
      - Every task of a run copies each host's facts once, so a smaller fact is cheaper for the
        whole run; a Debian host has several hundred packages, a role needs a few dozen.
      - Without it, every installed package is read.
    type: list
    elements: str
notes:
  - The collection's roles skip their apt task when every package they need is in these facts
    (see the P(lmsops.stack.packages_missing#filter) filter).
"""

EXAMPLES = r"""
- name: Read the installed packages
  lmsops.stack.dpkg_facts:

- name: Read only the packages the play manages
  lmsops.stack.dpkg_facts:
    names: [nginx, ufw, telnet]

- name: Install what is missing only
  ansible.builtin.apt:
    name: "{{ wanted }}"
  when: wanted | lmsops.stack.packages_missing(ansible_facts) | length > 0
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    packages:
      description: Installed package name to a list of its installed instances.
      returned: always
      type: dict
      sample: {"ufw": [{"name": "ufw", "version": "0.36.2-1", "arch": "all", "source": "apt"}]}
    packages_scope:
      description: The names asked for with O(names), sorted; absent when every package was read.
      returned: when O(names) is given
      type: list
      elements: str
      sample: [nginx, telnet, ufw]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.lmsops.stack.plugins.module_utils._packages import DPKG_QUERY_FORMAT, parse_dpkg_status, restrict


def main():
    module = AnsibleModule(
        argument_spec={"names": {"type": "list", "elements": "str"}},
        supports_check_mode=True,
    )
    names = module.params["names"]
    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    rc, stdout, stderr = module.run_command([dpkg_query, "-W", "-f", DPKG_QUERY_FORMAT])
    if rc != 0:
        module.fail_json(msg="dpkg-query failed (rc %d): %s" % (rc, stderr.strip()))
    try:
        packages = parse_dpkg_status(stdout)
    except ValueError as exc:
        module.fail_json(msg="cannot read the dpkg-query output: %s" % to_native(exc))
    facts = {"packages": packages}
    if names is not None:
        facts = restrict(packages, names)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
