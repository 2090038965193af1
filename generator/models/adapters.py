"""Architecture adapters: the one place that knows where each model family keeps its parts.

Methods never reach into a model by attribute names; they ask an adapter. Supporting a new architecture means adding
one entry to ADAPTERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Adapter:
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


_LLAMA_LIKE = Adapter(causal=True, layers=("model.layers", "layers"), mlp_down="mlp.down_proj",
                      final_norm=("model.norm", "norm"))

ADAPTERS: dict[str, Adapter] = {
    **{model_type: _LLAMA_LIKE for model_type in
       ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "smollm3")},
    "gpt2": Adapter(causal=True, layers=("transformer.h", "h"), mlp_down="mlp.c_proj",
                    final_norm=("transformer.ln_f", "ln_f")),
    "bert": Adapter(causal=False, layers=("encoder.layer", "bert.encoder.layer"), mlp_down="output.dense",
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
