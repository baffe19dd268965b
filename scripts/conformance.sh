#!/usr/bin/env bash
# Conformance check against jNeuroML 0.14 (see scripts/conformance.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p myelin
exec python3 scripts/conformance.py --myelin target/release/myelin "$@"
