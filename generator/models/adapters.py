"""Architecture adapters: the one place that knows where each model family keeps its parts.

Methods never reach into a model by attribute names; they ask an adapter. Supporting a new architecture means adding
one entry to ADAPTERS.

What an adapter knows about the readout (hidden state -> next-token logits, used by the logit lens): where the final
norm and the unembedding live, whether the library's last hidden state already carries the final norm (in
transformers 5.x every architecture listed here returns `hidden_states[-1]` after the final norm, which
tests/test_lens.py checks against a hook on the last block for each family), and which config attribute, if any,
soft-caps the final logits (Gemma 2 and 3: `logits = cap * tanh(logits / cap)`).

What an adapter knows about attention (for value-weighted attention, Kobayashi et al. 2020): which module's output
holds the value vectors of every key/value head (a separate value projection, or one part of a fused q/k/v
projection such as GPT-2's `c_attn`), and where the output projection W_O is, with its weight layout (nn.Linear
stores [out, in], GPT-2's Conv1D [in, out]).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Adapter:
    causal: bool
    layers: tuple[str, ...]        # candidate paths from the loaded model to the list of blocks
    mlp_down: str                  # path inside a block to the MLP down-projection; its input is the neuron values
    final_norm: tuple[str, ...]    # candidate paths to the final norm (applied before unembedding), if any
    pairs: bool = False            # accepts token_type_ids, so it can read a sentence pair
    unembed: tuple[str, ...] = ()  # candidate paths to the unembedding (the LM head: hidden -> vocabulary logits)
    last_hidden_normed: bool = True   # the library's hidden_states[-1] is already after the final norm
    logit_softcap: str | None = None  # config attribute holding the final logit soft-cap, if the family has one
    values: str = ""               # path inside a block to the module whose output holds the value vectors
    values_part: tuple[int, int] = (0, 1)  # the values are chunk i of n equal chunks of that output's last axis
    attn_out: str = ""             # path inside a block to the attention output projection (W_O)
    attn_out_conv1d: bool = False  # W_O's weight is stored [in, out] (GPT-2's Conv1D), not [out, in] (nn.Linear)

    def blocks(self, model: Any) -> list[Any]:
        return list(_first_path(model, self.layers, "layer list"))

    def mlp_down_module(self, block: Any) -> Any:
        return _get(block, self.mlp_down)

    def final_norm_module(self, model: Any) -> Any | None:
        return _first_path(model, self.final_norm, "final norm", required=False)

    def unembed_module(self, model: Any) -> Any | None:
        """The LM head (a module mapping [..., d_model] to [..., vocabulary]); None for a model without one."""
        return _first_path(model, self.unembed, "unembedding", required=False) if self.unembed else None



    def values_module(self, block: Any) -> Any:
        """The module of `block` whose output holds the value vectors (see `value_vectors`)."""
        if not self.values:
            raise AttributeError("this adapter does not say where the value vectors are")
        return _get(block, self.values)

    def value_vectors(self, output: Any) -> Any:
        """The value vectors in the output of `values_module`: [..., n_kv_heads * d_head], bias included."""
        index, parts = self.values_part
        return output.chunk(parts, dim=-1)[index] if parts > 1 else output

    def output_weight(self, block: Any) -> Any:
        """The attention output projection's weight as [d_model, n_heads * d_head] (out x in): the block's attention
        output is weight @ concat_h(z_h) + bias."""
        if not self.attn_out:
            raise AttributeError("this adapter does not say where the attention output projection is")
        weight = _get(block, self.attn_out).weight
        return weight.T if self.attn_out_conv1d else weight


_LLAMA_LIKE = Adapter(causal=True, layers=("model.layers", "layers"), mlp_down="mlp.down_proj",
                      final_norm=("model.norm", "norm"), unembed=("lm_head",), values="self_attn.v_proj",
                      attn_out="self_attn.o_proj")
_GEMMA_CAPPED = replace(_LLAMA_LIKE, logit_softcap="final_logit_softcapping")

ADAPTERS: dict[str, Adapter] = {
    **{model_type: _LLAMA_LIKE for model_type in
       ("llama", "mistral", "qwen2", "qwen3", "gemma", "olmo", "olmo2", "smollm3")},
    **{model_type: _GEMMA_CAPPED for model_type in ("gemma2", "gemma3_text")},
    "gpt2": Adapter(causal=True, layers=("transformer.h", "h"), mlp_down="mlp.c_proj",
                    final_norm=("transformer.ln_f", "ln_f"), unembed=("lm_head",), values="attn.c_attn",
                    values_part=(2, 3), attn_out="attn.c_proj", attn_out_conv1d=True),
    "bert": Adapter(causal=False, layers=("encoder.layer", "bert.encoder.layer"), mlp_down="output.dense",
                    final_norm=(), pairs=True, values="attention.self.value", attn_out="attention.output.dense"),
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
