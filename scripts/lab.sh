#!/usr/bin/env bash
# Brings up the local lab from inventories/local.yml on a Debian 12 machine: installs what it
# needs (scripts/setup.sh), validates the inventory, then starts redis, two media servers, the
# stream-key router, two edges and a test source per stream on loopback, and prints the stream
# URLs and where to publish your own. Stop it with: npx edgelab down
#
# Run it as yourself. The lab itself never needs root; sudo is used only when Debian packages
# are missing (scripts/setup.sh installs them with apt-get), and then asks for your password.
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
