"""A handle on a loaded model that reads and edits a run by hook name (TransformerLens' `run_with_cache` and
`run_with_hooks`, over Hugging Face modules instead of a re-implemented model).

Every re-run of a model (gradients, deletion curves, interventions, counterfactuals) goes through `ModelRun`; the
methods never reach into a model. Names come from `generator.hooks`; where each point sits in a model comes from
its architecture adapter (`generator.models.adapters`), so nothing here knows a model family:

- `hook_embed`: a forward hook on the input embedding table (not called when the run is given `inputs_embeds`);
- `ln_final.hook_normalized`: a forward hook on the final norm (`Adapter.final_norm`), or on the last block where
  the model has none;
- `blocks.{l}.hook_resid_pre` / `hook_resid_post`: forward pre-hook / forward hook on block l (`Adapter.layers`);
- `blocks.{l}.attn.hook_q`, `hook_k`, `hook_v`, `hook_pattern`: the block's call of its modeling module's eager
  attention function (`Adapter.attention`, `adapters.intercepting_attention`). An edit of q, k or v changes what the
  function receives; an edit of the pattern replaces the weights that multiply the values: the output is then
  pattern' @ v for the edited pattern' (heads sharing a key/value head read the same values), exactly what the
  function computes from its own weights, so an edit that returns the pattern unchanged changes nothing. A pattern
  that is only read (cached, no edit) on a family whose adapter names no attention module (Gemma 2) comes from the
  model's own `output_attentions`: the same weights, in the autograd graph when the run keeps gradients;
- `blocks.{l}.attn.hook_z`: a forward pre-hook on the attention output projection (`Adapter.attn_out`), its input
  [B, N, H * d_head] seen as [B, N, H, d_head]; `blocks.{l}.hook_attn_out`: that projection's output;
- `blocks.{l}.mlp.hook_post` / `hook_mlp_out`: input / output of the MLP down-projection (`Adapter.mlp_down`).

A hook function is `fn(activation, hook)`, `hook` a `HookPoint` (its `name` and `layer`); it returns a tensor of the
same shape to replace the activation, or None to leave it. Hook names in `fwd_hooks` and `names_filter` may be
patterns (`blocks.*.attn.hook_pattern`, `generator.hooks.matching`).
"""

from __future__ import annotations

import copy
import inspect
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch

from . import hooks
from .models.adapters import Adapter, attention_window, intercepting_attention

if TYPE_CHECKING:
    from .models.loading import LoadedModel

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]

# points -> what the adapter must name for them (field, words for an error)
_ATTENTION_CALL = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern")
_OUTPUT_PROJECTION = ("attn.hook_z", "hook_attn_out")
_MLP_DOWN = ("mlp.hook_post", "hook_mlp_out")
# the position axis of each point (suffix runs show the edits full-length activations along it); keys and values
# reach the edits whole already (the cached prefix is joined to them before the hooks run)
_POSITION_AXIS = {"attn.hook_q": 2, "attn.hook_pattern": 2}
_WHOLE = ("attn.hook_k", "attn.hook_v")


# Edited runs in two threads at once (`ModelRun._batches`): a copy of each model for the second thread, made once
# and kept while the model lives; only for models up to this size (SmolLM2-135M in float32 is 0.54 GB): larger
# models are baked on GPUs, or a second copy costs more memory than the time it gains
_TWINS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_TWINS_LOCK = threading.Lock()
_TWIN_BYTES = 2 << 30


class MissingHookPoint(LookupError):
    """A hook point this model cannot give: the message names the point, the model type and what its adapter
    lacks."""


@dataclass(frozen=True)
class HookPoint:
    """What a hook function is told about where it runs."""

    name: str
    layer: int | None


class ActivationCache(Mapping[str, torch.Tensor]):
    """Activations of one run by hook name, batch axis kept ([B, ...]); detached unless the run kept gradients."""

    def __init__(self, values: dict[str, torch.Tensor]):
        self._values = values

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def stack(self, pattern: str) -> torch.Tensor:
        """The activations whose names match `pattern`, stacked in layer order along a new first axis."""
        names = hooks.matching(pattern, list(self._values))
        if not names:
            raise KeyError(f"no cached activation matches '{pattern}'")
        return torch.stack([self._values[name] for name in names])


