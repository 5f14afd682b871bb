#!/bin/bash
# Starts the qfarm agent on a worker machine (ExecStart of qfarm-agent.service).
#
# Settings, first found wins for each:
#   1. the environment (systemd's EnvironmentFile=/etc/qfarm/agent.env, or the caller's env)
#   2. /etc/qfarm/agent.env (KEY=VALUE lines, written by the cloud-init user data)
#   3. the instance's user data from the metadata service (QFARM_KEY='value' lines), so an
#      image with the agent baked in only needs user data, like SGE_MASTER_IP_ADDRESS.
# Recognised: QFARM_MASTER QFARM_AGENT_TOKEN QFARM_TLS_FINGERPRINT QFARM_GROUP QFARM_SLOTS QFARM_LABELS
# Test hooks: QFARM_ROOT (prefix for /etc and /var), QFARM_METADATA_URL, QFARM_AGENT_MAIN, QFARM_NODE.
set -euo pipefail

root="${QFARM_ROOT:-}"
metadata="${QFARM_METADATA_URL:-http://100.100.100.200}"
env_file="${root}/etc/qfarm/agent.env"
state_dir="${root}/var/lib/qfarm/agent"
keys="QFARM_MASTER QFARM_AGENT_TOKEN QFARM_TLS_FINGERPRINT QFARM_GROUP QFARM_SLOTS QFARM_LABELS"

say() { echo "qfarm-agent-start: $*" >&2; }

node_bin="${QFARM_NODE:-$(command -v node || true)}"
if [ -z "$node_bin" ]; then say "node not found: install Node 20 (apt-get install nodejs)"; exit 69; fi

# Sets KEY from a KEY=VALUE line unless KEY is already set; only the recognised keys.
take() {
  local line="$1" key value k
  key="${line%%=*}"
  value="${line#*=}"
  for k in $keys; do
    if [ "$key" = "$k" ] && [ -z "${!key:-}" ]; then printf -v "$key" '%s' "$value"; fi
  done
}

if [ -r "$env_file" ]; then
  while IFS= read -r line || [ -n "$line" ]; do take "$line"; done < "$env_file"
fi

# Asks the metadata service (with a token when it offers one); prints nothing when unreachable.
metadata_get() {
  "$node_bin" - "$metadata" "$1" <<'JS'
const [base, path] = process.argv.slice(2);
const headers = {};
try {
  const t = await fetch(base + "/latest/api/token", { method: "PUT", headers: { "X-aliyun-ecs-metadata-token-ttl-seconds": "300" }, signal: AbortSignal.timeout(2000) });
  if (t.ok) headers["X-aliyun-ecs-metadata-token"] = (await t.text()).trim();
} catch {}
try {
  const r = await fetch(base + path, { headers, signal: AbortSignal.timeout(2000) });
  if (r.ok) process.stdout.write(await r.text());
} catch {}
JS
}

# QFARM_KEY='shell quoted' lines of the user data, decoded without evaluating anything.
userdata_settings() {
  metadata_get /latest/user-data | "$node_bin" -e '
let text = "";
process.stdin.on("data", (c) => (text += c)).on("end", () => {
  // First line per key only: the user data later writes agent.env with KEY=${KEY} lines.
  const seen = new Set();
  for (const line of text.split("\n")) {
    const m = /^(QFARM_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (!m || seen.has(m[1])) continue;
    seen.add(m[1]);
    let v = m[2];
    const q = /^(?:\x27[^\x27]*\x27|\\\x27)+$/;
    if (q.test(v)) v = v.replace(/\x27([^\x27]*)\x27|\\(\x27)/g, (_, a, b) => a ?? b);
    if (!/[\n\r]/.test(v)) process.stdout.write(m[1] + "=" + v + "\n");
  }
});'
}

if [ -z "${QFARM_MASTER:-}" ] || [ -z "${QFARM_AGENT_TOKEN:-}" ]; then
  while IFS= read -r line; do take "$line"; done < <(userdata_settings)
fi

if [ -z "${QFARM_MASTER:-}" ]; then say "no master address: set QFARM_MASTER in $env_file or in the instance user data"; exit 78; fi
if [ -z "${QFARM_AGENT_TOKEN:-}" ]; then say "no agent token: set QFARM_AGENT_TOKEN in $env_file or in the instance user data"; exit 78; fi

# On a cloud instance the instance id names the agent and labels it, so the master pairs it with
# the machine it launched. A hand-installed worker (no metadata service) is named by its host
# name and gets no instance-id label: the master must not take it for a provider machine and
# mark it lost when the provider does not list it.
instance_id="$(metadata_get /latest/meta-data/instance-id || true)"
name="${instance_id:-$(hostname)}"
labels="${instance_id:+qfarm.instance-id=${instance_id}}"
if [ -n "${QFARM_LABELS:-}" ]; then labels="${labels:+${labels},}${QFARM_LABELS}"; fi

main="${QFARM_AGENT_MAIN:-}"
if [ -z "$main" ]; then
  for candidate in /opt/qfarm/dist/agent/main.js "$(npm root -g 2>/dev/null || true)/qfarm/dist/agent/main.js"; do
    if [ -f "$candidate" ]; then main="$candidate"; break; fi
  done
fi
if [ -z "$main" ] || [ ! -f "$main" ]; then say "qfarm agent not installed: npm install -g qfarm (or bake it into the image)"; exit 69; fi

mkdir -p "$state_dir"
chmod 0700 "$state_dir"
# The token travels in the environment, never on the command line (visible in ps).
export QFARM_AGENT_TOKEN
say "joining ${QFARM_MASTER} as ${name} (group ${QFARM_GROUP:-default})"
args=(--master "$QFARM_MASTER" --name "$name" --group "${QFARM_GROUP:-default}" --state-dir "$state_dir")
if [ -n "$labels" ]; then args+=(--labels "$labels"); fi
if [ -n "${QFARM_SLOTS:-}" ]; then args+=(--slots "$QFARM_SLOTS"); fi
# An https master is trusted by this fingerprint, not by a CA (the master made its own certificate).
if [ -n "${QFARM_TLS_FINGERPRINT:-}" ]; then args+=(--tls-fingerprint "$QFARM_TLS_FINGERPRINT"); fi
# On an ECS instance, watch the metadata for a spot reclaim notice (harmless on pay-as-you-go).
if [ -n "$instance_id" ]; then args+=(--spot-watch); fi
exec "$node_bin" "$main" "${args[@]}"
