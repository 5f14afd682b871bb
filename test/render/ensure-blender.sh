#!/bin/sh
# Makes sure `blender` is on PATH for the render tests: installs Debian's package when missing
# (CI runs as root on Debian). Fails loudly instead of letting the tests skip.
set -eu
if command -v blender >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-blender: blender is not installed and we are not root; install it with: sudo apt-get install -y blender" >&2
  exit 1
fi
echo "ensure-blender: installing blender with apt-get (about 25 s)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq blender >/dev/null
command -v blender >/dev/null 2>&1 || { echo "ensure-blender: apt-get finished but blender is still not on PATH" >&2; exit 1; }
