"""The "interventions" payload section (layout in ARCHITECTURE.md, "Section interventions") and the method's record.

    {"kind": "causal" | "similarity",
     "output": {"position": p, "id": t, "token": {...}, "source": "generated" | "target"},   # causal only
     "knockout": {"ablation", "metrics", "base", "heads", "attention", "mlp"},           # view knockout
     "editing": {"rule", "factors", "keys", "scopes", "candidates", "base", "top", "probs", "target"},  # view editing
     "patching": {"contrast_tokens", "kinds", "clean", "contrast", "restore", "break"}}  # view patching

Only the parts of the views the spec shows are computed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import SpecError, quoted
from ...payload import encode_array
from ..options import indices
from ..registry import Method, Needs
from .options import EDITING, KNOCKOUT, PATCHING, VIEWS, InterventionsOptions

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase

NAME = "interventions"
# what each view needs from the architecture adapter: (Adapter field, words for an error)
NEEDED = {
    KNOCKOUT: (("attn_out", "the attention output projection (W_O), where a head's output is removed"),),
    EDITING: (("attention", "the attention module whose eager attention function gives the pattern to edit"),),
    PATCHING: (("attn_out", "the attention output projection (W_O), whose output is patched"),),
}
ENCODER_VIEWS = (KNOCKOUT,)     # on an encoder pair only the knockout map (its output is one similarity, not a
                                # distribution to edit, and a contrast pair is not defined here)


def _number(value: Any, digits: int = 6) -> float | None:
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def numbers(values: Any, digits: int = 6) -> Any:
    """Nested lists of floats with `digits` significant digits (None for NaN or infinity): stable bytes."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return _number(array, digits)
    return [numbers(part, digits) for part in array]


def _views(spec: "SpecBase") -> list[str]:
    shown = [view for view in spec.shown_views if view in VIEWS]
    return shown or list(VIEWS)


def missing_paths(architecture: str) -> dict[str, str]:
    """{view: what its adapter lacks} for the views this architecture cannot give (none: {})."""
    from ...models.adapters import adapter_for

    adapter = adapter_for(architecture)
    out = {}
    for view, needed in NEEDED.items():
        for field, words in needed:
            if adapter is None or not getattr(adapter, field):
                out[view] = words
                break
    return out


