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

Queries and keys (the neuron view) are read where the model itself combines them: every attention module of
transformers 5 hands its per-head query and key, after the rotary embedding where the model has one, to its modeling
module's `eager_attention_forward(module, query, key, value, attention_mask, scaling=...)`, which computes
softmax(query . key * scaling + mask). `recording_queries_keys` wraps that function while the capture runs and keeps
what the block's attention module (`Adapter.attention`) passes: no forked model code, no second projection, and the
values are by construction the ones the attention weights come from. An entry sets `attention` only when that holds
for the family (no position bias, soft-capping or alibi added to the scores); a test checks it on a tiny model.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

EAGER_ATTENTION = "eager_attention_forward"   # the function of a transformers modeling module that gets q and k


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
    attention: str | None = None   # path inside a block to the attention module that calls the eager attention
                                   # function with q and k; None: queries and keys cannot be captured (neuron view)
    attention_note: str = ""       # why `attention` is None, in words for authors (the support table, errors)
    values_per_head: bool = False  # the values module's output is [..., H, parts * d_head] (GPT-NeoX's fused
                                   # query_key_value: each head's q, k, v side by side); `values_part` picks within
                                   # each head's slice
    values_last: bool = False      # the values are the last H_kv * d_head entries of that output (Phi-3's fused
                                   # qkv_proj: H query heads, then H_kv key heads, then H_kv value heads)
    sequential_residual: bool = False  # a block's output is (input + hook_attn_out) + hook_mlp_out, each one float
                                   # addition of the branch output as the hooks see it (pre-norm blocks; not
                                   # GPT-NeoX's parallel branches, OPT's post-norm option, nor OLMo 2's and Gemma
                                   # 2/3's norms on the branch outputs): a patched MLP output is then block l + 1's
                                   # input computed from cached activations (interventions.patching)
    mlp: str = ""                  # path inside a block to the MLP module (called on the normalised stream, its
                                   # output added to the residual stream); with `sequential_residual`, a run may
                                   # compute the last block at the last position only (`ModelRun`, last_query)
    mlp_norm: str = ""             # path inside a block to the norm whose output the MLP reads (with
                                   # `sequential_residual`: the block's output is mid + mlp(norm(mid)), mid the
                                   # stream after the attention branch; `ModelRun.mlp_branch`)

    def blocks(self, model: Any) -> list[Any]:
        return list(_first_path(model, self.layers, "layer list"))

    def attention_module(self, block: Any) -> Any:
        if self.attention is None:
            raise AttributeError("this architecture's adapter has no attention path")
        return _get(block, self.attention)

    def attn_out_module(self, block: Any) -> Any:
        """The attention output projection of `block` (W_O); raises AttributeError when the entry names none."""
        return self._named(block, self.attn_out, "where the attention output projection is")

    def mlp_module(self, block: Any) -> Any:
        """The MLP of `block`; raises AttributeError when the entry names none."""
        return self._named(block, self.mlp, "where the MLP module is")

    def mlp_norm_module(self, block: Any) -> Any:
        """The norm of `block` whose output its MLP reads; raises AttributeError when the entry names none."""
        return self._named(block, self.mlp_norm, "which norm the MLP reads")

    @staticmethod
    def _named(block: Any, path: str | None, what: str) -> Any:
        if not path:
            raise AttributeError(f"this adapter does not say {what}")
        return _get(block, path)

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

    def value_vectors(self, output: Any, heads: tuple[int, int] | None = None) -> Any:
        """The value vectors in the output of `values_module`: [..., n_kv_heads * d_head], bias included.

        heads: (n_heads, n_kv_heads), needed by the fused layouts (`values_per_head`, `values_last`); raises
        ValueError when such an entry is called without them."""
        index, parts = self.values_part
        if (self.values_per_head or self.values_last) and heads is None:
            raise ValueError("this adapter's value vectors sit in a fused projection: give (n_heads, n_kv_heads)")
        if self.values_per_head:
            per_head = output.reshape(*output.shape[:-1], heads[1], parts, -1)       # [..., H_kv, parts, d_head]
            return per_head[..., index, :].reshape(*output.shape[:-1], -1)
        if self.values_last:
            d_head = output.shape[-1] // (heads[0] + 2 * heads[1])
            return output[..., output.shape[-1] - heads[1] * d_head:]
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
                      attn_out="self_attn.o_proj", attention="self_attn", sequential_residual=True, mlp="mlp",
                      mlp_norm="post_attention_layernorm")
