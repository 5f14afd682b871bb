#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing (idempotent; needs root or sudo).
# Installed here, before tap starts, so that parallel test files never race for the dpkg lock.
set -euo pipefail
packages=(procps snakemake bwa samtools bcftools blender chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
