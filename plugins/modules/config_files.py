#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: config_files
short_description: Keep many configuration files and directories in their wanted state in one run
version_added: 0.1.0
description:
  - Compares a list of files, directories and key-value settings with what the host holds and
    changes only what differs, in one module run on the host.
  - A role that writes ten small configuration files with M(ansible.builtin.template) pays for ten
    or twenty module runs on every converge, even when nothing changes; this module pays for one.
    Render file contents on the controller with the P(lmsops.stack.template#lookup) lookup (the same
    result as P(ansible.builtin.template#lookup), without its copy of every variable per render).
  - New contents are written to a temporary file next to the destination, checked with O(files[].validate)
    when given, and moved into place atomically.
  - A file that holds secrets takes its content in O(files[].secret_content), which the module never
    shows, neither in its diff nor in its output. One task can so write secret and plain files together
    and still show the plain files' diff. C(no_log) on the task hides all of them.
author:
  - lmsops.stack maintainers (@lmsops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  stat:
    description:
      - Paths the module only looks at, after applying O(files), and reports in RV(stat) (whether
        each exists and is a directory). A role that needs to know whether something exists on the
        host (to run a command only when it does not, say) learns it from the module run it makes
        anyway, instead of running another module.
    type: list
    elements: path
    default: []
  files:
    description: The files, directories and settings to manage, applied in the order given.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file or directory.
        type: path
        required: true
      state:
        description:
          - V(file) writes O(files[].content) (when given) or sets O(files[].settings) in the file.
          - V(exists) creates an empty file when it is missing and leaves the content of an existing
            one alone. It is meant for files another program writes, such as a log that must exist with
            the right owner and mode before its service starts. Only the attributes are managed.
          - V(directory) creates the directory; V(absent) removes a file (directories are refused).
        type: str
        choices: [file, exists, directory, absent]
        default: file
      content:
        description: The whole content of the file. Mutually exclusive with O(files[].settings).
        type: str
      secret_content:
        description:
          - Like O(files[].content), for a file that holds secrets (passwords, keys, tokens). Its value
            is masked in the module's output, and the diff of the file, and of its removal with
            O(files[].state=absent), shows only that it changed.
          - Mutually exclusive with O(files[].content) and O(files[].settings).
        type: str
      settings:
        description:
          - C(KEY<separator>VALUE) lines to set in an existing file, leaving its other lines as they are.
          - The first active line of each key is replaced, later active duplicates are removed and
            missing keys are appended. Booleans are written V(yes)/V(no).
        type: dict
      separator:
        description: What separates a key from its value in O(files[].settings).
        type: str
        default: " "
      create:
        description:
          - With O(files[].settings), create the file when it is missing. Otherwise a missing file
            fails, except in check mode, where it counts as a change (an earlier task of the same run,
            such as a package install, would have made it).
        type: bool
        default: false
      owner:
        description: Owner of the file or directory.
        type: str
        default: root
      group:
        description: Group of the file or directory.
        type: str
        default: root
      mode:
        description: Permissions, as an octal string such as V('0644').
        type: str
      validate:
        description:
          - Command that checks a new content before it is installed; C(%s) is replaced with the
            path of the temporary file. The file is not installed when the command fails.
        type: str
"""

EXAMPLES = r"""
- name: Write the hardening settings
  lmsops.stack.config_files:
    files:
      - dest: /etc/systemd/journald.conf.d
        state: directory
        mode: "0755"
      - dest: /etc/systemd/journald.conf.d/90-lmsops.conf
        content: "{{ lookup('lmsops.stack.template', 'journald.conf.j2') }}"
        mode: "0644"
      - dest: /etc/apt/apt.conf.d/20auto-upgrades
        content: "{{ lookup('lmsops.stack.template', '20auto-upgrades.j2') }}"
        mode: "0644"
        validate: apt-config -c %s dump
      - dest: /etc/login.defs
        settings:
          PASS_MAX_DAYS: 365
          UMASK: "027"
        separator: "\t"
        mode: "0644"
      - dest: /etc/myapp/credentials
        secret_content: "password={{ myapp_password }}\n"
        mode: "0600"
      - dest: /etc/cron.d/old-job
        state: absent
      - dest: /var/log/myapp/access.log
        state: exists
        owner: www-data
        group: adm
        mode: "0640"
    stat: [/var/lib/myapp/store]
  register: myapp_files

- name: Initialise the store when it does not exist
  ansible.builtin.command:
    argv: [myapp, init, /var/lib/myapp/store]
    creates: /var/lib/myapp/store
  when: not myapp_files.stat['/var/lib/myapp/store'].exists
"""

RETURN = r"""
files:
  description: One entry per item of O(files), in order.
  returned: always
  type: list
  elements: dict
  contains:
    dest:
      description: The path.
      type: str
    state:
      description: The wanted state.
      type: str
    changed:
      description: Whether the item was (or in check mode would be) changed.
      type: bool
stat:
  description: For each path of O(stat), whether it exists and whether it is a directory (symbolic links followed).
  returned: always
  type: dict
  sample: {"/var/lib/myapp/store": {"exists": true, "isdir": true}}
changed_files:
  description: The paths that were (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: [/etc/login.defs]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.lmsops.stack.plugins.module_utils._config_files import check_settings, set_settings


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


class ConfigFiles:
    def __init__(self, module):
        self.module = module
        self.diffs = []

    def _attributes(self, item, changed, path):
        file_args = {
            "path": path, "mode": item["mode"], "owner": item["owner"], "group": item["group"],
            "secontext": None, "attributes": None,
        }
        diff = {"before": {"path": path}, "after": {"path": path}}
        changed = self.module.set_fs_attributes_if_different(file_args, changed, diff=diff, expand=False)
        if diff["before"] != diff["after"] and len(diff["before"]) > 1:
            self.diffs.append({"before_header": path + " (attributes)", "after_header": path + " (attributes)",
                               "before": _attribute_lines(diff["before"]), "after": _attribute_lines(diff["after"])})
        return changed

    def _write(self, item, data, old):
        dest = item["dest"]
        if old is not None and data == old:
            return False
        if item["secret"]:
            before, after = (SECRET_BEFORE if old is not None else ""), SECRET_AFTER
        else:
            before, after = to_text(old or b"", errors="surrogate_or_replace"), to_text(data, errors="surrogate_or_replace")
        self.diffs.append({
            "before_header": dest if old is not None else "%s (absent)" % dest,
            "after_header": dest,
            "before": before,
            "after": after,
        })
        if self.module.check_mode:
            return True
        directory = os.path.dirname(dest)
        if not os.path.isdir(directory):
            self.module.fail_json(msg="cannot write %s: directory %s does not exist" % (dest, directory))
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest))
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            if item["validate"]:
                if "%s" not in item["validate"]:
                    self.module.fail_json(msg="validate for %s must contain %%s, got %r" % (dest, item["validate"]))
                rc, stdout, stderr = self.module.run_command(item["validate"].replace("%s", tmp))
                if rc != 0:
                    self.module.fail_json(msg="new content of %s failed validation with %r (rc %d): %s"
                                          % (dest, item["validate"], rc, (stderr or stdout).strip()))
            self.module.atomic_move(tmp, dest, unsafe_writes=False)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True

    def apply(self, item):
        dest = item["dest"]
        if not os.path.isabs(dest):
            self.module.fail_json(msg="dest must be an absolute path, got %r" % dest)
        state = item["state"]
        if state == "absent":
            if os.path.isdir(dest) and not os.path.islink(dest):
                self.module.fail_json(msg="%s is a directory; config_files removes files only" % dest)
            if not os.path.lexists(dest):
                return False
            if not os.path.isfile(dest):
                before = ""
            elif item["secret"]:
                before = SECRET_BEFORE
            else:
                before = to_text(_read(dest), errors="surrogate_or_replace")
            self.diffs.append({"before_header": dest, "after_header": "%s (absent)" % dest, "before": before, "after": ""})
            if not self.module.check_mode:
                os.unlink(dest)
            return True
        if state == "directory":
            changed = False
            if not os.path.isdir(dest):
                if os.path.lexists(dest):
                    self.module.fail_json(msg="%s exists and is not a directory" % dest)
                changed = True
                self.diffs.append({"before_header": dest, "after_header": dest,
                                   "before": "", "after": "directory %s\n" % dest})
                if self.module.check_mode:
                    return True
                os.makedirs(dest)
            return self._attributes(item, changed, dest)
        if state == "exists":
            if item["content"] is not None or item["settings"] is not None:
                self.module.fail_json(msg="%s: state exists takes neither content nor settings" % dest)
            if os.path.isdir(dest):
                self.module.fail_json(msg="%s is a directory, not a file" % dest)
            if os.path.lexists(dest):
                return self._attributes(item, False, dest)
            changed = self._write(item, b"", None)
            if self.module.check_mode:
                return changed
            return self._attributes(item, changed, dest)
        # state == file
        has_content, has_settings = item["content"] is not None, item["settings"] is not None
        if has_content == has_settings:
            self.module.fail_json(msg="%s: give exactly one of content or settings" % dest)
        if os.path.isdir(dest):
            self.module.fail_json(msg="%s is a directory, not a file" % dest)
        old = _read(dest) if os.path.exists(dest) else None
        if has_content:
            data = to_bytes(item["content"], errors="surrogate_or_strict")
        else:
            if old is None and not item["create"]:
                if self.module.check_mode:
                    # An earlier task of the same run (a package install) would have made the file.
                    after = "".join("%s%s%s\n" % (k, item["separator"], v) for k, v in item["settings"].items())
                    self.diffs.append({"before_header": "%s (absent)" % dest, "after_header": dest,
                                       "before": "", "after": after})
                    return True
                self.module.fail_json(msg="%s does not exist; set create: true to write its settings anyway" % dest)
            try:
                data = to_bytes(set_settings(to_text(old or b"", errors="surrogate_or_strict"),
                                             item["settings"], item["separator"]))
            except ValueError as exc:
                self.module.fail_json(msg="%s: %s" % (dest, to_native(exc)))
        changed = self._write(item, data, old)
        if self.module.check_mode and old is None:
            return True
        return self._attributes(item, changed, dest)


SECRET_BEFORE = "(secret content, not shown)\n"
SECRET_AFTER = "(new secret content, not shown)\n"


def _attribute_lines(values):
    return "".join("%s: %s\n" % (key, values[key]) for key in sorted(values) if key != "path")


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=dict(
                dest=dict(type="path", required=True),
                state=dict(type="str", choices=["file", "exists", "directory", "absent"], default="file"),
                content=dict(type="str"),
                secret_content=dict(type="str", no_log=True),
                settings=dict(type="dict"),
                separator=dict(type="str", default=" "),
                create=dict(type="bool", default=False),
                owner=dict(type="str", default="root"),
                group=dict(type="str", default="root"),
                mode=dict(type="str"),
                validate=dict(type="str"),
            )),
            stat=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    for item in module.params["files"]:
        item["secret"] = item["secret_content"] is not None
        if item["secret"]:
            if item["content"] is not None or item["settings"] is not None:
                module.fail_json(msg="%s: give only one of content, secret_content or settings" % item["dest"])
            item["content"] = item["secret_content"]
        if item["settings"] is not None:
            try:
                check_settings(item["settings"], item["separator"])
            except ValueError as exc:
                module.fail_json(msg="%s: %s" % (item["dest"], to_native(exc)))
    runner = ConfigFiles(module)
    results = []
    for item in module.params["files"]:
        results.append({"dest": item["dest"], "state": item["state"], "changed": bool(runner.apply(item))})
    changed_files = [r["dest"] for r in results if r["changed"]]
    result = {"changed": bool(changed_files), "files": results, "changed_files": changed_files,
              "stat": dict((path, {"exists": os.path.exists(path), "isdir": os.path.isdir(path)})
                           for path in module.params["stat"])}
    if module._diff:
        result["diff"] = runner.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
