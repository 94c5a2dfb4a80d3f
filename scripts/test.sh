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

# Each phase prints its duration, so a slow CI run says where the time went.

phase() {
  local name=$1; shift
  printf '\n\033[1m== %s\033[0m\n' "$name" >&2
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  printf '\033[1m== %s: %ss%s\033[0m\n' "$name" "$((SECONDS - t0))" "$([ "$rc" -eq 0 ] || echo " (failed, exit $rc)")" >&2
  return "$rc"
}
printf '\033[1m== setup: %ss\033[0m\n' "$SECONDS" >&2
phase "lint (eslint, typescript-eslint strict)" npm run --silent lint
phase "typecheck (tsc --noEmit)" npm run --silent typecheck
phase "build" npm run --silent build
phase "tests (vitest)" npx vitest run "$@"
printf '\033[1m== total: %ss\033[0m\n' "$SECONDS" >&2
