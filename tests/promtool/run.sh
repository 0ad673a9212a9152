#!/usr/bin/env bash
# The prometheus role's alert rules, checked on the control node without installing Prometheus:
#   1. promtool from Debian's `prometheus` package, extracted once into a cache directory
#      ($LMSOPS_PROMTOOL_DIR, default .venv/promtool/; `apt-get download`, no service installed);
#   2. the rules rendered from roles/prometheus/templates/lmsops.rules.yml.j2 with the role's defaults
#      (render.yml) into tests/output/promtool/;
#   3. `promtool check rules` on them, a check that every alert has a test case where it fires and one
#      where it does not, then `promtool test rules` on every tests/promtool/*_test.yml.
# Usage: tests/promtool/run.sh   (from anywhere; exits non-zero on the first failure)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
CACHE=${LMSOPS_PROMTOOL_DIR:-$ROOT/.venv/promtool}
PROMTOOL=$CACHE/usr/bin/promtool
OUT=$ROOT/tests/output/promtool
log() { printf '[promtool] %s\n' "$*" >&2; }

if [ ! -x "$PROMTOOL" ]; then
  log "extracting promtool from Debian's prometheus package into $CACHE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download writes into the current directory; the _apt sandbox user cannot write a mktemp dir.
  chmod 0755 "$tmp"
  if ! (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1); then
    log "apt-get download failed: refreshing the package lists"
    apt-get update -qq
    (cd "$tmp" && apt-get download -q prometheus >/dev/null)
  fi
  mkdir -p "$CACHE"
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$CACHE" ./usr/bin/promtool
fi
log "$("$PROMTOOL" --version 2>&1 | head -n 1)"

log "rendering the rules with the role's defaults into ${OUT#"$ROOT"/}"
ansible-playbook -i localhost, tests/promtool/render.yml -e "promtool_output_dir=$OUT" >/dev/null \
  || { ansible-playbook -i localhost, tests/promtool/render.yml -e "promtool_output_dir=$OUT"; exit 1; }

"$PROMTOOL" check rules "$OUT"/lmsops.rules.yml

# Every alert of the rules must be tested both ways: some test expects it firing, some expects nothing.
python3 - "$OUT/lmsops.rules.yml" tests/promtool/*_test.yml <<'PY'
import sys
import yaml

rules = yaml.safe_load(open(sys.argv[1]))
alerts = {r["alert"] for g in rules["groups"] for r in g.get("rules") or [] if "alert" in r}
fires, quiet = set(), set()
for path in sys.argv[2:]:
    for test in yaml.safe_load(open(path)).get("tests", []):
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
problems = [f"{a}: no test where it fires" for a in sorted(alerts - fires)]
problems += [f"{a}: no test where it does not fire" for a in sorted(alerts - quiet)]
problems += [f"{a}: tested but not in the rules" for a in sorted((fires | quiet) - alerts)]
if problems:
    sys.exit("[promtool] untested alerts:\n  " + "\n  ".join(problems))
print(f"[promtool] all {len(alerts)} alerts are tested firing and not firing", file=sys.stderr)
PY

"$PROMTOOL" test rules tests/promtool/*_test.yml