def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """Model-dependent rules, each a SpecError naming the field: the explained output (a generated token or a
    `target` on a causal model; a pair on an encoder), the views this model's adapter can give, the layer range and
    heads inside the model, and a contrast for patching; where the tokenizer is at hand (`model.pieces`, in `check`)
    a target of one token and a contrast as long as the text. The errors of the target, layers, heads and contrast
    are raised together."""
    options: InterventionsOptions = spec.options(NAME)
    views = _views(spec)
    views_field = "views" if "views" in spec.model_fields_set else NAME
    if model.causal:
        if spec.pair is not None:
            raise spec.error("pair", f"{model.label} is a causal model: interventions explain the probability of a "
                                     "token it predicts, not a sentence pair",
                             hint="use 'text' with 'generate: 1' or 'interventions: {target: ...}', or an encoder "
                                  "such as minilm for a pair")
        if not spec.generate and options.target is None:
            raise spec.error(views_field, f"interventions on a causal model ({model.label}) explain the probability "
                                          "of one predicted token, and this explorable names none",
                             hint="add 'generate: 1' (the first generated token is explained) or "
                                  "'interventions: {target: \" Paris\"}'")
    else:
        if spec.pair is None:
            raise spec.error("text", f"interventions on an encoder ({model.label}) explain the similarity of two "
                                     "sentences, and 'text' is a single one",
                             hint="write 'pair: [first sentence, second sentence]' instead of 'text'")
        if "target" in options.model_fields_set:
            raise spec.error(f"{NAME}.target", f"'target' applies to causal models; on an encoder ({model.label}) "
                                               "the explained output is the pair's similarity",
                             hint="remove 'target'")
        other = [view for view in views if view not in ENCODER_VIEWS]
        if other:
            named = (f"the {other[0]} view needs" if len(other) == 1
                     else f"the {', '.join(other[:-1])} and {other[-1]} views need")
            raise spec.error(views_field, f"{named} a causal model's next-token distribution; on an encoder pair "
                                          f"({model.label}) interventions give the knockout map",
                             hint="use views: [knockout]")
    missing = missing_paths(model.architecture)
    lacking = [view for view in views if view in missing]
    if lacking:
        working = [view for view in VIEWS if view not in missing and (model.causal or view in ENCODER_VIEWS)]
        what = "; ".join(f"{view} needs {missing[view]}" for view in lacking)
        raise spec.error(views_field, f"the {model.architecture} adapter (generator/models/adapters.py) does not name "
                                      f"what {', '.join(lacking)} needs: {what}",
                         hint=(f"views that work on {model.label}: {', '.join(working)}" if working else
                               f"no intervention view works on {model.label} yet") +
                              "; or add the path to its adapter entry")
    found = []            # every error of the target, layers, heads and contrast, raised together
    if model.causal and options.target is not None and model.pieces is not None:   # `check`: the tokenizer at hand
        shown = model.pieces(options.target)
        if len(shown) != 1:
            found.append(_target_error(spec, options.target, shown, model.label))
    if options.layers is not None:
        try:
            indices(options.layers, model.n_layers, "layer")
        except ValueError as exc:
            found.append(spec.error(f"{NAME}.layers", str(exc),
                                    hint=f"allowed: a range within 0-{model.n_layers - 1}"))
    for index, (layer, head) in enumerate(options.written_heads):     # the author's order: entry index + 1
        if layer >= model.n_layers or head >= model.n_heads:
            found.append(spec.error(f"{NAME}.heads.{index}", f"[{layer}, {head}] is outside the model, which has "
                                                             f"layers 0-{model.n_layers - 1} and heads "
                                                             f"0-{model.n_heads - 1}",
                                    hint=f"allowed: [layer, head] with layer 0-{model.n_layers - 1}, head "
                                         f"0-{model.n_heads - 1}"))
    if PATCHING in views and options.contrast is None:
        theirs = getattr(spec, "counterfactuals", None)      # the contrast views' texts: not read by patching
        aside = ("; 'counterfactuals.contrasts' are the contrast views' texts, which patching does not read"
                 if theirs is not None and theirs.contrasts else "")
        found.append(spec.error(f"{NAME}.contrast" if NAME in spec.model_fields_set else views_field,
                                "activation patching compares the text with a contrast text, and none is given",
                                hint="add 'interventions: {contrast: ...}' with as many tokens as the text, or "
                                     f"remove 'patching'{aside}"))
    if PATCHING in views and options.contrast is not None and model.pieces is not None and spec.text is not None:
        text, contrast = model.pieces(spec.text), model.pieces(options.contrast)   # `check`: the tokenizer at hand
        if len(text) != len(contrast):
            found.append(_length_error(spec, len(contrast), len(text), text, contrast))
        elif text == contrast:
            found.append(_same_error(spec, text))
    if found:
        raise SpecError.combine(found)


def _target_error(spec: "SpecBase", target: str, shown: list[str], label: str):
    """The SpecError on `interventions.target` for a target that is not one token: how it tokenises (`shown`)."""
    pieces = ", ".join(map(quoted, shown))
    return spec.error(f"{NAME}.target", f"{quoted(target)} is {len(shown)} tokens for {label} ([{pieces}]), not one",
                      hint="name a single token, such as its first piece " + quoted(shown[0] if shown else ""))


