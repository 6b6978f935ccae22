"""What the Python SDK's verification costs per answer, against the request's own latency: the
same requests through `veritas.Client` with verification on (the default) and off, one at a time,
against a running network. Prints a Markdown table (ms, median and p90).

    PYTHONPATH=target/python-clients python3 bench/clients/overhead.py http://127.0.0.1:7700 30
"""

import statistics
import sys
import time

import veritas

URL, N = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30


def timed(call):
    samples = []
    for i in range(N + 2):
        started = time.perf_counter()
        call()
        if i >= 2:
            samples.append((time.perf_counter() - started) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


requests = {
    "iris (ONNX)": lambda c: c.infer("iris", {"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
    "chat, 16 tokens": lambda c: c.chat("smollm2", [{"role": "user", "content": "Name one colour."}],
                                        max_tokens=16, temperature=0, seed=1),
}
print(f"{N} requests per figure, one at a time; ms, median (p90)\n")
print("| request | verify=False | verified (default) | added |")
print("|---|---|---|---|")
receipts = {}
with veritas.Client(URL, verify=False) as plain, veritas.Client(URL) as checked:
    for name, call in requests.items():
        (off, off90), (on, on90) = timed(lambda: call(plain)), timed(lambda: call(checked))
        receipts[name] = call(checked).receipt
        print(f"| {name} | {off:.2f} ({off90:.2f}) | {on:.2f} ({on90:.2f}) | {on - off:.2f} |")
    print("\nThe verification alone (`Client.verify` on the answer's receipt), 1000 times; µs, median (p90)\n")
    print("| receipt | verify |")
    print("|---|---|")
    for name, receipt in receipts.items():
        samples = []
        for _ in range(1000):
            started = time.perf_counter()
            checked.verify(receipt)
            samples.append((time.perf_counter() - started) * 1e6)
        samples.sort()
        print(f"| {name} | {statistics.median(samples):.0f} ({samples[900]:.0f}) |")
