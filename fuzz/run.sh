#!/usr/bin/env bash
# Run every fuzz target from its seeds, briefly by default:
#   fuzz/run.sh [runs per target]     (default 20000; e.g. 2000000 for a long run)
# The growing corpus goes to a temporary folder, never into the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in cookie signing record begin; do
    mkdir -p "$work/$target"
    cp fuzz/seeds/"$target"/* "$work/$target/"
    .venv/bin/python fuzz/targets.py "$target" -runs="$runs" -max_len=4096 \
        -artifact_prefix="$work/" "$work/$target" 2>&1 | tail -n 1
done