def _length_error(spec: "SpecBase", n_contrast: int, n_text: int, text: list[str], contrast: list[str]):
    """The SpecError of a contrast whose token count differs from the text's, giving both counts and token lists."""
    return spec.error(f"{NAME}.contrast", f"the contrast has {n_contrast} tokens and the text {n_text}: patching "
                                          f"pairs them position by position. Text: {text}; contrast: {contrast}",
                      hint="reword the contrast so that it has as many tokens as the text")


def _same_error(spec: "SpecBase", text: list[str]):
    """The SpecError of a contrast whose tokens are the text's own: two runs of one text leave nothing to trace."""
    return spec.error(f"{NAME}.contrast", f"the contrast is the text itself ({len(text)} tokens, the same ones): "
                                          "patching moves activations between the two runs, and two runs of one "
                                          "text differ nowhere, so every cell would be the same",
                      hint="change the words whose role you want to trace, keeping the token count (another name "
                           "or place of as many tokens)")


def _explained(spec: "SpecBase", capture: "Capture", options: InterventionsOptions):
    """(Explained, output record or None) for the capture."""
    import torch

    from .explained import Explained

    run = capture.model_run                    # Needs.gradients: the run handle (generator.model_run.ModelRun)
    if not capture.info.causal:
        return Explained(run, [sentence.input_ids[None] for sentence in capture.sentences], None), None
    prompt = torch.as_tensor([capture.ids[:capture.n_prompt]], dtype=torch.long)
    if options.target is not None:
        ids = capture.vocabulary.encode(options.target)
        if len(ids) != 1:
            raise _target_error(spec, options.target, [record["text"] for record in capture.vocabulary.display(ids)],
                                capture.info.label)
        target, source = ids[0], "target"
    else:
        if len(capture.ids) <= capture.n_prompt:
            raise spec.error("generate", f"{capture.info.label} generated no token to explain (it ended the text)",
                             hint="name the explained token with 'interventions: {target: ...}'")
        target, source = capture.ids[capture.n_prompt], "generated"
    record = {"position": capture.n_prompt - 1, "id": int(target), "token": capture.vocabulary.display([target])[0],
              "source": source}
    return Explained(run, [prompt], int(target)), record


def _contrast_ids(spec: "SpecBase", capture: "Capture", options: InterventionsOptions):
    """The contrast text tokenised as the text was (the same special tokens around it): [1, n_prompt]. Raises
    SpecError giving both counts and both token lists when the lengths differ."""
    import torch

    vocabulary = capture.vocabulary
    prompt = capture.ids[:capture.n_prompt]
    own = vocabulary.encode(spec.text)
    start = next((i for i in range(len(prompt) - len(own) + 1) if prompt[i:i + len(own)] == own), 0)
    prefix, suffix = prompt[:start], prompt[start + len(own):]
    ids = prefix + vocabulary.encode(options.contrast) + suffix
    if len(ids) != len(prompt):
        text = [record["text"] for record in capture.tokens[:capture.n_prompt]]
        other = [record["text"] for record in vocabulary.display(ids)]
        raise _length_error(spec, len(ids), len(prompt), text, other)
    if ids == list(prompt):
        raise _same_error(spec, [record["text"] for record in capture.tokens[:capture.n_prompt]])
    return torch.as_tensor([ids], dtype=torch.long)


