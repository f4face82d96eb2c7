#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test.
# tmux drives the real dashboard in the end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tmux >/dev/null 2>&1; then
    echo "installing tmux for the dashboard's end-to-end test"
    (apt-get install -y tmux || (apt-get update && apt-get install -y tmux)) >/dev/null
fi
cargo test --all-targets "$@"
