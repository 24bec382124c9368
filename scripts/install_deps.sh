#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those missing (so it also works offline once
# they are present); extra package names may be given as arguments. The CUDA toolkit is optional:
# without nvcc the project builds CPU-only. fonts-dejavu-core is read at run time for the text of
# plots (without it they use a built-in bitmap font).
set -euo pipefail
need="cmake ninja-build g++ libgtest-dev libfmt-dev libcli11-dev nlohmann-json3-dev libstb-dev zlib1g-dev libeigen3-dev fonts-dejavu-core $*"
missing=""
for p in $need; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi
