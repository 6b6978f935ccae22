#!/usr/bin/env bash
# The ZK benchmark: veritas and EZKL on the same ONNX models, on this machine, one after the
# other (never at once). Writes bench/zk/veritas-results.json, bench/zk/ezkl-results.json (EZKL's
# default calibration) and bench/zk/ezkl-tuned-results.json (EZKL at scale 7 with fitted ranges,
# `ezkl_peer.py --profile tuned`; see its header) and prints the comparison for bench/RESULTS.md.
#
#   python3 -m pip install --target $HOME/.cache/veritas-bench/python -r bench/zk/requirements.txt
#   bench/zk/run.sh [ITERATIONS] [MODEL ...]     (EZKL's models: mnist-mlp lenet5 cnn-large resnet-small)
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${1:-5}
shift || true
cargo build --release --manifest-path bench/Cargo.toml
bench="${CARGO_TARGET_DIR:-bench/target}/release/veritas-bench"
"$bench" zk "$iterations" bench/zk/veritas-results.json
PYTHONPATH="$HOME/.cache/veritas-bench/python${PYTHONPATH:+:$PYTHONPATH}" \
    python3 bench/zk/ezkl_peer.py --out bench/zk/ezkl-results.json "$@"
PYTHONPATH="$HOME/.cache/veritas-bench/python${PYTHONPATH:+:$PYTHONPATH}" \
    python3 bench/zk/ezkl_peer.py --profile tuned --out bench/zk/ezkl-tuned-results.json "$@"
python3 bench/zk/compare.py bench/zk/veritas-results.json bench/zk/ezkl-results.json \
    bench/zk/ezkl-tuned-results.json
