#!/usr/bin/env bash
# The test command: installs and starts what the tests need, then runs every test.
# - tmux drives the real dashboard in the end-to-end test;
# - a single-node Slurm cluster (slurm-wlm, munge) takes the Slurm tests' job arrays.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tmux >/dev/null 2>&1; then
    echo "installing tmux for the dashboard's end-to-end test"
    (apt-get install -y tmux || (apt-get update && apt-get install -y tmux)) >/dev/null
fi
# Exit 3: the packages cannot be installed here; the Slurm tests then say SKIPPED themselves.
rc=0
./scripts/slurm-up.sh || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    echo "the Slurm test cluster did not start (exit $rc); see /var/log/slurm/" >&2
    exit "$rc"
fi
cargo test --all-targets "$@"
