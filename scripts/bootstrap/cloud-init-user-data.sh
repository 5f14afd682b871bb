#!/bin/bash
# qfarm worker bootstrap, sent as ECS UserData (cloud-init runs it once, as root, at first boot).
# The master fills in the @@…@@ values (shell-quoted) when it launches the machine; everything
# else is fixed. Keep it under 16 KB: that is ECS's UserData limit.
set -euo pipefail

QFARM_MASTER=@@QFARM_MASTER@@
QFARM_AGENT_TOKEN=@@QFARM_AGENT_TOKEN@@
# SHA-256 of the master's TLS certificate (empty for a plain-http master): the agent pins it.
QFARM_TLS_FINGERPRINT=@@QFARM_TLS_FINGERPRINT@@
QFARM_GROUP=@@QFARM_GROUP@@
QFARM_SLOTS=@@QFARM_SLOTS@@
QFARM_LABELS=@@QFARM_LABELS@@
# Where to get the agent when the image does not have it baked in: an npm tarball URL,
# a package name from the npm registry, or a git URL (npm install -g accepts all three).
QFARM_AGENT_PACKAGE=@@QFARM_AGENT_PACKAGE@@

install -d -m 0755 /etc/qfarm
umask 077
# The token is a secret: root-only file, never on a command line visible in ps.
cat > /etc/qfarm/agent.env <<ENV
QFARM_MASTER=${QFARM_MASTER}
QFARM_AGENT_TOKEN=${QFARM_AGENT_TOKEN}
QFARM_TLS_FINGERPRINT=${QFARM_TLS_FINGERPRINT}
QFARM_GROUP=${QFARM_GROUP}
QFARM_SLOTS=${QFARM_SLOTS}
QFARM_LABELS=${QFARM_LABELS}
ENV
umask 022

# Node 20 and the agent, unless the image (images/qfarm-worker.pkr.hcl) already has them.
if ! command -v qfarm-agent-start >/dev/null 2>&1 && [ ! -x /opt/qfarm/bootstrap/qfarm-agent-start.sh ]; then
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q nodejs npm ca-certificates curl
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y nodejs npm curl
  elif command -v yum >/dev/null 2>&1; then
    yum install -y nodejs npm curl
  fi
  npm install -g --omit=dev "${QFARM_AGENT_PACKAGE}"
  prefix=$(npm prefix -g)
  install -d /opt/qfarm/bootstrap
  cp "${prefix}/lib/node_modules/qfarm/scripts/bootstrap/qfarm-agent-start.sh" /opt/qfarm/bootstrap/
  cp "${prefix}/lib/node_modules/qfarm/scripts/bootstrap/qfarm-agent.service" /etc/systemd/system/
  chmod 0755 /opt/qfarm/bootstrap/qfarm-agent-start.sh
fi

systemctl daemon-reload
systemctl enable --now qfarm-agent.service
