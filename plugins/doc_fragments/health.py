# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options and notes shared by the lmsops.stack health-check modules (see module_utils/_health.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  fail_on_critical:
    description:
      - Fail the task when any check is C(critical), with a C(msg) naming each critical check, its
        value and the threshold it crossed.
      - Set to V(false) to collect the results of many hosts without failing (the fleet health
        playbook builds one summary this way); critical checks are then emitted as warnings and
        reported in RV(status) and RV(critical_checks).
    type: bool
    default: true
notes:
  - The module only reads; it never changes the host and always reports C(changed=false), also in
    check mode.
  - Each check compares a value with its thresholds strictly (C(>) for "higher is worse", C(<) for
    "lower is worse"); a threshold of V(null) is not judged. Warning thresholds produce Ansible
    warnings and a C(warning) status; they never fail the task.
"""
