#!/usr/bin/env bash
# Checks of deploy/ with the real tools: promtool on the alert rules and their unit tests,
# systemd-analyze verify on the units. (The Kubernetes manifests are built and schema-validated by
# test/unit/deploy-kubernetes.unit.test.ts inside `npm test`.) Exit 1 when any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
. .ci/tools.sh
failed=0

ensure_promtool || { ci_log "promtool is not available"; exit 1; }
"$PROMTOOL" check rules deploy/monitoring/alerts.yml || failed=1
(cd deploy/monitoring && "$PROMTOOL" test rules alerts.test.yml) || failed=1

# systemd-analyze verify loads the units offline (systemd need not be PID 1, as in this container).
# Each template is verified through an instance name; ExecStart's /usr/bin/node is pointed at this
# machine's node when Node lives elsewhere (the check is that the unit parses and its command runs).
ensure_systemd_analyze || { ci_log "systemd-analyze is not available"; exit 1; }
units=$(mktemp -d)
node_bin=$(command -v node)
for unit in deploy/systemd/*@.service; do
  name=$(basename "$unit")
  sed "s#/usr/bin/node #$node_bin #" "$unit" > "$units/$name"
done
(cd "$units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./outbox-relay@a.service ./outbox-consumer@warehouse.service) && ci_log "systemd-analyze verify: units OK" || failed=1
rm -rf "$units"
exit $failed
