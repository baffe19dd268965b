#!/usr/bin/env bash
# myelin's main job on a built-in default: take the official HH-cell example (Ex5, fetched on
# first use from the pyNeuroML wheel into ~/.cache/myelin), validate it, simulate it as jNeuroML
# would, and show the start of the voltage trace it writes.
#   scripts/demo.sh [OUT_DIR]      (default: ./myelin-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-myelin-demo}
cache=$(scripts/fetch-reference.sh)
cargo build --release -q -p myelin
ex=$cache/jnml/LEMSexamples/LEMS_NML2_Ex5_DetCell.xml
core=$cache/jnml/NeuroML2CoreTypes
target/release/myelin validate "$ex" -I "$core" -I "$cache/jnml/examples"
target/release/myelin run "$ex" -I "$core" --out-dir "$out"
echo "== first rows of $out/results/ex5_v.dat (time s, v V)"
head -5 "$out/results/ex5_v.dat"
