#!/usr/bin/env bash
# Brings up the local lab from inventories/local.yml on a fresh Debian 12 machine (root, or a
# user with sudo): installs what it needs (scripts/setup.sh), validates the inventory, then
# starts redis, two media servers, the stream-key router, two edges and a test source per
# stream on loopback, and prints the stream URLs. Stop it with: npx edgelab down
#
#   scripts/lab.sh                       # the embedded default, inventories/local.yml
#   scripts/lab.sh -i my-inventory.yml   # any other inventory
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
edgelab_setup

inventory=(-i inventories/local.yml)
[ "$#" -gt 0 ] && inventory=("$@")
edgelab() { node bin/edgelab.cjs "$@"; }

edgelab validate "${inventory[@]}"
edgelab up "${inventory[@]}"
