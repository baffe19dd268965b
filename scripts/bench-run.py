#!/usr/bin/env python3
"""Benchmark `myelin run` against jNeuroML, EDEN, tvbo's JAX backend and Brian2: whole-process
wall time and peak RSS.

Usage (from anywhere; stdlib only, any Python >= 3.9, e.g. the cache venv's or the system's):

    python3 scripts/bench-run.py [--quick] [--cases ex5,ex15,jansenrit,small,big] [--timeout S]
                                 [--json results.json] [--tools myelin,jnml,eden,jax,brian2]
                                 [--myelin PATH] [--brian2-device cpp_standalone|runtime]

What it does:

1. Runs `scripts/fetch-reference.sh --venv` so the jNeuroML 0.14 jar, its unpacked
   NeuroML2CoreTypes/LEMSexamples/examples and a venv with pyNeuroML exist in the cache
   (${MYELIN_CACHE:-~/.cache/myelin}).  For EDEN it makes a second venv, $CACHE/venv-eden, with
   `eden-simulator==0.2.3` from PyPI, and builds EDEN's loader fix in $CACHE/eden-shim (see
   ensure_eden: the wheel's static `eden` binary crashes when it dlopen()s the code it compiles
   if that code links libc/libm, so a `gcc` wrapper first on EDEN's PATH links it without them).
   For tvbo's JAX backend (jansenrit only) a third venv, $CACHE/venv-tvbo, gets `tvbo==0.5.3`
   (the wheel in $CACHE/wheels when fetch-reference.sh put it there, else PyPI) and with it the
   jax/jaxlib it requires (CPU).  For Brian2 a fourth, $CACHE/venv-brian2, gets `brian2==2.9.0`
   and `numpy<2.4` from PyPI (brian2 2.9.0 does not import with numpy 2.4).
2. Generates (once per parameter set; reused afterwards) the NeuroML getting-started network
   with libNeuroML/pyNeuroML in the cache venv, under $CACHE/bench/ (never in the repository):
   two populations of izhikevich2007Cell RS cells (N/2 each, the guide's parameters), one
   projection pop0 -> pop1 of expOneSynapse synapses (65 nS, 0 mV, 3 ms) where each pair is
   connected with probability p drawn from Python's `random` seeded with --seed, one
   pulseGenerator per pop0 cell (0.1 + 0.1*U nA from t = 0, as in the guide), and the spikes of
   every cell recorded, one ID_TIME event file per population; a LEMS file written by
   pyneuroml.lems.LEMSSimulation includes the .net.nml.  jNeuroML must accept it
   (`-validate` and `-norun`) before it is used.  Two sizes: `small` (N=10, p=0.5, 200 ms) and
   `big` (N=1000, p=0.5, 1000 ms); dt 0.025 ms.  The guide's own script has p = 0.8 and N = 10.
3. Times four cases.  Every run is a separate process in its own fresh directory (a copy of
   LEMSexamples+examples with an empty results/, or a copy of the generated network), so
   outputs never land in the cache's originals; the directory is deleted after the checks.
     ex5    LEMS_NML2_Ex5_DetCell.xml       myelin run F -I CoreTypes   vs   jnml F -nogui
     ex15   LEMS_NML2_Ex15_CaDynamics.xml   (same)
     jansenrit  myelin's built-in JansenRit, `myelin export JansenRit`: 1 s at TVBO's step
            (0.01220703125 ms, 81,920 steps), every state variable written each step (81,921
            rows x 7 columns).  myelin and jNeuroML run that same LEMS file (forward Euler,
            jLEMS's only method; TVBO's own default would be Heun, which jNeuroML cannot do).
            tvbo's JAX backend runs the same model, myelin's YAML of it (`myelin models
            JansenRit`, which tvbo reads as it is), 1 node, same step, duration and method:
            `<venv-tvbo python> bench-run.py _tvbo_jax JansenRit.yaml ...`, a whole process that
            imports tvbo, builds the SimulationExperiment and calls `exp.run("jax")` (tvbo renders
            its JAX code, jit-compiles and runs it); it writes no file (run() returns the
            trajectory in memory).  After the timed runs, once: the same generated kernel called
            repeatedly (first call = compile + run, later calls = run only; an information line),
            and its trajectory compared with myelin's output of the model.
     small  generated network, small size   myelin, jNeuroML, EDEN (`eden nml F`) and Brian2
     big    generated network, big size     myelin, EDEN, Brian2, then jNeuroML; once each, no
            warm-up
   Brian2 runs as `<venv-brian2 python> bench-run.py _brian2 F` (brian2_main): a whole process
   that reads F and the .net.nml it includes (populations, izhikevich2007Cell, expOneSynapse,
   every <connection>, each cell's pulseGenerator), builds the same network in Brian2 (forward
   Euler at F's step, float64), runs it with the cpp_standalone device (code generation, a fresh
   C++ build with Brian2's default flags, then the binary; --brian2-device runtime: Brian2's
   runtime target instead) and writes the spikes into F's ID_TIME event files.  Its own timer is
   the generated binary's simulation loop.  One difference from jLEMS: a zero-delay synaptic
   event reaches the postsynaptic cell one step (dt) later in Brian2 (see brian2_main).
   jNeuroML runs as `java -Xmx4G -jar jNeuroML.jar F -nogui` (what the `jnml` script does);
   EDEN with OMP_NUM_THREADS=1 (--eden-threads), Brian2's standalone binary without OpenMP
   (its default; its build runs `make -j`): every tool single-threaded in its stepping
   (myelin formats its output on a second thread; tvbo's JAX runs with XLA's CPU defaults, its
   time loop a sequential lax.scan).
4. Measurement as in bench-validate.py (scripts/benchlib.py): wall time around the process,
   user+sys CPU from os.wait4, peak RSS from GNU time's %M.  ex5/ex15/small: one uncounted
   warm-up run per tool, then 3 counted runs alternating between the tools (--quick: 1 run, no
   warm-up); medians are reported.  big: one run per tool.  Every run is limited to --timeout
   seconds (default 600): a run past it is killed and reported as "timeout" (its peak RSS is
   the peak up to the kill); on `big` that is an expected outcome, not a failure.
5. Checks: every run exits 0; on ex5/ex15 and wherever both finish on a network, myelin and
   jNeuroML create the same set of files; on the networks, the spike count of each population
   (lines of its event file) is recorded for every tool, and myelin's must agree with
   jNeuroML's within 1% (where jNeuroML finished).  EDEN computes in float32 and Brian2 delivers
   zero-delay events a step later, so their counts are reported beside them but not gated.
   On jansenrit, tvbo's JAX trajectory must agree with myelin's output file within 1e-5 of each
   variable's range (it does to ~1e-7: both are float64 Euler; the file holds float32 text).
   Any failed check is reported loudly and the script exits 1 after finishing the other cases.
6. Prints a table (case, tool, runs, exit, median wall, CPU, peak RSS, the tool's own timer,
   peer/myelin ratios of wall time and peak RSS, spike counts) and, with --json, writes all
   raw numbers, the workloads and the environment to a JSON file.

`--myelin` defaults to target/release/myelin (built with `cargo build --release -p myelin`
when missing); the binary is copied to a scratch directory first, so a rebuild during the
benchmark cannot mix two builds, and its sha256 is recorded.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import (DEFAULT_MYELIN, ensure_myelin, environment, fetch_references, jnml_cmd, loud,
                      median, rss_method_available, run_once, spawn_overhead, summarize,
                      cached_workload,
)

# Bump when the generated network changes, so cached copies are regenerated.
GENERATOR_VERSION = 1
EDEN_VERSION = "0.2.3"
POPS = ("IzPop0", "IzPop1")

# ---------------------------------------------------------------------------------------------
# Workload generation.  This part runs inside the cache venv (it needs libNeuroML/pyNeuroML);
# the main process calls this same file as `<venv python> bench-run.py _generate OUTDIR ...`.
# ---------------------------------------------------------------------------------------------


def generate_network(out: Path, cells: int, p: float, duration_ms: float, dt_ms: float,
                     seed: int) -> dict:
    """Write the getting-started network (<tag>.net.nml + LEMS_<tag>.xml) into out."""
    import random

    import neuroml
    import pyneuroml
    from neuroml import (Connection, ExpOneSynapse, ExplicitInput, Izhikevich2007Cell, Network,
                         NeuroMLDocument, Population, Projection, PulseGenerator)
    from neuroml.writers import NeuroMLWriter
    from pyneuroml.lems import LEMSSimulation

    n0 = cells // 2
    n1 = cells - n0
    tag = f"izh_N{cells}_p{p:g}"
    doc = NeuroMLDocument(id="IzNet")
    # The guide's regular-spiking cell and synapse.
    doc.izhikevich2007_cells.append(Izhikevich2007Cell(
        id="iz2007RS0", v0="-60mV", C="100pF", k="0.7nS_per_mV", vr="-60mV", vt="-40mV",
        vpeak="35mV", a="0.03per_ms", b="-2nS", c="-50.0mV", d="100pA"))
    doc.exp_one_synapses.append(ExpOneSynapse(id="syn0", gbase="65nS", erev="0mV",
                                              tau_decay="3ms"))
    net = Network(id="IzNet")
    doc.networks.append(net)
    net.populations.append(Population(id=POPS[0], component="iz2007RS0", size=n0))
    net.populations.append(Population(id=POPS[1], component="iz2007RS0", size=n1))
    proj = Projection(id="proj", presynaptic_population=POPS[0],
                      postsynaptic_population=POPS[1], synapse="syn0")
    net.projections.append(proj)

    # As in the guide: per pop0 cell, its own pulseGenerator with a random amplitude, then one
    # draw per pop1 cell for the connection (same random stream, same order).
    rng = random.Random(seed)
    for pre in range(n0):
        pg = PulseGenerator(id=f"pulseGen_{pre}", delay="0ms", duration="10000ms",
                            amplitude="%f nA" % (0.1 + 0.1 * rng.random()))
        doc.pulse_generators.append(pg)
        net.explicit_inputs.append(ExplicitInput(target=f"{POPS[0]}[{pre}]", input=pg.id))
        for post in range(n1):
            if rng.random() <= p:
                proj.connections.append(Connection(
                    id=len(proj.connections), pre_cell_id=f"../{POPS[0]}[{pre}]",
                    post_cell_id=f"../{POPS[1]}[{post}]"))

    nml = out / f"{tag}.net.nml"
    NeuroMLWriter.write(doc, str(nml))
    sim = LEMSSimulation(f"sim_{tag}", duration=duration_ms, dt=dt_ms, target=net.id,
                         simulation_seed=seed)
    sim.include_neuroml2_file(nml.name, include_included=False, relative_to_dir=str(out))
    spike_files = {}
    for k, (pop, n) in enumerate(zip(POPS, (n0, n1))):
        spike_files[pop] = f"{tag}.{pop}.spikes.dat"
        sim.create_event_output_file(f"spikes{k}", spike_files[pop], format="ID_TIME")
        for i in range(n):
            sim.add_selection_to_event_output_file(f"spikes{k}", i, f"{pop}[{i}]", "spike")
    lems = out / f"LEMS_{tag}.xml"
    sim.save_to_file(str(lems))

    return {
        "nml": nml.name, "lems": lems.name, "spike_files": spike_files, "cells": cells,
        "populations": {POPS[0]: n0, POPS[1]: n1}, "p": p, "seed": seed,
        "duration_ms": duration_ms, "dt_ms": dt_ms, "steps": round(duration_ms / dt_ms),
        "connections": len(proj.connections), "pulse_generators": n0,
        "nml_bytes": nml.stat().st_size, "lems_bytes": lems.stat().st_size,
        "libneuroml": neuroml.__version__, "pyneuroml": pyneuroml.__version__,
    }


def generate_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench-run.py _generate")
    ap.add_argument("out", type=Path)
    ap.add_argument("--cells", type=int, required=True)
    ap.add_argument("--p", type=float, required=True)
    ap.add_argument("--duration", type=float, required=True, help="ms")
    ap.add_argument("--dt", type=float, required=True, help="ms")
    ap.add_argument("--seed", type=int, required=True)
    a = ap.parse_args(argv)
    info = generate_network(a.out, a.cells, a.p, a.duration, a.dt, a.seed)
    json.dump(info, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Setup: workloads, EDEN, the myelin snapshot
# ---------------------------------------------------------------------------------------------


def ensure_network(cache: Path, args, size: dict) -> tuple[Path, dict]:
    """Generate a network into $CACHE/bench/<tag>/ unless an identical one is there already."""
    params = {"generator_version": GENERATOR_VERSION, "cells": size["cells"], "p": size["p"],
              "duration_ms": size["ms"], "dt_ms": args.dt, "seed": args.seed}
    tag = f"izh_getting_started_N{size['cells']}_p{size['p']:g}_T{size['ms']:g}_dt{args.dt:g}" \
          f"_s{args.seed}"
    gen_args = ["--cells", str(size["cells"]), "--p", str(size["p"]), "--duration", str(size["ms"]),
                "--dt", str(args.dt), "--seed", str(args.seed)]
    what = f"the getting-started network N={size['cells']}, p={size['p']:g}, {size['ms']:g} ms"
    return cached_workload(cache, args.workdir, args.regen, tag, params, Path(__file__).resolve(),
                           gen_args, what, args.jnml_xmx)


# EDEN 0.2.3's pip wheel ships a statically linked `eden`.  For cells it cannot run from built-in
# code it writes C, compiles it with the `gcc` on PATH into a .so and dlopen()s it; when that .so
# needs libc.so.6/libm.so.6 the static binary crashes inside dlopen (SIGSEGV in call_init; seen
# here on LEMS_NML2_Ex5_DetCell.xml).  The fix: a `gcc` first on EDEN's PATH that links the .so
# with -nostdlib and supplies the only libm function the generated code calls, expf.
EDEN_GCC_WRAPPER = r"""#!/bin/sh
# gcc for EDEN only (written by myelin's scripts/bench-run.py): link without libc/libm.
here=$(dirname "$0")
case "$1" in --version|-v|-dumpversion) exec /usr/bin/gcc "$@" ;; esac
for a do
  shift
  case "$a" in -lm) ;; *) set -- "$@" "$a" ;; esac
