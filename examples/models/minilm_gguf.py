"""A sentence-transformers BERT model (all-MiniLM-L6-v2) as a llama.cpp `bert` GGUF, without torch.

    python3 minilm_gguf.py MODEL_DIR OUT.gguf

MODEL_DIR holds the sentence-transformers files (config.json, tokenizer.json, model.safetensors,
1_Pooling/config.json). The tensors and the WordPiece vocabulary are written as llama.cpp's own
BERT conversion writes them (token names with the `▁` word-start mark, `##` pieces bare),
matrices in f16, with mean pooling and non-causal attention, through the `gguf` package that
llama.cpp publishes (pinned in clients/requirements.txt, so the output is the same bytes).
"""
import json
import struct
import sys
from pathlib import Path

import gguf
import numpy as np


def tensors(path):
    """The tensors of a safetensors file, by name."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    types = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        yield name, np.frombuffer(data[8 + size + start : 8 + size + end], dtype=types[meta["dtype"]]).reshape(
            meta["shape"]
        )


def main(source, out):
    config = json.loads((source / "config.json").read_text())
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise SystemExit("only mean pooling is converted")
    layers = config["num_hidden_layers"]
    writer = gguf.GGUFWriter(out, "bert")
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(layers)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokenizer = json.loads((source / "tokenizer.json").read_text())
    by_id = {i: token for token, i in tokenizer["model"]["vocab"].items()}
    added = {token["id"]: token for token in tokenizer.get("added_tokens", [])}
    names, kinds = [], []
    for i in range(config["vocab_size"]):
        token = by_id[i]
        if i in added:
            kinds.append(gguf.TokenType.CONTROL if added[i]["special"] else gguf.TokenType.USER_DEFINED)
        else:
            kinds.append(gguf.TokenType.NORMAL)
        if token.startswith("[") and token.endswith("]"):
            names.append(token)
        elif token.startswith("##"):
            names.append(token[2:])
        else:
            names.append("\u2581" + token)
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(names)
    writer.add_token_types(kinds)
    gguf.SpecialVocab(source, n_vocab=len(names)).add_to_gguf(writer)

    names_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)
    for name, array in tensors(source / "model.safetensors"):
        if name.startswith("pooler.") or name.endswith("position_ids"):
            continue
        mapped = names_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise SystemExit(f"no llama.cpp name for tensor {name}")
        array = array.astype(np.float32)
        if array.ndim == 2 and not mapped.startswith("token_types"):
            array = array.astype(np.float16)
        writer.add_tensor(mapped, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
