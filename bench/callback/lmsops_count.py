# Benchmark helper (bench/ is not part of the collection): counts, per host, the module runs a playbook
# makes on hosts, the results of actions that run on the controller only, and the skipped tasks; and
# times every task header (from its start to the next header's, so a header's time includes its
# results' processing). Writes both as JSON to $LMSOPS_COUNT_OUT at the end of the run.
from __future__ import annotations

import collections
import json
import os
import time

from ansible.plugins.callback import CallbackBase

# Actions whose work happens on the controller: no module is sent to the host.
CONTROLLER_ACTIONS = {
    "set_fact", "assert", "fail", "debug", "meta", "include_tasks", "import_tasks", "include_role",
    "import_role", "include_vars", "validate_argument_spec", "set_stats", "add_host", "group_by",
    "pause", "noop",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lmsops_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.counts = collections.defaultdict(collections.Counter)
        self.headers = 0
        self.timed = []
        self.play = ""

    def _close(self):
        if self.timed and "seconds" not in self.timed[-1]:
            self.timed[-1]["seconds"] = time.monotonic() - self.timed[-1].pop("start")

    def _header(self, task):
        self._close()
        self.headers += 1
        role = task._role.get_name() if task._role else ""
        self.timed.append({"play": self.play, "role": role, "name": task.name or task.action, "action": task.action,
                           "statuses": collections.Counter(), "start": time.monotonic()})

    def v2_playbook_on_play_start(self, play):
        self._close()
        self.play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._header(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._header(task)

    def _count(self, result, skipped=False):
        host = result._host.get_name()
        if self.timed:
            self.timed[-1]["statuses"]["skipped" if skipped else "ran"] += 1
        short = result._task.action.rsplit(".", 1)[-1]
        kind = "controller" if short in CONTROLLER_ACTIONS else "module"
        items = result._result.get("results")
        if skipped:
            self.counts[host]["skipped"] += 1
        elif isinstance(items, list):
            ran = [i for i in items if isinstance(i, dict) and not i.get("skipped")]
            self.counts[host][kind] += len(ran)
            if not ran:
                self.counts[host]["skipped"] += 1
        else:
            self.counts[host][kind] += 1

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._count(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        self._close()
        out = os.environ.get("LMSOPS_COUNT_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump({"headers": self.headers, "hosts": {h: dict(c) for h, c in self.counts.items()},
                           "timed": [dict(t, statuses=dict(t["statuses"])) for t in self.timed]}, handle)
