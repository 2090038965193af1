"""Architecture adapters: the one place that knows where each model family keeps its parts.

Methods never reach into a model by attribute names; they ask an adapter. Supporting a new architecture means adding
one entry to ADAPTERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Adapter:
    family: str
    causal: bool
    layers: tuple[str, ...]        # candidate paths from the loaded model to the list of blocks
    mlp_down: str                  # path inside a block to the MLP down-projection; its input is the neuron values
    final_norm: tuple[str, ...]    # candidate paths to the final norm (applied before unembedding), if any
    pairs: bool = False            # accepts token_type_ids, so it can read a sentence pair

    def blocks(self, model: Any) -> list[Any]:
        return list(_first_path(model, self.layers, "layer list"))

    def mlp_down_module(self, block: Any) -> Any:
        return _get(block, self.mlp_down)

    def final_norm_module(self, model: Any) -> Any | None:
        return _first_path(model, self.final_norm, "final norm", required=False)

    def hook_points(self, model: Any) -> dict[str, Any]:
        """Named capture points (TransformerLens-style names): the input of each module is what is captured."""
        return {f"blocks.{index}.mlp.hook_post": self.mlp_down_module(block)
                for index, block in enumerate(self.blocks(model))}

    @staticmethod
    def head_counts(config: Any) -> tuple[int, int]:
        heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head")
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        return int(heads), int(kv_heads)

    @staticmethod
    def n_layers(config: Any) -> int:
        return int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer"))

    @staticmethod
    def max_positions(config: Any) -> int | None:
        return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


_LLAMA_LIKE = Adapter("llama", causal=True, layers=("model.layers", "layers"), mlp_down="mlp.down_proj",
                      final_norm=("model.norm", "norm"))

ADAPTERS: dict[str, Adapter] = {
    **{model_type: _LLAMA_LIKE for model_type in
       ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "smollm3")},
    "gpt2": Adapter("gpt2", causal=True, layers=("transformer.h", "h"), mlp_down="mlp.c_proj",
                    final_norm=("transformer.ln_f", "ln_f")),
    "bert": Adapter("bert", causal=False, layers=("encoder.layer", "bert.encoder.layer"), mlp_down="output.dense",
                    final_norm=(), pairs=True),
}


def adapter_for(model_type: str) -> Adapter | None:
    return ADAPTERS.get(model_type)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _first_path(obj: Any, paths: tuple[str, ...], what: str, required: bool = True) -> Any:
    for path in paths:
        try:
            return _get(obj, path)
        except AttributeError:
            continue
    if required:
        raise AttributeError(f"{type(obj).__name__} has no {what} at any of {', '.join(paths)}")
    return None
