#!/usr/bin/env bash
# The main job on a built-in default: validate the official Izhikevich example (Ex2) and the
# HH cell of Ex5 against the official core types, fetched on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(scripts/fetch-reference.sh)
cargo build --release -q -p myelin
ex=$cache/jnml/LEMSexamples
exec target/release/myelin validate "$ex/LEMS_NML2_Ex2_Izh.xml" "$ex/LEMS_NML2_Ex5_DetCell.xml" \
  -I "$cache/jnml/NeuroML2CoreTypes" -I "$cache/jnml/examples" "$@"