# Gemma 2 and 3 normalise each branch's output before adding it (post_attention_layernorm, post_feedforward_layernorm)
_GEMMA_CAPPED = replace(_LLAMA_LIKE, logit_softcap="final_logit_softcapping", sequential_residual=False,
                        mlp_norm="")
# Gemma 2 also soft-caps its attention scores (tanh) before the softmax, so q and k alone do not give its weights.
_GEMMA2 = replace(_GEMMA_CAPPED, attention=None,
                  attention_note="Gemma 2 soft-caps its attention scores (tanh) before the softmax, so queries and "
                                 "keys alone do not give its weights")
_BERT_LIKE = Adapter(causal=False, layers=("encoder.layer", "bert.encoder.layer", "roberta.encoder.layer"),
                     mlp_down="output.dense", final_norm=(), pairs=True, values="attention.self.value",
                     attn_out="attention.output.dense", attention="attention.self")

ADAPTERS: dict[str, Adapter] = {
    **{model_type: _LLAMA_LIKE for model_type in
       ("llama", "mistral", "qwen2", "qwen3", "gemma", "olmo", "smollm3")},
    # OLMo 2 normalises each branch's output before adding it to the residual stream
    "olmo2": replace(_LLAMA_LIKE, sequential_residual=False, mlp_norm=""),
    "gemma2": _GEMMA2,
    "gemma3_text": _GEMMA_CAPPED,
    "gpt2": Adapter(causal=True, layers=("transformer.h", "h"), mlp_down="mlp.c_proj",
                    final_norm=("transformer.ln_f", "ln_f"), unembed=("lm_head",), values="attn.c_attn",
                    values_part=(2, 3), attn_out="attn.c_proj", attn_out_conv1d=True, attention="attn",
                    sequential_residual=True, mlp="mlp", mlp_norm="ln_2"),
    # transformers 5 names GPT-NeoX's LM head `lm_head`, 4.x `embed_out`: both are candidates
    "gpt_neox": Adapter(causal=True, layers=("gpt_neox.layers", "layers"), mlp_down="mlp.dense_4h_to_h",
                        final_norm=("gpt_neox.final_layer_norm", "final_layer_norm"), unembed=("lm_head", "embed_out"),
                        values="attention.query_key_value", values_part=(2, 3), values_per_head=True,
                        attn_out="attention.dense", attention="attention"),
    # OPT: a model with `project_out` (OPT-350m: the LM head reads a smaller width) has no final norm either;
    # the lens reads it through the final norm only, so such a model is refused by the readout (no `final_norm`)
    "opt": Adapter(causal=True, layers=("model.decoder.layers", "decoder.layers"), mlp_down="fc2",
                   final_norm=("model.decoder.final_layer_norm", "decoder.final_layer_norm"), unembed=("lm_head",),
                   values="self_attn.v_proj", attn_out="self_attn.out_proj", attention="self_attn"),
    "phi3": replace(_LLAMA_LIKE, values="self_attn.qkv_proj", values_last=True),
    "bert": _BERT_LIKE,
    # RoBERTa has no segment embeddings, but its tokenizer reads a pair as one sequence (<s> A </s></s> B </s>)
    "roberta": _BERT_LIKE,
    "distilbert": Adapter(causal=False, layers=("transformer.layer", "distilbert.transformer.layer"),
                          mlp_down="ffn.lin2", final_norm=(), pairs=True, values="attention.v_lin",
                          attn_out="attention.out_lin", attention="attention"),
}


def adapter_for(model_type: str) -> Adapter | None:
    return ADAPTERS.get(model_type)


def reads_queries_keys(model_type: str) -> bool:
    """Whether queries and keys of this architecture can be captured (its entry names the attention module)."""
    adapter = ADAPTERS.get(model_type)
    return adapter is not None and adapter.attention is not None


def attention_window(config: Any) -> int | None:
    """The sliding attention window of a model's config (Mistral's `sliding_window`; Gemma 2/3's sliding layers,
    `layer_types`), or None when every layer attends to all earlier positions. Qwen2's `use_sliding_window=False`
    and a `layer_types` list without "sliding_attention" mean no window. A position then sees at most `window`
    keys, so a run may reuse cached keys of earlier positions (`ModelRun.run_edit_sets(from_positions=...)`) only
    for inputs no longer than the window."""
    window = getattr(config, "sliding_window", None)
    if not isinstance(window, int) or getattr(config, "use_sliding_window", True) is False:
        return None
    types = getattr(config, "layer_types", None)
    if types and "sliding_attention" not in types:
        return None
    return window


