"""Model-dependent rules of a spec, checked before any model runs.

Each rule needs only what `ModelTraits` offers, which both a loaded model (`models.loading.LoadedModel`, at bake
time) and the facts read from its files (`models.facts.ModelFacts`, for `explorables check`, without torch) have.
Each failure is a SpecError placed at the field to change; the rules of a block are all checked and their errors
raised together (`SpecError.combine`), so an author sees every one at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from .errors import SpecError

if TYPE_CHECKING:
    from .methods.registry import Method
    from .models.facts import ModelInfo
    from .spec import SpecBase


class ModelTraits(Protocol):
    info: "ModelInfo"

    @property
    def max_positions(self) -> int | None: ...

    @property
    def can_read_pairs(self) -> bool: ...


def problems(*checks: Callable[[], Any]) -> list[SpecError]:
    """Run every check (a function of no arguments) and return the SpecErrors they raised, each error of a
    `SpecErrors` on its own; other exceptions pass through."""
    found: list[SpecError] = []
    for check in checks:
        try:
            check()
        except SpecError as error:
            found.extend(error.errors)
    return found


def check_all(*checks: Callable[[], Any]) -> None:
    """Run every check; raise the SpecErrors they raised together (`SpecError.combine`, in reading order). An error
    at a field that an earlier check already reported is left out: it most often follows from the first (an
    encoder given `generate`, and a view that explains a generated token)."""
    found: list[SpecError] = []
    for check in checks:
        taken = {(error.file, error.field) for error in found}
        found += [error for error in problems(check) if error.field is None or (error.file, error.field) not in taken]
    if found:
        raise SpecError.combine(found)


def check_rules(spec: "SpecBase", model: ModelTraits, *, has_adapter: bool, n_tokens: int | None = None,
                first: tuple[Callable[[], Any], ...] = (), extra: tuple[Callable[[], Any], ...] = ()
                ) -> list["Method"]:
    """The `first` checks, `check_model`, `check_methods` and the `extra` checks, every error raised together
    (`check_all`); returns the spec's methods."""
    check_all(*first, lambda: check_model(spec, model),
              lambda: check_methods(spec, model, has_adapter=has_adapter, n_tokens=n_tokens), *extra)
    return spec.methods


def check_model(spec: "SpecBase", model: ModelTraits) -> None:
    """Generation needs a causal model; a pair needs segment embeddings; an encoder-decoder model reads a text (the
    source) and needs 'generate' (the target); a block's own `live: true` needs an encoder. Every broken rule is
    raised, together."""
    info = model.info
    found: list[SpecError] = []
    if spec.live and (info.causal or info.encoder_decoder):
        kind = "causal" if info.causal else "encoder-decoder"
        found.append(spec.error("live", f"{info.label} is a {kind} model, and live blocks run encoders only: the "
                                        "reader's browser downloads and runs the model, which is too large and slow "
                                        "there for a causal model (docs/live.md)",
                                hint="remove 'live: true', or use an encoder such as 'model: minilm'"))
    elif spec.live:
        from .live.assets import views_refusal

        reason = views_refusal(spec)
        if reason:
            found.append(spec.error("live", f"this block cannot be live: {reason}",
                                    hint="remove 'live: true', or show only the head, model or neuron views"))
    if info.encoder_decoder:
        if spec.pair is not None:
            found.append(spec.error("pair", f"{info.label} is an encoder-decoder model ({info.architecture}): it "
                                            "reads one source text and writes a target, so it cannot take a "
                                            "sentence pair",
                                    hint="give the source as 'text' and the number of target tokens as 'generate'"))
        if not spec.generate:
            found.append(spec.error("generate", f"{info.label} is an encoder-decoder model ({info.architecture}): "
                                                "its decoder side is the text it writes, and 'generate' is missing",
                                    hint="add e.g. 'generate: 8' (1-64 target tokens, greedy)"))
    else:
        if spec.generate and not info.causal:
            found.append(spec.error("generate", f"{info.label} is an encoder ({info.architecture}); it cannot "
                                                "generate",
                                    hint="remove 'generate' or use a causal model such as smollm2"))
        if spec.pair is not None and not model.can_read_pairs:
            found.append(spec.error("pair", f"{info.label} ({info.architecture}) cannot read a sentence pair",
                                    hint="use 'text', or an encoder with segment embeddings such as minilm"))
    if found:
        raise SpecError.combine(found)


def check_methods(spec: "SpecBase", model: ModelTraits, *, has_adapter: bool, n_tokens: int | None = None,
                  hints: bool = True) -> list["Method"]:
    """Each method's own rules, and what it needs of the model family (`family_problem`); returns the spec's methods.
    The first error of each method is raised, those of all the methods together.

    n_tokens: the most tokens the run can have (prompt plus `generate`), when known before the run. A method that
    cannot read this family raises a SpecError on `views` (or the method's options field) naming the view, the
    model type and, with `hints`, the views that do work on it (`models.support.working_views`). An error of a
    method that the page of a `use:` block asked for is placed at that page's `views` (`SpecBase.asked_by_page`).
    """
    methods = spec.methods
    found: list[SpecError] = []
    for method in methods:
        try:
            _check_method(spec, method, model, has_adapter, n_tokens, hints)
        except SpecError as error:
            found.extend(spec.shown_by_default(method, spec.asked_by_page(method.name, one)) for one in error.errors)
    if found:
        raise SpecError.combine(found)
    return methods


