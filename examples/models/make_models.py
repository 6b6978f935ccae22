#!/usr/bin/env python3
"""Makes the example models, reproducibly (every random choice is seeded).

    python3 -m pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime==1.31.1
    python3 examples/models/make_models.py

Writes, per model, NAME.onnx, NAME.input.json (a sample request) and NAME.expected.json (what
onnxruntime from PyPI answers to it, which the Rust tests compare against); for the MNIST
networks also NAME.calibration.json (samples for `veritas model push --zk-calibration`). The data sets ship
inside scikit-learn, so nothing is downloaded.
"""
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
OPSETS = {"": 17, "ai.onnx.ml": 3}


def save(name, model, sample):
    """Writes the model, a sample input and onnxruntime's answer to it."""
    # Deterministic bytes: no producer version that changes with the environment.
    model.producer_name = "veritas-examples"
    model.producer_version = "1"
    model.graph.name = name  # skl2onnx names graphs with a random uuid
    path = os.path.join(HERE, name + ".onnx")
    onnx.checker.check_model(model)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {k: np.asarray(v, dtype=np.float32) for k, v in sample.items()}
    outputs = session.run(None, feed)
    expected = {}
    for meta, value in zip(session.get_outputs(), outputs):
        if isinstance(value, list):  # ZipMap: a list of dicts
            expected[meta.name] = [{str(k): float(v) for k, v in d.items()} for d in value]
        else:
            expected[meta.name] = np.asarray(value).tolist()
    with open(os.path.join(HERE, name + ".input.json"), "w") as f:
        json.dump(sample, f)
        f.write("\n")
    with open(os.path.join(HERE, name + ".expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"{name}: {os.path.getsize(path)} bytes, outputs {list(expected)}")


def sklearn_model(model, n_features):
    return convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, n_features]))], target_opset=OPSETS)


def iris_logreg():
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500, random_state=SEED).fit(x, y)
    save("iris-logreg", sklearn_model(model, 4), {"float_input": [[5.1, 3.5, 1.4, 0.2]]})


def iris_svm():
    iris = load_iris()
    labels = np.array(iris.target_names)[iris.target]
    model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=SEED)).fit(iris.data, labels)
    save("iris-svm", sklearn_model(model, 4), {"float_input": [[6.3, 2.9, 5.6, 1.8], [5.0, 3.4, 1.5, 0.2]]})


def diabetes_gbr():
    x, y = load_diabetes(return_X_y=True)
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=SEED).fit(x, y)
    save("diabetes-gbr", sklearn_model(model, 10), {"float_input": [np.round(x[0], 5).tolist()]})


def digits_28x28():
    """scikit-learn's 8x8 digits, upscaled to MNIST's 28x28 (nearest neighbour, 8→24, padded by 2)."""
    digits = load_digits()
    images = digits.images / 16.0
    big = np.kron(images, np.ones((3, 3)))
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return big.astype(np.float32), digits.target


def mnist_mlp():
    images, target = digits_28x28()
    x = images.reshape(len(images), 784)
    mlp = MLPClassifier(hidden_layer_sizes=(56,), max_iter=300, random_state=SEED).fit(x, target)
    w1, w2 = (w.astype(np.float32) for w in mlp.coefs_)
    b1, b2 = (b.astype(np.float32) for b in mlp.intercepts_)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "w1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"]),
        ],
        "mnist-mlp-784-56-10",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    save("mnist-mlp", model, {"input": [np.round(x[0], 4).tolist()]})


def cnn_graph(params, with_head):
    nodes = [
        helper.make_node("Conv", ["image", "c1w", "c1b"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["features"]),
    ]
    out = "features"
    if with_head:
        nodes.append(helper.make_node("Gemm", ["features", "fw", "fb"], ["logits"], transB=1))
        out = "logits"
    width = 10 if with_head else 16 * 7 * 7
    graph = helper.make_graph(
        nodes,
        "mnist-cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", width])],
        [numpy_helper.from_array(v, k) for k, v in params.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def mnist_cnn():
    """A small CNN: two seeded random conv layers as a fixed feature extractor, and a linear
    read-out trained on their features."""
    rng = np.random.default_rng(SEED)
    images, target = digits_28x28()
    params = {
        "c1w": (rng.standard_normal((8, 1, 3, 3)) / 3).astype(np.float32),
        "c1b": np.zeros(8, np.float32),
        "c2w": (rng.standard_normal((16, 8, 3, 3)) / np.sqrt(72)).astype(np.float32),
        "c2b": np.zeros(16, np.float32),
    }
    features_model = cnn_graph(params, with_head=False)
    session = ort.InferenceSession(features_model.SerializeToString(), providers=["CPUExecutionProvider"])
    features = session.run(None, {"image": images[:, None, :, :]})[0]
    readout = LogisticRegression(max_iter=1000, random_state=SEED).fit(features, target)
    params["fw"] = readout.coef_.astype(np.float32)
    params["fb"] = readout.intercept_.astype(np.float32)
    sample = np.round(images[1], 4)[None, None, :, :].tolist()
    save("mnist-cnn", cnn_graph(params, with_head=True), {"image": sample})


def calibration():
    """Calibration samples for `veritas model push --zk-calibration`: 32 digits spread over the
    data set, one model input per element (the MLP's flat, the CNN's as an image)."""
    images, _ = digits_28x28()
    picked = np.round(images[::56][:32], 4)
    for name, key, shape in [("mnist-mlp", "input", (1, 784)), ("mnist-cnn", "image", (1, 1, 28, 28))]:
        samples = [{key: image.reshape(shape).tolist()} for image in picked]
        with open(os.path.join(HERE, name + ".calibration.json"), "w") as f:
            json.dump(samples, f)
            f.write("\n")


if __name__ == "__main__":
    warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated, still exported
    iris_logreg()
    iris_svm()
    diabetes_gbr()
    mnist_mlp()
    mnist_cnn()
    calibration()