def _candidates(capture: "Capture", id_arrays: list[np.ndarray]) -> tuple[dict[str, Any], dict[int, int]]:
    """Every id shown in some top-k, most frequent first (ties: smaller id), each read on its own."""
    flat = np.concatenate([np.asarray(a).ravel() for a in id_arrays]).astype(np.int64)
    unique, counts = np.unique(flat, return_counts=True)
    order = sorted(range(len(unique)), key=lambda i: (-counts[i], unique[i]))
    ids = [int(unique[i]) for i in order]
    records = capture.vocabulary.display(ids)
    out = {"text": [r["text"] for r in records], "ids": ids,
           "special": [i for i, r in enumerate(records) if r.get("special")],
           "partial": [i for i, r in enumerate(records) if r.get("partial")]}
    return out, {token: index for index, token in enumerate(ids)}


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The interventions section of one capture (the runs go through `ModelRun`). Raises SpecError for a target
    that is not one token and a contrast whose token count differs from the text's."""
    import torch

    options: InterventionsOptions = spec.options(NAME)
    views = _views(spec)
    explained, output = _explained(spec, capture, options)
    metrics = ["logprob", "prob"] if explained.causal else ["similarity"]
    out: dict[str, Any] = {"kind": "causal" if explained.causal else "similarity"}
    if output is not None:
        out["output"] = output
    contrast = _contrast_ids(spec, capture, options) if PATCHING in views else None
    torch.manual_seed(0)
    if KNOCKOUT in views:
        from .knockout import knockout

        result = knockout(explained, options.ablation, batch_size=options.batch_size)
        base = result["base"]
        out[KNOCKOUT] = {
            "ablation": options.ablation, "metrics": metrics, "base": numbers(base),
            # differences edited - unedited, per metric: [L][H], [L], [L]
            "heads": {m: numbers(result["heads"][..., i] - base[i]) for i, m in enumerate(metrics)},
            "attention": {m: numbers(result["attention"][..., i] - base[i]) for i, m in enumerate(metrics)},
            "mlp": {m: numbers(result["mlp"][..., i] - base[i]) for i, m in enumerate(metrics)},
        }
    if EDITING in views:
        from .editing import Scope, editing

        n_layers = capture.info.n_layers
        scopes = [Scope(0, n_layers - 1)]
        if options.layers is not None:
            chosen = indices(options.layers, n_layers, "layer")
            scopes.append(Scope(chosen[0], chosen[-1]))
        scopes.extend(Scope(layer, layer, head) for layer, head in options.heads)
        keys = list(range(capture.n_prompt))
        result = editing(explained, scopes, keys, options.factors, top_k=options.top_k,
                         batch_size=options.batch_size)
        candidates, index = _candidates(capture, [result["base_top"], result["top"]])
        to_index = np.vectorize(index.__getitem__, otypes=[np.int64])
        out[EDITING] = {
            "rule": "scale-renormalise", "factors": [float(f) for f in options.factors], "keys": keys,
            "scopes": [scope.describe() for scope in scopes], "top_k": options.top_k, "candidates": candidates,
            "base": {"top": to_index(result["base_top"]).tolist(), "probs": numbers(result["base_probs"]),
                     "target": _number(result["base_target"])},
            "top": to_index(result["top"]).tolist(), "probs": numbers(result["probs"]),
            "target": numbers(result["target"]),
        }
    if PATCHING in views:
        from .patching import POINTS, patching

        result = patching(explained, contrast, batch_size=options.batch_size)
        out[PATCHING] = {
            "contrast": options.contrast, "contrast_tokens": capture.vocabulary.display(contrast[0].tolist()),
            "kinds": list(POINTS), "clean": _number(result["clean"]), "contrast_prob": _number(result["contrast"]),
            "restore": encode_array(result["restore"], dtype="float32"),
            "break": encode_array(result["break"], dtype="float32"),
        }
    return out


METHOD = Method(
    name=NAME,
    views={KNOCKOUT: "explorable-knockout-view", EDITING: "explorable-editing-view",
           PATCHING: "explorable-patching-view"},
    section=section,
    needs=Needs(gradients=True, sentences=True, adapter=True, vocabulary=True),
    options=InterventionsOptions,
    check=check,
    example=(("interventions", {"contrast": "A contrast of the text."}),),
    option_views={"ablation": (KNOCKOUT,), "factors": (EDITING,), "layers": (EDITING,), "heads": (EDITING,),
                  "top_k": (EDITING,), "contrast": (PATCHING,)},
    prompt_only_views=(KNOCKOUT, EDITING, PATCHING),
    summary="interventions: what the output does when a head is removed, attention to a word is edited, or one "
            "activation is patched from a contrast text",
)