def _check_method(spec: "SpecBase", method: "Method", model: ModelTraits, has_adapter: bool,
                  n_tokens: int | None, hints: bool) -> None:
    """One method's family needs (`family_problem`) and its own `check`."""
    problem = family_problem(method, spec, model.info, has_adapter=has_adapter)
    if problem is not None:
        field, message, hint = problem
        if hints:
            from .models.support import working_views
            works = working_views(model.info, can_read_pairs=model.can_read_pairs)
            hint = f"{hint}; views that work on {model.info.architecture}: {', '.join(works) or 'none'}"
        raise spec.error(field, message, hint=hint)
    if method.check is not None:
        method.check(spec, model.info, n_tokens)


def family_problem(method: "Method", spec: "SpecBase", info: "ModelInfo", *, has_adapter: bool
                   ) -> tuple[str, str, str] | None:
    """(field, message, hint) when `method`, with the spec's options, needs something of the model that its family
    lacks (an encoder-decoder model, no adapter entry, no attention path, no LM head, no value vectors); None when
    the family has all it needs. Reads the adapter table only (no torch)."""
    from .methods import REGISTRY
    from .models.adapters import ADAPTERS, adapter_for

    own = [view for view in spec.shown_views if view in method.views]
    views = _listed(own) if own else method.name
    field = "views" if "views" in spec.model_fields_set else method.name
    what = f"the {views} view{'s' if len(own) > 1 else ''} cannot read {info.label} (architecture " \
           f"'{info.architecture}')"
    if info.encoder_decoder and not method.encoder_decoder:
        supported = [view for known in REGISTRY if known.encoder_decoder for view in known.views]
        return field, f"the {views} view does not read encoder-decoder models such as {info.label} " \
                      f"({info.architecture})", f"views for encoder-decoder models: {', '.join(supported)}"
    needs = method.needs_for(spec)
    if needs.readout and not info.causal:
        shown = [view for view in spec.shown_views if view in method.views] or [method.name]
        named = " and ".join(shown) if len(shown) < 3 else ", ".join(shown[:-1]) + " and " + shown[-1]
        return field, f"{info.label} is an encoder ({info.architecture}) without a language-model head: it " \
                      f"predicts no next token, so the {named} view{'s have' if len(shown) > 1 else ' has'} nothing to show", \
            f"use a causal model such as 'model: smollm2' for {', '.join(method.views)}"
    if needs.adapter and not has_adapter:      # at the views that ask for the method, as the other family needs
        return field, f"{what}: there is no architecture adapter for '{info.architecture}' (the entry of " \
                      "generator/models/adapters.py that says where a family's blocks, attention and MLP modules " \
                      f"are), so the {method.name} method cannot find the parts it needs", \
            "supported: " + ", ".join(sorted(ADAPTERS)) + "; add one entry to generator/models/adapters.py"
    adapter = adapter_for(info.architecture)
    if adapter is None:
        return None
    if (needs.asks("attn.hook_q") or needs.asks("attn.hook_k")) and adapter.attention is None:
        reason = adapter.attention_note or "its adapter entry names no attention module"
        return field, f"{what}: {reason}", "the neuron view recomputes softmax(q.k * scale); give the entry in " \
            "generator/models/adapters.py an 'attention' path (the module that calls the eager attention function) " \
            "where that is the model's attention"
    if needs.readout and not adapter.unembed:
        return field, f"{what}: its adapter entry names no language-model head", \
            "add the LM head's path ('unembed') to its entry in generator/models/adapters.py"
    if (needs.asks("attn.hook_v") and not adapter.values) or (needs.asks("attn.W_O") and not adapter.attn_out):
        options = getattr(spec, method.name, None)
        chosen = options is not None and "methods" in options.model_fields_set
        return (f"{method.name}.methods" if chosen else field,
                f"{what}: value_weighted needs the value vectors, and the adapter entry of '{info.architecture}' "
                "does not say where they are",
                f"leave value_weighted out of '{method.name}.methods' (the other methods need no value vectors)")
    return None


def _listed(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_length(spec: "SpecBase", label: str, n_tokens: int, model_limit: int | None) -> None:
    """Raise SpecError on `text`/`pair` when n_tokens plus the tokens to generate pass `max_tokens` or the model's
    position limit, saying which of the two limits binds."""
    total = n_tokens + spec.generate
    limit = min(spec.max_tokens, model_limit or spec.max_tokens)
    if total <= limit:
        return
    what = "text" if spec.text is not None else "pair"
    counted = f"{n_tokens} tokens{f' + {spec.generate} generated' if spec.generate else ''}"
    fewer = ", or generate fewer tokens" if spec.generate else ""
    if model_limit is not None and model_limit <= spec.max_tokens:
        raise spec.error(what, f"{counted} exceed the limit of {limit} tokens for {label}: the model reads at most "
                               f"{model_limit} positions",
                         hint=f"shorten the text{fewer}; raising 'max_tokens' cannot help here")
    raise spec.error(what, f"{counted} exceed the limit of {limit} tokens set by 'max_tokens'",
                     hint=f"shorten the text{fewer}, or raise 'max_tokens' (up to "
                          f"{min(model_limit or 2048, 2048)} for {label}; long inputs make heavy pages)")


def check_precision(spec: "SpecBase", precision, methods: list["Method"]) -> None:
    """A dtype a method cannot use is an error naming the setting (generator/precision.py): the logit lens
    (`Needs.readout`) runs the model's final norm and unembedding on the float32 hidden states and ranks every
    token of the vocabulary exactly, which a bfloat16 model's modules cannot do (and bfloat16 logits would tie
    across thousands of tokens)."""
    from .precision import placed_error

    if precision.dtype == "float32":
        return
    for method in methods:
        if method.needs.readout:
            raise placed_error(spec, precision, "dtype",
                               f"the {method.name} method cannot run in {precision.dtype}: it ranks the whole "
                               "vocabulary exactly through the model's final norm and unembedding, in float32",
                               hint=f"set dtype: float32 for this block, or leave out the views of {method.name} "
                                    f"({', '.join(method.views)})")

