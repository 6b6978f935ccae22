#!/usr/bin/env python3
"""Makes the two CNNs of the ZK benchmark, reproducibly (every random choice is seeded).

    python3 -m pip install --target $HOME/.cache/veritas-bench/python -r bench/zk/requirements.txt
    PYTHONPATH=$HOME/.cache/veritas-bench/python python3 bench/zk/make_models.py

Writes bench/zk/models/NAME.onnx and NAME.input.json (EZKL's input format:
{"input_data": [[...flat floats in [0, 1]...]]}) for:

- lenet5: Conv 6@5x5 pad 2, Relu, MaxPool 2, Conv 16@5x5, Relu, MaxPool 2, Flatten,
  Gemm 400-120, Relu, Gemm 120-84, Relu, Gemm 84-10.
- cnn-large: Conv 16@3x3 pad 1, Relu, Conv 32@3x3 pad 1, Relu, MaxPool 2, Conv 64@3x3 pad 1,
  Relu, MaxPool 2, Flatten, Gemm 3136-128, Relu, Gemm 128-10.
- resnet-small: a residual CNN with batch normalisation, as ResNet's basic block: Conv 8@3x3
  pad 1, BatchNormalization, Relu, MaxPool 2; two basic blocks of (Conv 8@3x3 pad 1, BN, Relu,
  Conv 8@3x3 pad 1, BN, Add of the block's input, Relu); MaxPool 2, Flatten, Gemm 392-10. Every
  BatchNormalization is its own node (with random statistics), for the importer to fold.

The weights are random with He scaling so activations stay of order one; accuracy does not
matter for a proving benchmark. Only a small set of ONNX forms is used (2-D Conv with group 1,
dilation 1 and explicit pads; Relu; MaxPool without padding or ceil_mode; Gemm with transB=1;
Flatten axis 1; BatchNormalization and a two-tensor Add in resnet-small), so both provers read
the same graph. The MLP of the benchmark is
examples/models/mnist-mlp.onnx.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
SEED = 0
OPSET = 13
IR_VERSION = 8  # read by onnx 1.x and by EZKL's tract


class Builder:
    """Appends nodes and He-scaled random initialisers to one graph."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.n = 0

    def fresh(self, op):
        self.n += 1
        return f"{op.lower()}{self.n}"

    def weight(self, name, shape, fan_in):
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        self.inits.append(numpy_helper.from_array(w, name))
        return name

    def bias(self, name, n):
        b = self.rng.normal(0.0, 0.05, size=(n,)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(b, name))
        return name

    def conv(self, x, c_in, c_out, k, pad):
        name = self.fresh("Conv")
        w = self.weight(name + ".w", (c_out, c_in, k, k), c_in * k * k)
        b = self.bias(name + ".b", c_out)
        self.nodes.append(helper.make_node(
            "Conv", [x, w, b], [name], name=name, kernel_shape=[k, k],
            pads=[pad, pad, pad, pad], strides=[1, 1], dilations=[1, 1], group=1))
        return name

    def batchnorm(self, x, c):
        name = self.fresh("BatchNormalization")
        stats = {
            ".scale": self.rng.uniform(0.5, 1.5, size=c),
            ".bias": self.rng.normal(0.0, 0.1, size=c),
            ".mean": self.rng.normal(0.0, 0.1, size=c),
            ".var": self.rng.uniform(0.5, 1.5, size=c),
        }
        for suffix, value in stats.items():
            self.inits.append(numpy_helper.from_array(value.astype(np.float32), name + suffix))
        inputs = [x] + [name + suffix for suffix in stats]
        self.nodes.append(helper.make_node("BatchNormalization", inputs, [name], name=name, epsilon=1e-5))
        return name

    def add(self, a, b):
        name = self.fresh("Add")
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        return name

    def relu(self, x):
        name = self.fresh("Relu")
        self.nodes.append(helper.make_node("Relu", [x], [name], name=name))
        return name

    def maxpool(self, x):
        name = self.fresh("MaxPool")
        self.nodes.append(helper.make_node(
            "MaxPool", [x], [name], name=name, kernel_shape=[2, 2], strides=[2, 2],
            pads=[0, 0, 0, 0]))
        return name

    def flatten(self, x):
        name = self.fresh("Flatten")
        self.nodes.append(helper.make_node("Flatten", [x], [name], name=name, axis=1))
        return name

    def gemm(self, x, n_in, n_out, output=None):
        name = self.fresh("Gemm")
        w = self.weight(name + ".w", (n_out, n_in), n_in)
        b = self.bias(name + ".b", n_out)
        out = output or name
        self.nodes.append(helper.make_node("Gemm", [x, w, b], [out], name=name, transB=1))
        return out


def lenet5(b):
    x = b.relu(b.conv("input", 1, 6, 5, 2))
    x = b.maxpool(x)
    x = b.maxpool(b.relu(b.conv(x, 6, 16, 5, 0)))
    x = b.flatten(x)
    x = b.relu(b.gemm(x, 400, 120))
    x = b.relu(b.gemm(x, 120, 84))
    return b.gemm(x, 84, 10, output="output")


def cnn_large(b):
    x = b.relu(b.conv("input", 1, 16, 3, 1))
    x = b.maxpool(b.relu(b.conv(x, 16, 32, 3, 1)))
    x = b.maxpool(b.relu(b.conv(x, 32, 64, 3, 1)))
    x = b.flatten(x)
    x = b.relu(b.gemm(x, 3136, 128))
    return b.gemm(x, 128, 10, output="output")


def resnet_small(b):
    x = b.maxpool(b.relu(b.batchnorm(b.conv("input", 1, 8, 3, 1), 8)))
    for _ in range(2):
        y = b.relu(b.batchnorm(b.conv(x, 8, 8, 3, 1), 8))
        y = b.batchnorm(b.conv(y, 8, 8, 3, 1), 8)
        x = b.relu(b.add(y, x))
    x = b.flatten(b.maxpool(x))
    return b.gemm(x, 392, 10, output="output")


def save(name, build, seed):
    b = Builder(np.random.default_rng(seed))
    build(b)
    graph = helper.make_graph(
        b.nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        initializer=b.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="veritas-bench", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())
    # A sample input in [0, 1], on a 1/16 grid like the MLP's sample, so fixed point is exact.
    rng = np.random.default_rng(seed + 1000)
    sample = rng.integers(0, 17, size=28 * 28) / 16.0
    with open(os.path.join(OUT, name + ".input.json"), "w") as f:
        json.dump({"input_data": [[float(v) for v in sample]]}, f)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    save("lenet5", lenet5, SEED)
    save("cnn-large", cnn_large, SEED + 1)
    save("resnet-small", resnet_small, SEED + 2)


if __name__ == "__main__":
    main()
