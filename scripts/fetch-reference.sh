#!/usr/bin/env bash
# Fetch the third-party reference files myelin is tested against, into a cache outside the repository.
#
#   MYELIN_CACHE (default: ~/.cache/myelin)
#     wheels/            pyNeuroML wheel downloaded from PyPI (no dependencies)
#     jnml/              the jNeuroML jar and its unpacked resources:
#       NeuroML2CoreTypes/  LEMSexamples/  examples/  Schemas/
#     tvbo/database/     TVBO's model database, unpacked from the tvbo wheel (models, coupling functions, experiments)
#     venv/              (only with --venv) a Python venv with pyNeuroML, for jnml runs and network generation
#
# Prints the cache directory on success. Nothing here is ever committed.
set -euo pipefail
PYNEUROML_VERSION=1.3.22
TVBO_VERSION=0.5.3
CACHE=${MYELIN_CACHE:-$HOME/.cache/myelin}
want_venv=0
for a in "$@"; do
  case $a in
    --venv) want_venv=1 ;;
    *) echo "usage: $0 [--venv]" >&2; exit 2 ;;
  esac
done
mkdir -p "$CACHE/wheels" "$CACHE/jnml"

whl=$(ls "$CACHE"/wheels/[pP]y[nN]euro[mM][lL]-"$PYNEUROML_VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$whl" ]; then
  python3 -m pip download --quiet --no-deps --dest "$CACHE/wheels" "pyNeuroML==$PYNEUROML_VERSION" >&2
  whl=$(ls "$CACHE"/wheels/[pP]y[nN]euro[mM][lL]-"$PYNEUROML_VERSION"-*.whl | head -1)
fi

if [ ! -f "$CACHE/jnml/.complete" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 - "$whl" "$tmp" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    jars = [n for n in z.namelist() if n.endswith("-jar-with-dependencies.jar")]
    assert jars, "no jNeuroML jar inside the pyNeuroML wheel"
    z.extract(jars[0], out)
    print(f"{out}/{jars[0]}")
PY
  jar=$(find "$tmp" -name '*-jar-with-dependencies.jar' | head -1)
  cp "$jar" "$CACHE/jnml/jNeuroML.jar"
  python3 - "$CACHE/jnml/jNeuroML.jar" "$CACHE/jnml" <<'PY'
import sys, zipfile
jar, out = sys.argv[1], sys.argv[2]
keep = ("NeuroML2CoreTypes/", "LEMSexamples/", "examples/", "Schemas/")
with zipfile.ZipFile(jar) as z:
    for n in z.namelist():
        if n.startswith(keep) and not n.endswith("/"):
            z.extract(n, out)
PY
  touch "$CACHE/jnml/.complete"
fi

if [ ! -f "$CACHE/tvbo/.complete" ]; then
  twhl=$(ls "$CACHE"/wheels/tvbo-"$TVBO_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$twhl" ]; then
    python3 -m pip download --quiet --no-deps --dest "$CACHE/wheels" "tvbo==$TVBO_VERSION" >&2
    twhl=$(ls "$CACHE"/wheels/tvbo-"$TVBO_VERSION"-*.whl | head -1)
  fi
  mkdir -p "$CACHE/tvbo"
  python3 - "$twhl" "$CACHE/tvbo" <<'PY2'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("tvbo/database/") and not n.endswith("/") and "/atlases/" not in n:
            data = z.read(n)
            rel = n[len("tvbo/"):]
            import os
            os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
            open(os.path.join(out, rel), "wb").write(data)
PY2
  touch "$CACHE/tvbo/.complete"
fi

if [ "$want_venv" = 1 ] && [ ! -x "$CACHE/venv/bin/python" ]; then
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install --quiet "pyNeuroML==$PYNEUROML_VERSION" >&2
fi
echo "$CACHE"