done
exec /usr/bin/gcc "$@" -nostdlib "$here/expf.o" -lgcc
"""

EDEN_EXPF_C = r"""/* expf without libm, for EDEN's generated code (see bench-run.py).
   2^k * e^r, |r| <= ln2/2, degree-8 Taylor polynomial in double; within 1 float ulp of glibc's
   expf over [-87.3, 88.7] (checked by hand when written). */
float expf(float xf) {
    double x = xf;
    if (x != x) return xf;
    if (x > 88.72283905206835) return __builtin_inff();
    if (x < -87.33654475055310) return 0.0f;   /* below FLT_MIN: flush */
    double t = x * 1.4426950408889634;
    double kd = (double)(long long)(t < 0 ? t - 0.5 : t + 0.5);   /* no libm round() */
    double r = (x - kd * 0.693145751953125) - kd * 1.4286068203094172e-06;
    double q = 1.0 / 40320;
    q = q * r + 1.0 / 5040; q = q * r + 1.0 / 720; q = q * r + 1.0 / 120; q = q * r + 1.0 / 24;
    q = q * r + 1.0 / 6; q = q * r + 0.5; q = q * r + 1.0; q = q * r + 1.0;
    union { double d; unsigned long long u; } s;
    s.u = (unsigned long long)((long long)kd + 1023) << 52;
    return (float)(q * s.d);
}
"""


def ensure_eden(cache: Path) -> tuple[Path | None, Path | None, str]:
    """(eden binary, shim dir, note); (None, None, why) where EDEN cannot be set up."""
    venv = cache / "venv-eden"
    py = venv / "bin" / "python"
    try:
        if not py.exists():
            print(f"== creating {venv} with eden-simulator=={EDEN_VERSION}", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        ok = subprocess.run([str(py), "-c", "import eden_simulator, sys; "
                             f"sys.exit(eden_simulator.__version__ != '{EDEN_VERSION}')"],
                            capture_output=True).returncode == 0
        if not ok:
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                                f"eden-simulator=={EDEN_VERSION}"], capture_output=True,
                               text=True)
            if r.returncode != 0:
                return None, None, f"pip install eden-simulator=={EDEN_VERSION} failed: " \
                                   f"{r.stderr.strip()[-500:]}"
    except (OSError, subprocess.CalledProcessError) as e:
        return None, None, f"cannot create {venv}: {e}"
    bins = glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "eden_simulator" / "data"
                         / "bin" / "eden"))
    if not bins:
        return None, None, f"no eden binary inside the eden-simulator wheel in {venv}"
    shim = cache / "eden-shim"
    shim.mkdir(parents=True, exist_ok=True)
    if (not (shim / "expf.o").exists() or (shim / "expf.c").read_text() != EDEN_EXPF_C
            or (shim / "gcc").read_text() != EDEN_GCC_WRAPPER):
        (shim / "expf.c").write_text(EDEN_EXPF_C)
        (shim / "gcc").write_text(EDEN_GCC_WRAPPER)
        (shim / "gcc").chmod(0o755)
        r = subprocess.run(["/usr/bin/gcc", "-O2", "-fpic", "-c", str(shim / "expf.c"), "-o",
                            str(shim / "expf.o")], capture_output=True, text=True)
        if r.returncode != 0:
            (shim / "expf.o").unlink(missing_ok=True)
            return Path(bins[0]), None, f"building the EDEN loader fix failed: {r.stderr[-500:]}"
    return Path(bins[0]), shim, f"eden-simulator {EDEN_VERSION} in {venv}; gcc shim {shim}"


# tvbo's own JAX backend (for the jansenrit case).  The driver below runs inside $CACHE/venv-tvbo
# (tvbo 0.5.3 from PyPI, with the jax/jaxlib it depends on); the main process calls this same
# file as `<venv python> bench-run.py _tvbo_jax MODEL.yaml ...`.
TVBO_VERSION = "0.5.3"


def tvbo_jax_main(argv: list[str]) -> None:
    """Run a TVBO model (a Dynamics YAML) through tvbo's JAX backend, 1 node, no noise.

    --mode whole: what the harness times as a whole process: import tvbo, build the
    SimulationExperiment, `exp.run("jax")` (tvbo renders its JAX code, exec()s it, jit-compiles
    and runs the kernel, and wraps the result), then the trajectory as a numpy array.  It writes
    no file (tvbo's run() keeps the result in memory).
    --mode steady: the same generated kernel (`exp.execute("jax")`, jitted) called several
    times on the same state: the first call compiles and runs, later calls only run; with
    --compare DAT, the trajectory is compared with a jLEMS-layout output file (time column,
    then the state variables, first row t = 0) of the same model."""
    import time
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(prog="bench-run.py _tvbo_jax")
    ap.add_argument("model", type=Path)
    ap.add_argument("--duration", type=float, required=True, help="ms")
    ap.add_argument("--dt", type=float, required=True, help="ms")
    ap.add_argument("--method", default="euler")
    ap.add_argument("--mode", choices=["whole", "steady"], default="whole")
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--compare", type=Path)
    a = ap.parse_args(argv)
    import numpy as np
    import yaml
    from tvbo.classes.experiment import SimulationExperiment
    import tvbo
    import jax
    t_import = time.perf_counter() - t0
    spec = {"label": "myelin bench", "dynamics": yaml.safe_load(a.model.read_text()),
            "network": {"number_of_nodes": 1},
            "integration": {"method": a.method, "step_size": a.dt, "duration": a.duration,
                            "time_scale": "ms"}}
    t1 = time.perf_counter()
    exp = SimulationExperiment.from_string(yaml.safe_dump(spec))
    t_build = time.perf_counter() - t1
    info = {"tvbo": getattr(tvbo, "__version__", "?"), "jax": jax.__version__,
            "backend": jax.default_backend(), "import_s": t_import, "experiment_s": t_build}
    if a.mode == "whole":
        t2 = time.perf_counter()
        res = exp.run("jax")
        y = np.asarray(res.integration.data.values)
        info["run_jax_s"] = time.perf_counter() - t2
        info["shape"] = list(y.shape)
        print(f"tvbo {info['tvbo']}, jax {info['jax']} ({info['backend']}): import "
              f"{t_import:.3f} s, experiment {t_build:.3f} s, run(jax) {info['run_jax_s']:.3f} s "
              f"(render, jit, run), trajectory {y.shape}, finite {bool(np.isfinite(y).all())}")
    else:
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)  # as exp.run("jax") does by default
        exp.configure()  # (run() does this first too)
        state = exp.collect_state().convert_dtype(target_dtype=jnp.float64)
        kernel = exp.execute(format="jax")
        calls = []
        for _ in range(max(2, a.calls)):
            t = time.perf_counter()
            ts = kernel(state)
            y = np.asarray(jax.block_until_ready(ts.data))
            calls.append(time.perf_counter() - t)
        info["first_call_s"] = calls[0]
        info["later_calls_s"] = calls[1:]
        later = sorted(calls[1:])[len(calls[1:]) // 2]
        info["later_call_median_s"] = later
        y = y.reshape(y.shape[0], -1)
        info["shape"] = list(y.shape)
        print(f"kernel: first call (compile + run) {calls[0]:.3f} s, later calls (run only) "
              f"median {later:.4f} s over {len(calls) - 1}")
        if a.compare:
            ref = np.loadtxt(a.compare)[:, 1:]
            n = min(len(ref) - 1, len(y))
            # tvbo's rows are the states after steps 1..N; the file's row k is t = k*dt.
            dev = np.abs(y[:n] - ref[1:n + 1]).max(axis=0)
            rng = np.maximum(np.ptp(ref, axis=0), 1e-300)
            info["compare_rows"] = n
            info["max_dev_over_range"] = float((dev / rng).max())
            print(f"vs {a.compare.name}: {n} rows, max |tvbo - file| / range = "
                  f"{info['max_dev_over_range']:.2e}")
    print("JSON " + json.dumps(info))


def ensure_tvbo(cache: Path) -> tuple[Path | None, str]:
    """(python of $CACHE/venv-tvbo with tvbo and jax, note), or (None, why not)."""
    venv = cache / "venv-tvbo"
    py = venv / "bin" / "python"
    check = ("import sys, tvbo, jax; "
             f"sys.exit(getattr(tvbo, '__version__', '') != '{TVBO_VERSION}')")
    try:
        if not py.exists():
            print(f"== creating {venv} with tvbo=={TVBO_VERSION} (and the jax it needs)",
                  flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
            # The wheel fetch-reference.sh keeps in $CACHE/wheels is used when present.
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                                "--find-links", str(cache / "wheels"), f"tvbo=={TVBO_VERSION}"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                return None, f"pip install tvbo=={TVBO_VERSION} failed: {r.stderr.strip()[-500:]}"
            if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
                return None, f"tvbo {TVBO_VERSION} or jax does not import in {venv}"
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"cannot create {venv}: {e}"
    v = subprocess.run([str(py), "-c", "import jax; print(jax.__version__)"], capture_output=True,
                       text=True).stdout.strip()
    return py, f"tvbo {TVBO_VERSION}, jax {v} (CPU) in {venv}"


# Brian2 (for the small and big networks).  The driver below runs inside $CACHE/venv-brian2
# (brian2 2.9.0 from PyPI with a numpy below 2.4: brian2 2.9.0 does not import with numpy 2.4);
# the main process calls this same file as `<venv python> bench-run.py _brian2 LEMS_x.xml`.
BRIAN2_VERSION = "2.9.0"
BRIAN2_PIP = (f"brian2=={BRIAN2_VERSION}", "numpy<2.4")

# NeuroML unit symbols as the generator writes them -> SI factor.
NML_UNITS = {"": 1.0, "V": 1.0, "mV": 1e-3, "s": 1.0, "ms": 1e-3, "F": 1.0, "uF": 1e-6,
             "nF": 1e-9, "pF": 1e-12, "S": 1.0, "mS": 1e-3, "uS": 1e-6, "nS": 1e-9, "pS": 1e-12,
             "A": 1.0, "mA": 1e-3, "uA": 1e-6, "nA": 1e-9, "pA": 1e-12, "per_s": 1.0,
             "per_ms": 1e3, "S_per_V": 1.0, "nS_per_mV": 1e-6}


def nml_si(text: str) -> float:
    """A NeuroML quantity ("0.7nS_per_mV", "0.105236 nA") in SI units."""
    m = re.fullmatch(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*([A-Za-z_]*)\s*", text)
    if not m or m.group(2) not in NML_UNITS:
        raise SystemExit(f"cannot convert the NeuroML quantity {text!r} (unit not known here)")
    return float(m.group(1)) * NML_UNITS[m.group(2)]


def read_lems_network(lems: Path) -> dict:
    """Everything the Brian2 driver needs from the LEMS file and the .net.nml it includes
    (stdlib xml.etree; only what bench-run.py's generator writes is accepted, anything else
    stops with a message rather than being simulated differently)."""
    import xml.etree.ElementTree as ET

    def tag(e) -> str:
        return e.tag.rsplit("}", 1)[-1]

    def cell_ref(ref: str) -> tuple[str, int]:
        # "../IzPop0[3]", "IzPop0[3]", "../IzPop0/3/iz2007RS0"
        m = re.fullmatch(r"(?:\.\./)?(\w+)(?:\[(\d+)\]|/(\d+)(?:/\w+)?)", ref.strip())
        if not m:
            raise SystemExit(f"cannot read the cell reference {ref!r}")
        return m.group(1), int(m.group(2) or m.group(3))

    root = ET.parse(lems).getroot()
    sim = next(e for e in root.iter() if tag(e) == "Simulation")
    nml = [e.get("file") for e in root.iter() if tag(e) == "Include"
           and e.get("file", "").endswith(".nml")]
    if len(nml) != 1:
        raise SystemExit(f"{lems}: expected one included .nml file, found {nml}")
    outputs = []
    for f in (e for e in sim.iter() if tag(e) == "EventOutputFile"):
        if f.get("format", "ID_TIME") != "ID_TIME":
            raise SystemExit(f"{lems}: only ID_TIME event files are written here")
        sels = [(int(s.get("id")), *cell_ref(s.get("select"))) for s in f
                if tag(s) == "EventSelection" and s.get("eventPort", "spike") == "spike"]
        outputs.append({"file": f.get("fileName"), "selections": sels})

    net_root = ET.parse(lems.parent / nml[0]).getroot()
    cells, syns, pulses = {}, {}, {}
    for e in net_root:
        if tag(e) == "izhikevich2007Cell":
            cells[e.get("id")] = {k: nml_si(e.get(k)) for k in
                                  ("C", "v0", "k", "vr", "vt", "vpeak", "a", "b", "c", "d")}
        elif tag(e) == "expOneSynapse":
            syns[e.get("id")] = {k: nml_si(e.get(k)) for k in ("gbase", "erev", "tauDecay")}
        elif tag(e) == "pulseGenerator":
            pulses[e.get("id")] = {k: nml_si(e.get(k)) for k in ("delay", "duration",
                                                                   "amplitude")}
        elif tag(e) not in ("network", "notes", "annotation", "include"):
            raise SystemExit(f"{nml[0]}: <{tag(e)}> is not handled by the Brian2 driver")
    net = next(e for e in net_root if tag(e) == "network" and e.get("id") == sim.get("target"))
    pops, projs, inputs = {}, [], []
    for e in net:
        t = tag(e)
        if t == "population":
            if e.get("component") not in cells:
                raise SystemExit(f"population {e.get('id')}: only izhikevich2007Cell is handled")
            pops[e.get("id")] = {"size": int(e.get("size")), "cell": e.get("component")}
        elif t == "projection":
            if e.get("synapse") not in syns:
                raise SystemExit(f"projection {e.get('id')}: only expOneSynapse is handled")
            pairs = []
            for c in e:
                if tag(c) == "connection":
                    p0, i = cell_ref(c.get("preCellId"))
                    p1, j = cell_ref(c.get("postCellId"))
                    if (p0, p1) != (e.get("presynapticPopulation"),
                                    e.get("postsynapticPopulation")):
                        raise SystemExit(f"connection {c.get('id')} leaves its projection")
                    pairs.append((i, j))
                elif tag(c) not in ("notes", "annotation"):
                    raise SystemExit(f"projection {e.get('id')}: <{tag(c)}> is not handled")
            projs.append({"pre": e.get("presynapticPopulation"),
                          "post": e.get("postsynapticPopulation"), "synapse": e.get("synapse"),
                          "pairs": pairs})
        elif t == "explicitInput":
            inputs.append((e.get("input"), *cell_ref(e.get("target"))))
        elif t == "inputList":
            for i in e:
                if tag(i) == "input":
                    inputs.append((e.get("component"), *cell_ref(i.get("target"))))
        elif t not in ("notes", "annotation", "property"):
            raise SystemExit(f"network {net.get('id')}: <{t}> is not handled by the Brian2 "
                             "driver")
    for name, _, _ in inputs:
        if name not in pulses:
            raise SystemExit(f"input {name}: only pulseGenerator is handled")
    return {"dt": nml_si(sim.get("step")), "duration": nml_si(sim.get("length")),
            "nml": nml[0], "cells": cells, "synapses": syns, "pulses": pulses,
            "populations": pops, "projections": projs, "inputs": inputs, "outputs": outputs}


def brian2_main(argv: list[str]) -> None:
    """Simulate a generated getting-started network (LEMS file + .net.nml) in Brian2.

    The model is read from the files (read_lems_network), not restated: per population one
    NeuronGroup of NeuroML's izhikevich2007Cell,
        C dv/dt = k (v - vr)(v - vt) - u + I_syn + I_ext,   du/dt = a (b (v - vr) - u),
        v > vpeak (tested after the update): v = c, u = u + d, spike;
    per (post population, expOneSynapse) one summed conductance g, dg/dt = -g / tauDecay,
    I_syn = g (erev - v), raised by gbase (weight 1) on every presynaptic spike of a
    <connection> (the synapses are identical and linear, so the sum over a cell's synapses is
    one variable, as in myelin's merged instances); I_ext = the amplitude of the cell's
    pulseGenerator while delay <= t < delay + duration; v = v0, u = 0, g = 0 at t = 0.  Forward
    Euler (method="euler") at the LEMS file's step for its length.  Spikes go, one ID_TIME file
    per EventOutputFile (time in s, the step's end as jLEMS writes it), to the names the LEMS
    file gives, so the harness counts them as it does for the other tools.

    Differences from jLEMS, all at the level of one step: Brian2 applies a zero-delay on_pre in
    the "synapses" slot of the step in which the presynaptic cell fired (after every group's
    state update), so the postsynaptic cell feels the conductance from the next step's update
    on; jLEMS delivers the event at once, before the postsynaptic cell (stepped after the
    presynaptic population) updates in the same step.  The pulse is switched on Brian2's step
    start time t.  Brian2's C++ is compiled with its default flags (-O3 -ffast-math
    -march=native), float64.

    --device cpp_standalone (default): code generation, the C++ build (in ./brian2_standalone
    of the run directory, fresh each run) and the generated binary's run all happen inside
    net.run(); the binary's own simulation time (device._last_run_time) is printed as
    "simulation loop X s", the harness's own timer.  --device runtime: Brian2's runtime
    target (prefs.codegen.target as Brian2 picks it); there the own timer is the run() call."""
    import time
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(prog="bench-run.py _brian2")
    ap.add_argument("lems", type=Path)
    ap.add_argument("--device", choices=["cpp_standalone", "runtime"], default="cpp_standalone")
    a = ap.parse_args(argv)
    model = read_lems_network(a.lems)
    import numpy as np
    import brian2 as b2
    t_import = time.perf_counter() - t0
    build_dir = Path.cwd() / "brian2_standalone"
    if a.device == "cpp_standalone":
        b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=True)
    b2.defaultclock.dt = model["dt"] * b2.second

    t1 = time.perf_counter()
    groups, objects = {}, []
    for pop, pinfo in model["populations"].items():
        cell = model["cells"][pinfo["cell"]]
        n = pinfo["size"]
        syn_types = sorted({p["synapse"] for p in model["projections"] if p["post"] == pop})
        ns = {"iz_C": cell["C"] * b2.farad, "iz_k": cell["k"] * b2.siemens / b2.volt,
              "iz_vr": cell["vr"] * b2.volt, "iz_vt": cell["vt"] * b2.volt,
              "iz_vpeak": cell["vpeak"] * b2.volt, "iz_a": cell["a"] / b2.second,
              "iz_b": cell["b"] * b2.siemens, "iz_c": cell["c"] * b2.volt,
              "iz_d": cell["d"] * b2.amp}
        eqs = ["dv/dt = (iz_k*(v - iz_vr)*(v - iz_vt) - u + I_syn + I_ext) / iz_C : volt",
               "du/dt = iz_a*(iz_b*(v - iz_vr) - u) : amp"]
        terms = []
        for s, name in enumerate(syn_types):
            syn = model["synapses"][name]
            ns[f"erev_{s}"] = syn["erev"] * b2.volt
            ns[f"tau_{s}"] = syn["tauDecay"] * b2.second
            eqs.append(f"dg_{s}/dt = -g_{s} / tau_{s} : siemens")
            terms.append(f"g_{s}*(erev_{s} - v)")
        eqs.append(f"I_syn = {' + '.join(terms) or '0*amp'} : amp")
        eqs += ["I_ext = I_amp*int(t >= t_del)*int(t < t_del + t_dur) : amp",
                "I_amp : amp (constant)", "t_del : second (constant)",
                "t_dur : second (constant)"]
        g = b2.NeuronGroup(n, "\n".join(eqs), threshold="v > iz_vpeak",
                           reset="v = iz_c\nu = u + iz_d", method="euler", namespace=ns,
                           name=f"pop_{pop}")
        g.v = cell["v0"] * b2.volt
        g.u = 0 * b2.amp
        i_amp, dly, dur = np.zeros(n), np.zeros(n), np.zeros(n)
        have = np.zeros(n, dtype=bool)
        for pg, p, i in model["inputs"]:
            if p != pop:
                continue
            q = model["pulses"][pg]
            if have[i] and (dly[i], dur[i]) != (q["delay"], q["duration"]):
                raise SystemExit(f"{pop}[{i}]: pulses with different timing are not handled")
            i_amp[i] += q["amplitude"]
            dly[i], dur[i], have[i] = q["delay"], q["duration"], True
        g.I_amp = i_amp * b2.amp
        g.t_del = dly * b2.second
        g.t_dur = dur * b2.second
        groups[pop] = (g, syn_types)
        objects.append(g)
    for k, p in enumerate(model["projections"]):
        post, syn_types = groups[p["post"]]
        s = syn_types.index(p["synapse"])
        syn = b2.Synapses(groups[p["pre"]][0], post, on_pre=f"g_{s}_post += gbase",
                          namespace={"gbase": model["synapses"][p["synapse"]]["gbase"]
                                     * b2.siemens}, name=f"proj_{k}")
        if p["pairs"]:
            pairs = np.array(p["pairs"], dtype=np.int32)
            syn.connect(i=pairs[:, 0], j=pairs[:, 1])
        objects.append(syn)
    monitors = {pop: b2.SpikeMonitor(g, name=f"spikes_{pop}") for pop, (g, _) in groups.items()}
    net = b2.Network(objects, list(monitors.values()))
    t_setup = time.perf_counter() - t1

    t2 = time.perf_counter()
    net.run(model["duration"] * b2.second, namespace={})
    t_run = time.perf_counter() - t2
    sim_s = b2.device._last_run_time if a.device == "cpp_standalone" else t_run

    counts = {}
    spikes = {}
    for pop, mon in monitors.items():
        # Brian2 stamps a spike with its step's start time; jLEMS (and myelin) with the time at
        # the step's end, when v has crossed: written here as jLEMS would.
        spikes[pop] = (np.asarray(mon.i[:]), np.asarray(mon.t[:] / b2.second) + model["dt"])
        counts[pop] = int(len(spikes[pop][0]))
    for out in model["outputs"]:
        rows = []
        for sel_id, pop, i in out["selections"]:
            ids, ts = spikes[pop]
            rows += [(t, sel_id) for t in ts[ids == i]]
        rows.sort()
        with open(out["file"], "w") as f:
            f.writelines(f"{sel_id}\t{t:.6g}\n" for t, sel_id in rows)
    what = "code generation, C++ build, binary" if a.device == "cpp_standalone" else \
        "code generation, simulation"
    print(f"brian2 {b2.__version__}, numpy {np.__version__}, {a.device}: import "
          f"{t_import:.3f} s, network {t_setup:.3f} s, run() {t_run:.3f} s ({what}); "
          f"simulation loop {sim_s:.4f} s;"
          f" {int(round(model['duration'] / model['dt']))} steps at {model['dt'] * 1e3:g} ms; "
          "spikes " + ", ".join(f"{p} {n}" for p, n in counts.items()))


def ensure_brian2(cache: Path) -> tuple[Path | None, str]:
    """(python of $CACHE/venv-brian2 with brian2, note), or (None, why not)."""
    venv = cache / "venv-brian2"
    py = venv / "bin" / "python"
    check = f"import sys, brian2; sys.exit(brian2.__version__ != '{BRIAN2_VERSION}')"
    try:
        if not py.exists():
            print(f"== creating {venv} with {' '.join(BRIAN2_PIP)}", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *BRIAN2_PIP],
                               capture_output=True, text=True)
            if r.returncode != 0:
                return None, f"pip install {' '.join(BRIAN2_PIP)} failed: " \
                             f"{r.stderr.strip()[-500:]}"
            if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
                return None, f"brian2 {BRIAN2_VERSION} does not import in {venv}"
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"cannot create {venv}: {e}"
    v = subprocess.run([str(py), "-c", "import numpy; print(numpy.__version__)"],
                       capture_output=True, text=True).stdout.strip()
    return py, f"brian2 {BRIAN2_VERSION}, numpy {v} in {venv}"


def snapshot(binary: Path, scratch: Path) -> tuple[Path, str]:
    """Copy the binary into scratch (a rebuild meanwhile cannot change what is measured)."""
    dst = scratch / "bin" / binary.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dst)
    return dst, hashlib.sha256(dst.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------

OWN_TIMER = {  # each tool's own report of its simulation time (seconds), where it prints one
    "myelin": r" in ([\d.]+) s; wrote",
    "jnml": r"Finished \d+ steps in ([\d.]+) seconds",
    "eden": r"Run: ([\d.]+)",
    "jax": r"run\(jax\) ([\d.]+) s",
    "brian2": r"simulation loop ([\d.]+) s",
}


def file_set(root: Path) -> dict[str, int]:
    return {str(f.relative_to(root)): f.stat().st_size for f in root.rglob("*") if f.is_file()}


def count_spikes(path: Path) -> int | None:
    """Events in an ID_TIME file (one non-empty line each); None where the file is missing."""
    try:
        with open(path, "rb") as f:
            return sum(1 for ln in f if ln.strip())
    except OSError:
        return None


def bench_case(case: dict, tools: list, nruns: int, warmup: int, timeout: float,
               rss_method: str, scratch: Path, keep: bool) -> dict:
    """Warm-up runs, then counted runs alternating between the tools (A B C A B C ...).

    Each run gets a fresh directory from case["prepare"](dir) -> cwd; after the run the files it
    created (relative to that directory) and, for networks, the spike counts are recorded."""
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    reported: set[str] = set()

    def one(tool: str, counted: bool) -> None:
        d = Path(tempfile.mkdtemp(prefix=f"{case['name']}.{tool}.", dir=scratch))
        cwd = case["prepare"](d)
        before = file_set(d)
        argv, env = case["cmds"][tool]
        r = run_once(argv, cwd, timeout, rss_method, env=env)
        after = file_set(d)
        r["new_files"] = {f: n for f, n in after.items() if f not in before}
        m = re.search(OWN_TIMER[tool], r["output_tail"])
        r["own_timer_s"] = float(m.group(1)) if m else None
        if "spike_files" in case:
            r["spikes"] = {pop: count_spikes(cwd / f) for pop, f in case["spike_files"].items()}
        r["run_dir"] = str(d)
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
        tag = f"{len(runs[tool]) + 1}/{nruns}" if counted else "warm-up"
        status = "timeout" if r["timed_out"] else f"rc={r['rc']}"
        spk = ""
        if r.get("spikes"):
            spk = " spikes " + "/".join("-" if v is None else str(v) for v in r["spikes"].values())
        print(f"  {case['name']:5} {tool:6} [{tag:>7}] {status:<7} wall={r['wall_s']:8.3f}s "
              f"cpu={r['cpu_s']:8.3f}s peak={r['peak_rss_mib']:7.1f} MiB{spk}", flush=True)
        if r["rc"] != 0 and tool not in reported and not (r["timed_out"] and case["may_time_out"]):
            reported.add(tool)
            what = f"timed out after {timeout:g}s" if r["timed_out"] else f"exited with {r['rc']}"
            loud(f"{tool} {what} on {case['file']}\n"
                 f"(case {case['name']}; its timings are NOT comparable)\n"
                 f"command: {' '.join(map(str, argv))}\n"
                 f"--- output (tail) ---\n{r['output_tail'][-2000:]}")
        if counted:
            runs[tool].append(r)

    for _ in range(warmup):
        for t in tools:
            one(t, counted=False)
    for _ in range(nruns):
        for t in tools:
            one(t, counted=True)

    res = {"case": case["name"], "file": str(case["file"]), "tools": {}, "checks": []}
    for t in tools:
        rs = runs[t]
        out_tail = rs[-1]["output_tail"] if rs else ""
        for r in rs:
            r.pop("output_tail")
        argv, env = case["cmds"][t]
        s = {"argv": [str(a) for a in argv], "env": env, "runs": rs,
             "last_output_tail": out_tail[-2000:], **summarize(rs)}
        s["all_ok"] = bool(rs) and all(r["rc"] == 0 for r in rs)
        s["timed_out"] = any(r["timed_out"] for r in rs)
        s["median_own_timer_s"] = median([r["own_timer_s"] for r in rs
                                          if r["own_timer_s"] is not None])
        if rs and "spikes" in rs[-1]:
            s["spikes"] = rs[-1]["spikes"]
            s["spikes_same_every_run"] = all(r["spikes"] == rs[-1]["spikes"] for r in rs)
        res["tools"][t] = s
    check_case(case, res, timeout)
    return res


def check_case(case: dict, res: dict, timeout: float) -> None:
    """Fill res["checks"] (each: what, ok, detail) and res["ratios"] (peer/myelin)."""
    tools = res["tools"]

    def check(what: str, ok: bool | None, detail: str) -> None:  # None: information only
        res["checks"].append({"what": what, "ok": ok, "detail": detail})

    for t, s in tools.items():
        if s["all_ok"]:
            check(f"{t} exit 0", True, "every run")
        elif s["timed_out"] and case["may_time_out"] and all(
                r["rc"] == 0 or r["timed_out"] for r in s["runs"]):
            check(f"{t} finished within {timeout:g}s", None, "timeout (reported, not a failure)")
        else:
            check(f"{t} exit 0", False, f"exit codes {s['exit_codes']}"
                  + (" (timeout)" if s["timed_out"] else ""))
        if "spikes" in s and not s["spikes_same_every_run"] and s["all_ok"]:
            check(f"{t} same spike counts in every run", False,
                  str([r["spikes"] for r in s["runs"]]))

    m, j = tools.get("myelin"), tools.get("jnml")
    if m and j and m["all_ok"] and j["all_ok"]:
        fm = set(m["runs"][-1]["new_files"])
        fj = set(j["runs"][-1]["new_files"])
        detail = f"{len(fm)} files: {', '.join(sorted(fm))}" if fm == fj else \
            f"only jNeuroML wrote {sorted(fj - fm)}; only myelin wrote {sorted(fm - fj)}"
        check("myelin and jNeuroML create the same files", fm == fj, detail)
        sizes = {f: (m["runs"][-1]["new_files"][f], j["runs"][-1]["new_files"][f])
                 for f in sorted(fm & fj)}
        differ = [f"{f} (myelin {a} B, jNeuroML {b} B)" for f, (a, b) in sizes.items() if a != b]
        if differ:
            check("file sizes (information only)", None, "; ".join(differ))
        if "spikes" in m and "spikes" in j:
            bad = []
            for pop, nj in j["spikes"].items():
                nm = m["spikes"].get(pop)
                if nm is None or nj is None or abs(nm - nj) > 0.01 * nj:
                    bad.append(f"{pop}: myelin {nm} vs jNeuroML {nj}")
            check("spike counts per population: myelin within 1% of jNeuroML", not bad,
                  "; ".join(bad) or ", ".join(f"{p} {n}" for p, n in j["spikes"].items()))
    for t, s in tools.items():
        if "spikes" in s and s["all_ok"] and any(v is None for v in s["spikes"].values()):
            check(f"{t} wrote every spike file", False, str(s["spikes"]))
    # EDEN (float32) and Brian2 (float64, zero-delay events felt one step later than in jLEMS)
    # beside myelin and jNeuroML: information only.
    for peer, label in (("eden", "EDEN"), ("brian2", "Brian2")):
        e = tools.get(peer)
        if not (e and e["all_ok"] and "spikes" in e):
            continue
        for t in ("jnml", "myelin"):
            o = tools.get(t)
            if o and o["all_ok"] and "spikes" in o:
                diffs = ", ".join(
                    f"{pop} {ne} vs {no}" + (f" ({100.0 * (ne - no) / no:+.2f}%)" if no else "")
                    for pop, ne in e["spikes"].items()
                    for no in [o["spikes"].get(pop)] if ne is not None and no is not None)
                check(f"spike counts {label} vs {t} (information only)", None, diffs)

    res["ratios"] = {}
    if not m:
        return
    for t, s in tools.items():
        if t == "myelin":
            continue
        r = {"comparable": m["all_ok"] and s["all_ok"]}
        if r["comparable"]:
            r["wall"] = s["median_wall_s"] / m["median_wall_s"]
            r["peak_rss"] = s["median_peak_rss_mib"] / m["median_peak_rss_mib"]
        elif m["all_ok"] and s["timed_out"]:  # peer killed at the timeout: a lower bound
            r["wall_at_least"] = timeout / m["median_wall_s"]
        elif s["all_ok"] and m["timed_out"]:  # myelin killed at the timeout: an upper bound
            r["wall_at_most"] = s["median_wall_s"] / timeout
        res["ratios"][t] = r


def jax_steady(res: dict, jr: dict, myelin: Path, tvbo_py: Path, timeout: float) -> None:
    """After the timed jansenrit runs: tvbo's generated JAX kernel alone (first call = compile +
    run, later calls = run only), and its trajectory against myelin's output of the same model
    (both forward Euler in float64; myelin's file holds float32 text).  Not timed as a process;
    reported beside the whole-process figures."""
    d = jr["dir"]
    (d / "results").mkdir(exist_ok=True)
    subprocess.run([str(myelin), "run", "-q", "JansenRit.xml"], cwd=d, check=True)
    dat = d / "results" / "JansenRit.dat"
    argv = [str(tvbo_py), str(Path(__file__).resolve()), "_tvbo_jax", "JansenRit.yaml",
            *jr["jax_args"], "--mode", "steady", "--compare", str(dat)]
    print(f"  jansenrit jax    [steady ] {' '.join(argv[3:])}", flush=True)
    try:
        p = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        res["checks"].append({"what": "tvbo JAX kernel alone", "ok": False, "detail": "timeout"})
        return
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("JSON ")), None)
    if p.returncode != 0 or line is None:
        res["checks"].append({"what": "tvbo JAX kernel alone", "ok": False,
                              "detail": f"exit {p.returncode}: {(p.stdout + p.stderr)[-1500:]}"})
        return
    info = json.loads(line[5:])
    res["tools"]["jax"]["steady"] = info
    dev = info.get("max_dev_over_range")
    ok = dev is not None and dev <= 1e-5 and info["shape"][0] == jr["steps"]
    res["checks"].append({
        "what": "tvbo JAX trajectory = myelin's output (max deviation / range <= 1e-5)", "ok": ok,
        "detail": f"{info.get('compare_rows')} rows of {info['shape']}, {dev:.2e}"
                  if dev is not None else str(info)})
    m = res["tools"].get("myelin", {}).get("median_wall_s")
    later = info["later_call_median_s"]
    res["checks"].append({
        "what": "tvbo JAX without start-up and compile (information only)", "ok": None,
        "detail": f"kernel first call (compile + run) {info['first_call_s']:.3f} s, later calls "
                  f"(run only) {later:.4f} s; import tvbo {info['import_s']:.2f} s"
                  + (f"; run-only call / myelin's whole process = {later / m:.1f}x" if m
                     else "")})


def fmt_ratio(r: dict | None, key: str) -> str:
    if not r:
        return ""
    if key in r:
        return f"{r[key]:.2f}x"
    if key == "wall" and "wall_at_least" in r:
        return f">{r['wall_at_least']:.1f}x"
    if key == "wall" and "wall_at_most" in r:
        return f"<{r['wall_at_most']:.2f}x"
    return "n/a"


def print_table(results: list[dict]) -> None:
    hdr = (f"{'case':9} {'tool':6} {'runs':>4} {'exit':>7} {'wall s':>9} {'cpu s':>9} "
           f"{'RSS MiB':>8} {'own s':>8} {'wall peer/my':>12} {'RSS peer/my':>11}  spikes")
    print("\n" + hdr + "\n" + "-" * (len(hdr) + 16))
    for res in results:
        for t, s in res["tools"].items():
            rc = "timeout" if s["timed_out"] else (",".join(map(str, s["exit_codes"])) or "-")
            ratio = res["ratios"].get(t)
            own = s["median_own_timer_s"]
            spikes = ""
            if "spikes" in s:
                spikes = "  ".join(f"{p} {'-' if n is None else n}" for p, n in
                                   s["spikes"].items())
                if s["timed_out"]:
                    spikes = "timeout"
            print(f"{res['case']:9} {t:6} {len(s['runs']):>4} {rc:>7} {s['median_wall_s']:>9.3f} "
                  f"{s['median_cpu_s']:>9.3f} {s['median_peak_rss_mib']:>8.1f} "
                  f"{'' if own != own else f'{own:.3f}':>8} {fmt_ratio(ratio, 'wall'):>12} "
                  f"{fmt_ratio(ratio, 'peak_rss'):>11}  {spikes}")
    print("\nwall, cpu: medians over whole-process runs; RSS: median of the per-run peak RSS "
          "(a timed-out run: its peak until killed); own s: the tool's own simulation timer; "
          "peer/myelin > 1: myelin is faster / smaller; >Nx: the peer was killed at the timeout\n")
    for res in results:
        for c in res["checks"]:
            mark = {True: "ok  ", False: "FAIL", None: "note"}[c["ok"]]
            print(f"  [{mark}] {res['case']:9} {c['what']}: {c['detail']}")
    print()


# ---------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        return generate_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "_tvbo_jax":
        return tvbo_jax_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "_brian2":
        return brian2_main(sys.argv[2:])

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--myelin", type=Path, default=DEFAULT_MYELIN,
                    help="myelin binary (default: target/release/myelin, built if missing)")
    ap.add_argument("--no-build", action="store_true", help="never run cargo build")
    ap.add_argument("--runs", type=int, help="counted runs per tool on ex5, ex15 and small "
                    "(default 3; 1 with --quick); big is always run once")
    ap.add_argument("--warmup", type=int, help="uncounted warm-up runs per tool on ex5, ex15 and "
                    "small (default 1; 0 with --quick)")
    ap.add_argument("--quick", action="store_true", help="1 run per tool, no warm-up")
    ap.add_argument("--tools", default="myelin,jnml,eden,jax,brian2", help="comma list of "
                    "myelin,jnml,eden,jax,brian2 (EDEN and Brian2 run on the networks only; jax, "
                    "tvbo's JAX backend, on jansenrit only)")
    ap.add_argument("--cases", default="ex5,ex15,jansenrit,small,big", help="comma list of "
                    "ex5,ex15,jansenrit,small,big (jansenrit: myelin's built-in JansenRit exported "
                    "to LEMS, 1 s at TVBO's step, run by both)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds per run before it is killed and reported as timeout "
                    "(default 600)")
    ap.add_argument("--json", type=Path, help="write all results to this JSON file")
    ap.add_argument("--small", default="10,0.5,200", metavar="N,P,MS",
                    help="small network: cells, connection probability, simulated ms "
                    "(default 10,0.5,200)")
    ap.add_argument("--big", default="1000,0.5,1000", metavar="N,P,MS",
                    help="big network (default 1000,0.5,1000)")
    ap.add_argument("--dt", type=float, default=0.025, help="network time step in ms "
                    "(default 0.025)")
    ap.add_argument("--seed", type=int, default=123, help="seed of the generated networks "
                    "(default 123, as in the guide)")
    ap.add_argument("--workdir", help="where generated workloads go (default $CACHE/bench)")
    ap.add_argument("--regen", action="store_true", help="regenerate the networks even if cached")
    ap.add_argument("--jnml-xmx", default="4G", help="java -Xmx for jNeuroML (default 4G)")
    ap.add_argument("--eden-threads", type=int, default=1, help="OMP_NUM_THREADS for EDEN")
    ap.add_argument("--brian2-device", choices=["cpp_standalone", "runtime"],
                    default="cpp_standalone", help="Brian2's device (default cpp_standalone: "
                    "generated C++, built in every run; runtime: Brian2's runtime target)")
    ap.add_argument("--rss-method", choices=["auto", "time", "wait4"], default="auto",
                    help="peak RSS from GNU time's %%M (auto: when present) or wait4's ru_maxrss")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    cases_wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not tools or set(tools) - {"myelin", "jnml", "eden", "jax", "brian2"}:
        ap.error("--tools takes myelin, jnml, eden, jax and/or brian2")
    if not cases_wanted or set(cases_wanted) - {"ex5", "ex15", "jansenrit", "small", "big"}:
        ap.error("--cases takes ex5, ex15, jansenrit, small and/or big")
    sizes = {}
    for name in ("small", "big"):
        try:
            n, p, ms = getattr(args, name).split(",")
            sizes[name] = {"cells": int(n), "p": float(p), "ms": float(ms)}
        except ValueError:
            ap.error(f"--{name} takes N,P,MS, e.g. 10,0.5,200")
    nruns = args.runs or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)

    cache = fetch_references()
    jnml_dir = cache / "jnml"
    jar = jnml_dir / "jNeuroML.jar"
    core = jnml_dir / "NeuroML2CoreTypes"
    (cache / "bench").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="runs.", dir=cache / "bench"))  # run directories
    myelin = myelin_sha = None
    if "myelin" in tools:
        built = ensure_myelin(args.myelin, not args.no_build)
        myelin, myelin_sha = snapshot(built, scratch)
    eden = eden_env = None
    eden_note = "not requested"
    if "eden" in tools and {"small", "big"} & set(cases_wanted):
        eden, shim, eden_note = ensure_eden(cache)
        if eden is None or shim is None:
            loud(f"EDEN cannot be used: {eden_note}")
            tools.remove("eden")
            eden_note = "UNAVAILABLE: " + eden_note
        else:
            eden_env = {"OMP_NUM_THREADS": str(args.eden_threads),
                        "PATH": f"{shim}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    brian2_py = None
    brian2_note = "not requested"
    if "brian2" in tools and {"small", "big"} & set(cases_wanted):
        brian2_py, brian2_note = ensure_brian2(cache)
        if brian2_py is None:
            loud(f"Brian2 cannot be used: {brian2_note}")
            tools.remove("brian2")
            brian2_note = "UNAVAILABLE: " + brian2_note
        else:
            brian2_note += f", {args.brian2_device}"

    tvbo_py = None
    tvbo_note = "not requested"
    if "jax" in tools and "jansenrit" in cases_wanted:
        tvbo_py, tvbo_note = ensure_tvbo(cache)
        if tvbo_py is None:
            loud(f"tvbo's JAX backend cannot be used: {tvbo_note}")
            tvbo_note = "UNAVAILABLE: " + tvbo_note

    def jv(*a) -> tuple[list, None]:
        return jnml_cmd(jar, args.jnml_xmx, *a), None

    cases = []
    for name, fname in (("ex5", "LEMS_NML2_Ex5_DetCell.xml"),
                        ("ex15", "LEMS_NML2_Ex15_CaDynamics.xml")):
        if name not in cases_wanted:
            continue

        def prep_examples(d: Path) -> Path:
            for sub in ("LEMSexamples", "examples"):
                shutil.copytree(jnml_dir / sub, d / sub)
            (d / "LEMSexamples" / "results").mkdir(exist_ok=True)
            return d / "LEMSexamples"

        cmds = {"myelin": ([myelin, "run", fname, "-I", core], None),
                "jnml": jv(fname, "-nogui")}
        cases.append({"name": name, "file": jnml_dir / "LEMSexamples" / fname,
                      "prepare": prep_examples, "may_time_out": False,
                      "tools": [t for t in ("myelin", "jnml") if t in tools],
                      "nruns": nruns, "warmup": warmup,
                      "cmds": {t: c for t, c in cmds.items() if t in tools}})
    jr = None
    if "jansenrit" in cases_wanted and myelin is not None:
        # myelin's built-in JansenRit exported to LEMS (`myelin export JansenRit`: 1 s at TVBO's
        # step, every state variable recorded): myelin and jNeuroML run that same file (forward
        # Euler, jLEMS's only method).  tvbo's JAX backend runs the same model -- myelin's
        # built-in YAML (`myelin models JansenRit`), which tvbo reads as it is -- with the same
        # step, duration and method.
        jr_xml = scratch / "jansenrit-model" / "JansenRit.xml"
        jr_xml.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(myelin), "export", "JansenRit", "-o", str(jr_xml)], check=True,
                       capture_output=True)
        (jr_xml.parent / "JansenRit.yaml").write_text(subprocess.run(
            [str(myelin), "models", "JansenRit"], check=True, capture_output=True,
            text=True).stdout)
        m = re.search(r'<Simulation [^>]*length="([\d.]+)ms" step="([\d.]+)ms"',
                      jr_xml.read_text())
        if not m:
            raise SystemExit(f"no <Simulation length=..ms step=..ms> in {jr_xml}")
        jr = {"duration_ms": float(m.group(1)), "dt_ms": float(m.group(2)), "dir": jr_xml.parent}
        jr["steps"] = round(jr["duration_ms"] / jr["dt_ms"])
        jax_args = ["--duration", m.group(1), "--dt", m.group(2), "--method", "euler"]

        def prep_jr(d: Path) -> Path:
            for f in ("JansenRit.xml", "JansenRit.yaml"):
                shutil.copy2(jr_xml.parent / f, d / f)
            (d / "results").mkdir(exist_ok=True)
            return d

        cmds = {"myelin": ([myelin, "run", "JansenRit.xml"], None),
                "jnml": jv("JansenRit.xml", "-nogui")}
        if tvbo_py is not None:
            cmds["jax"] = ([tvbo_py, Path(__file__).resolve(), "_tvbo_jax", "JansenRit.yaml",
                            *jax_args, "--mode", "whole"], None)
        jr["jax_args"] = jax_args
        cases.append({"name": "jansenrit", "file": jr_xml, "prepare": prep_jr,
                      "may_time_out": False,
                      "tools": [t for t in ("myelin", "jnml", "jax") if t in cmds and t in tools],
                      "nruns": nruns, "warmup": warmup,
                      "cmds": {t: c for t, c in cmds.items() if t in tools}})
    workloads = {}
    for name in ("small", "big"):
        if name not in cases_wanted:
            continue
        wdir, info = ensure_network(cache, args, sizes[name])
        s = info["summary"]
        workloads[name] = {"dir": str(wdir), **info}

        def prep_net(d: Path, wdir=wdir, s=s) -> Path:
            for f in (s["nml"], s["lems"]):
                shutil.copy2(wdir / f, d / f)
            return d

        cmds = {"myelin": ([myelin, "run", s["lems"], "-I", core], None),
                "jnml": jv(s["lems"], "-nogui"),
                "eden": ([eden, "nml", s["lems"]], eden_env),
                "brian2": ([brian2_py, Path(__file__).resolve(), "_brian2", s["lems"],
                            "--device", args.brian2_device], None)}
        order = ("myelin", "jnml", "eden", "brian2") if name == "small" else \
            ("myelin", "eden", "brian2", "jnml")
        cases.append({"name": name, "file": wdir / s["lems"], "prepare": prep_net,
                      "spike_files": s["spike_files"], "may_time_out": name == "big",
                      "tools": [t for t in order if t in tools],
                      "nruns": 1 if name == "big" else nruns,
                      "warmup": 0 if name == "big" else warmup,
                      "cmds": {t: c for t, c in cmds.items() if t in tools}})

    env = environment(cache, myelin)
    env["myelin_source"] = str(args.myelin)
    env["myelin_sha256"] = myelin_sha
    env["eden"] = eden_note
    env["tvbo_jax"] = tvbo_note
    env["brian2"] = brian2_note
    rss_method = rss_method_available(args.rss_method)
    env["rss_method"] = rss_method
    env["spawn_overhead_s"] = spawn_overhead(rss_method)
    if rss_method == "wait4":
        loud("peak RSS comes from wait4 (GNU time not used): it cannot be below this script's "
             "own RSS, so small processes are overstated")
    for name, w in workloads.items():
        s = w["summary"]
        print(f"== {name}: N={s['cells']} ({'+'.join(map(str, s['populations'].values()))}), "
              f"p={s['p']:g}, {s['connections']} connections, {s['pulse_generators']} "
              f"pulseGenerators, {s['duration_ms']:g} ms at dt {s['dt_ms']:g} ms "
              f"({s['steps']} steps)", flush=True)
    print(f"== benchmarking {', '.join(c['name'] for c in cases)} "
          f"(runs {nruns}, warm-up {warmup}; big: 1 run; timeout {args.timeout:g}s; "
          f"{env['cpus']} CPUs, load {env['loadavg'][0]:.2f}; peak RSS via {rss_method}; "
          f"EDEN: {eden_note}; tvbo JAX: {tvbo_note}; Brian2: {brian2_note})", flush=True)
    results = []
    for c in cases:
        if c["tools"]:
            results.append(bench_case(c, c["tools"], c["nruns"], c["warmup"], args.timeout,
                                      rss_method, scratch, args.keep))
            if c["name"] == "jansenrit" and "jax" in c["tools"]:
                jax_steady(results[-1], jr, myelin, tvbo_py, args.timeout)
    env["loadavg_end"] = os.getloadavg()
    print_table(results)
    for name, w in workloads.items():
        s = w["summary"]
        print(f"{name} network: N={s['cells']}, p={s['p']:g}, seed {s['seed']}: "
              f"{s['connections']} connections, .net.nml {s['nml_bytes'] / 1e6:.2f} MB, "
              f"in {w['dir']}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"run directories kept in {scratch}")

    failed = [(r["case"], c) for r in results for c in r["checks"] if c["ok"] is False]
    if failed:
        loud("failed checks:\n" + "\n".join(f"  {case}: {c['what']}: {c['detail']}"
                                            for case, c in failed))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "runs_requested": nruns,
                                         "warmup": warmup, "timeout_s": args.timeout,
                                         "workloads": workloads, "results": results},
                                        indent=1, default=str))
        print(f"results written to {args.json}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
