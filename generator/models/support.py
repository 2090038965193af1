"""Which views read which model family, derived from the rules the bake applies (no torch, no model files).

`view_support(info, can_read_pairs)` answers, for every registered view, whether a block showing it on such a model
can bake, and if not why: it runs the same model-dependent rules as `explorables check` and the bake
(`rules.check_model`, `rules.check_methods`: the adapter table of `generator/models/adapters.py`, each method's
`check`) on a probe spec per view, with the most favourable input for that kind of model (a text and `generate` on a
causal or encoder-decoder model; a sentence pair, else a text, on an encoder). So the table cannot drift from the
checks: a family gets a view exactly when its checks pass.

`FAMILIES` lists the families the architecture matrix covers (tests/test_architecture_matrix.py bakes a tiny
random model of each with every view); `support_table()` gives the docs' table (docs/writing.md, between the
`support:table` markers, regenerated with `python -m generator.models.support --write docs/writing.md`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .adapters import adapter_for
from .facts import ModelInfo


@dataclass(frozen=True)
class Family:
    """A model family of the matrix: its config's model_type and what kind of model it is."""

    model_type: str
    name: str                       # for readers ("GPT-NeoX (Pythia)")
    causal: bool
    encoder_decoder: bool = False
    example: str = ""               # a hub id of the family, for the docs

    @property
    def can_read_pairs(self) -> bool:
        adapter = adapter_for(self.model_type)
        return bool(adapter and adapter.pairs)

    def info(self) -> ModelInfo:
        return ModelInfo(self.model_type, self.name, self.model_type, self.causal, 2, 4, 4,
                         encoder_decoder=self.encoder_decoder, n_decoder_layers=2 if self.encoder_decoder else 0,
                         n_decoder_heads=4 if self.encoder_decoder else 0)


FAMILIES: tuple[Family, ...] = (
    Family("gpt2", "GPT-2", True, example="openai-community/gpt2"),
    Family("gpt_neox", "GPT-NeoX (Pythia)", True, example="EleutherAI/pythia-70m"),
    Family("opt", "OPT", True, example="facebook/opt-125m"),
    Family("llama", "Llama (SmolLM2)", True, example="HuggingFaceTB/SmolLM2-135M-Instruct"),
    Family("mistral", "Mistral", True, example="mistralai/Mistral-7B-v0.1"),
    Family("qwen2", "Qwen2", True, example="Qwen/Qwen2.5-0.5B"),
    Family("qwen3", "Qwen3", True, example="Qwen/Qwen3-0.6B"),
    Family("gemma2", "Gemma 2", True, example="google/gemma-2-2b"),
    Family("gemma3_text", "Gemma 3 (text)", True, example="google/gemma-3-270m"),
    Family("phi3", "Phi-3", True, example="microsoft/Phi-3-mini-4k-instruct"),
    Family("bert", "BERT (MiniLM)", False, example="sentence-transformers/all-MiniLM-L6-v2"),
    Family("roberta", "RoBERTa", False, example="FacebookAI/roberta-base"),
    Family("distilbert", "DistilBERT", False, example="distilbert/distilbert-base-uncased"),
    Family("t5", "T5", False, encoder_decoder=True, example="google-t5/t5-small"),
    Family("bart", "BART", False, encoder_decoder=True, example="facebook/bart-base"),
)


class _Traits:
    """What the rules need of a model (`rules.ModelTraits`), for a probe."""

    def __init__(self, info: ModelInfo, can_read_pairs: bool):
        self.info, self.can_read_pairs, self.max_positions = info, can_read_pairs, None


def _probes(info: ModelInfo, can_read_pairs: bool) -> list[dict]:
    if info.causal or info.encoder_decoder:
        return [{"text": "One two three.", "generate": 2}]
    pair = {"pair": ["A cat sleeps.", "A kitten naps."]}
    return [pair, {"text": "One two three."}] if can_read_pairs else [{"text": "One two three."}, pair]


def view_support(info: ModelInfo, can_read_pairs: bool) -> dict[str, str]:
    """{view: ""} for every registered view that a block can show on this model, {view: why not} otherwise (the
    message of the error the first probe got). Raises nothing: a failing rule is the answer."""
    from ..errors import SpecError
    from ..methods import REGISTRY
    from ..rules import check_methods, check_model
    from ..spec import spec_from_data

    # the probes ask what the family can show, not whether their sample texts tokenise alike: no tokenizer
    info = replace(info, pieces=None)
    traits = _Traits(info, can_read_pairs)
    has_adapter = adapter_for(info.architecture) is not None
    answers: dict[str, str] = {}
    for method in REGISTRY:
        for view in method.views:
            reasons = []
            for probe in _probes(info, can_read_pairs):
                spec = spec_from_data({"model": info.name, "views": [view], **probe, **dict(method.example)},
                                      file="<probe>", unused_options=False)
                try:
                    check_model(spec, traits)
                    check_methods(spec, traits, has_adapter=has_adapter, hints=False)
                except SpecError as error:
                    reasons.append(error.message)
                    continue
                reasons = []
                break
            answers[view] = reasons[0] if reasons else ""
    return answers


def working_views(info: ModelInfo, can_read_pairs: bool) -> list[str]:
    """The views a block can show on this model, in registration order."""
    return [view for view, reason in view_support(info, can_read_pairs).items() if not reason]


START, END = "<!-- support:table -->", "<!-- /support:table -->"


def _why(reason: str, family: Family, view: str) -> str:
    """A rule's message as a table note shared by families and views: without the "the X view cannot read Y:"
    lead, the family and the view named in general words."""
    lead = f"cannot read {family.name} (architecture '{family.model_type}'): "
    if lead in reason:
        reason = reason.split(lead, 1)[1]
    short = family.name.split(" (")[0]
    for old, new in ((f" such as {family.name} ({family.model_type})", ""), (f" ({family.model_type})", ""),
                     (family.name, "the model"), (short, "the model"), (f"the {view} view", "the view"),
                     (f"so {view} have", "so the view has")):
        reason = reason.replace(old, new)
    return reason[0].upper() + reason[1:]


def support_table() -> str:
    """The Markdown table of FAMILIES x views for docs/writing.md: "yes", or "no" with a numbered note saying why
    (the message of the rule that refuses it)."""
    from ..methods import REGISTRY

    views = REGISTRY.views()
    notes: list[str] = []
    lines = ["| family | model type | " + " | ".join(views) + " |",
             "|---|---|" + "---|" * len(views)]
    for family in FAMILIES:
        cells = []
        for view, reason in view_support(family.info(), family.can_read_pairs).items():
            if not reason:
                cells.append("yes")
                continue
            why = _why(reason, family, view)
            if why not in notes:
                notes.append(why)
            cells.append(f"no ({notes.index(why) + 1})")
        lines.append(f"| {family.name} | `{family.model_type}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(f"{number}. {note.rstrip('.')}." for number, note in enumerate(notes, 1))
    return "\n".join(lines)


def replace_table(text: str) -> str:
    """`text` with the part between the support:table markers replaced by `support_table()`. Raises ValueError
    when the markers are missing."""
    if START not in text or END not in text:
        raise ValueError(f"the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{support_table()}\n\n{END}{tail}"


if __name__ == "__main__":   # python -m generator.models.support --write docs/writing.md
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        target = Path(sys.argv[2])
        target.write_text(replace_table(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(support_table())
