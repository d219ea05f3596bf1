"""Write a tiny llama model directory as a GGUF file (F32), as llama.cpp's converter would.

Just enough of convert_hf_to_gguf for the test model: llama hyper-parameters, a GPT-2
style (byte-level BPE) tokenizer with its merges and chat template, and the tensors
under GGUF names, with q/k rows permuted the way llama.cpp stores them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model_dir: Path, out: Path, architecture: str = "llama") -> Path:
    import gguf
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    tok_cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    template_file = model_dir / "chat_template.jinja"
    weights = load_file(str(model_dir / "model.safetensors"))

    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_head_count_kv(cfg["num_key_value_heads"])
    writer.add_rope_freq_base(float(cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_vocab_size(cfg["vocab_size"])

    vocab = tok["model"]["vocab"]
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    tokens = [""] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in specials else 1 for t in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    writer.add_bos_token_id(specials[tok_cfg["bos_token"]])
    writer.add_eos_token_id(specials[tok_cfg["eos_token"]])
    writer.add_pad_token_id(specials[tok_cfg["pad_token"]])
    if template_file.is_file():
        writer.add_chat_template(template_file.read_text())

    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    names = {"embed_tokens": "token_embd", "norm": "output_norm"}
    layer_names = {
        "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    }  # fmt: skip
    for name, w in weights.items():
        w = w.astype(np.float32)
        parts = name.removeprefix("model.").removesuffix(".weight")
        if name == "lm_head.weight":
            continue  # tied to the embeddings: GGUF then has no output.weight
        if parts.startswith("layers."):
            _, idx, rest = parts.split(".", 2)
            gguf_name = f"blk.{idx}.{layer_names[rest]}.weight"
            if rest == "self_attn.q_proj":
                w = _permute(w, heads)
            elif rest == "self_attn.k_proj":
                w = _permute(w, kv_heads)
        else:
            gguf_name = names[parts] + ".weight"
        writer.add_tensor(gguf_name, np.ascontiguousarray(w))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
