#!/usr/bin/env python3
"""The ZK peer: EZKL from PyPI, proving batch-1 inference of the benchmark's ONNX models.

    python3 -m pip install --target $HOME/.cache/veritas-bench/python -r bench/zk/requirements.txt
    PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/ezkl_peer.py \
        --out bench/zk/ezkl-results.json [--timeout 1200] [MODEL ...]
    PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/ezkl_peer.py --profile tuned \
        --out bench/zk/ezkl-tuned-results.json [--max-logrows K] [MODEL ...]

MODEL is one of mnist-mlp, lenet5, cnn-large, resnet-small (default: all four, in that order). Prints one
JSON object per model to stdout; with --out also writes them, with the machine and the
command, to one JSON file, where
the results of models (or profiles) not measured this time are kept. Each result names its
profile; keep the two profiles in two files (run.sh does).

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
- settings: the final run_args of the circuit (logrows, scales, rebase multiplier,
  lookup_range, decomposition base and legs, num_inner_cols, check_mode, visibilities) and
  its size (num_rows, total_assignments, required range checks and lookups).
- output_check: EZKL's witness outputs (dequantised) against the float model (onnx's
  reference evaluator on the same input): largest absolute error and whether the argmax
  agrees; and calibration_fidelity, EZKL's own "Numerical Fidelity Report" of calibration.

Settings common to both profiles, chosen to match "the model is committed, its input and
output are public":
- input_visibility public, output_visibility public.
- param_visibility fixed: the weights are fixed columns of the circuit, so they are bound
  by the verifying key (EZKL's default); "private" would make them witness values that the
  verifier knows nothing about, and "hashed" would add Poseidon hashing of the weights.
- num_inner_cols 2 and check_mode "unsafe" (PyRunArgs' defaults; check_mode only switches
  extra witness-time sanity checks in the layouter, not constraints of the circuit).
- The SRS: ezkl.get_srs downloads a public SRS from EZKL's host, which this machine cannot
  reach, so the script makes one with ezkl.gen_srs (a local SRS with a known toxic waste,
  unsafe for production but of the same size, so the timings hold). get_srs is tried first.
- Threads: EZKL (halo2) proves on rayon's global pool, one thread per core unless
  RAYON_NUM_THREADS says otherwise; the figure used is reported as threads.

Profile "default" (--profile default, the default): EZKL's own calibration, as a user who
follows EZKL's guide gets it: calibrate_settings(target "resources") with its defaults, i.e.
it tries input and parameter scales 11, 12 and 13 (2^11..2^13 fixed point), rebase
multipliers 1 and 10 and lookup_safety_margin 2, and keeps the smallest logrows with the
largest scales (scale 13 for every model here); decomposition base 16384 with 2 legs (range
checks of values up to 2^28).

Profile "tuned" (--profile tuned): EZKL at the precision of veritas' statement (int8
activations and weights with per-tensor scales, requantized after every layer):
- input_scale 7 and param_scale 7 (2^7 fixed point, set in PyRunArgs and passed as
  scales=[7] to calibrate_settings, so that it does not search larger scales). EZKL has one
  power-of-two scale for all tensors, not per-tensor scales: inputs in [0, 1] become 0..128
  (8 bits); a weight w becomes round(128 w), coarser than int8 with a per-tensor scale for
  weights smaller than 1, so this is close to, not the same as, veritas' quantization.
- scale_rebase_multiplier 1 (calibration tries only [1]): every product at scale 14 is
  divided back to scale 7 at once, as veritas requantizes every layer's output to int8;
  EZKL's other choice, 10, would keep products at scales up to 70 without rescaling.
- calibrate_settings target "resources", lookup_safety_margin 1: the lookup range is the
  exact range seen on the calibration input (the input proven), no margin. These models
  need no lookup tables in EZKL 23 (ReLU, max pooling and rescaling are built from range
  checks on a base-B decomposition), so lookup_range stays (0, 0); what bounds the values
  is the decomposition, fitted as follows.
- decomposition (decomp_base B, decomp_legs L; each checked value is |x| < B^L): one leg and
  the smallest power of two B (from 16384 down to 128) whose calibration passes on the
  input, i.e. the range of the activations fitted to the data (the calibrate phase tries
  B = 16384, 8192, ... and keeps the last that passes; if B = 16384 with one leg fails it
  falls back to EZKL's 16384 with 2 legs). The tries are recorded (calibration_tries) and
  their time is part of the calibrate phase.
- logrows: what calibration picks, the smallest that holds the circuit's rows in EZKL's
  layout (num_inner_cols columns per block) and its range-check tables; no max_logrows
  unless --max-logrows K is given, which caps it at K, and EZKL then wraps the rows into
  more columns (fewer rows, more columns and commitments: a different trade-off).
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
    "resnet-small": ("bench/zk/models/resnet-small.onnx", "bench/zk/models/resnet-small.input.json"),
}
SETUP_PHASES = ["gen_settings", "calibrate", "compile", "srs", "setup"]
PHASES = SETUP_PHASES + ["witness", "prove", "verify"]
CALIBRATION_TARGET = "resources"
# The two profiles (see the header). None: EZKL's default for that argument.
PROFILES = {
    "default": {"calibration_target": CALIBRATION_TARGET, "input_scale": None,
                "param_scale": None, "scales": None, "scale_rebase_multiplier": None,
                "lookup_safety_margin": None, "fit_decomposition": False},
    "tuned": {"calibration_target": CALIBRATION_TARGET, "input_scale": 7, "param_scale": 7,
              "scales": [7], "scale_rebase_multiplier": [1], "lookup_safety_margin": 1,
              "fit_decomposition": True},
}
# Decompositions the tuned calibration tries, one leg, the largest base first; then EZKL's own.
DECOMP_BASES = [2**k for k in range(14, 6, -1)]
DECOMP_FALLBACK = (16384, 2)
# The run_args recorded with each result.
RUN_ARGS_KEPT = ["logrows", "input_scale", "param_scale", "scale_rebase_multiplier",
                 "lookup_range", "decomp_base", "decomp_legs", "num_inner_cols", "check_mode",
                 "input_visibility", "output_visibility", "param_visibility", "variables"]


def run_phase(phase, work, model, data, mem_limit_gb, profile="default", max_logrows=None):
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
        prof = PROFILES[profile]
        if prof["input_scale"] is not None:
            args.input_scale = prof["input_scale"]
        if prof["param_scale"] is not None:
            args.param_scale = prof["param_scale"]
        if prof["scale_rebase_multiplier"] is not None:
            args.scale_rebase_multiplier = prof["scale_rebase_multiplier"][0]
        ok = ezkl.gen_settings(model, settings, py_run_args=args)
    elif phase == "calibrate":
        prof = PROFILES[profile]
        if profile == "default":
            ok = ezkl.calibrate_settings(data, model, settings, prof["calibration_target"])
        else:
            ok = _calibrate_fitted(ezkl, prof, data, model, settings, max_logrows, report)
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


def _calibrate_fitted(ezkl, prof, data, model, settings, max_logrows, report):
    """The tuned calibration: EZKL's calibrate_settings at the profile's scales, rebase
    multiplier and lookup margin, once per decomposition (one leg, bases from large to small,
    stopping at the first that fails; EZKL's own decomposition if one leg never passes)."""
    with open(settings) as f:
        generated = json.load(f)
    tries, passed = [], None

    def calibrate(base, legs):
        generated["run_args"].update(decomp_base=base, decomp_legs=legs)
        with open(settings, "w") as f:  # calibration starts from the settings file's run_args
            json.dump(generated, f)
        start = time.perf_counter()
        try:
            ok = ezkl.calibrate_settings(
                data, model, settings, prof["calibration_target"],
                lookup_safety_margin=prof["lookup_safety_margin"], scales=prof["scales"],
                scale_rebase_multiplier=prof["scale_rebase_multiplier"], max_logrows=max_logrows)
            error = None
        except RuntimeError as err:  # no scale passed: values outside B^L
            ok, error = False, str(err)[-200:]
        tries.append({"decomp_base": base, "decomp_legs": legs, "ok": bool(ok),
                      "s": round(time.perf_counter() - start, 3), **({"error": error} if error else {})})
        if not ok:
            return None
        with open(settings) as f:
            return json.load(f)

    for base in DECOMP_BASES if prof["fit_decomposition"] else []:
        found = calibrate(base, 1)
        if found is None:  # a smaller base would fail too
            break
        passed = found
    if passed is None:
        passed = calibrate(*DECOMP_FALLBACK)
    if passed is not None:  # the last calibration that passed (a failed one saves nothing)
        with open(settings, "w") as f:
            json.dump(passed, f)
    report["calibration_tries"] = tries
    report["max_logrows"] = max_logrows
    return passed is not None


async def _get_srs(ezkl, settings, srs):
    return await ezkl.get_srs(settings, srs_path=srs)


def spawn(phase, work, model, data, timeout_s, mem_limit_gb, profile, max_logrows):
    """Runs a phase in a child under `timeout`; returns its report, peak RSS and status."""
    argv = ["timeout", "-k", "10", str(timeout_s), sys.executable, os.path.abspath(__file__),
            "--phase", phase, "--work", work, "--model", model, "--data", data,
            "--mem-limit-gb", str(mem_limit_gb), "--profile", profile]
    if max_logrows is not None:
        argv += ["--max-logrows", str(max_logrows)]
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


def bench_model(name, work_root, timeout_s, mem_limit_gb, profile="default", max_logrows=None):
    import ezkl

    model, data = (os.path.join(ROOT, p) for p in MODELS[name])
    # The default profile's files where they always were; another profile's in its own folder.
    work = os.path.join(work_root, name) if profile == "default" else \
        os.path.join(work_root, profile, name)
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
        phases[phase] = spawn(phase, work, model, data, timeout_s, mem_limit_gb, profile,
                              max_logrows)
        print(f"{name}: {phase}: {json.dumps(phases[phase])}", file=sys.stderr, flush=True)
        if not phases[phase]["ok"]:
            break
    prof = PROFILES[profile]
    result = {"model": name, "profile": profile, "onnx": os.path.relpath(model, ROOT),
              "ezkl_version": ezkl.__version__,
              "threads": int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())),
              "phase_timeout_s": timeout_s, "mem_limit_gb": mem_limit_gb,
              "calibration_target": prof["calibration_target"], "input_visibility": "public",
              "output_visibility": "public", "param_visibility": "fixed",
              # What calibrate_settings was given (None: EZKL's default).
              "calibration_args": {"scales": prof["scales"],
                                   "scale_rebase_multiplier": prof["scale_rebase_multiplier"],
                                   "lookup_safety_margin": prof["lookup_safety_margin"],
                                   "max_logrows": max_logrows,
                                   "fit_decomposition": prof["fit_decomposition"]}}
    settings_path = os.path.join(work, "settings.json")
    if phases.get("calibrate", {}).get("ok") and os.path.exists(settings_path):
        with open(settings_path) as f:
            settings = json.load(f)
        run_args = settings["run_args"]
        result.update(logrows=run_args["logrows"], input_scale=run_args["input_scale"],
                      param_scale=run_args["param_scale"], num_rows=settings.get("num_rows"))
        result["settings"] = {
            **{k: run_args.get(k) for k in RUN_ARGS_KEPT},
            **{k: settings.get(k) for k in ("num_rows", "total_assignments", "total_const_size",
                                            "required_lookups", "required_range_checks",
                                            "model_output_scales")}}
    if "calibration_tries" in phases.get("calibrate", {}):
        result["calibration_tries"] = phases["calibrate"]["calibration_tries"]
    if phases.get("calibrate", {}).get("ok"):
        result["calibration_fidelity"] = _fidelity_report(os.path.join(work, "calibrate.stderr"))
    if phases.get("witness", {}).get("ok"):
        result["output_check"] = _output_check(model, data, os.path.join(work, "witness.json"))
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
    # The proving key is gigabytes for the CNNs (8.6 GB for resnet-small at logrows 20): it goes
    # once measured, so that the next model's setup does not run out of disk.
    pk = os.path.join(work, "pk.key")
    if os.path.exists(pk):
        os.remove(pk)
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


