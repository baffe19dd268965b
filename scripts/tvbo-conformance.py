#!/usr/bin/env python3
"""Export every model of TVBO's database with `myelin export` and run each in jNeuroML.

For each model file (database/models/*.yaml|yml and models/neuroml/*.yaml: 54 files) it reports
one of:
  ran       exported, and jNeuroML ran it cleanly (exit 0, no SEVERE/Exception in its log, an
            output file with the expected rows, all values finite), and its output agrees with
            an independent forward-Euler integration of the YAML equations written here with
            SymPy (jLEMS's step semantics; compared up to where the model itself amplifies
            rounding, found by a twin run with a time step 1e-10 longer)
  refused   myelin refused the export, with the reason it gave
  diverged  jNeuroML stopped when the state became NaN: the model's own dynamics blow up with
            its default settings (the Euler reference blows up too)
  failed    myelin failed unexpectedly, jNeuroML did not run the export cleanly (its first
            SEVERE or exception line is shown), or the numbers disagree with the reference

With --experiments, also the experiments of database/experiments/neuroml/. With --builtin, myelin's
own built-in models instead (`myelin models`): each is exported by name (`myelin export NAME`),
run in jNeuroML and with `myelin run`, and compared with the Euler reference computed from the
YAML that `myelin models NAME` prints; TVBO's database is then not needed.

With --jax, each model is also exported with `--to jax`; the script must compile, and where a
Python with JAX is at hand it is run with forward Euler and compared with jNeuroML's output.

--network checks only a coupled 3-node network; --noise only additive noise, statistically (an
Ornstein-Uhlenbeck process in jNeuroML, from its YAML and from its LEMS export in myelin).

Usage: scripts/tvbo-conformance.py [--duration 50ms] [--myelin PATH] [--only NAME ...]
                                   [--experiments | --builtin | --network | --noise] [--jax]
                                   [--json FILE] [--keep DIR] [--no-euler]
The Euler reference needs sympy and PyYAML (skipped with a note when missing).
Exit status: 0 when nothing failed, 1 otherwise, 2 when the reference files or tools are missing.
The reference files come from scripts/fetch-reference.sh (never committed).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_dir():
    c = os.environ.get("MYELIN_CACHE")
    return Path(c) if c else Path.home() / ".cache" / "myelin"


def first_problem(log):
    """The first line of a jNeuroML log that reports an error."""
    lines = log.splitlines()
    for k, line in enumerate(lines):
        if "SEVERE" in line or "Exception" in line or line.startswith("Error") or "ERROR" in line:
            detail = line.strip()
            # jNeuroML often puts the reason on the next line.
            if k + 1 < len(lines) and len(detail) < 40:
                detail += " " + lines[k + 1].strip()
            return detail[:300]
    return None


def check_output(path, expected_rows, columns):
    if not path.is_file():
        return f"no output file {path.name}"
    rows = 0
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            rows += 1
            if len(parts) != columns:
                return f"row {rows} has {len(parts)} columns, expected {columns}"
            try:
                vals = [float(x) for x in parts]
            except ValueError:
                return f"row {rows} is not numeric"
            if not all(math.isfinite(v) for v in vals):
                return f"non-finite value in row {rows} (t={parts[0]})"
    if expected_rows is not None and abs(rows - expected_rows) > 1:
        return f"{rows} rows, expected {expected_rows}"
    return None


# ---------------------------------------------------------------------------------------------
# An independent forward-Euler integration of the YAML equations (SymPy), to check the numbers
# jNeuroML computes from myelin's export. Semantics as jLEMS's: derived variables from the
# current state, all rates, one simultaneous update, then events (conditions on the new state,
# assignments in order) and domain clamps; the first row is the initial state.

def load_yaml(path):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # YAML 1.1 reads keys such as `n` as booleans; TVBO means names.
    for ch in "yYnNoOtTfF":
        Loader.yaml_implicit_resolvers[ch] = [
            (tag, rx) for tag, rx in Loader.yaml_implicit_resolvers.get(ch, []) if tag != "tag:yaml.org,2002:bool"
        ]
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


def find_model(database, name):
    for d in (database / "models", database / "models" / "neuroml"):
        for ext in ("yaml", "yml"):
            p = d / f"{name}.{ext}"
            if p.is_file():
                return load_yaml(p)
    for d in (database / "models", database / "models" / "neuroml"):
        for p in sorted(d.glob("*.y*ml")):
            m = load_yaml(p)
            if isinstance(m, dict) and m.get("name") == name:
                return m
    return None


def experiment_of(path, database):
    """(dynamics dict, integration dict) of a model or experiment file."""
    doc = load_yaml(path)
    if not any(k in doc for k in ("dynamics", "integration", "network")):
        return doc, {}
    dyn = doc.get("dynamics") or {}
    if isinstance(dyn, str):
        dyn = {"name": dyn}
    if not dyn.get("state_variables"):
        base = find_model(database, dyn.get("name"))
        for k, v in (dyn.get("parameters") or {}).items():
            if v and "value" in v:
                base.setdefault("parameters", {}).setdefault(k, {})["value"] = v["value"]
        dyn = base
    return dyn, doc.get("integration") or {}


def euler_reference(dyn, n_steps, dt, perturb=0.0):
    import math
    import sympy as sp
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations, convert_xor

    def rhs(x):
        if isinstance(x, dict):
            x = (x.get("equation") or x).get("rhs") if "equation" in x or "rhs" in x else None
        return None if x is None else str(x)

    params = {k: float((v or {}).get("value", 0.0)) for k, v in (dyn.get("parameters") or {}).items()}
    svs = dyn.get("state_variables") or {}
    dvs = dyn.get("derived_variables") or {}
    dps = dyn.get("derived_parameters") or {}
    funcs = dyn.get("functions") or {}
    names = set(params) | set(svs) | set(dvs) | set(dps) | set(dyn.get("coupling_inputs") or {}) | {"t"}
    local = {n: sp.Symbol(n) for n in names}
    fnames = list(funcs)
    for f in fnames:
        local[f] = sp.Function(f)
    tr = standard_transformations + (convert_xor,)

    def parse(text):
        for a, b in ((".gt.", ">"), (".lt.", "<"), (".geq.", ">="), (".leq.", "<="), (".eq.", "=="), (".and.", "&")):
            text = text.replace(a, b)
        return parse_expr(text, local_dict=local, transformations=tr, evaluate=False)

    lambdas = {}
    for f, spec in funcs.items():
        args = spec.get("arguments") or {}
        args = list(args) if isinstance(args, (dict, list)) else []
        args = [a if isinstance(a, str) else a.get("name") for a in args]
        sub = dict(local)
        for a in args:
            sub[a] = sp.Symbol(a)
        body = parse_expr(rhs(spec), local_dict=sub, transformations=tr, evaluate=False)
        lambdas[f] = sp.Lambda(tuple(sp.Symbol(a) for a in args), body)

    def inline(e):
        for _ in range(20):
            new = e
            for f, lam in lambdas.items():
                new = new.replace(local[f], lam)
            if new == e:
                break
            e = new
        return e

    # Derived parameters, substituted until none is left.
    dp = {k: inline(parse(rhs(v))) for k, v in dps.items()}
    for _ in range(len(dp) + 1):
        dp = {k: e.xreplace({local[j]: dp[j] for j in dp}) for k, e in dp.items()}
    values = dict(params)
    for k in dyn.get("coupling_inputs") or {}:
        values.setdefault(k, 0.0)

    def prep(text):
        e = inline(parse(text)).xreplace({local[j]: dp[j] for j in dp})
        return e

    order = list(dvs)
    dv_expr = {k: prep(rhs(v)) for k, v in dvs.items()}
    # Dependency order of derived variables.
    done, sorted_dvs = set(), []
    while len(sorted_dvs) < len(order):
        progress = False
        for k in order:
            if k in done:
                continue
            deps = {str(s) for s in dv_expr[k].free_symbols} & set(dvs)
            if deps <= done | {k}:
                done.add(k)
                sorted_dvs.append(k)
                progress = True
        if not progress:
            sorted_dvs += [k for k in order if k not in done]
            break
    sv_names = list(svs)
    all_syms = [local[n] for n in sorted(names)]
    mods = [{"Heaviside": lambda x, h=0.5: 0.0 if x < 0 else (h if x == 0 else 1.0),
             "Min": min, "Max": max, "sign": lambda x: (x > 0) - (x < 0)}, "math"]

    def compile_(e):
        return sp.lambdify(all_syms, e, modules=mods)

    dv_f = [(k, compile_(dv_expr[k])) for k in sorted_dvs]
    sv_f = [compile_(prep(rhs(svs[k]))) for k in sv_names]
    events = []
    for ev in (dyn.get("events") or {}).values():
        cond = compile_(prep(rhs(ev.get("condition"))))
        assigns = []
        aff = rhs(ev.get("affect")) or ""
        for stmt in aff.replace("\n", ";").split(";"):
            if "=" in stmt:
                lhs, r = stmt.split("=", 1)
                assigns.append((lhs.strip(), compile_(prep(r))))
        events.append((cond, assigns))
    clamps = []
    for k, v in svs.items():
        dom = (v or {}).get("domain") or {}
        if dom.get("enforce") == "clamp":
            clamps.append((k, dom.get("lo"), dom.get("hi")))
    order_names = sorted(names)
    env = {n: values.get(n, 0.0) for n in order_names}
    for k in sv_names:
        env[k] = float((svs[k] or {}).get("initial_value", 0.0) or 0.0)
    dt = dt * (1 + perturb)

    def args():
        return [env[n] for n in order_names]

    rows = [[env[k] for k in sv_names]]
    for step in range(n_steps):
        # jLEMS advances its clock before each step: step k sees t = k*dt.
        t = (step + 1) * dt
        env["t"] = t
        try:
            for k, f in dv_f:
                env[k] = float(f(*args()))
            rates = [float(f(*args())) for f in sv_f]
        except (OverflowError, ValueError, ZeroDivisionError):
            rows.append([math.nan] * len(sv_names))
            break
        for k, r in zip(sv_names, rates):
            env[k] = env[k] + dt * r
        for cond, assigns in events:
            if cond(*args()):
                for k, f in assigns:
                    env[k] = float(f(*args()))
        for k, lo, hi in clamps:
            if hi is not None and math.isfinite(hi) and env[k] > hi:
                env[k] = float(hi)
            if lo is not None and math.isfinite(lo) and env[k] < lo:
                env[k] = float(lo)
        rows.append([env[k] for k in sv_names])
        if not all(math.isfinite(x) for x in rows[-1]):
            break
    return sv_names, rows


def compare_with_reference(dat, yaml_path, database, n_rows, dt):
    """Largest deviation of jNeuroML's output from the reference, relative to each column's
    range; None when the reference cannot be computed."""
    dyn, _ = experiment_of(yaml_path, database)
    names, ref = euler_reference(dyn, n_rows - 1, dt)
    # A copy with a time step 1e-10 longer shows where the model itself amplifies rounding differences
    # (chaos, stiffness, spike timing): beyond that row no two implementations can agree.
    _, twin = euler_reference(dyn, n_rows - 1, dt, perturb=1e-10)
    got = []
    with open(dat) as f:
        for line in f:
            if line.split():
                got.append([float(x) for x in line.split()[1:]])
    scales = []
    for c in range(len(names)):
        col_ref = [r[c] for r in ref]
        scales.append(max(1e-9, max(abs(x) for x in col_ref), max(col_ref) - min(col_ref)))
    horizon = min(len(ref), len(twin))
    for k in range(horizon):
        if any(abs(twin[k][c] - ref[k][c]) / scales[c] > 1e-5 for c in range(len(names))):
            horizon = k
            break
    worst, where = 0.0, ""
    for c, name in enumerate(names):
        for k in range(min(horizon, len(got))):
            d = abs(got[k][c] - ref[k][c]) / scales[c]
            if d > worst:
                worst, where = d, f"{name} at row {k}"
    return worst, where, horizon


def read_dat(path):
    with open(path) as f:
        return [[float(x) for x in line.split()] for line in f if line.split()]


def compare_myelin_run(args, xml, d, of, cols):
    """Runs the exported file with `myelin run` and compares its output with jNeuroML's:
    'agrees' when the rows match and every value is within 1e-4 of its column's range."""
    out = d / "myelin-run"
    p = subprocess.run([args.myelin, "run", str(xml), "--out-dir", str(out), "--quiet"], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return "failed: " + (p.stderr.strip().splitlines() or ["(no message)"])[-1][:200]
    mine, ref = read_dat(out / of), read_dat(d / of)
    if len(mine) != len(ref):
        return f"differs: {len(mine)} rows, jNeuroML {len(ref)}"
    worst = 0.0
    for c in range(1, cols):
        col = [r[c] for r in ref]
        scale = max(1e-12, max(col) - min(col), max(abs(x) for x in col))
        worst = max(worst, max(abs(a[c] - b[c]) / scale for a, b in zip(mine, ref)))
    return "agrees" if worst <= 1e-4 else f"differs by {worst:.1e} of a column's range"


def model_label(yaml_path, args):
    try:
        return str(yaml_path.relative_to(args.database))
    except ValueError:
        return f"builtin:{yaml_path.stem}"


def jax_python():
    """A Python that has JAX: $MYELIN_JAX_PYTHON, else the cache's venv-jax, else None."""
    for p in (os.environ.get("MYELIN_JAX_PYTHON"), str(cache_dir() / "venv-jax" / "bin" / "python")):
        if p and Path(p).is_file():
            return p
    return None


def compare_jax(args, source, d, of, cols):
    """Exports the model with `--to jax`, checks that the script compiles, and when a Python
    with JAX is at hand runs it with forward Euler (jLEMS's method) and compares its
    results/<Model>.dat with jNeuroML's: 'agrees' within 1e-4 of each column's range."""
    script = d / "model_jax.py"
    cmd = [args.myelin, "export", source, "--to", "jax", "-o", str(script)]
    if args.duration:
        cmd += ["--duration", args.duration]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return "export failed: " + (p.stderr.strip().splitlines() or ["(no message)"])[-1][:200]
    p = subprocess.run([sys.executable, "-m", "py_compile", str(script)], capture_output=True, text=True)
    if p.returncode != 0:
        return "does not compile: " + p.stderr.strip()[-200:]
    py = jax_python()
    if py is None:
        return "compiles (not run: no Python with JAX; set MYELIN_JAX_PYTHON)"
    out = d / "jax-results"
    p = subprocess.run([py, str(script), "--method", "euler", "--out-dir", str(out)], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return "failed: " + (p.stderr.strip().splitlines() or ["(no message)"])[-1][:200]
    mine, ref = read_dat(out / Path(of).name), read_dat(d / of)
    if len(mine) != len(ref):
        return f"differs: {len(mine)} rows, jNeuroML {len(ref)}"
    worst = 0.0
    for c in range(cols):
        col = [r[c] for r in ref]
        scale = max(1e-12, max(col) - min(col), max(abs(x) for x in col))
        worst = max(worst, max(abs(a[c] - b[c]) / scale for a, b in zip(mine, ref)))
    return "agrees" if worst <= 1e-4 else f"differs by {worst:.1e} of a column's range"


def run_one(yaml_path, args, work, export_arg=None):
    """Exports `export_arg` (a file or a built-in model's name; default the YAML file itself)
    and checks it; `yaml_path` is the YAML the Euler reference is computed from."""
    name = yaml_path.stem
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    xml = d / f"{name}.xml"
    cmd = [args.myelin, "export", export_arg or str(yaml_path), "-o", str(xml)]
    if args.duration:
        cmd += ["--duration", args.duration]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    export_s = time.time() - t0
    res = {"model": model_label(yaml_path, args), "export_s": round(export_s, 3)}
    if p.returncode != 0:
        errors = [l for l in p.stderr.splitlines() if "error[" in l]
        reason = errors[0] if errors else (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        # Drop the location prefix for the summary; keep it in the JSON.
        res["detail"] = p.stderr.strip()
        refused = any(code in p.stderr for code in ("error[export-refused]", "error[unsupported-function]"))
        res["status"] = "refused" if refused else "failed"
        res["reason"] = reason.split("error[", 1)[-1].replace("]:", ":", 1) if "error[" in reason else reason
        return res
    warnings = [l.split("warning[", 1)[-1] for l in p.stderr.splitlines() if "warning[" in l]
    if warnings:
        res["warnings"] = warnings
    # Expected shape: time + one column per state variable; rows = round(length/step) + 1.
    text = xml.read_text()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    sim = root.find("Simulation")
    cols = len(sim.findall("./OutputFile/OutputColumn")) + 1
    of = sim.find("./OutputFile").get("fileName")

    def seconds(q):
        for unit, f in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
            if q.endswith(unit):
                return float(q[: -len(unit)]) * f
        return float(q)

    rows = round(seconds(sim.get("length")) / seconds(sim.get("step"))) + 1
    (d / Path(of).parent).mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        j = subprocess.run(
            ["java", "-jar", str(args.jnml), xml.name, "-nogui"],
            cwd=d, capture_output=True, text=True, timeout=args.timeout,
        )
        log = j.stdout + j.stderr
        rc = j.returncode
    except subprocess.TimeoutExpired:
        log, rc = "timeout", -1
    res["jnml_s"] = round(time.time() - t0, 2)
    (d / "jnml.log").write_text(log)
    problem = first_problem(log) if rc != -1 else f"jNeuroML timed out after {args.timeout}s"
    if problem is None and rc != 0:
        problem = f"jNeuroML exited with status {rc}"
    if problem is None:
        problem = check_output(d / of, rows, cols)
    if problem and "StateInstance.getParent()" in problem:
        # jLEMS stops with this NullPointerException when a recorded value is NaN. The model
        # diverges if the independent reference does too.
        res["status"] = "diverged"
        res["reason"] = "the state became NaN in jNeuroML (the model diverges with its default settings)"
        if args.euler:
            try:
                dyn, _ = experiment_of(yaml_path, args.database)
                dt_ms = seconds(sim.get("step")) / seconds(root.find("ComponentType/Constant").get("value"))
                _, ref = euler_reference(dyn, rows - 1, dt_ms)
                blew_up = len(ref) < rows or not all(math.isfinite(x) for x in ref[-1])
                if blew_up:
                    res["reason"] += f"; the Euler reference blows up too, at row {len(ref) - 1}"
                else:
                    res["status"] = "failed"
                    res["reason"] = "jNeuroML's state became NaN, but the Euler reference stays finite"
            except Exception as e:
                res["euler_error"] = f"reference not computed: {e}"
        return res
    if problem:
        res["status"] = "failed"
        res["reason"] = problem
        return res
    res["status"] = "ran"
    res["rows"] = rows
    if args.myelin_run:
        res["myelin_run"] = compare_myelin_run(args, xml, d, of, cols)
    if args.jax:
        res["jax"] = compare_jax(args, export_arg or str(yaml_path), d, of, cols)
    if args.euler:
        try:
            dt_ms = seconds(sim.get("step")) / seconds(root.find("ComponentType/Constant").get("value"))
            worst, where, horizon = compare_with_reference(d / of, yaml_path, args.database, rows, dt_ms)
            res["euler_max_rel_dev"] = worst
            res["euler_rows_compared"] = horizon
            if worst > args.tolerance:
                res["status"] = "failed"
                res["reason"] = f"differs from the independent Euler integration by {worst:.2e} (of the column's range) at {where}"
        except Exception as e:
            res["euler_error"] = f"reference not computed: {e}"
    return res


NETWORK_EXPERIMENT = """\
id: 31
label: Three coupled Generic2dOscillators
dynamics:
  name: Generic2dOscillator
network:
  nodes:
    - {id: 0, state: {V: {value: 0.1}, W: {value: 0.0}}}
    - {id: 1, state: {V: {value: -0.1}, W: {value: 0.0}}}
    - {id: 2, state: {V: {value: 0.0}, W: {value: 0.1}}}
  edges:
    - {source: 0, target: 1, weight: 0.8}
    - {source: 1, target: 2, weight: 0.9}
    - {source: 2, target: 0, weight: 0.6}
    - {source: 1, target: 0, weight: 0.4}
  coupling:
    diff:
      pre_expression: {rhs: "x_j - x_i"}
      post_expression: {rhs: "a*gx"}
      parameters: {a: {value: 0.5}}
integration:
  method: euler
  step_size: 0.05
  duration: 200.0
"""


def export_experiment(args, d, stem, text, env=None):
    """Writes experiment `text` as d/stem.yaml (with an empty d/results) and exports it with
    `myelin export` to d/stem.xml; returns (d, yaml, xml, error or None)."""
    (d / "results").mkdir(parents=True, exist_ok=True)
    src = d / f"{stem}.yaml"
    src.write_text(text)
    xml = d / f"{stem}.xml"
    r = subprocess.run([args.myelin, "export", str(src), "-o", str(xml)], capture_output=True, text=True, env=env)
    error = None if r.returncode == 0 else "export failed: " + r.stderr.strip()[:300]
    return d, src, xml, error


def network_check(args, work):
    """A coupled 3-node network: exports it, runs it in jNeuroML and with `myelin run`, and
    compares both with an independent forward-Euler integration of the model's YAML (SymPy)
    with TVB's coupling c_i = a * sum_j w_ij (V_j - V_i).

    jLEMS evaluates the network node by node in document order, and a node reads the value its
    source node's coupling end last computed: the source's current value when the source comes
    earlier in the document, its value one step earlier otherwise. The reference does the same.
    """
    import numpy as np
    import sympy as sp
    import yaml as _yaml

    env = dict(os.environ, MYELIN_TVBO_DATABASE=str(args.database))
    d, src, xml, error = export_experiment(args, work / "network", "g2d_3node", NETWORK_EXPERIMENT, env)
    if error:
        return {"status": "failed", "reason": error}
    r = subprocess.run(["java", "-jar", str(args.jnml), xml.name, "-nogui"], cwd=d, capture_output=True, text=True, timeout=args.timeout)
    problem = first_problem(r.stdout + r.stderr)
    if problem:
        return {"status": "failed", "reason": "jNeuroML: " + problem}
    out = d / "results" / "Generic2dOscillator.dat"
    jn = np.loadtxt(out)
    jn_copy = d / "jnml.dat"
    shutil.copy(out, jn_copy)
    r = subprocess.run([args.myelin, "run", xml.name], cwd=d, capture_output=True, text=True)
    my = np.loadtxt(out) if r.returncode == 0 else None

    dyn = _yaml.safe_load((args.database / "models" / "Generic2dOscillator.yaml").read_text())
    params = {k: float(v.get("value", 0.0)) for k, v in dyn["parameters"].items()}
    V, W, c = sp.symbols("V W c_glob")
    loc = {**{k: sp.Symbol(k) for k in params}, "V": V, "W": W, "c_glob": c, "local_coupling": sp.Symbol("local_coupling")}
    params["local_coupling"] = 0.0
    f = [sp.lambdify((V, W, c), sp.sympify(str(dyn["state_variables"][n]["equation"]["rhs"]), locals=loc).subs(params)) for n in ("V", "W")]
    edges = [(0, 1, 0.8), (1, 2, 0.9), (2, 0, 0.6), (1, 0, 0.4)]
    dt, steps = 0.05, 4000

    def reference(jlems_order):
        x = np.array([[0.1, 0.0], [-0.1, 0.0], [0.0, 0.1]])
        prev = x.copy()
        rows = [x.flatten()]
        for _ in range(steps):
            new = x.copy()
            for i in range(3):
                gx = 0.0
                for s_, t_, w in edges:
                    if t_ == i:
                        vj = x[s_, 0] if s_ < i or not jlems_order else prev[s_, 0]
                        gx += w * (vj - x[i, 0])
                cg = 0.5 * gx
                new[i, 0] = x[i, 0] + dt * f[0](x[i, 0], x[i, 1], cg)
                new[i, 1] = x[i, 1] + dt * f[1](x[i, 0], x[i, 1], cg)
            prev, x = x, new
            rows.append(x.flatten())
        return np.array(rows)

    ref = reference(True)
    scale = np.maximum(np.ptp(ref, axis=0), 1e-12)
    dev = float(np.max(np.abs(jn[:, 1:] - ref) / scale))
    res = {"status": "ran" if dev < args.tolerance else "failed", "rows": len(jn), "euler_max_rel_dev": dev}
    # The `--to jax` script couples synchronously, as TVB does: every node reads the others'
    # state at the start of the step. Compared with the same Euler integration in that order.
    py = jax_python()
    if py:
        script = d / "g2d_3node.py"
        r = subprocess.run([args.myelin, "export", str(src), "--to", "jax", "-o", str(script)], capture_output=True, text=True, env=env)
        if r.returncode == 0:
            r = subprocess.run([py, str(script), "--out-dir", str(d / "jax")], capture_output=True, text=True, timeout=args.timeout)
        if r.returncode != 0:
            res["jax"] = "failed: " + r.stderr.strip()[-200:]
        else:
            jx = np.loadtxt(d / "jax" / "Generic2dOscillator.dat")
            sync = reference(False)
            jdev = float(np.max(np.abs(jx[:, 1:] - sync) / np.maximum(np.ptp(sync, axis=0), 1e-12))) if jx.shape == jn.shape else float("inf")
            res["jax"] = "agrees" if jdev < args.tolerance else f"deviates by {jdev:.2e}"
            res["jax_max_rel_dev"] = jdev
    if my is None:
        res["myelin_run"] = "failed: " + r.stderr.strip()[:200]
    else:
        res["myelin_run"] = "agrees" if my.shape == jn.shape and np.max(np.abs(my - jn)) <= 1e-6 * max(1.0, np.max(np.abs(jn))) else f"differs by {np.max(np.abs(my - jn)):.3g}"
    if res["status"] != "ran":
        res["reason"] = f"jNeuroML deviates from the coupled Euler reference by {dev:.2e} of a column's range"
    return res


NOISE_EXPERIMENT = """\
id: 1
label: Ornstein-Uhlenbeck process with additive noise
dynamics:
  name: OU
  state_variables:
    x:
      initial_value: 0.0
      equation: {rhs: -x}
      noise:
        additive: true
        parameters:
          sigma: {value: 0.5}
integration:
  method: euler
  step_size: 0.05
  duration: 2000.0
"""


def noise_check(args, work):
    """Additive noise, statistically: an Ornstein-Uhlenbeck process dx = -x dt + sigma dW
    (sigma = 0.5, dt = 0.05 ms, 2 s) exported to LEMS and run in jNeuroML, run natively from
    its YAML (`myelin run X.yaml`) and from the export (`myelin run X.xml`). Each run's
    stationary mean and variance are compared with Euler-Maruyama's: 0 and
    sigma^2 dt / (1 - (1 - dt)^2) = 0.128 (to 15%). (myelin draws from the generator jLEMS
    uses, with its default seed and in its order, so the paths usually agree too; only the
    statistics are required to.)
    """
    import numpy as np

    d, src, xml, error = export_experiment(args, work / "noise", "ou", NOISE_EXPERIMENT)
    if error:
        return {"status": "failed", "reason": error}
    expected = 0.25 * 0.05 / (1 - 0.95**2)
    res = {"status": "ran", "expected_variance": expected}
    runs = {
        "jNeuroML": (["java", "-jar", str(args.jnml), xml.name, "-nogui"], "results"),
        "myelin run YAML": ([args.myelin, "run", src.name, "--quiet", "--out-dir", "yaml"], "yaml/results"),
        "myelin run LEMS": ([args.myelin, "run", xml.name, "--quiet", "--out-dir", "lems"], "lems/results"),
    }
    for name, (cmd, out) in runs.items():
        r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=args.timeout)
        problem = first_problem(r.stdout + r.stderr) if name == "jNeuroML" else (r.stderr.strip()[:200] if r.returncode else None)
        if problem:
            res.update(status="failed", reason=f"{name}: {problem}")
            continue
        x = np.loadtxt(d / out / "OU.dat")[200:, 1]
        mean, var = float(x.mean()), float(x.var())
        res[name] = f"mean {mean:+.3f}, variance {var:.4f}"
        if abs(mean) > 0.06 or abs(var - expected) > 0.15 * expected:
            res.update(status="failed", reason=f"{name}: mean {mean:.3f}, variance {var:.4f} (expected 0 and {expected:.4f})")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="50ms", help="simulated time per model (default 50ms; '' keeps the model's)")
    ap.add_argument("--myelin", default=None, help="myelin binary (default: build target/release/myelin)")
    ap.add_argument("--jnml", default=None, help="jNeuroML jar (default: the reference cache's)")
    ap.add_argument("--only", nargs="*", help="model file stems to run")
    ap.add_argument("--experiments", action="store_true", help="also the experiments of experiments/neuroml/")
    ap.add_argument("--jax", action="store_true",
                    help="also export each model with --to jax, compile the script, and (with a Python that has JAX: "
                         "$MYELIN_JAX_PYTHON or ~/.cache/myelin/venv-jax) run it with Euler and compare with jNeuroML")
    ap.add_argument("--builtin", action="store_true",
                    help="myelin's built-in models (`myelin models`) instead of TVBO's database")
    ap.add_argument("--noise", action="store_true",
                    help="only the additive-noise check (an Ornstein-Uhlenbeck process, statistically)")
    ap.add_argument("--network", action="store_true",
                    help="only the coupled 3-node network check (export, jNeuroML, myelin run, Euler reference)")
    ap.add_argument("--json", help="write the per-model results as JSON to this file")
    ap.add_argument("--keep", help="keep the exported files and logs in this directory")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per jNeuroML run")
    ap.add_argument("--no-myelin-run", dest="myelin_run", action="store_false",
                    help="skip running each exported file with `myelin run` and comparing it with jNeuroML")
    ap.add_argument("--no-euler", dest="euler", action="store_false",
                    help="skip the comparison with an independent SymPy forward-Euler integration")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest deviation from the Euler reference, relative to a column's range (default 1e-4)")
    args = ap.parse_args()

    args.database = cache_dir() / "tvbo" / "database"
    if not args.builtin and not (args.database / "models").is_dir():
        print(f"TVBO database not found at {args.database}: run scripts/fetch-reference.sh", file=sys.stderr)
        return 2
    args.jnml = Path(args.jnml) if args.jnml else cache_dir() / "jnml" / "jNeuroML.jar"
    if not args.jnml.is_file():
        print(f"jNeuroML not found at {args.jnml}: run scripts/fetch-reference.sh", file=sys.stderr)
        return 2
    if shutil.which("java") is None:
        print("java not found", file=sys.stderr)
        return 2
    if args.euler:
        try:
            import sympy  # noqa: F401
            import yaml  # noqa: F401
        except ImportError:
            print("note: sympy or PyYAML missing: skipping the comparison with the Euler reference", file=sys.stderr)
            args.euler = False
    if args.myelin is None:
        target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "myelin"], cwd=ROOT, check=True)
        args.myelin = str(Path(target) / "release" / "myelin")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="myelin-tvbo-"))
    work.mkdir(parents=True, exist_ok=True)
    export_args = {}
    if args.builtin:
        # Each built-in model's YAML, as `myelin models NAME` prints it, for the Euler reference;
        # the export itself names the model.
        listing = subprocess.run([args.myelin, "models"], capture_output=True, text=True, check=True).stdout
        src = work / "_builtin"
        src.mkdir(exist_ok=True)
        models = []
        for line in listing.splitlines():
            if not line.split():
                continue
            name = line.split()[0]
            text = subprocess.run([args.myelin, "models", name], capture_output=True, text=True, check=True).stdout
            path = src / f"{name}.yaml"
            path.write_text(text)
            models.append(path)
            export_args[path] = name
    else:
        models = sorted((args.database / "models").glob("*.yaml")) + sorted((args.database / "models").glob("*.yml"))
        models = sorted(models, key=lambda p: p.name.lower()) + sorted((args.database / "models" / "neuroml").glob("*.yaml"))
        if args.experiments:
            models += sorted((args.database / "experiments" / "neuroml").glob("*.yaml"))
    if args.only:
        models = [m for m in models if m.stem in args.only]

    if args.noise:
        r = noise_check(args, work)
        detail = "; ".join(f"{k}: {r[k]}" for k in ("jNeuroML", "myelin run YAML", "myelin run LEMS") if k in r)
        print(f"noise    Ornstein-Uhlenbeck, expected variance {r.get('expected_variance', float('nan')):.4f}: {r['status']}, {r.get('reason', '')} {detail}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0 if r["status"] == "ran" else 1
    if args.network:
        r = network_check(args, work)
        jax = f"; JAX script {r['jax']} (synchronous Euler reference within {r.get('jax_max_rel_dev', float('nan')):.1e})" if "jax" in r else "; JAX script not run (no Python with JAX)"
        print(f"network  coupled 3-node Generic2dOscillator: {r['status']}, {r.get('reason', '')}"
              f" Euler reference within {r.get('euler_max_rel_dev', float('nan')):.1e}; myelin run {r.get('myelin_run', '-')}{jax}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0 if r["status"] == "ran" and r.get("myelin_run") == "agrees" and r.get("jax", "agrees") == "agrees" else 1
    results = []
    for m in models:
        try:
            r = run_one(m, args, work, export_args.get(m))
        except Exception as e:  # a crash of this script's own logic, reported per model
            r = {"model": model_label(m, args), "status": "failed", "reason": f"script error: {e}"}
        results.append(r)
        extra = r.get("reason", f"{r.get('rows', '')} rows")
        if r.get("myelin_run", "agrees") != "agrees":
            extra += f"; myelin run {r['myelin_run']}"
        if "jax" in r:
            extra += f"; JAX script {r['jax']}"
        if "euler_max_rel_dev" in r and r["status"] == "ran":
            extra += f", Euler reference within {r['euler_max_rel_dev']:.1e}"
            if r.get("euler_rows_compared", 0) < r.get("rows", 0):
                extra += f" over the first {r['euler_rows_compared']} rows (then the model amplifies rounding)"
        elif "euler_error" in r:
            extra += f" ({r['euler_error']})"
        print(f"{r['status']:8} {r['model']:55} {extra}", flush=True)

    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("ran", "refused", "diverged", "failed")}
    print()
    print(
        f"{len(results)} files: {counts['ran']} ran in jNeuroML, {counts['refused']} refused, "
        f"{counts['diverged']} diverged (the model's own dynamics), {counts['failed']} failed"
    )
    runs = [r["myelin_run"] for r in results if "myelin_run" in r]
    if runs:
        agree = sum(1 for x in runs if x == "agrees")
        print(f"myelin run of the exported LEMS agrees with jNeuroML for {agree} of {len(runs)}")
        for r in results:
            if r.get("myelin_run", "agrees") != "agrees":
                print(f"  {r['model']}: myelin run {r['myelin_run']}")
    jaxes = [r["jax"] for r in results if "jax" in r]
    if jaxes:
        print(f"the --to jax script agrees with jNeuroML for {sum(1 for x in jaxes if x == 'agrees')} of {len(jaxes)}")
    if counts["refused"]:
        print("refused:")
        for r in results:
            if r["status"] == "refused":
                print(f"  {r['model']}: {r['reason']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    jax_bad = [x for x in jaxes if x != "agrees" and not x.startswith("compiles")]
    return 0 if counts["failed"] == 0 and not jax_bad else 1


if __name__ == "__main__":
    sys.exit(main())
