#!/usr/bin/env python3
"""Benchmark `myelin validate` against jNeuroML: whole-process wall time and peak RSS.

Usage (from anywhere; stdlib only, any Python >= 3.9, e.g. the cache venv's or the system's):

    python3 scripts/bench-validate.py [--runs N] [--quick] [--json results.json]
                                      [--myelin PATH] [--tools myelin,jnml] [--cases ex15,net,lems]

What it does:

1. Runs `scripts/fetch-reference.sh --venv` so the jNeuroML 0.14 jar, its unpacked
   NeuroML2CoreTypes/LEMSexamples/examples and a venv with pyNeuroML exist in the cache
   (${MYELIN_CACHE:-~/.cache/myelin}).
2. Generates (once; reused while its parameters are unchanged) a benchmark network with
   libNeuroML/pyNeuroML in that venv, under $CACHE/bench/ (never in the repository):
   1000 izhikevich2007Cell RS cells (NeuroML getting-started guide parameters) in two populations
   of 500, two random projections pop0 -> pop1 (`connection`) and pop1 -> pop0 (`connectionWD`)
   with p = 0.25 each, i.e. ~125,000 connections in total, expOneSynapse synapses and a few
   pulseGenerator inputs (one inputList and some explicitInputs); written as a `.net.nml` plus a
   `LEMS_*.xml` simulation that includes it.  Both are checked once with jNeuroML (`-validate`,
   `-norun`); the generation stops if jNeuroML rejects them.
3. Times three cases, each with both tools:
     ex15  LEMS_NML2_Ex15_CaDynamics.xml (jNeuroML's LEMSexamples)
           myelin validate FILE -I CoreTypes -I examples   vs   jnml FILE -norun
     net   the generated .net.nml
           myelin validate FILE -I CoreTypes              vs   jnml -validate FILE
     lems  the generated LEMS file (includes the .net.nml)
           myelin validate FILE -I CoreTypes              vs   jnml FILE -norun
   (`jnml -validate` accepts only NeuroML documents, so for LEMS files the comparable jNeuroML
   job is loading, resolving and building the model without running it: `-norun`.)
   jNeuroML is run as `java -Xmx4G -jar jNeuroML.jar ...`, which is what the `jnml` script does.
4. Every run is a separate process: wall time around it, user+sys CPU time and exit status from
   os.wait4, peak RSS from GNU time's %M (/usr/bin/time -f %M; falls back to wait4's ru_maxrss,
   which cannot go below this script's own ~15 MiB -- see rss_method_available).  One uncounted
   warm-up run per case and tool (page cache, JVM class-data sharing), then the counted runs,
   alternating between the tools.  Medians are reported.  Every input is valid, so any exit
   status other than 0 is reported loudly (the timing of a failing run is not comparable) and
   the benchmark goes on; the script then exits 1.
5. Prints a table (case, tool, median wall, median CPU, median peak RSS, jNeuroML/myelin ratios)
   and, with --json, writes all raw numbers and the environment to a JSON file.

`--myelin` defaults to target/release/myelin; when that is missing it is built with
`cargo build --release -p myelin` (set CARGO_BUILD_JOBS to limit parallelism).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from benchlib import (DEFAULT_MYELIN, ensure_myelin, environment, fetch_references, jnml_cmd, loud,
                      rss_method_available, run_once, spawn_overhead, summarize, cached_workload,
)

# Bump when the generated network changes, so cached copies are regenerated.
GENERATOR_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Workload generation.  This part runs inside the cache venv (it needs libNeuroML/pyNeuroML);
# the main process calls this same file as `<venv python> bench-validate.py _generate OUTDIR ...`.
# ---------------------------------------------------------------------------------------------


def generate_network(out: Path, cells: int, connections: int, seed: int) -> dict:
    """Write <out>/bench_net.net.nml and <out>/LEMS_bench_net.xml; return a summary dict."""
    import random

    import neuroml
    from neuroml import (ConnectionWD, Connection, ExpOneSynapse, ExplicitInput, Input, InputList,
                         Izhikevich2007Cell, Network, NeuroMLDocument, Population, Projection,
                         PulseGenerator)
    from neuroml.writers import NeuroMLWriter
    import pyneuroml
    from pyneuroml.lems import LEMSSimulation

    n0 = cells // 2
    n1 = cells - n0
    # Two projections (pop0 -> pop1, pop1 -> pop0); each pair is connected with probability p.
    p = connections / (2.0 * n0 * n1)
    if not 0.0 < p <= 1.0:
        raise SystemExit(f"cannot make {connections} connections among {cells} cells")
    rng = random.Random(seed)

    doc = NeuroMLDocument(id="bench_net")
    # Regular-spiking cell of the NeuroML getting-started guide (Izhikevich 2007).
    doc.izhikevich2007_cells.append(Izhikevich2007Cell(
        id="iz2007RS", C="100pF", v0="-60mV", k="0.7nS_per_mV", vr="-60mV", vt="-40mV",
        vpeak="35mV", a="0.03per_ms", b="-2nS", c="-50.0mV", d="100pA"))
    doc.exp_one_synapses.append(ExpOneSynapse(id="syn0", gbase="0.5nS", erev="0mV",
                                              tau_decay="5ms"))
    doc.pulse_generators.append(PulseGenerator(id="pg_strong", delay="20ms", duration="500ms",
                                               amplitude="0.2nA"))
    doc.pulse_generators.append(PulseGenerator(id="pg_weak", delay="50ms", duration="200ms",
                                               amplitude="0.1nA"))

    net = Network(id="bench_net")
    doc.networks.append(net)
    net.populations.append(Population(id="pop0", component="iz2007RS", size=n0))
    net.populations.append(Population(id="pop1", component="iz2007RS", size=n1))

    # Inputs to a few cells, in both NeuroML forms.
    stim = InputList(id="stim0", populations="pop0", component="pg_strong")
    for i in range(min(10, n0)):
        stim.input.append(Input(id=i, target=f"../pop0[{i}]", destination="synapses"))
    net.input_lists.append(stim)
    for i in range(min(5, n1)):
        net.explicit_inputs.append(ExplicitInput(target=f"pop1[{i}]", input="pg_weak"))

    # pop0 -> pop1: plain <connection>; pop1 -> pop0: <connectionWD> with weight and delay.
    p01 = Projection(id="proj01", presynaptic_population="pop0", postsynaptic_population="pop1",
                     synapse="syn0")
    p10 = Projection(id="proj10", presynaptic_population="pop1", postsynaptic_population="pop0",
                     synapse="syn0")
    for pre in range(n0):
        for post in range(n1):
            if rng.random() < p:
                p01.connections.append(Connection(
                    id=len(p01.connections), pre_cell_id=f"../pop0[{pre}]",
                    post_cell_id=f"../pop1[{post}]"))
    for pre in range(n1):
        for post in range(n0):
            if rng.random() < p:
                p10.connection_wds.append(ConnectionWD(
                    id=len(p10.connection_wds), pre_cell_id=f"../pop1[{pre}]",
                    post_cell_id=f"../pop0[{post}]", weight=round(rng.uniform(0.5, 1.5), 3),
                    delay=f"{rng.randint(1, 5)}ms"))
    net.projections.extend([p01, p10])

    nml = out / "bench_net.net.nml"
    NeuroMLWriter.write(doc, str(nml))

    sim = LEMSSimulation("sim_bench_net", duration=1000, dt=0.025, target=net.id,
                         simulation_seed=seed)
    sim.include_neuroml2_file(nml.name, include_included=False, relative_to_dir=str(out))
    sim.create_output_file("v", "bench_net.v.dat")
    for pop in ("pop0", "pop1"):
        for i in range(3):
            sim.add_column_to_output_file("v", f"{pop}_{i}_v", f"{pop}[{i}]/v")
    sim.create_event_output_file("spikes", "bench_net.spikes.dat", format="ID_TIME")
    for pop, n, base in (("pop0", n0, 0), ("pop1", n1, n0)):
        for i in range(n):
            sim.add_selection_to_event_output_file("spikes", str(base + i), f"{pop}[{i}]", "spike")
    lems = out / "LEMS_bench_net.xml"
    sim.save_to_file(str(lems))

    return {
        "nml": nml.name, "lems": lems.name, "cells": cells, "populations": [n0, n1],
        "p": p, "seed": seed,
        "connections": {"proj01 (connection)": len(p01.connections),
                        "proj10 (connectionWD)": len(p10.connection_wds)},
        "connections_total": len(p01.connections) + len(p10.connection_wds),
        "nml_bytes": nml.stat().st_size, "lems_bytes": lems.stat().st_size,
        "libneuroml": neuroml.__version__, "pyneuroml": pyneuroml.__version__,
    }


def generate_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench-validate.py _generate")
    ap.add_argument("out", type=Path)
    ap.add_argument("--cells", type=int, required=True)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    a = ap.parse_args(argv)
    info = generate_network(a.out, a.cells, a.connections, a.seed)
    json.dump(info, sys.stdout)



def bench_case(case: dict, tools: list, nruns: dict, warmup: int, timeout: float,
               rss_method: str) -> dict:
    """Warm-up runs, then counted runs alternating between the tools (A B A B ... A A A)."""
    cmds = {t: case["cmds"][t] for t in tools}
    runs: dict[str, list[dict]] = {t: [] for t in cmds}
    reported: set[str] = set()

    def one(tool: str, counted: bool) -> None:
        r = run_once(cmds[tool], case["cwd"], timeout, rss_method)
        tag = f"{len(runs[tool]) + 1}/{nruns[tool]}" if counted else "warm-up"
        print(f"  {case['name']:5} {tool:7} [{tag:>7}] rc={r['rc']:<3} wall={r['wall_s']:7.3f}s "
              f"cpu={r['cpu_s']:7.3f}s peak={r['peak_rss_mib']:7.1f} MiB", flush=True)
        if r["rc"] != 0 and tool not in reported:
            reported.add(tool)
            what = "timed out" if r["timed_out"] else f"exited with {r['rc']}"
            loud(f"{tool} {what} on the valid input {case['file']}\n"
                 f"(case {case['name']}; its timings are NOT comparable)\n"
                 f"command: {' '.join(map(str, cmds[tool]))}\n"
                 f"--- output (tail) ---\n{r['output_tail'][-2000:]}")
        if counted:
            runs[tool].append(r)

    for _ in range(warmup):
        for t in cmds:
            one(t, counted=False)
    for i in range(max(nruns[t] for t in cmds)):
        for t in cmds:
            if i < nruns[t]:
                one(t, counted=True)

    res = {"case": case["name"], "file": str(case["file"]), "tools": {}}
    for t in cmds:
        rs = runs[t]
        out_tail = rs[-1]["output_tail"] if rs else ""
        for r in rs:
            r.pop("output_tail")
        res["tools"][t] = {"argv": [str(a) for a in cmds[t]], "runs": rs,
                           "last_output_tail": out_tail[-2000:], **summarize(rs)}
        res["tools"][t]["all_ok"] = bool(rs) and all(r["rc"] == 0 for r in rs)
    if "myelin" in res["tools"] and "jnml" in res["tools"]:
        m, j = res["tools"]["myelin"], res["tools"]["jnml"]
        res["ratio_jnml_over_myelin"] = {
            "wall": j["median_wall_s"] / m["median_wall_s"],
            "cpu": j["median_cpu_s"] / m["median_cpu_s"] if m["median_cpu_s"] > 0 else None,
            "peak_rss": j["median_peak_rss_mib"] / m["median_peak_rss_mib"],
            "comparable": m["all_ok"] and j["all_ok"],
        }
    return res


def print_table(results: list[dict]) -> None:
    hdr = (f"{'case':6} {'tool':7} {'runs':>4} {'exit':>5} {'wall s':>9} {'cpu s':>9} "
           f"{'RSS MiB':>9} {'jnml/myelin time':>17} {'jnml/myelin RSS':>16}")
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for res in results:
        ratio = res.get("ratio_jnml_over_myelin")
        for t, s in res["tools"].items():
            rc = ",".join(map(str, s["exit_codes"])) or "-"
            rt = rm = ""
            if ratio and t == "jnml":
                flag = "" if ratio["comparable"] else " (!)"
                rt = f"{ratio['wall']:.1f}x{flag}"
                rm = f"{ratio['peak_rss']:.1f}x{flag}"
            print(f"{res['case']:6} {t:7} {len(s['runs']):>4} {rc:>5} {s['median_wall_s']:>9.3f} "
                  f"{s['median_cpu_s']:>9.3f} {s['median_peak_rss_mib']:>9.1f} {rt:>17} {rm:>16}")
    print("\nwall, cpu: medians over whole-process runs; RSS: median of the per-run peak RSS; "
          "(!) = some run exited non-zero\n")


# ---------------------------------------------------------------------------------------------
# Setup: the workload (references, venv and myelin binary: benchlib.py)
# ---------------------------------------------------------------------------------------------


def ensure_workload(cache: Path, args) -> tuple[Path, dict]:
    """Generate the network into $CACHE/bench/<tag>/ unless an identical one is there already."""
    params = {"generator_version": GENERATOR_VERSION, "cells": args.cells,
              "connections": args.connections, "seed": args.seed}
    tag = f"izh_net_c{args.cells}_k{args.connections}_s{args.seed}"
    gen_args = ["--cells", str(args.cells), "--connections", str(args.connections),
                "--seed", str(args.seed)]
    what = f"a {args.cells}-cell network (~{args.connections} connections)"
    return cached_workload(cache, args.workdir, args.regen, tag, params, Path(__file__).resolve(),
                           gen_args, what, args.jnml_xmx)




def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        return generate_main(sys.argv[2:])

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--myelin", type=Path, default=DEFAULT_MYELIN,
                    help="myelin binary (default: target/release/myelin, built if missing)")
    ap.add_argument("--no-build", action="store_true", help="never run cargo build")
    ap.add_argument("--runs", type=int, help="counted runs per case for both tools "
                    "(default: 5 for myelin, 3 for jNeuroML)")
    ap.add_argument("--myelin-runs", type=int, help="counted runs for myelin (overrides --runs)")
    ap.add_argument("--jnml-runs", type=int, help="counted runs for jNeuroML (overrides --runs)")
    ap.add_argument("--warmup", type=int, help="uncounted warm-up runs per case and tool "
                    "(default 1; 0 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="2 myelin runs, 1 jNeuroML run, no warm-up")
    ap.add_argument("--tools", default="myelin,jnml", help="comma list of myelin,jnml")
    ap.add_argument("--cases", default="ex15,net,lems", help="comma list of ex15,net,lems")
    ap.add_argument("--json", type=Path, help="write all results to this JSON file")
    ap.add_argument("--cells", type=int, default=1000, help="cells in the generated network")
    ap.add_argument("--connections", type=int, default=125_000,
                    help="expected total connections in the generated network")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the generated network")
    ap.add_argument("--workdir", help="where generated workloads go (default $CACHE/bench)")
    ap.add_argument("--regen", action="store_true", help="regenerate the network even if cached")
    ap.add_argument("--jnml-xmx", default="4G", help="java -Xmx for jNeuroML (default 4G)")
    ap.add_argument("--rss-method", choices=["auto", "time", "wait4"], default="auto",
                    help="peak RSS from GNU time's %%M (auto: when present) or wait4's ru_maxrss")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run before kill")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    cases_wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not tools or set(tools) - {"myelin", "jnml"}:
        ap.error("--tools takes myelin and/or jnml")
    if not cases_wanted or set(cases_wanted) - {"ex15", "net", "lems"}:
        ap.error("--cases takes ex15, net and/or lems")
    default_runs = {"myelin": 2, "jnml": 1} if args.quick else {"myelin": 5, "jnml": 3}
    nruns = {t: args.runs or default_runs[t] for t in ("myelin", "jnml")}
    if args.myelin_runs:
        nruns["myelin"] = args.myelin_runs
    if args.jnml_runs:
        nruns["jnml"] = args.jnml_runs
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)

    cache = fetch_references()
    jnml_dir = cache / "jnml"
    jar = jnml_dir / "jNeuroML.jar"
    core = jnml_dir / "NeuroML2CoreTypes"
    myelin = ensure_myelin(args.myelin, not args.no_build) if "myelin" in tools else None

    cases = []
    if "ex15" in cases_wanted:
        f = jnml_dir / "LEMSexamples" / "LEMS_NML2_Ex15_CaDynamics.xml"
        cases.append({"name": "ex15", "file": f, "cwd": f.parent, "cmds": {
            "myelin": [myelin, "validate", f, "-I", core, "-I", jnml_dir / "examples"],
            "jnml": jnml_cmd(jar, args.jnml_xmx, f, "-norun")}})
    workload = None
    if {"net", "lems"} & set(cases_wanted):
        wdir, workload = ensure_workload(cache, args)
        nml = wdir / workload["summary"]["nml"]
        lems = wdir / workload["summary"]["lems"]
        if "net" in cases_wanted:
            cases.append({"name": "net", "file": nml, "cwd": wdir, "cmds": {
                "myelin": [myelin, "validate", nml, "-I", core],
                "jnml": jnml_cmd(jar, args.jnml_xmx, "-validate", nml)}})
        if "lems" in cases_wanted:
            cases.append({"name": "lems", "file": lems, "cwd": wdir, "cmds": {
                "myelin": [myelin, "validate", lems, "-I", core],
                "jnml": jnml_cmd(jar, args.jnml_xmx, lems, "-norun")}})

    env = environment(cache, myelin)
    rss_method = rss_method_available(args.rss_method)
    env["rss_method"] = rss_method
    env["spawn_overhead_s"] = spawn_overhead(rss_method)
    if rss_method == "wait4":
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        env["wait4_rss_floor_mib"] = floor
        loud(f"peak RSS comes from wait4 (GNU time not used): it cannot be below this "
             f"script's own RSS ({floor:.0f} MiB), so small processes are overstated")
    print(f"== benchmarking {', '.join(c['name'] for c in cases)} with {', '.join(tools)} "
          f"(runs: {', '.join(f'{t} {nruns[t]}' for t in tools)}; warm-up {warmup}; "
          f"{env['cpus']} CPUs, load {env['loadavg'][0]:.2f}; peak RSS via {rss_method}; "
          f"spawn overhead {env['spawn_overhead_s'] * 1e3:.1f} ms per run)", flush=True)
    results = [bench_case(c, tools, nruns, warmup, args.timeout, rss_method) for c in cases]
    print_table(results)
    if workload:
        s = workload["summary"]
        print(f"generated network: {s['cells']} cells, {s['connections_total']} connections, "
              f"{s['nml_bytes'] / 1e6:.1f} MB .net.nml, in {cache / 'bench'}")

    bad = [(r["case"], t) for r in results for t, s in r["tools"].items() if not s["all_ok"]]
    if bad:
        loud("non-zero exit status on valid input: "
             + ", ".join(f"{t} on {c}" for c, t in bad)
             + "\nthose timings do not measure a successful validation")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "runs_requested": nruns,
                                         "warmup": warmup, "workload": workload,
                                         "results": results}, indent=1, default=str))
        print(f"results written to {args.json}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
