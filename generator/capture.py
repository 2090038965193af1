"""The model run: the only place that runs a model for a bake.

Tokenize (a text, a sentence pair as one sequence, and each sentence of a pair on its own where a method reads them
so), generate greedily when asked, then one eager forward pass with hooks at the named capture points the methods
need (`generator.hooks.hook_name`), and the points they ask for by name through the run handle. Methods are
functions of the returned `Capture`; those that run the model again (gradients, edits) get the run handle
`Capture.model_run` (`generator.model_run`), and never a tokenizer.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field, replace
import inspect
from typing import Any, Callable

import numpy as np
import torch

from .attention_stream import each_layer
from .hooks import hook_name, weight_name
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


@dataclass
class Sentence:
    """One sentence of a pair, tokenised on its own as a bi-encoder reads it, and run on its own when the methods
    need attention or values (then `attentions` and `activations` are those of this sentence alone)."""

    input_ids: torch.Tensor                  # int64 [n]
    tokens: list[dict[str, Any]]             # display tokens (generator.tokens)
    attentions: np.ndarray | None = None     # [L, H, n, n], Needs.attention
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # hook name -> array (Needs.values)


@dataclass
class Capture:
    """Everything the model run recorded; numpy arrays unless noted."""

    info: ModelInfo
    ids: list[int]
    n_prompt: int
    tokens: list[dict[str, Any]]
    attentions: np.ndarray | None = None                            # [L, H, N, N], rows sum to 1
    hidden_states: np.ndarray | None = None                         # [L + 1, N, d_model], as the library returns
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # hook name -> array, see Needs
    attention_scales: list[float] = field(default_factory=list)      # Needs.queries_keys: per layer, the factor on
                                                                     # q . k before mask and softmax
    sentences: list[Sentence] = field(default_factory=list)          # Needs.sentences, a pair only
    input_ids: torch.Tensor | None = None                            # int64 [1, N]
    model_run: ModelRun | None = None    # Needs.gradients: the run handle, to run again and edit runs by hook name
    stopped_early: str | None = None     # generation ended before `generate` tokens: the display text of its last token
    readout: Readout | None = None                                   # Needs.readout: final norm + unembedding
    vocabulary: Vocabulary | None = None                             # Needs.vocabulary: ids <-> display text
    weights: dict[str, np.ndarray] = field(default_factory=dict)     # weight name -> array (Needs.values: attn.W_O)
    neutral_id: int | None = None                                    # the neutral token (see neutral_token)
    neutral_text: str | None = None                                  # its display text
    # encoder-decoder models only: `ids`, `tokens`, `attentions` are the encoder's (the source text); the decoder
    # reads `target_ids` (its start token, then what it generated)
    target_ids: list[int] = field(default_factory=list)
    target_tokens: list[dict[str, Any]] = field(default_factory=list)
    decoder_attentions: np.ndarray | None = None                    # [L_dec, H_dec, T, T], causal, rows sum to 1
    cross_attentions: np.ndarray | None = None                      # [L_dec, H_dec, T, N]: decoder queries, encoder keys
    # Needs.attention_layers on a long text: runs the model again, handing each layer's weights to a reducer
    attention_stream: Callable[[Callable[[int, np.ndarray], Any]], list] | None = None

    def attention_by_layer(self, reduce: Callable[[int, np.ndarray], Any]) -> list[Any]:
        """[reduce(layer, weights float32 [H, N, N]) for every layer]: from `attentions` when the run recorded
        them, else computed layer by layer in a forward pass of its own (generator.attention_stream.each_layer),
        so that [L, H, N, N] is never held. Raises RuntimeError when the run recorded neither."""
        if self.attentions is not None:
            return [reduce(layer, np.asarray(weights, dtype=np.float32)) for layer, weights in enumerate(self.attentions)]
        if self.attention_stream is None:
            raise RuntimeError("the model run recorded no attention (Needs.attention or Needs.attention_layers)")
        return self.attention_stream(reduce)


def tokenize(spec: SpecBase, loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The spec's text (or pair, as one sequence) as input_ids [1, N] and token_type_ids [1, N] or None.

    Raises SpecError when the text gives no tokens or is longer than `max_tokens` or the model's position limit.
    """
    tokenizer = loaded.tokenizer
    if spec.pair is not None:
        encoded = tokenizer(spec.pair[0], spec.pair[1], return_tensors="pt")
    else:
        encoded = tokenizer(spec.text, return_tensors="pt")
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


