#!/usr/bin/env python3
"""Settlement with real block times: a gateway, two inference nodes and three validators (each its
own `veritas node` process on loopback) settling on anvil that mines a block every 12 seconds,
receipts recorded under 2 confirmations, as on a public chain. Measures the time from an answer
to its receipt's settlement and the gas each inference costs.

    cargo build -p veritas-cli            # or a release build: VERITAS_BIN=target/release/veritas
    python3 bench/rehearsal.py [REQUESTS] [--block-time 12] [--confirmations 2] [--out FILE]

Needs anvil (`cargo xtask test` installs it under clients/node_modules) and ONNX Runtime
(ORT_DYLIB_PATH, as the tests have it). Setup (deploying the contracts, registering and funding
the six keys, a payer's escrow, the model's first listing and settlement) runs with anvil mining a
block a second; then anvil switches to a block every --block-time seconds
(`evm_setIntervalMining`) and REQUESTS paid `reexec` inferences are
sent, one every 2 s. For each, the script polls the gateway's receipt until it records its
settlement: the latency is from the answer to that moment. Gas is each settlement transaction's
`gasUsed` (eth_getTransactionReceipt), divided by the receipts it settled.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNEMONIC = "test test test test test test test test test test test junk"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.load(answer)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def wait_http(url, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {limit} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("requests", nargs="?", type=int, default=20)
    parser.add_argument("--block-time", type=float, default=12.0)
    parser.add_argument("--confirmations", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    veritas = os.environ.get("VERITAS_BIN", os.path.join(ROOT, "target/debug/veritas"))
    # The platform package's binary: the npm launcher runs it as a child, which killing the
    # launcher would leave running.
    modules = os.path.join(ROOT, "clients/node_modules")
    platform = [os.path.join(modules, "@foundry-rs", d, "bin/anvil")
                for d in sorted(os.listdir(os.path.join(modules, "@foundry-rs"))) if d.startswith("anvil-")]
    anvil = next((p for p in platform if os.path.isfile(p)), os.path.join(modules, ".bin/anvil"))
    work = tempfile.mkdtemp(prefix="veritas-rehearsal-")
    children = []

    def spawn(argv, log, env=None):
        with open(log, "ab") as f:
            child = subprocess.Popen(argv, stdout=f, stderr=f, stdin=subprocess.DEVNULL, env=env)
        children.append(child)
        return child

    def cli(home, api, *argv):
        env = dict(os.environ, VERITAS_HOME=home, VERITAS_API=api, VERITAS_LOG="warn")
        env.pop("VERITAS_WORKER_KEY", None)
        done = subprocess.run([veritas, *argv], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"veritas {' '.join(argv)}: {done.stderr}")
        return done.stdout

    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # A block a second during setup (receipts under 2 confirmations need later blocks, which a
        # chain that mines only on transactions never makes).
        spawn([anvil, "--host", "127.0.0.1", "--port", str(port), "--chain-id", "31337", "--mnemonic", MNEMONIC,
               "--block-time", "1"], os.path.join(work, "anvil.log"))
        deadline = time.time() + 30
        while True:
            try:
                rpc(url, "eth_chainId", [])
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        deployment = os.path.join(work, "deployment.json")
        cli(work, url, "chain", "deploy", "--rpc", url, "--out", deployment)
        on_chain = ["--rpc", url, "--deployment", deployment]
        nodes = [("gateway", "gateway", "1000"), ("worker-1", "inference", "1000"), ("worker-2", "inference", "1000"),
                 ("validator-1", "validator", "1000"), ("validator-2", "validator", "1000"),
                 ("validator-3", "validator", "1000")]
        ports = {name: free_port() for name, _, _ in nodes}
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        for name, role, stake in nodes:
            home = os.path.join(work, name)
            os.makedirs(home)
            extra = ["--validator-node"] if role == "validator" else []
            cli(home, url, "node", "register", "--role", role, "--stake", stake, "--fund", "--endpoint",
                f"http://127.0.0.1:{ports[name]}", *extra, *on_chain)
        for name, role, _ in nodes:
            home = os.path.join(work, name)
            argv = [veritas, "node", "--role", role, "--listen", f"127.0.0.1:{ports[name]}", "--chain-rpc", url,
                    "--deployment", deployment, "--confirmations", str(args.confirmations), "--threads", "1"]
            if role != "gateway":
                argv += ["--hub-url", gateway]
            env = dict(os.environ, VERITAS_HOME=home, VERITAS_LOG="info")
            env.pop("VERITAS_WORKER_KEY", None)
            spawn(argv, os.path.join(home, "node.log"), env)
            wait_http(f"http://127.0.0.1:{ports[name]}/healthz")
        gateway_home = os.path.join(work, "gateway")
        cli(gateway_home, gateway, "account", "deposit", "10", "--dev-account", "2", *on_chain)
        key = cli(gateway_home, gateway, "account", "key", "create", "--dev-account", "2", *on_chain)
        api_key = next(line.strip() for line in key.splitlines() if line.strip().startswith("vk_"))
        cli(gateway_home, gateway, "model", "push", os.path.join(ROOT, "examples/models/iris-logreg.onnx"),
            "--name", "iris")

        def infer(x):
            out = cli(gateway_home, gateway, "--json", "infer", "iris", "--mode", "reexec", "--api-key", api_key,
                      "--input", json.dumps({"float_input": [[x, 3.5, 1.4, 0.2]]}))
            return json.loads(out)["receipt_id"]

        # The first request lists the model's price (a transaction): made before the clock starts.
        warm = infer(5.0)
        while get_json(f"{gateway}/v1/receipts/{warm}").get("settlement") is None:
            time.sleep(0.5)

        rpc(url, "evm_setIntervalMining", [int(args.block_time)])
        answered = {}
        for i in range(args.requests):
            started = time.time()
            receipt = infer(5.0 + i / 100)
            answered[receipt] = time.time()
            time.sleep(max(0.0, 2.0 - (time.time() - started)))
        settled = {}
        deadline = time.time() + 20 * args.block_time * (args.confirmations + 2)
        while len(settled) < len(answered):
            if time.time() > deadline:
                raise RuntimeError(f"only {len(settled)} of {len(answered)} receipts settled")
            for receipt in answered:
                if receipt in settled:
                    continue
                shown = get_json(f"{gateway}/v1/receipts/{receipt}")
                if shown.get("settlement") is not None:
                    settled[receipt] = (time.time(), shown["settlement"])
            time.sleep(0.5)
        latencies = sorted(settled[r][0] - answered[r] for r in answered)
        batches = {}
        for _, settlement in settled.values():
            batches.setdefault(settlement["transaction"], 0)
            batches[settlement["transaction"]] += 1
        gas = {}
        for tx in batches:
            receipt = rpc(url, "eth_getTransactionReceipt", [tx])
            gas[tx] = int(receipt["gasUsed"], 16)
        per_inference = [gas[tx] / batches[tx] for tx in batches]
        result = {
            "requests": args.requests,
            "block_time_s": args.block_time,
            "confirmations": args.confirmations,
            "latency_s": {"median": statistics.median(latencies), "p90": latencies[int(0.9 * (len(latencies) - 1))],
                          "min": latencies[0], "max": latencies[-1]},
            "batches": len(batches),
            "receipts_per_batch": sorted(batches.values()),
            "gas_per_batch": sorted(gas.values()),
            "gas_per_inference": {"mean": sum(gas.values()) / args.requests,
                                  "min": min(per_inference), "max": max(per_inference)},
            "veritas": os.path.relpath(veritas, ROOT),
        }
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
