"""The model run: the only place that runs a model for a bake.

Tokenize (a text, a sentence pair as one sequence, and each sentence of a pair on its own where a method reads them
so), generate greedily when asked, then one eager forward pass that records the hook points the methods ask for by
name (`Needs.hooks`, names in `generator.hooks`) into one mapping, `Capture.activations` (batch axis dropped).
Methods are functions of the returned `Capture`; those that run the model again (gradients, edits) get the run
handle `Capture.model_run` (`generator.model_run`), and never a tokenizer.

Each entry has the meaning `generator.hooks` documents, whichever route fills it in that one forward:

- `blocks.{l}.attn.hook_pattern`: the library's `output_attentions` (every eager model gives them, with or without
  an attention path in its adapter);
- `blocks.{l}.hook_resid_pre` / `hook_resid_post` and `ln_final.hook_normalized`: the library's
  `output_hidden_states` (entry l is block l's input, entry l + 1 its output; the last entry is the final norm's
  output where the adapter says the library normalises it, `Adapter.last_hidden_normed`, else the last block's);
- `blocks.{l}.attn.hook_q` / `hook_k`: the eager attention call (`adapters.recording_queries_keys`), which also gives
  each layer's query . key scaling (`Capture.attention_scales`, the neuron view's);
- `blocks.{l}.attn.hook_v`: the adapter's value module (`Adapter.values`, no attention path needed);
- `blocks.{l}.mlp.hook_post`: the input of the MLP down-projection;
- any other point (and the two above where the library's list lacks them): the run handle's read-only hooks
  (`ModelRun.recording`).

Weights asked for by name (`blocks.*.attn.W_O`) go to `Capture.weights`.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field, replace
import inspect
from typing import Any, Callable

import numpy as np
import torch

from . import hooks
from .attention_stream import each_layer
from .hooks import weight_name
from .methods.attention import layered
from .methods.registry import Needs
from .model_run import ModelRun
from .models.adapters import recording_queries_keys
from .models.facts import ModelInfo
from .models.loading import LoadedModel
from .models.readout import Readout, readout_of
from .rules import check_length, check_model
from .spec import SpecBase
from .tokens import Vocabulary, display_tokens


def stacked(activations: dict[str, np.ndarray], pattern: str) -> np.ndarray:
    """The entries of `activations` whose names match `pattern`, stacked in layer order along a new first axis:
    `stacked(a, "blocks.*.attn.hook_pattern")` is [L, H, N, N]. Raises KeyError when none match."""
    names = sorted(hooks.matching(pattern, list(activations)), key=lambda name: hooks.parse(name)[0] or 0)
    if not names:
        raise KeyError(f"no recorded activation matches '{pattern}'")
    return np.stack([activations[name] for name in names])


PATTERNS = hooks.every_layer("attn.hook_pattern")


@dataclass
class Sentence:
    """One sentence of a pair, tokenised on its own as a bi-encoder reads it, and run on its own when the methods
    ask for hook points (then `activations` are those of this sentence alone, the same names as the capture's)."""

    input_ids: torch.Tensor                  # int64 [n]
    tokens: list[dict[str, Any]]             # display tokens (generator.tokens)
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # hook name -> array, batch axis dropped

    def stack(self, pattern: str) -> np.ndarray:
        """This sentence's activations whose names match `pattern`, stacked in layer order (`stacked`)."""
        return stacked(self.activations, pattern)

    @property
    def attentions(self) -> np.ndarray | None:
        """The attention patterns [L, H, n, n] (`blocks.*.attn.hook_pattern` stacked), or None if not recorded."""
        return stacked(self.activations, PATTERNS) if hooks.matching(PATTERNS, list(self.activations)) else None


@dataclass
class Capture:
    """Everything the model run recorded; numpy arrays unless noted."""

    info: ModelInfo
    ids: list[int]
    n_prompt: int
    tokens: list[dict[str, Any]]
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # hook name -> array, batch axis dropped
                                                                     # (Needs.hooks; shapes in generator.hooks)
    attention_scales: list[float] = field(default_factory=list)      # with attn.hook_q/hook_k: per layer, the factor
                                                                     # on q . k before mask and softmax
    sentences: list[Sentence] = field(default_factory=list)          # Needs.sentences, a pair only
    input_ids: torch.Tensor | None = None                            # int64 [1, N]
    model_run: ModelRun | None = None    # Needs.gradients: the run handle, to run again and edit runs by hook name
    stopped_early: str | None = None     # generation ended before `generate` tokens: the display text of its last token
    readout: Readout | None = None                                   # Needs.readout: final norm + unembedding
    vocabulary: Vocabulary | None = None                             # Needs.vocabulary: ids <-> display text
    weights: dict[str, np.ndarray] = field(default_factory=dict)     # weight name -> array (Needs.hooks: attn.W_O)
    neutral_id: int | None = None                                    # the neutral token (see neutral_token)
    neutral_text: str | None = None                                  # its display text
    # encoder-decoder models only: `ids`, `tokens` and the activations are the encoder's (the source text); the
    # decoder reads `target_ids` (its start token, then what it generated)
    target_ids: list[int] = field(default_factory=list)
    target_tokens: list[dict[str, Any]] = field(default_factory=list)
    decoder_attentions: np.ndarray | None = None                    # [L_dec, H_dec, T, T], causal, rows sum to 1
    cross_attentions: np.ndarray | None = None                      # [L_dec, H_dec, T, N]: decoder queries,
                                                                    # encoder keys

    def stack(self, pattern: str) -> np.ndarray:
        """The activations whose names match `pattern` stacked in layer order (`stacked`): `capture.stack(
        "blocks.*.hook_resid_post")` is [L, N, d_model]. Raises KeyError when none were recorded."""
        return stacked(self.activations, pattern)

    @property
    def attentions(self) -> np.ndarray | None:
        """The attention patterns [L, H, N, N] (`blocks.*.attn.hook_pattern` stacked; rows sum to 1), or None if
        they were not recorded."""
        return self.stack(PATTERNS) if hooks.matching(PATTERNS, list(self.activations)) else None

    # Needs.attention_layers on a long text: runs the model again, handing each layer's weights to a reducer
    attention_stream: Callable[[Callable[[int, np.ndarray], Any]], list] | None = None

    def attention_by_layer(self, reduce: Callable[[int, np.ndarray], Any]) -> list[Any]:
        """[reduce(layer, weights float32 [H, N, N]) for every layer]: from the recorded `blocks.{l}.attn.hook_pattern`
        entries when the run recorded them, else computed layer by layer in a forward pass of its own
        (generator.attention_stream.each_layer), so that [L, H, N, N] is never held. Raises RuntimeError when the run
        recorded neither."""
        names = hooks.matching(PATTERNS, list(self.activations))
        if names:
            by_layer = sorted(names, key=lambda name: hooks.parse(name)[0])
            return [reduce(layer, np.asarray(self.activations[name], dtype=np.float32))
                    for layer, name in enumerate(by_layer)]
        if self.attention_stream is None:
            raise RuntimeError("the model run recorded no attention (blocks.*.attn.hook_pattern or "
                               "Needs.attention_layers)")
        return self.attention_stream(reduce)


def tokenize(spec: SpecBase, loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The spec's text (or pair, as one sequence) as input_ids [1, N] and token_type_ids [1, N] or None.

    Raises SpecError when the text gives no tokens or is longer than `max_tokens` or the model's position limit.
    """
    tokenizer = loaded.tokenizer
    # verbose=False: a text over the model's limit gets the placed error below, not the library's bare warning
    if spec.pair is not None:
        encoded = tokenizer(spec.pair[0], spec.pair[1], return_tensors="pt", verbose=False)
    else:
        encoded = tokenizer(spec.text, return_tensors="pt", verbose=False)
    input_ids = encoded["input_ids"].to(loaded.model.device)   # the model's device (generator/precision.py)
    check_length(spec, loaded.info.label, input_ids.shape[1], loaded.max_positions)
    if input_ids.shape[1] == 0:
        raise spec.error("text", "the text produced no tokens")
    token_type_ids = encoded.get("token_type_ids")
    return input_ids, None if token_type_ids is None else token_type_ids.to(input_ids.device)


def sentences(spec: SpecBase, loaded: LoadedModel) -> list[Sentence]:
    """Each sentence of the spec's pair tokenised on its own, with its own [CLS]/[SEP] (segment 0 and 1)."""
    out = []
    for segment, sentence in enumerate(spec.pair or []):
        ids = loaded.tokenizer(sentence, return_tensors="pt")["input_ids"][0].to(loaded.model.device)
        out.append(Sentence(ids, display_tokens(loaded.tokenizer, ids.tolist(), segments=[segment] * len(ids),
                                                source=sentence)))
    return out


@torch.no_grad()
def generate(loaded: LoadedModel, input_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy continuation: input_ids [1, n] -> [1, n + at most n_new]."""
    if n_new == 0:
        return input_ids
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    output = loaded.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=n_new,
                                   do_sample=False, num_beams=1, pad_token_id=pad,
                                   temperature=None, top_p=None, top_k=None)
    return output[:, : input_ids.shape[1] + n_new]


def neutral_token(loaded: LoadedModel) -> tuple[int | None, str | None]:
    """The token that stands for "no token here" (integrated gradients' neutral baseline, and what a faithfulness
    test puts in place of a removed token): for a causal model its end-of-text token, else its padding token; for
    an encoder its mask token (what masked-language-model training showed in place of a missing word), else its
    padding token. (None, None) for a tokenizer with none of these."""
    tokenizer = loaded.tokenizer
    order = ("eos_token_id", "pad_token_id") if loaded.causal else ("mask_token_id", "pad_token_id", "eos_token_id")
    for attribute in order:
        token_id = getattr(tokenizer, attribute, None)
        if token_id is not None:
            return int(token_id), tokenizer.convert_ids_to_tokens(int(token_id))
    return None, None


def _rows(values: torch.Tensor) -> torch.Tensor:
    """A module input of batch 1 as [N, features]: [1, N, features], or [N, features] where the family flattens
    batch and positions before its MLP (OPT)."""
    return values.detach().reshape(-1, values.shape[-1]).clone()


def resolve(names: tuple[str, ...], n_layers: int) -> tuple[list[str], list[str]]:
    """(activation names, weight names) that the names or patterns `names` (`Needs.hooks`) match on a model with
    `n_layers` blocks, each list in forward order. Raises MissingHookPoint for an entry that matches nothing there
    (a layer the model does not have)."""
    from .model_run import MissingHookPoint

    points, weights = hooks.all_names(n_layers), hooks.weight_names(n_layers)
    wanted: set[str] = set()
    for pattern in names:
        matched = hooks.matching(pattern, points) + hooks.matching(pattern, weights)
        if not matched:
            raise MissingHookPoint(f"'{pattern}' names no hook point of a model with {n_layers} blocks")
        wanted.update(matched)
    return [name for name in points if name in wanted], [name for name in weights if name in wanted]


def _hidden_routes(loaded: LoadedModel, wanted: set[str]) -> dict[str, int]:
    """The names among `wanted` that the library's `output_hidden_states` gives -> their index in it: entry l is
    block l's input (`hook_resid_pre`), entry l + 1 its output (`hook_resid_post`); the last entry is the final
    norm's output where the adapter says the library applies it (`ln_final.hook_normalized`), else the last block's
    output (which is also `ln_final.hook_normalized` on a model without a final norm)."""
    n_layers = loaded.info.n_layers
    routes = {hooks.hook_name(layer, "hook_resid_pre"): layer for layer in range(n_layers)}
    routes.update({hooks.hook_name(layer, "hook_resid_post"): layer + 1 for layer in range(n_layers - 1)})
    adapter = loaded.adapter
    if adapter is not None:
        has_norm = adapter.final_norm_module(loaded.model) is not None
        if has_norm and adapter.last_hidden_normed:
            routes[hooks.FINAL] = n_layers
        else:
            routes[hooks.hook_name(n_layers - 1, "hook_resid_post")] = n_layers
            if not has_norm:
                routes[hooks.FINAL] = n_layers
    return {name: index for name, index in routes.items() if name in wanted}


def _output_weights(loaded: LoadedModel, names: list[str]) -> dict[str, np.ndarray]:
    """Weights by name: blocks.{i}.attn.W_O as [H, d_head, d_model] (TransformerLens' layout)."""
    heads = loaded.info.n_heads
    blocks = loaded.adapter.blocks(loaded.model)
    weights = {}
    for name in names:
        layer = int(name.split(".")[1])
        weight = loaded.adapter.output_weight(blocks[layer]).detach().float()    # [d_model, H * d_head]
        weights[weight_name(layer, "attn.W_O")] = weight.T.reshape(heads, -1, weight.shape[0]).cpu().numpy().copy()
    return weights


def _forward(loaded: LoadedModel, names: list[str], input_ids: torch.Tensor, token_type_ids: torch.Tensor | None
             ) -> tuple[dict[str, np.ndarray], dict[int, float]]:
    """One eager forward of input_ids [1, N] recording the hook points `names` (concrete names, `resolve`), each by
    its route (module docstring): (hook name -> array without the batch axis, layer -> query . key scaling when
    queries or keys were recorded)."""
    adapter = loaded.adapter
    point = {name: hooks.parse(name) for name in names}
    patterns = [name for name in names if point[name][1] == "attn.hook_pattern"]
    queries_keys = {name for name in names if point[name][1] in ("attn.hook_q", "attn.hook_k")}
    values = [name for name in names if point[name][1] == "attn.hook_v"]
    neurons = [name for name in names if point[name][1] == "mlp.hook_post"]
    hidden = _hidden_routes(loaded, set(names))
    routed = set(patterns) | queries_keys | set(values) | set(neurons) | set(hidden)
    rest = [name for name in names if name not in routed]
    captured: dict[str, torch.Tensor] = {}
    scales: dict[int, float] = {}
    with ExitStack() as stack:
        blocks = adapter.blocks(loaded.model) if (neurons or values) else []
        for name in neurons:
            handle = adapter.mlp_down_module(blocks[point[name][0]]).register_forward_pre_hook(
                lambda _module, args, name=name: captured.__setitem__(name, _rows(args[0])))
            stack.callback(handle.remove)
        kv_heads = loaded.info.n_kv_heads

        def keep_values(name: str, output: torch.Tensor) -> None:
            vectors = adapter.value_vectors(output[0], (loaded.info.n_heads, kv_heads)).detach()  # [N, H_kv * d]
            captured[name] = vectors.reshape(vectors.shape[0], kv_heads, -1).transpose(0, 1).clone()
        for name in values:
            handle = adapter.values_module(blocks[point[name][0]]).register_forward_hook(
                lambda _module, _args, output, name=name: keep_values(name, output))
            stack.callback(handle.remove)
        if queries_keys:
            def keep(layer: int, query: torch.Tensor, key: torch.Tensor, scaling: float) -> None:
                for name, tensor in ((hooks.hook_name(layer, "attn.hook_q"), query),
                                     (hooks.hook_name(layer, "attn.hook_k"), key)):
                    if name in queries_keys:
                        captured[name] = tensor.clone()
                scales[layer] = scaling
            stack.enter_context(recording_queries_keys(loaded.model, adapter, keep))
        recorded = stack.enter_context(ModelRun(loaded).recording(rest, tuple(input_ids.shape))) if rest else {}
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(input_ids), "output_attentions": bool(patterns),
                                  "output_hidden_states": bool(hidden)}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if "logits_to_keep" in inspect.signature(loaded.model.forward).parameters:
            kwargs["logits_to_keep"] = 1   # the capture never reads the output logits: skip the LM head's N x V
        output = loaded.model(input_ids, **kwargs)
    if queries_keys and sorted(scales) != list(range(loaded.info.n_layers)):
        raise RuntimeError(f"queries and keys were recorded for layers {sorted(scales)} of {loaded.info.n_layers}: "
                           f"{loaded.info.architecture} did not call its eager attention function in every block")
    for name in patterns:
        captured[name] = output.attentions[point[name][0]][0]
    for name, index in hidden.items():
        captured[name] = output.hidden_states[index][0]
    captured.update({name: tensor[0] for name, tensor in recorded.items()})
    return {name: captured[name].float().cpu().numpy() for name in names}, scales


@torch.no_grad()
def run_encoder_decoder(spec: SpecBase, loaded: LoadedModel, needs: Needs) -> Capture:
    """Encoder-decoder models: the text is the source; the decoder starts from its start token and generates
    `spec.generate` tokens greedily (fewer if it ends the text); one forward pass on source and target records the
    encoder's self-attention (`blocks.{l}.attn.hook_pattern`, the encoder's blocks), the decoder's (causal)
    self-attention and its cross-attention to the source (`decoder_attentions`, `cross_attentions`) when
    `needs` asks for attention patterns, the only points recorded here. Raises MissingHookPoint for any other."""
    from .model_run import MissingHookPoint

    if needs.attention_layers:                 # encoder-decoder texts are short: recorded as usual
        needs = replace(needs, hooks=tuple(dict.fromkeys(needs.hooks + (PATTERNS,))))
    names, weights = resolve(needs.hooks, loaded.info.n_layers)
    other = [name for name in names + weights if not name.endswith(".attn.hook_pattern")]
    if other:
        raise MissingHookPoint(f"'{other[0]}': the run of an encoder-decoder model records attention patterns only")
    attention = bool(names)
    source_ids, _ = tokenize(spec, loaded)
    tokenizer = loaded.tokenizer
    output = loaded.model.generate(source_ids, attention_mask=torch.ones_like(source_ids),
                                   max_new_tokens=spec.generate, do_sample=False, num_beams=1,
                                   temperature=None, top_p=None, top_k=None)
    target_ids = output[:, : 1 + spec.generate]
    forward = loaded.model(source_ids, attention_mask=torch.ones_like(source_ids), decoder_input_ids=target_ids,
                           output_attentions=attention)
    ids, target = source_ids[0].tolist(), target_ids[0].tolist()
    capture = Capture(info=loaded.info, ids=ids, n_prompt=len(ids),
                      tokens=display_tokens(tokenizer, ids, source=spec.text), input_ids=source_ids,
                      target_ids=target, target_tokens=display_tokens(tokenizer, target, n_prompt=1))
    if len(target) - 1 < spec.generate:
        capture.stopped_early = capture.target_tokens[-1]["text"] if len(target) > 1 else ""
    if attention:
        stack = lambda layers: torch.stack([layer[0] for layer in layers]).float().cpu().numpy()  # noqa: E731
        capture.activations.update({name: forward.encoder_attentions[hooks.parse(name)[0]][0].float().cpu().numpy()
                                    for name in names})
        capture.decoder_attentions = stack(forward.decoder_attentions)
        capture.cross_attentions = stack(forward.cross_attentions)
    return capture


@torch.no_grad()
def run(spec: SpecBase, loaded: LoadedModel, needs: Needs = Needs(hooks=(PATTERNS,))) -> Capture:
    """Run the model on the spec's input and record what `needs` asks for.

    Raises SpecError for model-dependent spec problems (`generator.rules`: generate on an encoder, a pair on a model
    without segments, a text over the token limit, a pair or no 'generate' on an encoder-decoder);
    `model_run.MissingHookPoint` for a hook point this model cannot give.
    """
    check_model(spec, loaded)
    torch.manual_seed(0)
    if loaded.info.encoder_decoder:
        return run_encoder_decoder(spec, loaded, needs)
    prompt_ids, token_type_ids = tokenize(spec, loaded)
    n_prompt = prompt_ids.shape[1]
    input_ids = generate(loaded, prompt_ids, spec.generate)
    segments = token_type_ids[0].tolist() if token_type_ids is not None else [0] * input_ids.shape[1]

    # attention read layer by layer (Needs.attention_layers): on a long text, when no method asks for the patterns by
    # name, the weights come from a forward of their own as each layer finishes (Capture.attention_by_layer), never
    # stacked; otherwise they are recorded here as usual
    asked = resolve(needs.hooks, loaded.info.n_layers)[0]
    recorded = any(name.endswith(".attn.hook_pattern") for name in asked)
    streamed = needs.attention_layers and not recorded and layered(loaded.info, input_ids.shape[1])
    if needs.attention_layers and not streamed:
        needs = replace(needs, hooks=tuple(dict.fromkeys(needs.hooks + (PATTERNS,))))
    names, weights = resolve(needs.hooks, loaded.info.n_layers)
    activations, scales = _forward(loaded, names, input_ids, token_type_ids) if names else ({}, {})

    ids = input_ids[0].tolist()
    capture = Capture(info=loaded.info, ids=ids, n_prompt=n_prompt,
                      tokens=display_tokens(loaded.tokenizer, ids, segments=segments,
                                            n_prompt=n_prompt if spec.generate else None,
                                            source=spec.pair if spec.pair is not None else spec.text),
                      input_ids=input_ids)
    if len(ids) - n_prompt < spec.generate:
        capture.stopped_early = capture.tokens[-1]["text"] if len(ids) > n_prompt else ""
    capture.neutral_id, capture.neutral_text = neutral_token(loaded)
    if streamed:
        capture.attention_stream = lambda reduce: each_layer(loaded, input_ids, reduce, token_type_ids)
    capture.activations.update(activations)
    capture.attention_scales = [scales[layer] for layer in sorted(scales)]
    capture.weights.update(_output_weights(loaded, weights))
    if needs.sentences:
        capture.sentences = sentences(spec, loaded)
        if names:
            for sentence in capture.sentences:
                sentence.activations, _ = _forward(loaded, names, sentence.input_ids[None], None)
    if needs.gradients:
        capture.model_run = ModelRun(loaded)
    if needs.readout:
        capture.readout = readout_of(loaded)
    if needs.vocabulary:
        capture.vocabulary = Vocabulary(loaded.tokenizer)
    return capture
