#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine (root, or a user with sudo):
# installs what it needs (scripts/setup.sh), then lint, typecheck, build, and vitest
# (unit + integration against the real programs). Ends with vitest's summary line.
#
#   scripts/test.sh            # everything
#   scripts/test.sh test/unit  # extra arguments go to vitest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
edgelab_setup

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
step "lint (eslint, typescript-eslint strict)"
npm run --silent lint
step "typecheck (tsc --noEmit)"
npm run --silent typecheck
step "build"
npm run --silent build
step "tests (vitest)"
exec npx vitest run "$@"
