#!/usr/bin/env bash
# Brings up the local lab from inventories/local.yml on a fresh Debian 12 machine (root, or a
# user with sudo): installs what it needs (scripts/setup.sh), validates the inventory and
# renders its configuration into inventories/.edgelab/artifacts/.
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
edgelab render "${inventory[@]}"
printf '\nThe inventory is valid and its configuration is rendered. Starting the lab'"'"'s processes\n' >&2
printf '(media servers, stream-key router, edges, test sources) is not part of this version yet.\n' >&2