def _hooks(loaded: LoadedModel, needs: Needs, captured: dict[str, torch.Tensor], stack: ExitStack,
           scales: dict[int, float]) -> None:
    """Attach recorders at the named points `needs` asks for; `stack` removes them. `scales` receives each layer's
    query . key scaling when queries and keys are recorded."""
    adapter = loaded.adapter
    if needs.mlp_post:
        for layer, block in enumerate(adapter.blocks(loaded.model)):
            name = hook_name(layer, "mlp.hook_post")
            handle = adapter.mlp_down_module(block).register_forward_pre_hook(
                lambda _module, args, name=name: captured.__setitem__(name, _rows(args[0])))
            stack.callback(handle.remove)
    if needs.values:
        kv_heads = loaded.info.n_kv_heads

        def keep_values(name: str, output: torch.Tensor) -> None:
            values = adapter.value_vectors(output[0], (loaded.info.n_heads, kv_heads)).detach()  # [N, H_kv * d]
            captured[name] = values.reshape(values.shape[0], kv_heads, -1).transpose(0, 1).clone()
        for layer, block in enumerate(adapter.blocks(loaded.model)):
            handle = adapter.values_module(block).register_forward_hook(
                lambda _module, _args, output, name=hook_name(layer, "attn.hook_v"): keep_values(name, output))
            stack.callback(handle.remove)
    if needs.queries_keys:
        def keep(layer: int, query: torch.Tensor, key: torch.Tensor, scaling: float) -> None:
            captured[hook_name(layer, "attn.hook_q")] = query.clone()
            captured[hook_name(layer, "attn.hook_k")] = key.clone()
            scales[layer] = scaling
        stack.enter_context(recording_queries_keys(loaded.model, adapter, keep))


def _output_weights(loaded: LoadedModel) -> dict[str, np.ndarray]:
    """blocks.{i}.attn.W_O as [H, d_head, d_model] for every layer (TransformerLens' layout)."""
    heads = loaded.info.n_heads
    weights = {}
    for layer, block in enumerate(loaded.adapter.blocks(loaded.model)):
        weight = loaded.adapter.output_weight(block).detach().float()           # [d_model, H * d_head]
        weights[weight_name(layer, "attn.W_O")] = weight.T.reshape(heads, -1, weight.shape[0]).cpu().numpy().copy()
    return weights


def _forward(loaded: LoadedModel, needs: Needs, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None
             ) -> tuple[Any, dict[str, np.ndarray], dict[int, float]]:
    """One eager forward of input_ids [1, N] with the hooks `needs` asks for: (model output, hook name -> array,
    layer -> query . key scaling when queries and keys were recorded)."""
    captured: dict[str, torch.Tensor] = {}
    scales: dict[int, float] = {}
    with ExitStack() as stack:
        _hooks(loaded, needs, captured, stack, scales)
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(input_ids), "output_attentions": needs.attention,
                                  "output_hidden_states": needs.hidden_states}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if "logits_to_keep" in inspect.signature(loaded.model.forward).parameters:
            kwargs["logits_to_keep"] = 1   # the capture never reads the output logits: skip the LM head's N x V
        output = loaded.model(input_ids, **kwargs)
    if needs.queries_keys and sorted(scales) != list(range(loaded.info.n_layers)):
        raise RuntimeError(f"queries and keys were recorded for layers {sorted(scales)} of {loaded.info.n_layers}: "
                           f"{loaded.info.architecture} did not call its eager attention function in every block")
    return output, {name: tensor.float().cpu().numpy() for name, tensor in captured.items()}, scales


def _attentions(output: Any) -> np.ndarray:
    return torch.stack([layer[0] for layer in output.attentions]).float().cpu().numpy()


