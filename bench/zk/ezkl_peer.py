#!/usr/bin/env python3
"""The ZK peer: EZKL from PyPI, proving batch-1 inference of the benchmark's ONNX models.

    python3 -m pip install --target $HOME/.cache/veritas-bench/python -r bench/zk/requirements.txt
    PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/ezkl_peer.py \
        --out bench/zk/ezkl-results.json [--timeout 1200] [MODEL ...]

MODEL is one of mnist-mlp, lenet5, cnn-large (default: all three, in that order). Prints one
JSON object per model to stdout; with --out also writes them, with the machine and the
command, to one JSON file, where
the results of models not named this time are kept.

Each phase (gen_settings, calibrate, compile, srs, setup, witness, prove, verify) runs in a
fresh child process of this script, under `timeout`, so that the child's ru_maxrss (from
os.wait4) is that phase's peak resident memory and its time excludes Python's start-up and
the import of ezkl. The figures a model gets:

- setup_s: gen_settings + calibrate + compile + srs + setup (key generation), each also apart.
- prove_s: ezkl.prove alone; witness_s (gen_witness, the quantised forward pass that prove
  needs) apart, and prove_with_witness_s their sum.
- verify_s: ezkl.verify; proof_bytes: the raw proof; proof_file_bytes: EZKL's JSON file.
- peak_rss_mb: the prove child's; peak_rss_mb_setup: the largest of the setup children.
- cpu_s and load_1m_before per phase: the child's user + system CPU time and the 1-minute
  load average just before it, to judge how much other work on the machine slowed it.

Settings, chosen to match "the model is committed, its input and output are public":
- input_visibility public, output_visibility public.
- param_visibility fixed: the weights are fixed columns of the circuit, so they are bound
  by the verifying key (EZKL's default); "private" would make them witness values that the
  verifier knows nothing about, and "hashed" would add Poseidon hashing of the weights.
- calibrate_settings target "resources" (EZKL's default; it favours a small circuit over
  numerical accuracy); logrows is what calibration picks.
- The SRS: ezkl.get_srs downloads a public SRS from EZKL's host, which this machine cannot
  reach, so the script makes one with ezkl.gen_srs (a local SRS with a known toxic waste,
  unsafe for production but of the same size, so the timings hold). get_srs is tried first.
- Threads: EZKL (halo2) proves on rayon's global pool, one thread per core unless
  RAYON_NUM_THREADS says otherwise; the figure used is reported as threads.
"""
import argparse
import asyncio
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = {
    "mnist-mlp": ("examples/models/mnist-mlp.onnx", "examples/models/mnist-mlp.input.json"),
    "lenet5": ("bench/zk/models/lenet5.onnx", "bench/zk/models/lenet5.input.json"),
    "cnn-large": ("bench/zk/models/cnn-large.onnx", "bench/zk/models/cnn-large.input.json"),
}
SETUP_PHASES = ["gen_settings", "calibrate", "compile", "srs", "setup"]
PHASES = SETUP_PHASES + ["witness", "prove", "verify"]
CALIBRATION_TARGET = "resources"