class ModelRun:
    """Reads and edits runs of one loaded model by hook name.

    `loaded`: a `generator.models.loading.LoadedModel` (eager attention, eval mode). Raises MissingHookPoint when
    the model has no architecture adapter and a block hook point is asked for.
    """

    def __init__(self, loaded: "LoadedModel"):
        self.model = loaded.model
        self.adapter: Adapter | None = loaded.adapter
        self.info = loaded.info
        parameters = inspect.signature(self.model.forward).parameters
        self._takes_logits_to_keep = "logits_to_keep" in parameters
        # a run never reads a key/value cache, and building one changes GPT-2's numbers in the last bits (keys and
        # values copied into the cache are multiplied in another memory layout): never build one
        self._takes_use_cache = "use_cache" in parameters
        self._takes_position_ids = "position_ids" in parameters
        # batches of edited runs in up to this many threads at once (`_batches`); 1: one after the other
        self.streams = 2

    # -- which points exist -------------------------------------------------------------------------------------

    def missing(self, point: str, reading: bool = False) -> str | None:
        """Why this model cannot give hook point `point` (a point name, `generator.hooks.POINTS`, `hooks.EMBED` or
        `hooks.FINAL`), or None. `reading`: the point is only read, never edited (an attention pattern can then
        come from the model's own `output_attentions`)."""
        model_type = self.info.architecture
        if point == hooks.EMBED or (reading and point == "attn.hook_pattern"):
            return None
        adapter = self.adapter
        if adapter is None:
            return f"{model_type} has no architecture adapter (generator/models/adapters.py)"
        if point in _ATTENTION_CALL and adapter.attention is None:
            return (f"the {model_type} adapter names no attention module whose eager attention function gives q, k, "
                    f"v and the pattern (its scores carry a position bias or a soft-cap, or nobody checked it)")
        if point in _OUTPUT_PROJECTION and not adapter.attn_out:
            return f"the {model_type} adapter does not say where the attention output projection is"
        return None

    def hook_names(self) -> list[str]:
        """Every hook name this model offers, in forward order."""
        points = tuple(point for point in hooks.POINTS if self.missing(point) is None)
        return hooks.all_names(self.info.n_layers, points, final=self.missing(hooks.FINAL) is None)

    def _resolve(self, pattern: str, reading: bool = False) -> list[str]:
        # memoised: edit sets name the same points thousands of times (patching: 4,320 sets)
        key = (pattern, reading, self.adapter, self.info.architecture, self.info.n_layers)
        memo = self.__dict__.setdefault("_resolved", {})
        if key not in memo:
            memo[key] = self._resolve_now(pattern, reading)
        return list(memo[key])

    def _resolve_now(self, pattern: str, reading: bool) -> list[str]:
        names = hooks.matching(pattern, hooks.all_names(self.info.n_layers))
        if not names:
            hooks.parse(pattern)   # raises ValueError naming the known points
            raise MissingHookPoint(f"'{pattern}': this model has {self.info.n_layers} blocks")
        for name in names:
            reason = self.missing(hooks.parse(name)[1], reading)
            if reason is not None:
                raise MissingHookPoint(f"hook point '{name}' is not available: {reason}")
        return names

    # -- runs ---------------------------------------------------------------------------------------------------

    def run_with_hooks(self, input_ids: torch.Tensor | None = None, fwd_hooks: Iterable[tuple[str, HookFn]] = (),
                       *, inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                       attention_mask: torch.Tensor | None = None, grad: bool = False,
                       logits_to_keep: int | None = None,
                       start: tuple[int, torch.Tensor] | None = None) -> torch.Tensor:
        """One forward with `fwd_hooks` attached; returns the model's main output: logits [B, N, V] (or the last
        `logits_to_keep` positions' where the model can skip the rest) for a model with an LM head, else the last
        hidden state [B, N, d_model].

        input_ids: int64 [B, N] (or `inputs_embeds` float [B, N, d_model]); attention_mask defaults to all ones
        (unpadded sequences). grad=False runs under torch.no_grad(). Raises MissingHookPoint / ValueError for a
        hook name this model cannot give.

        start: (layer l, resid [1 or B, N, d_model]) runs blocks l, l + 1, ... only, block l reading `resid` (the
        residual stream entering it, `blocks.{l}.hook_resid_pre` of a cached run of the same input) instead of
        what the blocks below would compute: the same output as a full run whenever no hook below l changes
        anything, at (L - l) / L of the blocks' cost (`_skipping`).
        """
        return self._run(input_ids, list(fwd_hooks), None, inputs_embeds, token_type_ids, attention_mask, grad,
                         logits_to_keep, start)[0]

    def run_with_cache(self, input_ids: torch.Tensor | None = None,
                       names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
                       fwd_hooks: Iterable[tuple[str, HookFn]] = (), *, inputs_embeds: torch.Tensor | None = None,
                       token_type_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                       grad: bool = False, logits_to_keep: int | None = None
                       ) -> tuple[torch.Tensor, ActivationCache]:
        """`run_with_hooks` that also records the activations named by `names_filter` (a name or pattern, a list of
        them, a predicate on names, or None for every point this model has), after any edits at the same point.
        With grad=True the cached tensors stay in the autograd graph (take gradients with respect to them)."""
        available = self.hook_names()
        if names_filter is None:
            cached = available
        elif callable(names_filter):
            cached = [name for name in available if names_filter(name)]
        else:
            patterns = [names_filter] if isinstance(names_filter, str) else list(names_filter)
            cached = [name for pattern in patterns for name in self._resolve(pattern, reading=True)]
        return self._run(input_ids, list(fwd_hooks), cached, inputs_embeds, token_type_ids, attention_mask, grad,
                         logits_to_keep, None)

    def run_edit_sets(self, input_ids: torch.Tensor, edit_sets: Sequence[Sequence[tuple[str, HookFn]]], *,
                      batch_size: int = 16, token_type_ids: torch.Tensor | None = None,
                      reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      logits_to_keep: int | None = None,
                      start: tuple[int, torch.Tensor] | None = None,
                      starts: tuple[Sequence[int], Mapping[int, torch.Tensor]] | None = None,
                      from_positions: Sequence[int] | None = None, last_query: bool = False) -> torch.Tensor:
        """Many edited runs of one input, batched: `input_ids` [1, N] is repeated, and edit set s (a list of
        (hook name, fn) pairs, maybe empty) applies to its own batch row only (each fn sees that row, [1, ...]).

        Returns reduce(main output of a batch) concatenated over the batches, in edit-set order ([S, ...]); the
        default reduce keeps the outputs whole ([S, N, V]). Where a bake may use 2 threads (`generator.bake.streams`)
        the batches run in two threads at once, at one torch thread each (`_batches`): edit functions and `reduce`
        must not share state between rows of different batches. Every row is computed as in a run of its own (the
        model's rows are independent: no padding, the same mask). `start` as in `run_with_hooks` (resid [1, N, D],
        shared by every row): for edit sets that all act at block `start[0]` or above.

        starts: (layer of each set, {layer: resid [1, N, D] entering that block in the unedited run}): each set's
        row starts at its own block (staggered starts). The sets are sorted by start and batched; in a batch, block
        l computes only the rows that have started (start <= l), and the rows starting at l join there with the
        given residual stream (`_staggered`). So a batch of edits at many layers costs what separate runs each
        started at its own layer cost, in one forward instead of one per layer. Raises ValueError for an edit
        below its set's start. Not with `start`.

        from_positions: the first position each set's edits change (p_s, 0 <= p_s < N), for a causal model only.
        On a causal model positions before p attend only to positions before p, so an edit that leaves every
        position < p of every activation as the unedited run has it leaves them so in every later block too: the
        set's row then computes positions p..N-1 only ([rows, N - p, ...] in every block), each attending to the
        unedited run's keys and values of positions < p (as the model's own key/value cache does when it
        generates), with the position ids p..N-1 (rotary tables, GPT-2's and OPT's learned positions). The handle
        takes those keys and values, and the unedited activations the edits read, from one extra run of the input
        (`blocks.{l}.attn.hook_k` / `hook_v`, after the rotary embedding). Exact in exact arithmetic; in floats the
        products are summed over shorter matrices, so the logits differ from a full edited run's in the last bits
        (tests/test_model_run_prefix.py: 1e-5 on GPT-2, Llama, GPT-NeoX and OPT).

        Edits still see full-length activations ([1, N, ...], positions before p holding the unedited run's
        values, attention patterns [1, H, N, N] with the unedited rows before p), so an edit function is the same
        with or without the shortcut; an edit that changes a value before p raises ValueError (the shortcut would be
        wrong for it). Sets are sorted by p, then start; a batch computes from the p of its first set, and later sets
        join it while their own suffix is at least 3/4 as long (they recompute a few unchanged positions), up to
        batch_size * N // (N - p) rows (the same number of positions as batch_size full rows). With
        `start`/`starts` as above (residual streams [1, N, D] of the unedited run; only their positions >= p are
        read); without either, every row starts at block 0.

        Raises ValueError where the shortcut does not hold: an encoder (every position attends to every other: use
        the full runs), a family whose adapter names no attention path (Gemma 2: the scores are soft-capped inside
        the model, so joined keys cannot be given), a model without `position_ids`, an input longer than a sliding
        attention window (Mistral, Gemma 2/3: `adapters.attention_window`), a position out of range, or
        logits_to_keep missing or longer than a suffix (the outputs must have one shape). `suffix_refusal` says the
        first four without running anything.

        last_query (with from_positions and logits_to_keep=1): the last block computes the last position only. Only
        that position's output is read, and in the last block the other positions serve only as keys and values of
        its attention: their q, k, v projections still run (all n positions go through the attention module's
        projections), but the attention weights, the output projection and the MLP run for the last query alone
        (`_attention_hooks`, and forward pre-hooks on the output projection and the MLP that keep the last
        position; the block's residual additions broadcast it, so the block's other output positions are not the
        model's and nothing may read them). About 0.85 of the last block's cost at the other positions on SmolLM2.
        Raises ValueError where it does not hold: see `last_query_refusal`, or an edit of the last block other than
        of its input (`hook_resid_pre`).
        """
        if input_ids.shape[0] != 1:
            raise ValueError(f"run_edit_sets takes one input [1, N], got a batch of {input_ids.shape[0]}")
        if from_positions is not None:
            if start is not None and starts is not None:
                raise ValueError("give run_edit_sets either start or starts, not both")
            if starts is None:
                layer = start[0] if start is not None else 0
                starts = ([layer] * len(edit_sets), {layer: start[1]} if start is not None else {})
            return self._suffix_sets(input_ids, edit_sets, starts, list(from_positions), batch_size, reduce,
                                     logits_to_keep, last_query)
        if last_query:
            raise ValueError("last_query needs from_positions (runs of a causal model from their first edit)")
        if starts is not None:
            if start is not None:
                raise ValueError("give run_edit_sets either start or starts, not both")
            return self._staggered_sets(input_ids, edit_sets, starts, batch_size, token_type_ids, reduce,
                                        logits_to_keep)
        def job(chunk):
            def run(on: "ModelRun") -> torch.Tensor:
                batch = input_ids.expand(len(chunk), -1)
                types = token_type_ids.expand(len(chunk), -1) if token_type_ids is not None else None
                out = on.run_with_hooks(batch, on._row_hooks(chunk), token_type_ids=types,
                                        logits_to_keep=logits_to_keep, start=start)
                return reduce(out) if reduce is not None else out
            return run
        return torch.cat(self._batches([job(edit_sets[first:first + batch_size])
                                        for first in range(0, len(edit_sets), batch_size)]))

    @contextmanager
    def recording(self, names: Iterable[str], batch_positions: tuple[int, int]) -> Iterator[dict[str, torch.Tensor]]:
        """Read-only hooks at `names` (names or patterns) for a forward the caller runs itself on a batch of shape
        `batch_positions` (B, N): yields the dict hook name -> activation (detached, batch kept) that the forward
        fills. The capture's one forward records the points it has no faster route for this way
        (`generator.capture`). Raises MissingHookPoint / ValueError as `run_with_cache`."""
        resolved = {name for pattern in names for name in self._resolve(pattern)}
        store: dict[str, torch.Tensor] = {}

        def keep(name: str, _layer: int | None, value: torch.Tensor) -> torch.Tensor:
            store[name] = value.detach()
            return value
        with ExitStack() as stack:
            self._attach(resolved, keep, stack, batch_positions)
            yield store

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int, stop_ids: Iterable[int] = ()) -> list[int]:
        """Greedy continuation of `input_ids` [1, n], no hooks: the model's own `generate` (its key/value cache,
        do_sample=False, num_beams=1, so deterministic). Returns the new ids, at most `max_new_tokens`, ending with
        the first id of `stop_ids` when one is generated (it is kept)."""
        stops = sorted({int(i) for i in stop_ids})
        with torch.no_grad():
            out = self.model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                      max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
                                      eos_token_id=stops or None, pad_token_id=stops[0] if stops else None,
                                      temperature=None, top_p=None, top_k=None)
        return [int(i) for i in out[0, input_ids.shape[1]:]]

    def suffix_refusal(self, positions: int) -> str | None:
        """Why edited runs of an input of `positions` tokens cannot compute only the positions from the first edited
        one (`run_edit_sets(from_positions=...)`), in words; None when they can."""
        adapter, model_type = self.adapter, self.info.architecture
        if adapter is None:
            return f"{model_type} has no architecture adapter"
        if not adapter.causal:
            return (f"{model_type} is an encoder: every position attends to every other, so an edit at one "
                    f"position changes all of them")
        if adapter.attention is None:
            return f"the {model_type} adapter names no attention path, so cached keys and values cannot be joined"
        if not self._takes_position_ids:
            return f"{model_type}'s forward takes no position_ids"
        window = attention_window(getattr(self.model, "config", None))
        if window is not None and positions > window:
            return (f"{model_type} attends within a sliding window of {window} positions, shorter than the input "
                    f"({positions})")
        return None

    def mlp_branch(self, layer: int, mid: torch.Tensor) -> torch.Tensor | None:
        """Block `layer`'s output for residual-stream values `mid` [..., d_model] taken after its attention branch
        (resid_pre + attn_out): mid + mlp(norm(mid)), as the block adds them (`Adapter.sequential_residual`, the
        adapter's `mlp_norm` and `mlp`), no grad. Every position on its own (the MLP and the norm are per
        position), so any positions may be passed. None where the adapter does not say this is the block."""
        adapter = self.adapter
        if adapter is None or not (adapter.sequential_residual and adapter.mlp and adapter.mlp_norm):
            return None
        block = adapter.blocks(self.model)[layer]
        with torch.no_grad():
            return mid + adapter.mlp_module(block)(adapter.mlp_norm_module(block)(mid))

    def twin(self) -> "ModelRun":
        """A handle on a copy of this run's model (`copy.deepcopy`: the same weights, its own modules, so its hooks
        and attention handlers are its own), for edited runs in another thread at the same time as this handle's
        (`_batches`). One copy per model, kept while the model lives; it costs the model's memory again."""
        with _TWINS_LOCK:
            model = _TWINS.get(self.model)
            if model is None:
                model = _TWINS[self.model] = copy.deepcopy(self.model)
        other = copy.copy(self)
        other.model = model
        return other

    def _batches(self, jobs: Sequence[Callable[["ModelRun"], torch.Tensor]]) -> list[torch.Tensor]:
        """The outputs of `jobs` (each one batch of edited runs: a function of the handle it runs on), in order.

        Two or more jobs, where a bake may use 2 threads (`generator.bake.streams()`: 2 cores or more, no other bake
        beside it) and a model of up to 2 GiB of parameters: two threads take the jobs in turn, each at one torch
        thread, the second on `twin()`. One stream of products split over 2 threads waits at the end of every
        operation for the slower thread, and far longer when another process holds a core; two streams do not
        (benchmarks/RESULTS.md, session 7). Every job's numbers are those of one-thread products, whichever thread
        ran it: the outputs equal those of the jobs run one after the other at one thread, bit for bit. Else (or
        with `streams` 1) the jobs run one after the other at the caller's thread count. An exception in a job is
        raised here after both threads stop."""
        from .bake import fixed_threads, streams

        if len(jobs) < 2 or min(self.streams, streams()) < 2 or not self._twinnable():
            return [job(self) for job in jobs]

        outputs: list[torch.Tensor | None] = [None] * len(jobs)
        order, lock, failed = iter(range(len(jobs))), threading.Lock(), threading.Event()

        def stream(on: "ModelRun") -> None:
            while not failed.is_set():
                with lock:
                    index = next(order, None)
                if index is None:
                    return
                try:
                    outputs[index] = jobs[index](on)
                except BaseException:
                    failed.set()
                    raise
        handles = (self, self.twin())
        with fixed_threads(1), ThreadPoolExecutor(len(handles)) as pool:
            for future in [pool.submit(stream, on) for on in handles]:
                future.result()
        return outputs

    def _twinnable(self) -> bool:
        """Whether `_batches` may copy this model: its parameters on the CPU, 2 GiB at most."""
        parameters = list(self.model.parameters())
        return (all(parameter.device.type == "cpu" for parameter in parameters)
                and sum(parameter.numel() * parameter.element_size() for parameter in parameters) <= _TWIN_BYTES)

    def last_query_refusal(self) -> str | None:
        """Why this model's last block cannot be run for the last query alone (`run_edit_sets(last_query=True)`), in
        words; None when it can. Beyond the suffix runs' conditions (`suffix_refusal`)."""
        adapter, model_type = self.adapter, self.info.architecture
        if adapter is None:
            return f"{model_type} has no architecture adapter"
        if not (adapter.sequential_residual and adapter.mlp and adapter.attn_out):
            return (f"the {model_type} adapter does not say that a block adds its attention and MLP outputs to the "
                    f"residual stream in turn, or where the MLP and the output projection are")
        return None

    def _suffix_sets(self, input_ids, edit_sets, starts, positions, batch_size, reduce, logits_to_keep,
                     last_query=False):
        length = int(input_ids.shape[1])
        reason = self.suffix_refusal(length)
        if reason is not None:
            raise ValueError(f"edited runs cannot start at a position here: {reason}")
        if last_query:
            reason = self.last_query_refusal()
            if reason is not None:
                raise ValueError(f"the last block cannot run for the last query alone: {reason}")
            if logits_to_keep != 1:
                raise ValueError(f"last_query reads the last position only: logits_to_keep must be 1, not "
                                 f"{logits_to_keep}")
        layers, resids = starts
        if len(positions) != len(edit_sets) or len(layers) != len(edit_sets):
            raise ValueError(f"from_positions gives {len(positions)} positions and starts {len(layers)} layers for "
                             f"{len(edit_sets)} edit sets")
        for position in positions:
            if not 0 <= position < length:
                raise ValueError(f"from_positions: an input of {length} positions has positions 0-{length - 1}, "
                                 f"not {position}")
            if logits_to_keep is None or not 1 <= logits_to_keep <= length - position:
                raise ValueError(f"from_positions needs logits_to_keep between 1 and the shortest suffix "
                                 f"({length - max(positions)} positions), got {logits_to_keep}")
        n_layers = self.info.n_layers
        for index, (layer, edits) in enumerate(zip(layers, edit_sets)):
            if not 0 <= layer < n_layers:
                raise ValueError(f"a run can start at blocks 0-{n_layers - 1}, not {layer}")
            for pattern, _fn in edits:
                for name in self._resolve(pattern):
                    if layer > 0 and (name == hooks.EMBED or hooks.parse(name)[0] < layer):
                        raise ValueError(f"edit set {index} starts at block {layer} and cannot hook {name}, below it")
                    if (last_query and hooks.parse(name)[0] == n_layers - 1
                            and hooks.parse(name)[1] != "hook_resid_pre"):
                        raise ValueError(f"edit set {index} hooks {name}: with last_query the last block computes "
                                         f"the last position only, so only its input (hook_resid_pre) may be edited")
        edited = {name for edits in edit_sets for pattern, _fn in edits for name in self._resolve(pattern)}
        whole = [hooks.hook_name(layer, point) for layer in range(n_layers) for point in _WHOLE]
        _, cache = self.run_with_cache(input_ids, sorted(edited | set(whole)), logits_to_keep=1)
        clean = dict(cache)
        keys_values = {layer: (clean[hooks.hook_name(layer, "attn.hook_k")],
                               clean[hooks.hook_name(layer, "attn.hook_v")]) for layer in range(n_layers)}
        order = sorted(range(len(edit_sets)), key=lambda index: (positions[index], layers[index]))

        def job(chunk, chunk_starts, position):
            def run(on: "ModelRun") -> torch.Tensor:
                suffix_resids = {layer: resid[:, position:] for layer, resid in resids.items()}
                batch = input_ids[:, position:].expand(len(chunk), -1)
                out = on._run(batch, on._row_hooks(chunk, (position, clean)), None, None, None, None, False,
                              logits_to_keep, staggered=(chunk_starts, suffix_resids),
                              suffix=(position, clean, keys_values, length), last_query=last_query)[0]
                return reduce(out) if reduce is not None else out
            return run
        jobs, done = [], []
        first = 0
        while first < len(order):
            position = positions[order[first]]
            rows_max = max(1, batch_size * length // (length - position))
            rows = [order[first]]
            # later sets (larger p) join while their own suffix is at least 3/4 of the batch's: they compute a few
            # unchanged positions again (exact: their edits change nothing before their p), in fewer, larger batches
            while (first + len(rows) < len(order) and len(rows) < rows_max
                   and 4 * (length - positions[order[first + len(rows)]]) >= 3 * (length - position)):
                rows.append(order[first + len(rows)])
            first += len(rows)
            rows.sort(key=lambda index: layers[index])          # staggered starts need the rows by start
            done.extend(rows)
            chunk = [edit_sets[index] for index in rows]
            chunk_starts = [layers[index] for index in rows]
            for index in rows:
                if layers[index] > 0 and layers[index] not in resids:
                    raise ValueError(f"no residual stream given for block {layers[index]}")
            jobs.append(job(chunk, chunk_starts, position))
        merged = torch.cat(self._batches(jobs))
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(done, dtype=torch.long)] = torch.arange(len(done))
        return merged[back]

    def _staggered_sets(self, input_ids, edit_sets, starts, batch_size, token_type_ids, reduce, logits_to_keep):
        layers, resids = starts
        if len(layers) != len(edit_sets):
            raise ValueError(f"starts gives {len(layers)} layers for {len(edit_sets)} edit sets")
        n_layers = self.info.n_layers
        for index, (layer, edits) in enumerate(zip(layers, edit_sets)):
            if not 0 <= layer < n_layers:
                raise ValueError(f"a run can start at blocks 0-{n_layers - 1}, not {layer}")
            if layer > 0 and layer not in resids:
                raise ValueError(f"no residual stream given for block {layer}")
            for pattern, _fn in edits:
                for name in self._resolve(pattern):
                    below = name == hooks.EMBED or hooks.parse(name)[0] < layer
                    if below and layer > 0:
                        raise ValueError(f"edit set {index} starts at block {layer} and cannot hook {name}, below it")
        order = sorted(range(len(edit_sets)), key=lambda index: layers[index])     # stable: ties keep their order
        def job(rows):
            def run(on: "ModelRun") -> torch.Tensor:
                chunk = [edit_sets[index] for index in rows]
                batch = input_ids.expand(len(chunk), -1)
                types = token_type_ids.expand(len(chunk), -1) if token_type_ids is not None else None
                out = on._run(batch, on._row_hooks(chunk), None, None, types, None, False, logits_to_keep,
                              staggered=([layers[index] for index in rows], resids))[0]
                return reduce(out) if reduce is not None else out
            return run
        merged = torch.cat(self._batches([job(order[first:first + batch_size])
                                          for first in range(0, len(order), batch_size)]))
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return merged[back]

    # -- machinery ----------------------------------------------------------------------------------------------

    def _row_hooks(self, chunk: list[list[tuple[str, HookFn]]],
                   whole: tuple[int, Mapping[str, torch.Tensor]] | None = None) -> list[tuple[str, HookFn]]:
        """The edit sets of one batch as forward hooks: edit set i applied to batch row i only. whole: (p, unedited
        activations by name) for a run of positions p.. only: each function sees its row full-length
        (`_on_whole`), only the rows it edits widened."""
        per_name: dict[str, list[tuple[int, HookFn]]] = {}
        for row, edits in enumerate(chunk):
            for pattern, fn in edits:
                for name in self._resolve(pattern):
                    if whole is not None:
                        fn = _widened(fn, name, whole[0], whole[1][name])
                    per_name.setdefault(name, []).append((row, fn))
        return [(name, _rowwise(entries)) for name, entries in per_name.items()]

    def _run(self, input_ids, fwd_hooks, cached, inputs_embeds, token_type_ids, attention_mask, grad,
             logits_to_keep, start=None, staggered=None, suffix=None, last_query=False
             ) -> tuple[torch.Tensor, ActivationCache]:
        """One forward. suffix: (p, unedited activations by name [1, N, ...], {layer: (keys, values) [1, H_kv, N,
        d_head]}, N) for a run of positions p..N-1 only (`input_ids` [B, N - p]; `run_edit_sets(from_positions)`).
        last_query: the last block for the last position only (`run_edit_sets(last_query=True)`, checked there)."""
        edits: dict[str, list[HookFn]] = {}
        for pattern, fn in fwd_hooks:
            for name in self._resolve(pattern):
                edits.setdefault(name, []).append(fn)
        store: dict[str, torch.Tensor] = {}
        keep = set(cached or ())
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None:
            raise ValueError("a run needs input_ids or inputs_embeds")
        kwargs: dict[str, Any] = {"attention_mask": attention_mask if attention_mask is not None
                                  else torch.ones(reference.shape[:2], dtype=torch.long)}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if logits_to_keep is not None and self._takes_logits_to_keep:
            kwargs["logits_to_keep"] = logits_to_keep
        if self._takes_use_cache:
            kwargs["use_cache"] = False
        if input_ids is not None:
            kwargs["input_ids"] = input_ids
        else:
            kwargs["inputs_embeds"] = inputs_embeds
        prefix = None
        if suffix is not None:
            position, clean, keys_values, length = suffix
            kwargs["position_ids"] = torch.arange(position, length)[None]
            prefix = (position, {layer: (k[:, :, :position], v[:, :, :position])
                                 for layer, (k, v) in keys_values.items()})

        def apply(name: str, layer: int | None, value: torch.Tensor) -> torch.Tensor:
            point = HookPoint(name, layer)
            for fn in edits.get(name, ()):
                replaced = fn(value, point)
                if replaced is not None:
                    if replaced.shape != value.shape:
                        raise ValueError(f"a hook at {name} returned shape {tuple(replaced.shape)} for an "
                                         f"activation of shape {tuple(value.shape)}")
                    value = replaced
            if name in keep:
                store[name] = value if grad else value.detach()
            return value

        wanted = set(edits) | keep
        # patterns only read, on a family without an attention path: the model's own attention weights
        own = sorted((name for name in keep - set(edits) if name.endswith(".attn.hook_pattern")
                      and self.missing("attn.hook_pattern") is not None), key=lambda name: hooks.parse(name)[0])
        if own:
            kwargs["output_attentions"] = True
            wanted -= set(own)
        with ExitStack() as stack:
            stack.enter_context(torch.enable_grad() if grad else torch.no_grad())
            if staggered is not None:          # before _attach: its pre-hooks are prepended, so they run first
                stack.enter_context(self._staggered(*staggered))
            self._attach(wanted, apply, stack, tuple(reference.shape[:2]), prefix, last_query)
            if start is not None:
                stack.enter_context(self._skipping(start, reference.shape[0], wanted))
            output = self.model(**kwargs)
        for name in own:
            weights = output.attentions[hooks.parse(name)[0]]
            store[name] = weights if grad else weights.detach()
        main = getattr(output, "logits", None)
        if main is None:
            main = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        if logits_to_keep is not None and not self._takes_logits_to_keep:
            main = main[:, -logits_to_keep:]
        return main, ActivationCache({name: store[name] for name in (cached or ()) if name in store})

    @contextmanager
    def _skipping(self, start: tuple[int, torch.Tensor], batch: int, wanted: set[str]) -> Iterator[None]:
        """Blocks below `start[0]` return `start[1]` (expanded to the batch) instead of computing: each block's
        forward is replaced for the run (blocks return their hidden state as a tensor in transformers 5;
        tests/test_model_run.py checks the equality with full runs for each adapter family). Not thread-safe for
        concurrent runs of one model (bakes run one at a time, `bake.Baker`)."""
        layer, resid = start
        adapter = self.adapter
        if adapter is None:
            raise MissingHookPoint(f"{self.info.architecture} has no architecture adapter, so no run can start at a "
                                   f"block")
        blocks = adapter.blocks(self.model)
        if not 0 <= layer < len(blocks):
            raise ValueError(f"a run can start at blocks 0-{len(blocks) - 1}, not {layer}")
        below = [name for name in wanted if hooks.parse(name)[0] is not None and hooks.parse(name)[0] < layer]
        if below:
            raise ValueError(f"a run starting at block {layer} cannot hook {sorted(below)[0]}, below it")
        value = resid.expand(batch, *resid.shape[1:]) if resid.shape[0] == 1 else resid
        skipped = blocks[:layer]
        for block in skipped:
            block.forward = lambda *args, **kwargs: value
        try:
            yield
        finally:
            for block in skipped:
                del block.forward

    @contextmanager
    def _staggered(self, starts: list[int], resids: Mapping[int, torch.Tensor]) -> Iterator[None]:
        """Rows of a batch that start at different blocks (`starts`, ascending, one per row). Blocks below the
        first start return an empty batch instead of computing; block l's forward pre-hook (run before any other
        hook of that block) appends the rows starting at l, their residual stream `resids[l]` (rows starting at
        block 0 read the embedding output, as a full run), and cuts every other batched input of the block (a
        tensor of 2 or more axes whose first is the batch: masks, rotary tables) to the rows computed there. Block
        l's output has only those rows, in order, so row r of the batch is row r in every hook that sees it. After
        the last block every row has started (the model's head sees the whole batch). Not thread-safe for
        concurrent runs of one model (bakes run one at a time)."""
        import bisect

        adapter = self.adapter
        if adapter is None:
            raise MissingHookPoint(f"{self.info.architecture} has no architecture adapter, so no run can start at a "
                                   f"block")
        blocks = adapter.blocks(self.model)
        total = len(starts)
        first = starts[0]
        handles = []

        def cut(value: Any, rows: int) -> Any:
            if isinstance(value, torch.Tensor):
                return value[:rows] if value.dim() >= 2 and value.shape[0] == total else value
            if isinstance(value, (tuple, list)):
                return type(value)(cut(part, rows) for part in value)
            return value

        def pre_hook(layer: int) -> Callable[..., Any]:
            active = bisect.bisect_right(starts, layer)
            joining = active - bisect.bisect_left(starts, layer)

            def hook(_module, args, kwargs):
                if args:
                    hidden, rest, key = args[0], args[1:], None
                else:
                    key = "hidden_states" if "hidden_states" in kwargs else next(iter(kwargs))
                    hidden, rest = kwargs[key], ()
                if layer == 0:
                    hidden = hidden[:active]
                elif joining:
                    resid = resids[layer]
                    hidden = torch.cat([hidden, resid.expand(joining, *resid.shape[1:]).to(hidden.dtype)])
                if active == total:
                    others_args, others_kwargs = rest, kwargs
                else:
                    others_args = tuple(cut(value, active) for value in rest)
                    others_kwargs = {name: cut(value, active) for name, value in kwargs.items()}
                if key is None:
                    return (hidden, *others_args), others_kwargs
                return others_args, {**others_kwargs, key: hidden}
            return hook

        skipped = blocks[:first]
        empty: dict[str, torch.Tensor] = {}

        def nothing(hidden_states=None, *args, **kwargs):
            if "value" not in empty:
                reference = hidden_states if isinstance(hidden_states, torch.Tensor) else kwargs["hidden_states"]
                empty["value"] = reference[:0]
            return empty["value"]
        for block in skipped:
            block.forward = nothing
        try:
            for layer in range(first, len(blocks)):
                handles.append(blocks[layer].register_forward_pre_hook(pre_hook(layer), with_kwargs=True,
                                                                       prepend=True))
            yield
        finally:
            for handle in handles:
                handle.remove()
            for block in skipped:
                del block.forward

    def _attach(self, wanted: set[str], apply: Callable[[str, int | None, torch.Tensor], torch.Tensor],
                stack: ExitStack, batch_positions: tuple[int, int],
                prefix: tuple[int, dict[int, tuple[torch.Tensor, torch.Tensor]]] | None = None,
                last_query: bool = False) -> None:
        """Register the module hooks (and the attention interception) for the names in `wanted`. A family that
        runs its MLP on the positions flattened to [B * N, d] (OPT) has them shown as [B, N, d] (batch_positions).
        prefix: (p, {layer: cached keys, values [1, H_kv, p, d_head]}): every block's attention also sees those
        keys and values before its own (a run of positions p.. only). last_query: the last block's attention
        weights, output projection and MLP for the last position only (`run_edit_sets`)."""
        if not wanted and prefix is None and not last_query:
            return
        by_layer: dict[int | None, set[str]] = {}
        for name in wanted:
            layer, point = hooks.parse(name)
            by_layer.setdefault(layer, set()).add(point)
        if hooks.EMBED in by_layer.get(None, ()):
            embedding = self.model.get_input_embeddings()
            handle = embedding.register_forward_hook(
                lambda _m, _a, out: apply(hooks.EMBED, None, out))
            stack.callback(handle.remove)
        if by_layer.keys() == {None} and hooks.FINAL not in by_layer[None] and prefix is None and not last_query:
            return
        adapter = self.adapter
        if adapter is None:
            raise MissingHookPoint(f"{self.info.architecture} has no architecture adapter")
        blocks = adapter.blocks(self.model)
        last = None
        if last_query:
            last = len(blocks) - 1
            for module in (adapter.attn_out_module(blocks[last]), adapter.mlp_module(blocks[last])):
                stack.callback(module.register_forward_pre_hook(_pre_hook(lambda x: x[:, -1:]),
                                                                with_kwargs=True).remove)
        if hooks.FINAL in by_layer.get(None, ()):
            norm = adapter.final_norm_module(self.model)
            stack.callback((norm if norm is not None else blocks[-1]).register_forward_hook(
                _post_hook(lambda x: apply(hooks.FINAL, None, x))).remove)
        attention_layers: dict[int, set[str]] = {}
        for layer, points in by_layer.items():
            if layer is None:
                continue
            block = blocks[layer]

            def name(point: str, layer: int = layer) -> str:
                return hooks.hook_name(layer, point)
            if "hook_resid_pre" in points:
                stack.callback(block.register_forward_pre_hook(
                    _pre_hook(lambda x, n=name("hook_resid_pre"), l=layer: apply(n, l, x)), with_kwargs=True).remove)
            if "hook_resid_post" in points:
                stack.callback(block.register_forward_hook(
                    _post_hook(lambda x, n=name("hook_resid_post"), l=layer: apply(n, l, x))).remove)
            if points & set(_MLP_DOWN):
                down = adapter.mlp_down_module(block)
                if "mlp.hook_post" in points:
                    stack.callback(down.register_forward_pre_hook(
                        _pre_hook(_unflattened(lambda x, n=name("mlp.hook_post"), l=layer: apply(n, l, x),
                                               batch_positions)), with_kwargs=True).remove)
                if "hook_mlp_out" in points:
                    stack.callback(down.register_forward_hook(
                        _post_hook(_unflattened(lambda x, n=name("hook_mlp_out"), l=layer: apply(n, l, x),
                                                batch_positions))).remove)
            if points & set(_OUTPUT_PROJECTION):
                projection = adapter.attn_out_module(block)
                heads = self.info.n_heads
                if "attn.hook_z" in points:
                    def per_head(x, n=name("attn.hook_z"), l=layer):
                        shape = x.shape
                        return apply(n, l, x.reshape(*shape[:-1], heads, shape[-1] // heads)).reshape(shape)
                    stack.callback(projection.register_forward_pre_hook(_pre_hook(per_head), with_kwargs=True).remove)
                if "hook_attn_out" in points:
                    stack.callback(projection.register_forward_hook(
                        _post_hook(lambda x, n=name("hook_attn_out"), l=layer: apply(n, l, x))).remove)
            if points & set(_ATTENTION_CALL):
                attention_layers[layer] = points & set(_ATTENTION_CALL)
        if attention_layers or prefix is not None or last is not None:
            stack.enter_context(_attention_hooks(self.model, adapter, attention_layers, apply, prefix, last))


def _rowwise(entries: list[tuple[int, HookFn]]) -> HookFn:
    """One hook for a batch whose row r gets the functions listed for r (in order); other rows pass unchanged."""
    def hook(value: torch.Tensor, point: HookPoint) -> torch.Tensor:
        rows = list(value.split(1))
        for row, fn in entries:
            replaced = fn(rows[row], point)
            if replaced is not None:
                rows[row] = replaced
        return torch.cat(rows)
    return hook


def _unflattened(fn: Callable[[torch.Tensor], torch.Tensor], batch_positions: tuple[int, int]
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """`fn` on [B, N, d] also where the module sees the positions flattened, [B * N, d]; its result goes back to
    the module's shape."""
    batch, positions = batch_positions

    def hook(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[0] % positions == 0:     # [rows * N, d]: fewer rows where runs start late
            return fn(x.reshape(x.shape[0] // positions, positions, x.shape[-1])).reshape(x.shape)
        return fn(x)
    return hook


def _pre_hook(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., Any]:
    """A forward pre-hook (with kwargs) that passes the module's first input, positional or `hidden_states`,
    through `fn`."""
    def hook(_module, args, kwargs):
        if args:
            return (fn(args[0]), *args[1:]), kwargs
        key = "hidden_states" if "hidden_states" in kwargs else next(iter(kwargs))
        return args, {**kwargs, key: fn(kwargs[key])}
    return hook


def _post_hook(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., Any]:
    """A forward hook that passes the module's output (a tensor, or the first element of a tuple) through `fn`."""
    def hook(_module, _args, output):
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)
    return hook


def _widened(fn: HookFn, name: str, position: int, clean: torch.Tensor) -> HookFn:
    """`fn` for one row of a suffix run, shown the row full-length (`_on_whole`)."""
    def hook(value: torch.Tensor, point: HookPoint) -> torch.Tensor:
        return _on_whole(name, value, position, clean, lambda whole: _kept(fn(whole, point), whole))
    return hook


def _kept(replaced: torch.Tensor | None, value: torch.Tensor) -> torch.Tensor:
    if replaced is None:
        return value
    if replaced.shape != value.shape:
        raise ValueError(f"a hook returned shape {tuple(replaced.shape)} for an activation of shape "
                         f"{tuple(value.shape)}")
    return replaced


def _on_whole(name: str, value: torch.Tensor, position: int, clean: torch.Tensor,
              fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`fn` on the full-length activation of a suffix run: `value` holds positions p.. of `name` (rows of a batch),
    the unedited run's `clean` [1, ...] gives the positions before p. Returns positions p.. of fn's result; raises
    ValueError when fn changed a position before p. Keys and values come whole (`_WHOLE`)."""
    axis = _POSITION_AXIS.get(hooks.parse(name)[1], 1)
    if hooks.parse(name)[1] in _WHOLE:
        before = value.narrow(axis, 0, position).clone()
        out = fn(value)
        if not torch.equal(out.narrow(axis, 0, position), before):
            raise ValueError(f"an edit at {name} changes positions before {position}, its set's first position")
        return out
    if position == 0:
        return fn(value)
    head = clean.narrow(axis, 0, position).to(value.dtype)
    head = head.expand(value.shape[0], *head.shape[1:])
    out = fn(torch.cat([head, value], dim=axis))
    if not torch.equal(out.narrow(axis, 0, position), head):
        raise ValueError(f"an edit at {name} changes positions before {position}, its set's first position")
    return out.narrow(axis, position, value.shape[axis]).contiguous()


def _joined_mask(mask: Any, position: int, query: torch.Tensor) -> torch.Tensor:
    """The attention mask of a suffix run's queries [B, H, n, d] over the p cached keys and their own n: cached keys
    all visible, the model's own mask [B, 1, n, n] (additive or boolean) on the rest, or causal where it gave none."""
    batch, rows = query.shape[0], query.shape[2]
    if mask is None:
        allowed = torch.ones(rows, rows, dtype=torch.bool).tril()
        mask = torch.zeros(rows, rows, dtype=query.dtype).masked_fill(~allowed, torch.finfo(query.dtype).min)
        mask = mask[None, None].expand(batch, 1, rows, rows)
    mask = mask[..., :rows]
    seen = (torch.ones if mask.dtype == torch.bool else torch.zeros)(*mask.shape[:-1], position, dtype=mask.dtype)
    return torch.cat([seen, mask], dim=-1)


@contextmanager
def _attention_hooks(model: Any, adapter: Adapter, layers: dict[int, set[str]],
                     apply: Callable[[str, int | None, torch.Tensor], torch.Tensor],
                     prefix: tuple[int, dict[int, tuple[torch.Tensor, torch.Tensor]]] | None = None,
                     last: int | None = None) -> Iterator[None]:
    """The eager attention calls of `model`'s blocks: the edits and reads of `layers` (block -> its q, k, v and
    pattern points), the cached keys and values of `prefix` joined before each block's own, and in block `last`
    (when given) the last query alone: its output [B, 1, H, d_head] is returned expanded to the block's n positions
    (the module reshapes it to n), all n rows the last one's (the output projection then keeps one)."""
    def handler(layer, module, original, args, kwargs):
        points = layers.get(layer, set())
        if prefix is not None:
            position, cached = prefix
            keys, values = cached[layer]
            rows = args[1].shape[0]
            key = torch.cat([keys.expand(rows, *keys.shape[1:]).to(args[1].dtype), args[1]], dim=2)
            value = torch.cat([values.expand(rows, *values.shape[1:]).to(args[2].dtype), args[2]], dim=2)
            if len(args) > 3:
                args = (args[0], key, value, _joined_mask(args[3], position, args[0]), *args[4:])
            else:
                kwargs = {**kwargs, "attention_mask": _joined_mask(kwargs.get("attention_mask"), position, args[0])}
                args = (args[0], key, value)
        if layer == last:
            rows = args[0].shape[2]
            if len(args) > 3:
                mask = args[3]
                args = (args[0][:, :, -1:], args[1], args[2], None if mask is None else mask[..., -1:, :], *args[4:])
            else:
                mask = kwargs.get("attention_mask")
                kwargs = {**kwargs, "attention_mask": None if mask is None else mask[..., -1:, :]}
                args = (args[0][:, :, -1:], *args[1:])
            output, weights = original(module, *args, **kwargs)
            return output.expand(output.shape[0], rows, *output.shape[2:]), weights
        if not points:
            return original(module, *args, **kwargs)
        query, key, value = args[0], args[1], args[2]
        if "attn.hook_q" in points:
            query = apply(hooks.hook_name(layer, "attn.hook_q"), layer, query)
        if "attn.hook_k" in points:
            key = apply(hooks.hook_name(layer, "attn.hook_k"), layer, key)
        if "attn.hook_v" in points:
            value = apply(hooks.hook_name(layer, "attn.hook_v"), layer, value)
        output, weights = original(module, query, key, value, *args[3:], **kwargs)
        if "attn.hook_pattern" in points:
            edited = apply(hooks.hook_name(layer, "attn.hook_pattern"), layer, weights)
            if edited is not weights:
                batch, heads, queries, keys = edited.shape
                groups = heads // value.shape[1]      # query heads per key/value head: [B, H_kv, g, n, N] @ v
                output = torch.matmul(edited.to(value.dtype).reshape(batch, value.shape[1], groups, queries, keys),
                                      value[:, :, None]).reshape(batch, heads, queries, -1)
                output = output.transpose(1, 2).contiguous()
                weights = edited
        return output, weights
    with intercepting_attention(model, adapter, handler):
        yield