@torch.no_grad()
def run_encoder_decoder(spec: SpecBase, loaded: LoadedModel, needs: Needs) -> Capture:
    """Encoder-decoder models: the text is the source; the decoder starts from its start token and generates
    `spec.generate` tokens greedily (fewer if it ends the text); one forward pass on source and target records the
    encoder's self-attention, the decoder's (causal) self-attention and its cross-attention to the source."""
    source_ids, _ = tokenize(spec, loaded)
    tokenizer = loaded.tokenizer
    output = loaded.model.generate(source_ids, attention_mask=torch.ones_like(source_ids),
                                   max_new_tokens=spec.generate, do_sample=False, num_beams=1,
                                   temperature=None, top_p=None, top_k=None)
    target_ids = output[:, : 1 + spec.generate]
    forward = loaded.model(source_ids, attention_mask=torch.ones_like(source_ids), decoder_input_ids=target_ids,
                           output_attentions=needs.attention)
    ids, target = source_ids[0].tolist(), target_ids[0].tolist()
    capture = Capture(info=loaded.info, ids=ids, n_prompt=len(ids),
                      tokens=display_tokens(tokenizer, ids, source=spec.text), input_ids=source_ids,
                      target_ids=target, target_tokens=display_tokens(tokenizer, target, n_prompt=1))
    if len(target) - 1 < spec.generate:
        capture.stopped_early = capture.target_tokens[-1]["text"] if len(target) > 1 else ""
    if needs.attention or needs.attention_layers:
        stack = lambda layers: torch.stack([layer[0] for layer in layers]).float().cpu().numpy()  # noqa: E731
        capture.attentions = stack(forward.encoder_attentions)
        capture.decoder_attentions = stack(forward.decoder_attentions)
        capture.cross_attentions = stack(forward.cross_attentions)
    return capture


@torch.no_grad()
def run(spec: SpecBase, loaded: LoadedModel, needs: Needs = Needs(attention=True)) -> Capture:
    """Run the model on the spec's input and record what `needs` asks for.

    Raises SpecError for model-dependent spec problems (`generator.rules`: generate on an encoder, a pair on a model
    without segments, a text over the token limit, a pair or no 'generate' on an encoder-decoder).
    """
    check_model(spec, loaded)
    torch.manual_seed(0)
    if loaded.info.encoder_decoder:
        return run_encoder_decoder(spec, loaded, needs)
    prompt_ids, token_type_ids = tokenize(spec, loaded)
    n_prompt = prompt_ids.shape[1]
    input_ids = generate(loaded, prompt_ids, spec.generate)
    segments = token_type_ids[0].tolist() if token_type_ids is not None else [0] * input_ids.shape[1]

    # attention read layer by layer: on a long text the weights come from a forward of their own, as each layer
    # finishes (Capture.attention_by_layer), never stacked; on a short one they are recorded here as usual
    streamed = needs.attention_layers and not needs.attention and layered(loaded.info, input_ids.shape[1])
    if needs.attention_layers and not streamed:
        needs = replace(needs, attention=True)
    if streamed and not (needs.hidden_states or needs.mlp_post or needs.values or needs.queries_keys):
        output, activations, scales = None, {}, {}           # nothing else is read from the model's forward
    else:
        output, activations, scales = _forward(loaded, needs, input_ids, token_type_ids)

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
    if needs.attention:
        capture.attentions = _attentions(output)
    if needs.hidden_states:
        capture.hidden_states = torch.stack([hidden[0] for hidden in output.hidden_states]).float().cpu().numpy()
    capture.activations.update(activations)
    if needs.hooks:                     # points asked for by name, through the run handle
        _, cache = ModelRun(loaded).run_with_cache(input_ids, names_filter=list(needs.hooks),
                                                   token_type_ids=token_type_ids)
        capture.activations.update({name: tensor[0].float().cpu().numpy() for name, tensor in cache.items()})
    capture.attention_scales = [scales[layer] for layer in sorted(scales)]
    if needs.values:
        capture.weights.update(_output_weights(loaded))
    if needs.sentences:
        capture.sentences = sentences(spec, loaded)
        if needs.attention or needs.values:
            sentence_needs = Needs(attention=needs.attention, values=needs.values)
            for sentence in capture.sentences:
                output, sentence.activations, _ = _forward(loaded, sentence_needs, sentence.input_ids[None],
                                                           None)
                if needs.attention:
                    sentence.attentions = _attentions(output)
    if needs.gradients:
        capture.model_run = ModelRun(loaded)
    if needs.readout:
        capture.readout = readout_of(loaded)
    if needs.vocabulary:
        capture.vocabulary = Vocabulary(loaded.tokenizer)
    return capture