QueryKeySink = Callable[[int, Any, Any, float], None]   # (layer, query [H, N, d], key [H_kv, N, d], scaling)
# (layer, attention module, the original eager function, its positional args, its keyword args) -> its result
AttentionHandler = Callable[[int, Any, Callable[..., Any], tuple, dict], Any]

_lock = threading.Lock()
_handlers: dict[int, tuple[int, AttentionHandler]] = {}   # id(attention module) -> (layer, handler), while active
_installed: dict[str, tuple[Callable[..., Any], int]] = {}   # modeling module -> (original function, users)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def eager_attention_forward(module, *args, **kwargs):
        entry = _handlers.get(id(module))
        if entry is None:
            return original(module, *args, **kwargs)
        return entry[1](entry[0], module, original, args, kwargs)
    return eager_attention_forward


def attention_scaling(query: Any, args: tuple, kwargs: dict) -> float:
    """The factor on query . key of one eager attention call (args after query, key, value, attention_mask):
    the `scaling` argument, or 1/sqrt(d_head), the BERT/T5 family default, when the call gives none."""
    scaling = kwargs.get("scaling", args[0] if args else None)
    return float(query.shape[-1] ** -0.5 if scaling is None else scaling)


@contextmanager
def intercepting_attention(model: Any, adapter: Adapter, handler: AttentionHandler) -> Iterator[None]:
    """While active, every call of the eager attention function by `model`'s blocks goes to
    `handler(layer, module, original, args, kwargs)`, which must return what `original(module, *args, **kwargs)`
    returns: (attention output [B, N, H, d_head], weights [B, H, N, N]). args are (query [B, H, N, d_head],
    key [B, H_kv, N, d_head], value [B, H_kv, N, d_head], attention_mask, ...) as the attention module passes them.

    The wrapper is installed on the modeling module once however many runs use it at the same time, and removed
    with the last one; calls of other models' modules go straight to the original. Raises AttributeError when the
    adapter has no attention path (`reads_queries_keys` is False) or the module has no eager attention function.
    """
    modules = [adapter.attention_module(block) for block in adapter.blocks(model)]
    names = sorted({type(module).__module__ for module in modules})
    with _lock:
        for name in names:
            namespace = sys.modules[name]
            if not hasattr(namespace, EAGER_ATTENTION):
                raise AttributeError(f"{name} has no {EAGER_ATTENTION}: its attention cannot be recorded")
        for name in names:
            original, users = _installed.get(name, (getattr(sys.modules[name], EAGER_ATTENTION), 0))
            if not users:
                setattr(sys.modules[name], EAGER_ATTENTION, _wrap(original))
            _installed[name] = (original, users + 1)
        _handlers.update({id(module): (layer, handler) for layer, module in enumerate(modules)})
    try:
        yield
    finally:
        with _lock:
            for module in modules:
                _handlers.pop(id(module), None)
            for name in names:
                original, users = _installed[name]
                if users == 1:
                    setattr(sys.modules[name], EAGER_ATTENTION, original)
                    del _installed[name]
                else:
                    _installed[name] = (original, users - 1)


@contextmanager
def recording_queries_keys(model: Any, adapter: Adapter, sink: QueryKeySink) -> Iterator[None]:
    """While active, each attention call of `model`'s blocks reports `sink(layer, query, key, scaling)`.

    query: float [H, N, d_head], key: float [H_kv, N, d_head] (grouped-query attention: the shared key heads, query
    head h using key head h // (H / H_kv)), both as the model's eager attention function receives them (after the
    rotary embedding); scaling: the factor on query . key before mask and softmax (1/sqrt(d_head) unless the model
    says otherwise). Batch element 0 only. Raises AttributeError as `intercepting_attention` does.
    """
    def record(layer, module, original, args, kwargs):
        query, key = args[0], args[1]
        sink(layer, query[0].detach(), key[0].detach(), attention_scaling(query, args[4:], kwargs))
        return original(module, *args, **kwargs)
    with intercepting_attention(model, adapter, record):
        yield


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