def run_phase(phase, work, model, data, mem_limit_gb):
    """Runs one phase in this process and returns what it reports (its time in seconds)."""
    # A cap on the address space, below the machine's memory, so that a phase that needs too
    # much fails alone (Rust aborts on the failed allocation) instead of swamping the machine.
    limit = int(mem_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import ezkl

    settings = os.path.join(work, "settings.json")
    compiled = os.path.join(work, "model.compiled")
    srs = os.path.join(work, "kzg.srs")
    pk, vk = os.path.join(work, "pk.key"), os.path.join(work, "vk.key")
    witness, proof = os.path.join(work, "witness.json"), os.path.join(work, "proof.json")
    report = {}
    start = time.perf_counter()
    if phase == "gen_settings":
        args = ezkl.PyRunArgs()
        args.input_visibility = "public"
        args.output_visibility = "public"
        args.param_visibility = "fixed"
        # The MLP's batch dimension is the symbolic "N"; the CNNs fix it to 1.
        args.variables = [("N", 1), ("batch_size", 1)]
        ok = ezkl.gen_settings(model, settings, py_run_args=args)
    elif phase == "calibrate":
        ok = ezkl.calibrate_settings(data, model, settings, CALIBRATION_TARGET)
    elif phase == "compile":
        ok = ezkl.compile_circuit(model, compiled, settings)
    elif phase == "srs":
        try:
            ok = asyncio.run(_get_srs(ezkl, settings, srs))
            report["srs_source"] = "get_srs"
        except Exception as err:  # no route to EZKL's SRS host: make a local one
            report["get_srs_error"] = str(err)[:200]
            start = time.perf_counter()
            with open(settings) as f:
                logrows = json.load(f)["run_args"]["logrows"]
            ezkl.gen_srs(srs, logrows)
            ok = os.path.exists(srs)
            report["srs_source"] = "gen_srs (local, insecure)"
    elif phase == "setup":
        ok = ezkl.setup(compiled, vk, pk, srs_path=srs)
    elif phase == "witness":
        ok = ezkl.gen_witness(data, compiled, witness, vk_path=vk, srs_path=srs) is not None
    elif phase == "prove":
        ok = ezkl.prove(witness, compiled, pk, proof_path=proof, srs_path=srs) is not None
    elif phase == "verify":
        ok = ezkl.verify(proof, settings, vk, srs_path=srs)
    else:
        raise ValueError(f"unknown phase {phase}")
    report["s"] = time.perf_counter() - start
    report["ok"] = bool(ok)
    return report


async def _get_srs(ezkl, settings, srs):
    return await ezkl.get_srs(settings, srs_path=srs)


def spawn(phase, work, model, data, timeout_s, mem_limit_gb):
    """Runs a phase in a child under `timeout`; returns its report, peak RSS and status."""
    argv = ["timeout", "-k", "10", str(timeout_s), sys.executable, os.path.abspath(__file__),
            "--phase", phase, "--work", work, "--model", model, "--data", data,
            "--mem-limit-gb", str(mem_limit_gb)]
    log_out, log_err = (os.path.join(work, f"{phase}.{k}") for k in ("stdout", "stderr"))
    load_1m = os.getloadavg()[0]
    wall = time.perf_counter()
    with open(log_out, "wb") as out, open(log_err, "wb") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err)
        # Reaped here, not by Popen, so that the rusage of this one child comes back.
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - wall
    returncode = os.waitstatus_to_exitcode(status)
    child.returncode = returncode
    result = {"wall_s": wall, "rc": returncode, "peak_rss_mb": usage.ru_maxrss / 1024,
              "cpu_s": usage.ru_utime + usage.ru_stime, "load_1m_before": load_1m}
    with open(log_out, errors="replace") as f:
        out = f.read()
    with open(log_err, errors="replace") as f:
        err = f.read()
    lines = [l for l in out.splitlines() if l.startswith("{\"phase\"")]
    if returncode == 0 and lines:
        result.update(json.loads(lines[-1]))
    else:
        result["ok"] = False
        result["stderr_tail"] = err[-600:]
        if returncode == 124 or wall >= timeout_s:
            result["error"] = f"timeout after {timeout_s} s"
        elif returncode in (137, -9) or "memory allocation" in err:
            result["error"] = "out of memory"
        else:
            result["error"] = f"exit status {returncode}"
    return result


