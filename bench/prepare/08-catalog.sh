#!/usr/bin/env bash
# The baseline hasher, from Debian (untimed).
set -euo pipefail
command -v b3sum >/dev/null && exit 0
if [ "$(id -u)" = 0 ]; then
    apt-get install -y b3sum || { apt-get update && apt-get install -y b3sum; }
else
    sudo apt-get install -y b3sum
fi
