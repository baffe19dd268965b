"""Shared helpers of the benchmark scripts (bench-validate.py, bench-run.py): stdlib only.

Whole-process measurement (wall time, CPU time, peak RSS via GNU time's %M), medians, loud
warnings, the reference cache (scripts/fetch-reference.sh), the jNeuroML command line, the myelin
binary and the environment record.
"""

from __future__ import annotations

import datetime
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MYELIN = REPO / "target" / "release" / "myelin"

# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------

GNU_TIME = "/usr/bin/time"


def rss_method_available(method: str) -> str:
    """'time' (GNU time's %M) if requested/available, else 'wait4'.

    Why not plain wait4: Linux keeps a process's peak RSS across exec, and a child forked from
    this Python process starts with Python's resident pages, so wait4's ru_maxrss never reports
    less than this harness's own RSS (~15 MiB) -- a floor that would swamp a small native binary.
    GNU time forks the measured program from its own ~1 MiB image, so its %M is accurate."""
    if method in ("auto", "time"):
        try:
            ok = subprocess.run([GNU_TIME, "-f", "%M", "-o", os.devnull, "true"],
                                capture_output=True).returncode == 0
        except OSError:
            ok = False
        if ok:
            return "time"
        if method == "time":
            raise SystemExit(f"--rss-method time: {GNU_TIME} (GNU time) is not usable")
    return "wait4"