def _fidelity_report(stderr_path):
    """The last "Numerical Fidelity Report" table that EZKL's calibration logged, as a dict."""
    try:
        with open(stderr_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    at = text.rfind("Numerical Fidelity Report")
    if at < 0:
        return None
    rows = [l for l in text[at:].splitlines() if l.startswith("|")][:2]
    if len(rows) < 2:
        return None
    header, values = ([c.strip() for c in r.strip("|").split("|")] for r in rows)
    report = {}
    for key, value in zip(header, values):
        try:
            report[key] = float(value)
        except ValueError:
            report[key] = value
    return report


def _output_check(model, data, witness_path):
    """EZKL's outputs (the witness's, dequantised) against the float model on the same input
    (onnx's reference evaluator, numpy): the largest absolute error and the argmax of each."""
    try:
        import numpy as np
        import onnx
        from onnx.reference import ReferenceEvaluator

        with open(witness_path) as f:
            ezkl_out = np.array([float(x) for x in
                                 json.load(f)["pretty_elements"]["rescaled_outputs"][0]])
        graph = onnx.load(model)
        inp = graph.graph.input[0]
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
        with open(data) as f:
            x = np.array(json.load(f)["input_data"][0], dtype=np.float32).reshape(shape)
        y = ReferenceEvaluator(graph).run(None, {inp.name: x})[0].ravel().astype(np.float64)
        return {"float_output": [round(float(v), 5) for v in y],
                "ezkl_output": [float(v) for v in ezkl_out],
                "max_abs_error": round(float(np.abs(y - ezkl_out).max()), 6),
                "float_argmax": int(np.argmax(y)), "ezkl_argmax": int(np.argmax(ezkl_out)),
                "argmax_agrees": bool(np.argmax(y) == np.argmax(ezkl_out))}
    except Exception as err:  # a check, not a figure: never fail the run for it
        return {"error": f"{type(err).__name__}: {str(err)[:200]}"}


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
    parser.add_argument("--profile", choices=list(PROFILES), default="default",
                        help="EZKL's settings: default (EZKL's calibration) or tuned (scale 7, "
                             "fitted ranges; see the header)")
    parser.add_argument("--max-logrows", type=int,
                        help="tuned profile: cap calibration's logrows (EZKL then uses more "
                             "columns)")
    parser.add_argument("--mem-limit-gb", type=float, default=default_mem_limit_gb(),
                        help="address-space cap per phase (default: memory less 3 GiB)")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        report = run_phase(args.phase, args.work, args.model, args.data, args.mem_limit_gb,
                           args.profile, args.max_logrows)
        print(json.dumps({"phase": args.phase, **report}), flush=True)
        return
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}, expected some of {list(MODELS)}")
    if args.max_logrows is not None and args.profile == "default":
        parser.error("--max-logrows changes EZKL's calibration: use it with --profile tuned")
    results = []
    for name in args.models or list(MODELS):
        result = bench_model(name, args.work, args.timeout, args.mem_limit_gb, args.profile,
                             args.max_logrows)
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.out:
            write(args.out, results)


def write(path, results):
    """Writes the results, keeping those of models (or profiles) that this run did not
    measure; a result without a profile is the default profile's."""
    command = "PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/ezkl_peer.py " + \
        " ".join(shlex.quote(a) for a in sys.argv[1:])
    kept = []
    if os.path.exists(path):
        with open(path) as f:
            kept = json.load(f)["results"]
    key = lambda r: (r["model"], r.get("profile", "default"))
    fresh = {key(r): {**r, "command": command, "machine": machine()} for r in results}
    merged = [fresh.pop(key(r), r) for r in kept] + list(fresh.values())
    with open(path, "w") as f:
        json.dump({"results": merged}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
