#!/usr/bin/env python3
"""The peer: onnxruntime from PyPI, timing batch-1 inference of one model on one input.

    python3 bench/onnxruntime_peer.py MODEL.onnx INPUT.json ITERATIONS THREADS

Prints one JSON object with the median and 90th percentile latency in microseconds.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

model, input_path, iterations, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
with open(input_path) as f:
    feed = {k: np.asarray(v, dtype=np.float32) for k, v in json.load(f).items()}
for _ in range(max(10, iterations // 10)):
    session.run(None, feed)
times = []
for _ in range(iterations):
    start = time.perf_counter_ns()
    session.run(None, feed)
    times.append((time.perf_counter_ns() - start) / 1000)
times.sort()
print(json.dumps({
    "onnxruntime": ort.__version__,
    "median_us": statistics.median(times),
    "p90_us": times[int(len(times) * 0.9)],
}))