def bench_model(name, work_root, timeout_s, mem_limit_gb):
    import ezkl

    model, data = (os.path.join(ROOT, p) for p in MODELS[name])
    work = os.path.join(work_root, name)
    os.makedirs(work, exist_ok=True)
    with open(data) as f:
        sample = json.load(f)
    if "input_data" not in sample:  # the examples' format, {"input": [[...]]}
        sample = {"input_data": [list(map(float, sample["input"][0]))]}
    data = os.path.join(work, "input.json")
    with open(data, "w") as f:
        json.dump(sample, f)

    phases = {}
    for phase in PHASES:
        phases[phase] = spawn(phase, work, model, data, timeout_s, mem_limit_gb)
        print(f"{name}: {phase}: {json.dumps(phases[phase])}", file=sys.stderr, flush=True)
        if not phases[phase]["ok"]:
            break
    result = {"model": name, "onnx": os.path.relpath(model, ROOT), "ezkl_version": ezkl.__version__,
              "threads": int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())),
              "phase_timeout_s": timeout_s, "mem_limit_gb": mem_limit_gb,
              "calibration_target": CALIBRATION_TARGET, "input_visibility": "public",
              "output_visibility": "public", "param_visibility": "fixed"}
    settings_path = os.path.join(work, "settings.json")
    if os.path.exists(settings_path):
        with open(settings_path) as f:
            settings = json.load(f)
        run_args = settings["run_args"]
        result.update(logrows=run_args["logrows"], input_scale=run_args["input_scale"],
                      param_scale=run_args["param_scale"], num_rows=settings.get("num_rows"))
    done = [p for p in SETUP_PHASES if phases.get(p, {}).get("ok")]
    if done == SETUP_PHASES:
        result["setup_s"] = sum(phases[p]["s"] for p in SETUP_PHASES)
    result["setup_parts_s"] = {p: phases[p]["s"] for p in done}
    result["srs_source"] = phases.get("srs", {}).get("srs_source")
    rss = [phases[p]["peak_rss_mb"] for p in SETUP_PHASES if "peak_rss_mb" in phases.get(p, {})]
    result["peak_rss_mb_setup"] = max(rss) if rss else None
    result["peak_rss_mb_setup_parts"] = {
        p: phases[p]["peak_rss_mb"] for p in SETUP_PHASES if "peak_rss_mb" in phases.get(p, {})}
    if phases.get("witness", {}).get("ok"):
        result["witness_s"] = phases["witness"]["s"]
    if phases.get("prove", {}).get("ok"):
        result["prove_s"] = phases["prove"]["s"]
        result["prove_cpu_s"] = phases["prove"]["cpu_s"]
        result["prove_with_witness_s"] = phases["witness"]["s"] + phases["prove"]["s"]
    result["peak_rss_mb"] = phases.get("prove", {}).get("peak_rss_mb")
    if phases.get("verify", {}).get("ok"):
        result["verify_s"] = phases["verify"]["s"]
    proof_path = os.path.join(work, "proof.json")
    if phases.get("prove", {}).get("ok") and os.path.exists(proof_path):
        with open(proof_path) as f:
            proof = json.load(f)
        result["proof_bytes"] = _proof_len(proof)
        result["proof_file_bytes"] = os.path.getsize(proof_path)
    for name_, key in (("pk.key", "pk_bytes"), ("vk.key", "vk_bytes"), ("kzg.srs", "srs_bytes")):
        path = os.path.join(work, name_)
        if os.path.exists(path):
            result[key] = os.path.getsize(path)
    # The machine is shared: the load before each phase and each child's CPU time (user +
    # system, Python's start included) tell how far other work may have slowed the figures.
    result["load_1m_before"] = {p: round(phases[p]["load_1m_before"], 2) for p in phases}
    result["cpu_s"] = {p: round(phases[p]["cpu_s"], 3) for p in phases}
    failed = [p for p in phases if not phases[p]["ok"]]
    result["ok"] = not failed and len(phases) == len(PHASES)
    if failed:
        result["failed_phase"] = failed[0]
        result["error"] = phases[failed[0]].get("error")
        result["failed_after_s"] = phases[failed[0]]["wall_s"]
        result["failed_peak_rss_mb"] = phases[failed[0]].get("peak_rss_mb")
    return result


def _proof_len(proof):
    """The raw proof's length in bytes: EZKL stores it as a byte list or a hex string."""
    raw = proof.get("proof")
    if isinstance(raw, list):
        return len(raw)
    if isinstance(raw, str):
        return len(raw[2:] if raw.startswith("0x") else raw) // 2
    return None


def mem_total_gb():
    with open("/proc/meminfo") as f:
        return int(next(l.split()[1] for l in f if l.startswith("MemTotal"))) / 2**20


def default_mem_limit_gb():
    return round(mem_total_gb() - 3, 1)


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_total_gb(), 1),
            "python": platform.python_version(), "os": platform.platform()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help=", ".join(MODELS))
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per phase")
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/veritas-bench/ezkl"))
    parser.add_argument("--out", help="also write all results to this JSON file")
    parser.add_argument("--mem-limit-gb", type=float, default=default_mem_limit_gb(),
                        help="address-space cap per phase (default: memory less 3 GiB)")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        report = run_phase(args.phase, args.work, args.model, args.data, args.mem_limit_gb)
        print(json.dumps({"phase": args.phase, **report}), flush=True)
        return
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}, expected some of {list(MODELS)}")
    results = []
    for name in args.models or list(MODELS):
        result = bench_model(name, args.work, args.timeout, args.mem_limit_gb)
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.out:
            write(args.out, results)


def write(path, results):
    """Writes the results, keeping those of models that this run did not measure."""
    command = "PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/ezkl_peer.py " + \
        " ".join(shlex.quote(a) for a in sys.argv[1:])
    kept = []
    if os.path.exists(path):
        with open(path) as f:
            kept = json.load(f)["results"]
    fresh = {r["model"]: {**r, "command": command, "machine": machine()} for r in results}
    merged = [fresh.pop(r["model"], r) for r in kept] + list(fresh.values())
    with open(path, "w") as f:
        json.dump({"results": merged}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