def run_once(argv: list, cwd: Path, timeout: float, rss_method: str,
             env: dict | None = None) -> dict:
    """Run argv once; return wall/cpu seconds, peak RSS (MiB), exit status and output tail.

    Wall time is taken around the whole child; CPU time (user+sys) comes from os.wait4's rusage,
    which includes the child's reaped descendants.  Peak RSS comes from GNU time's %M (see
    rss_method_available) or else from wait4's ru_maxrss.  On timeout the measured program is
    killed (so GNU time reports its peak RSS up to then), then its whole process group.
    `env`: variables to set on top of this process's environment (None: inherit it unchanged)."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss_file:
        cmd = [str(a) for a in argv]
        if rss_method == "time":
            cmd = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, **env} if env else None)
        timed_out = threading.Event()

        def kill_group():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

        def kill():
            timed_out.set()
            if rss_method == "time":
                # Kill the measured program first so that GNU time still reports its peak RSS
                # up to the kill; the whole group goes shortly after (or at once when reaped).
                for child in child_pids(p.pid):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                grace.start()
            else:
                kill_group()

        grace = threading.Timer(5.0, kill_group)
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
            if timed_out.is_set():
                grace.cancel()
                kill_group()  # whatever the killed program had started
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it has been reaped
        peak_kib = float(ru.ru_maxrss)
        if rss_method == "time":
            # GNU time writes "Command exited with non-zero status N" before %M on failure.
            lines = [ln for ln in rss_file.read().split() if ln.isdigit()]
            peak_kib = float(lines[-1]) if lines else float("nan")
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_rss_mib": peak_kib / 1024.0,
        "rc": p.returncode,
        "timed_out": timed_out.is_set(),
        "output_tail": text[-4000:],
    }


def child_pids(pid: int) -> list[int]:
    """Direct children of pid, from /proc (empty where /proc is not readable)."""
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...; comm may contain spaces and parentheses
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def spawn_overhead(rss_method: str, n: int = 30) -> float:
    """Median wall time of running `true` the same way: the fixed cost included in every run."""
    return median([run_once(["true"], Path("/"), 60, rss_method)["wall_s"] for _ in range(n)])


def loud(msg: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{msg}\n{bar}\n", file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def summarize(runs: list[dict]) -> dict:
    return {
        "median_wall_s": median([r["wall_s"] for r in runs]),
        "median_cpu_s": median([r["cpu_s"] for r in runs]),
        "median_peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
        "max_peak_rss_mib": max((r["peak_rss_mib"] for r in runs), default=float("nan")),
        "exit_codes": sorted({r["rc"] for r in runs}),
    }


# ---------------------------------------------------------------------------------------------
# Setup: references, venv, myelin binary, environment
# ---------------------------------------------------------------------------------------------


def fetch_references() -> Path:
    script = REPO / "scripts" / "fetch-reference.sh"
    print(f"== ensuring references: {script} --venv", flush=True)
    p = subprocess.run(["bash", str(script), "--venv"], stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"fetch-reference.sh failed (exit {p.returncode})")
    return Path(p.stdout.strip().splitlines()[-1])


def wait_for_venv(cache: Path, patience: float = 900.0) -> Path:
    """The venv may still be being installed by a background fetch; wait for pyNeuroML."""
    py = cache / "venv" / "bin" / "python"
    t0 = time.monotonic()
    while True:
        if py.exists() and subprocess.run([str(py), "-c", "import neuroml, pyneuroml"],
                                          capture_output=True).returncode == 0:
            return py
        if time.monotonic() - t0 > patience:
            raise SystemExit(f"{py} cannot import pyneuroml after {patience:.0f}s; remove "
                             f"{cache / 'venv'} and rerun scripts/fetch-reference.sh --venv")
        print(f"   waiting for pyNeuroML in {cache / 'venv'} (install in progress?)", flush=True)
        time.sleep(15)


def jnml_cmd(jar: Path, xmx: str, *args) -> list[str]:
    return ["java", f"-Xmx{xmx}", "-jar", str(jar), *map(str, args)]


def ensure_myelin(path: Path, build: bool) -> Path:
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if path.resolve() != DEFAULT_MYELIN.resolve() or not build:
        raise SystemExit(f"myelin binary not found: {path} (use --myelin PATH, or --tools jnml)")
    print("== building myelin: cargo build --release -p myelin", flush=True)
    if subprocess.run(["cargo", "build", "--release", "-p", "myelin"], cwd=REPO).returncode != 0:
        raise SystemExit("cargo build --release -p myelin failed (use --tools jnml to time "
                         "jNeuroML alone)")
    return path


def environment(cache: Path, myelin: Path | None) -> dict:
    def cmd_out(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
            return (p.stdout + p.stderr).strip()
        except OSError:
            return None

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
        "python": sys.version.split()[0],
        "java": (cmd_out(["java", "-version"]) or "").splitlines()[:1],
        "git_head": cmd_out(["git", "rev-parse", "HEAD"]),
        "git_dirty": bool(cmd_out(["git", "status", "--porcelain", "--untracked-files=no"])),
        "myelin": str(myelin) if myelin else None,
        "cache": str(cache),
    }


def accept_workload(cache: Path, tmp: Path, d: Path, summary: dict, params: dict, gen_s: float,
                    jnml_xmx: str) -> dict:
    """A generated network is used only once jNeuroML accepts it (`-validate` and `-norun`):
    otherwise a benchmark would measure nothing useful. Then `tmp` becomes `d`, with a
    workload.json describing it."""
    import json
    import shutil
    checks = {}
    jar = cache / "jnml" / "jNeuroML.jar"
    for name, argv, ok_text in (
            ("jnml -validate", jnml_cmd(jar, jnml_xmx, "-validate", tmp / summary["nml"]),
             "Valid against schema and all tests"),
            ("jnml -norun", jnml_cmd(jar, jnml_xmx, tmp / summary["lems"], "-norun"),
             "Finished reading and building LEMS model")):
        r = subprocess.run(argv, cwd=tmp, capture_output=True, text=True)
        out = r.stdout + r.stderr
        checks[name] = {"rc": r.returncode, "ok": r.returncode == 0 and ok_text in out}
        if not checks[name]["ok"]:
            print(out[-3000:], file=sys.stderr)
            raise SystemExit(f"jNeuroML rejects the generated workload ({name}); left in {tmp}")
        print(f"   {name}: ok", flush=True)
    info = {"params": params, "summary": summary, "generation_s": gen_s, "jnml_checks": checks,
            "generated_at": datetime.datetime.now().isoformat(timespec="seconds")}
    (tmp / "workload.json").write_text(json.dumps(info, indent=1))
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    return info


def cached_workload(cache: Path, workdir: str | None, regen: bool, tag: str, params: dict,
                    script: Path, gen_args: list[str], what: str, jnml_xmx: str) -> tuple[Path, dict]:
    """A generated network in $CACHE/bench/<tag>/ (or `workdir`), made by running `script
    _generate TMP gen_args...` in the pyNeuroML venv unless one with the same `params` is
    there already, and accepted by jNeuroML (see `accept_workload`)."""
    import json
    import shutil
    root = Path(workdir) if workdir else cache / "bench"
    d = root / tag
    stamp = d / "workload.json"
    if stamp.exists() and not regen:
        info = json.loads(stamp.read_text())
        if info.get("params") == params:
            print(f"== reusing generated workload {d}", flush=True)
            return d, info
    py = wait_for_venv(cache)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tag + ".", dir=root))
    tmp.chmod(0o755)
    print(f"== generating {what} with libNeuroML into {d}", flush=True)
    t0 = time.monotonic()
    p = subprocess.run([str(py), str(script), "_generate", str(tmp), *gen_args],
                       capture_output=True, text=True)
    if p.returncode != 0:  # (its stderr is only shown on failure: pyNeuroML logs chattily)
        shutil.rmtree(tmp, ignore_errors=True)
        print(p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"network generation failed (exit {p.returncode})")
    summary = json.loads(p.stdout)
    gen_s = time.monotonic() - t0
    print(f"   {summary.get('connections_total', summary.get('connections'))} connections, "
          f".net.nml {summary['nml_bytes'] / 1e6:.2f} MB, generated in {gen_s:.1f}s", flush=True)
    return d, accept_workload(cache, tmp, d, summary, params, gen_s, jnml_xmx)
