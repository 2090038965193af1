"""The explorable spec: what an author writes, validated by a schema (pydantic), with errors placed by line."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import (BaseModel, Field, PrivateAttr, ValidationError, create_model, field_validator,
                      model_validator)

from .errors import SpecError, quoted
from .methods import DEFAULT_METHOD, REGISTRY, Method
from .methods.options import Options, choices
from .spec_yaml import line_for, load_with_lines

DEFAULT_MAX_TOKENS = 256
# A hint's advice to remove a view, or a method's views by the method's name ("remove 'patching'", "or the
# attention_counterfactual view"): `SpecBase.shown_by_default` words it anew for a block without `views`
_REMOVAL = re.compile(r"\b(?:remove|delete) '(?P<name>[a-z_]+)'|(?<=or )the (?P<view>[a-z_]+) view\b")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class SpecBase(Options):
    """One explorable: a model, a text (or a sentence pair), and the views to bake.

    The fields every explorable has. The schema authors are checked against, `ExplorableSpec`, is this class plus
    one options field per registered method (`saliency:`, `factors:`, ...) and `views` limited to the registered
    views; it is derived from the method registry (`generator.methods.registry`) and rebuilt when that changes.
    """

    id: str | None = Field(None, pattern=ID_PATTERN, description="Unique id; required in explorables/*.yml.")
    title: str | None = Field(None, description="Shown above the widgets.")
    caption: str | None = Field(None, description="Shown below the widgets.")
    model: str = Field(..., min_length=1, description="Bundled alias, hub id (optionally @revision) or local folder.")
    text: str | None = Field(None, description="The text the model reads.")
    pair: list[str] | None = Field(None, min_length=2, max_length=2, description="Sentence A and sentence B.")
    generate: int = Field(0, ge=0, le=64, description="Greedy tokens to generate (causal models).")
    views: list[str] = Field(default_factory=list, description="Widgets to show.")
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=2, le=2048, description="Refuse texts longer than this.")
    device: Optional[Literal["auto", "cpu", "cuda"]] = Field(
        None, description="Where the model runs for this block: auto, cpu or cuda (default: the site's, cpu).")
    dtype: Optional[Literal["float32", "bfloat16"]] = Field(
        None, description="The model's number format for this block: float32 or bfloat16 (default: the site's).")
    live: bool = Field(False, description="A 'try your own text' control: the model runs in the reader's browser "
                                          "(encoders; head, model and neuron views, and saliency of a "
                                          "sentence pair by occlusion; generator/live/).")

    _lines: dict = PrivateAttr(default_factory=dict)
    _file: str = PrivateAttr(default="<spec>")
    # A `use:` block: the page's file and lines, the fields it set (title, caption, views) and the methods of the
    # curated example it uses, so that an error the page's own choices cause is placed on the page.
    _page: tuple[str, dict] | None = PrivateAttr(default=None)
    _page_fields: frozenset = PrivateAttr(default=frozenset())
    _base_methods: frozenset = PrivateAttr(default=frozenset())

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the text is empty: give the model something to read")
        return value

    @field_validator("pair")
    @classmethod
    def _pair_not_blank(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not sentence.strip() for sentence in value):
            raise ValueError("both sentences of the pair need text")
        return value

    @field_validator("views")
    @classmethod
    def _unique_views(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the list of views is empty: name at least one view, or leave 'views' out for the "
                             "views of the methods given options (else head and model)")
        twice = [view for view in dict.fromkeys(value) if value.count(view) > 1]
        if twice:       # a page shows each view of a block once: a repeat is a slip, said rather than dropped
            raise ValueError(f"{', '.join(repr(view) for view in twice)} listed more than once: a block shows each "
                             "view once; delete the repeat")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> "SpecBase":
        if (self.text is None) == (self.pair is None):
            raise ValueError("give exactly one of 'text' or 'pair'")
        if self.pair is not None and self.generate:
            raise ValueError("'generate' continues a text; it cannot be used with a sentence pair")
        return self

    # -- derived --------------------------------------------------------------------------------------------

    @property
    def shown_views(self) -> list[str]:
        """Views in display order: the explicit list; else the views of every method given options; else the
        default method's views (attention: head and model)."""
        if self.views:
            return list(self.views)
        configured = [view for method in REGISTRY if method.options is not None
                      and getattr(self, method.name, None) is not None for view in method.views]
        return configured or list(REGISTRY[DEFAULT_METHOD].views)

    @property
    def methods(self) -> list[Method]:
        """The registered methods the shown views need, each once."""
        return REGISTRY.for_views(self.shown_views)

    def options(self, method: str) -> BaseModel | None:
        """The options of `method` as written, or its defaults; None for a method without options."""
        options = REGISTRY[method].options
        if options is None:
            return None
        return getattr(self, method, None) or options()

    def compute_fields(self) -> dict[str, Any]:
        """Everything that changes the baked numbers (and nothing that is only presentation). `device` and `dtype`
        are not here: they fall back to the site's setting, so the baker adds the resolved setting to the cache key
        (`generator.precision`), and only when it is not the default cpu / float32."""
        fields: dict[str, Any] = {"model": self.model, "text": self.text, "pair": self.pair,
                                  "generate": self.generate, "max_tokens": self.max_tokens}
        for method in self.methods:
            options = self.options(method.name)
            fields[method.name] = options.model_dump() if options is not None else True
        return fields

    def digest(self) -> str:
        canonical = json.dumps(self.compute_fields(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- errors placed in the author's file ------------------------------------------------------------------

    @property
    def file(self) -> str:
        return self._file

    def where(self) -> str:
        """How logs name this explorable: its id, or file:line of its block."""
        if self.id:
            return self.id
        line = min(self._lines.values()) if self._lines else None
        return f"{self._file}:{line}" if line else self._file

    def error(self, field: str, message: str, hint: str | None = None) -> SpecError:
        """A SpecError at `field` ("lens.watch.1"), placed in the file and line that set it: the page of a `use:`
        block for the fields the page sets, else the spec's own file."""
        loc = tuple(int(part) if part.isdigit() else part for part in field.split("."))   # "lens.watch.1"
        file, lines = self._file, self._lines
        if self._page is not None and loc[0] in self._page_fields:
            file, lines = self._page
        line = line_for(lines, loc) if lines else None
        return SpecError(message, file=file, line=line, field=field, hint=hint)

    def asked_by_page(self, method: str, error: SpecError) -> SpecError:
        """`error`, met while checking `method`, placed at the page's `views` when the page of a `use:` block asked
        for a view of a method the curated example does not have (the example itself is fine; the page's choice
        of views is what to change). Other errors are returned unchanged."""
        if self._page is None or "views" not in self._page_fields or method in self._base_methods:
            return error
        file, lines = self._page
        where = error.file if error.line is None else f"{error.file}:{error.line}"
        return SpecError(f"the curated explorable '{self.id}' cannot show the {method} view: {error.message}",
                         file=file, line=line_for(lines, ("views",)), field="views",
                         hint=f"choose other views for it, or change the example at {where}"
                              + (f": {error.hint.rstrip('. ')}" if error.hint else ""))

    def shown_by_default(self, method: "Method", error: SpecError) -> SpecError:
        """`error`, met while checking `method`, with its advice to remove a view ("or remove 'patching'", "or the
        attention_counterfactual view", "or remove 'saliency'" for the method's own name) put in words that fit a
        block without `views`: there the author listed no view, and the method's views are shown because its
        options are given. The advice becomes "or list the views wanted in 'views', as in views: [knockout,
        editing]" (or "delete 'saliency:'" when no other view is shown), saying that the method's options show
        its views by default. Errors without such advice, and any error of a block whose views are given (here or
        by a `use:` block's example), are returned unchanged."""
        if "views" in self.model_fields_set or not error.hint:
            return error

        def instead(found: re.Match) -> str:
            name = found.group("name") or found.group("view")
            gone = [name] if name in method.views else list(method.views) if name == method.name else []
            if not gone or not set(gone) & set(self.shown_views):
                return found.group()
            others = [view for view in self.shown_views if view not in gone]
            advice = (f"list the views wanted in 'views', as in views: [{', '.join(others)}]" if others
                      else f"delete '{method.name}:'")
            return (f"{advice}; no 'views' is given, so the {method.name} options show "
                    f"{_listed(list(method.views), 'and')} by default")

        hint = _REMOVAL.sub(instead, error.hint, count=1)
        if hint == error.hint:
            return error
        return SpecError(error.message, file=error.file, line=error.line, field=error.field, hint=hint)


_schemas: dict[int, type[SpecBase]] = {}


def spec_schema() -> type[SpecBase]:
    """The spec model authors are checked against: `SpecBase`, `views` limited to the registered views, and one
    optional field per method with options (its options model). Rebuilt when the method registry changes."""
    if REGISTRY.version not in _schemas:
        views = tuple(REGISTRY.views())
        fields: dict[str, Any] = {"views": (list[Literal[views]], Field(default_factory=list,  # type: ignore[valid-type]
                                                                       description="Widgets to show."))}
        for method in REGISTRY:
            if method.options is not None:
                fields[method.name] = (Optional[method.options], None)
        _schemas.clear()
        _schemas[REGISTRY.version] = create_model("ExplorableSpec", __base__=SpecBase, **fields)
    return _schemas[REGISTRY.version]


def __getattr__(name: str) -> Any:
    """`ExplorableSpec` is the current `spec_schema()` (so a method registered later is part of it)."""
    if name == "ExplorableSpec":
        return spec_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _describe_loc(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-after"))


def spec_from_data(data: Any, *, file: str, lines: dict[tuple, int] | None = None,
                   base: tuple = (), require_id: bool = False, unused_options: bool = True) -> SpecBase:
    """Validate one spec mapping; every problem becomes a SpecError naming file, line and field, and all of them
    are raised at once (`SpecError.combine`: a SpecErrors in reading order when there are several).

    unused_options: also refuse options of a method none of whose views `views` shows, and options that only views
    not shown use (`unused_options`); off for a `use:` block, whose page may show fewer views than its example."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError("an explorable is a mapping of fields such as 'model:' and 'text:'",
                        file=file, line=line_for(lines, base))
    misplaced = _misplaced_options(data, lines, base)
    errors = [SpecError(message, file=file, line=line_for(lines, base + loc), field=_describe_loc(loc) or None,
                        hint=hint) for loc, message, hint in (unused_options_of(data) if unused_options else [])
              if loc[:1] not in misplaced]      # options that are not options at all: said once, by `misplaced`
    try:
        spec = spec_schema().model_validate(data)
    except ValidationError as exc:
        found = [problem if problem[0] not in misplaced else (problem[0], *misplaced[problem[0]])
                 for problem in _schema_problems(exc.errors())] + _coherence_problems(data)
        errors = [SpecError(message, file=file, line=line_for(lines, base + loc), field=_describe_loc(loc) or None,
                            hint=hint) for loc, message, hint in found] + errors     # a value's own problem first
        error = SpecError.combine(errors)
        error.partial = _partial(data, [loc for loc, _, _ in found], file=file, lines=lines, base=base)
        raise error from None
    spec._lines = {key[len(base):]: value for key, value in lines.items() if key[:len(base)] == base}
    spec._file = file
    if require_id and spec.id is None:
        errors.append(SpecError("a curated explorable needs an 'id'", file=file, line=line_for(lines, base),
                                field="id", hint="add e.g. 'id: my-example' (lowercase letters, digits, '-' and '_')"))
    if errors:
        error = SpecError.combine(errors)
        error.partial = (spec, ())         # every field is valid: the model's rules can read them all
        raise error
    return spec


def _partial(data: dict[str, Any], refused: list[tuple], *, file: str, lines: dict[tuple, int],
             base: tuple) -> tuple[SpecBase, tuple[tuple, ...]] | None:
    """(the spec `data` makes with each value the schema refused left out, the key paths left out), for the rules
    that read the model's files (`explorables check` runs them on it, so that a head outside the model is reported
    with a schema error of its block, not once that error is fixed: `SpecError.partial`). A refused field is left
    out whole ('interventions.ablation'), an unknown view as the one entry of 'views'. None when a refused value
    cannot be left out (a required field, the rule of one 'text' or 'pair', the whole list of views, a block that
    is no mapping) or what is left is still refused."""
    import copy

    kept = copy.deepcopy(data)
    gone: list[tuple] = []
    for _ in range(3):
        views: set[int] = set()
        for loc in refused:
            cut = max((index for index, part in enumerate(loc) if isinstance(part, str)), default=-1)
            path = tuple(loc[:cut + 1])
            if not path or path == ("views",) and len(loc) == 1 or path in (("model",), ("text",), ("pair",)):
                return None
            if path == ("views",):
                views.add(loc[1])
                continue
            parent = kept
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if not isinstance(parent, dict) or path[-1] not in parent:
                return None
            del parent[path[-1]]
            gone.append(path)
        if views:
            if not isinstance(kept.get("views"), list):
                return None
            kept["views"] = [view for index, view in enumerate(kept["views"]) if index not in views]
            gone.extend(("views", index) for index in sorted(views))
        try:
            spec = spec_schema().model_validate(kept)
        except ValidationError as exc:
            refused = [_field_loc(problem) for problem in exc.errors()]
            continue
        spec._lines = {key[len(base):]: value for key, value in lines.items() if key[:len(base)] == base}
        spec._file = file
        return spec, tuple(gone)
    return None


def _schema_problems(problems: list[dict[str, Any]]) -> list[tuple[tuple, str, str | None]]:
    """(field loc, message, hint) for each field pydantic refused, in pydantic's order (the spec's field order).

    A value that fits no member of a union (`int | str`) gives one error per member, each with the member's name in
    its loc ('factors.layers.int'): one message says what was given and what the members take. A member that took
    the value's kind and failed inside it (entries of a list) is the one reported, once per entry.

    A required field that is missing because it was misspelt ('modle:' for 'model:') is one error, at the misspelt
    key: "unknown field: did you mean 'model'?", with no second error saying that 'model' is missing."""
    misspelt = _misspelt_required(problems)
    problems = [problem for problem in problems
                if not (problem["type"] == "missing" and _field_loc(problem) in misspelt)]
    out: list[tuple[tuple, str, str | None]] = []
    left = list(problems)
    while left:
        loc = _field_loc(left[0])
        related = [other for other in left if _field_loc(other)[:len(loc)] == loc]
        left = [other for other in left if all(other is not known for known in related)]
        deeper = [other for other in related if len(_field_loc(other)) > len(loc)]
        if deeper:
            for place in dict.fromkeys(_field_loc(other) for other in deeper):
                problem = next(other for other in deeper if _field_loc(other) == place)
                out.append(_problem(place, [problem]))
            continue
        out.append(_problem(loc, related))
    wrong = {key: name for name, key in misspelt.items()}
    return [(loc, f"unknown field: did you mean '{wrong[loc][-1]}'?",
             f"'{wrong[loc][-1]}' is required and not given: rename '{loc[-1]}' to '{wrong[loc][-1]}'")
            if loc in wrong else (loc, message, hint) for loc, message, hint in out]


def _misspelt_required(problems: list[dict[str, Any]]) -> dict[tuple, tuple]:
    """{loc of a missing required field: loc of the unknown key beside it that is a typo of it} (`_did_you_mean`'s
    closeness), each missing field matched with one key."""
    missing = {_field_loc(problem) for problem in problems if problem["type"] == "missing"}
    found: dict[tuple, tuple] = {}
    for problem in problems:
        loc = _field_loc(problem)
        if problem["type"] != "extra_forbidden" or not loc:
            continue
        names = sorted(str(name[-1]) for name in missing if name[:-1] == loc[:-1] and name not in found)
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=_TYPO_CUTOFF)
        if close:
            found[loc[:-1] + (close[0],)] = loc
    return found


def _problem(loc: tuple, members: list[dict[str, Any]]) -> tuple[tuple, str, str | None]:
    """(loc, message, hint) of one refused field: `members` holds one problem, or one per member of a union."""
    problem = members[0]
    message = plain_message(problem) if len(members) == 1 else union_message(members)
    hint = None
    if len(members) > 1:
        hint = _description(loc)
    elif problem["type"] == "extra_forbidden":
        message = "unknown field"
        hint = _elsewhere(str(loc[-1]), loc[:-1]) or _did_you_mean(str(loc[-1]), _fields_at(loc[:-1]),
                                                                     "valid fields")
    elif problem["type"] == "literal_error":
        views = bool(loc) and loc[0] == "views"     # the message lists the other fields' values, not the views
        if views:
            message = f"unknown view {quoted(problem['input'])}"
        hint = ((_method_as_view(str(problem["input"])) if views else None)
                or _did_you_mean(str(problem["input"]), _literal_values(loc), "valid views", close_only=not views))
    elif problem["type"] == "missing":
        message = "this field is required"
    elif problem["type"] in _NUMBER_PROBLEMS:
        hint = _range_hint(loc)
    return loc, message, hint


_TYPO_CUTOFF = 0.75

# Words authors write for a value of a fixed set that a typo's closeness cannot find ('gpu' is no misspelling of
# 'cuda'), each with the value meant and, where the two differ in meaning, a note. Used only when the value meant is
# one the field takes, so one table serves every field; a case-only difference needs no entry ('Probability').
_SYNONYMS: dict[str, tuple[str, str]] = {
    "gpu": ("cuda", ""), "nvidia": ("cuda", ""),
    "fp32": ("float32", ""), "f32": ("float32", ""), "float": ("float32", ""), "single": ("float32", ""),
    "full": ("float32", ""),
    **{word: ("bfloat16", "float16 is not offered: bfloat16 is the 16-bit format")
       for word in ("fp16", "f16", "half", "float16")},
    "bf16": ("bfloat16", ""),
    "prob": ("probability", ""), "probs": ("probability", ""), "p": ("probability", ""),
    "softmax": ("probability", ""),
    "zeros": ("zero", ""), "average": ("mean", ""),
}


def _did_you_mean(given: str, names: list[str], what: str, close_only: bool = False) -> str | None:
    """"did you mean 'text'?" when `given` names one of `names`: the same but for case ('Probability'), a common
    synonym of it (`_SYNONYMS`: 'gpu' for 'cuda'), or a close name (a typo: difflib's ratio of at least 0.75,
    case left out: 'Logits' for 'logit'); else "<what>: a, b, c" (short, so a box of several errors stays
    readable), or None with `close_only` (where the message lists the names already)."""
    folded = given.strip().lower()
    lower = {name.lower(): name for name in names}
    meant, note = _SYNONYMS.get(folded, ("", ""))
    if folded in lower:
        close, note = lower[folded], ""
    elif meant in names:
        close = meant
    else:
        found = difflib.get_close_matches(folded, list(lower), n=1, cutoff=_TYPO_CUTOFF)
        close, note = (lower[found[0]] if found else ""), ""
    if close:
        return f"did you mean '{close}'?" + (f" ({note})" if note else "")
    return None if close_only else f"{what}: " + ", ".join(names)


def _method_as_view(given: str) -> str | None:
    """For a method's name written as a view ('lens' in `views`), where its views are: "'lens' is a method; its views
    are layers, ranks and probabilities: list those wanted in its place, as in views: [layers, ranks,
    probabilities]", and for a method with options and several views how to show them all without `views`; None
    when `given` (case aside) names no method, or a method that is also a view (saliency)."""
    name = given.strip().lower()
    if name not in {method.name for method in REGISTRY} or name in REGISTRY.views():
        return None
    method = REGISTRY[name]
    own = list(method.views)
    views = f"its view is {own[0]}" if len(own) == 1 else f"its views are {_listed(own, 'and')}"
    alone = (f"; for these views alone, write '{method.name}:' (its options) in the block and leave 'views' out"
             if method.options is not None and len(own) > 1 else "")
    return (f"'{given}' is a method; {views}: list {'it' if len(own) == 1 else 'those wanted'} in its place, as in "
            f"views: [{', '.join(own)}]{alone}")


def _literal_values(loc: tuple) -> list[str]:
    """The values a field with a fixed set of values takes (a `Literal`, alone, optional or as a list's entries),
    read from the schema at `loc` (list positions skipped); [] when the field has no such set."""
    info = _field_info(loc)
    return choices(info.annotation) if info is not None else []


def _field_homes() -> dict[str, list[str]]:
    """{field name: the places that take it}: '' for the block's top level, else the method whose options have it
    ('interventions'), in the schema's order. Built from the schema, so a method registered later is in it."""
    schema = spec_schema()
    homes: dict[str, list[str]] = {name: [""] for name in schema.model_fields}
    for method in REGISTRY:
        if method.options is not None:
            for name in method.options.model_fields:
                homes.setdefault(name, []).append(method.name)
    return homes


def _elsewhere(name: str, place: tuple) -> str | None:
    """For an unknown field `name` at `place` (() for the top level, ('counterfactuals',) inside a method's options)
    that is a field somewhere else in the schema: where it belongs ("'contrast' is an option of interventions (...):
    write it under 'interventions:'"), followed by the did-you-mean of a close name at `place` when there is one.
    None when `name` is a field nowhere (or the unknown key sits deeper than a method's options)."""
    if len(place) > 1 or not all(isinstance(part, str) for part in place):
        return None
    here = place[0] if place else ""
    homes = [home for home in _field_homes().get(name, []) if home != here]
    if not homes:
        return None
    if homes == [""]:
        where = (f"'{name}' is a field of the block itself, not an option of {here}: write it at the top level, "
                 f"not under '{here}:'")
    else:
        methods = [home for home in homes if home]
        what = f"an option of {_listed(methods, 'and')}"
        if len(methods) == 1:
            kind = _short(_field_info((methods[0], name)))
            what += f" ({kind})" if kind else ""
        under = f"'{methods[0]}:'" if len(methods) == 1 else "one of them"
        where = f"'{name}' is {what}: write it under {under}"
    close = difflib.get_close_matches(name, _fields_at(place), n=1, cutoff=_TYPO_CUTOFF)
    return where + (f"; or did you mean '{close[0]}'?" if close else "")


def _short(info: Any) -> str:
    """What an option is for, in a few words: its description's part before the first ':' when that is short
    ('Activation patching: a contrast text ...' -> 'activation patching'), else ''."""
    head, colon, _ = (getattr(info, "description", None) or "").partition(":")
    return f"{head[:1].lower()}{head[1:]}" if colon and len(head.split()) <= 4 else ""


def _misplaced_options(data: dict[str, Any], lines: dict[tuple, int], base: tuple) -> dict[tuple, tuple[str, str]]:
    """{(name,): (message, hint)} for a top-level field `name` that holds a method's options (a mapping) but is given
    another value, where `name` is also an option of another method: the author most often meant that option and
    lost its indentation ('interventions:' and then 'factors: [0, 0.5, 2]' at column 0 reads as the factors view's
    options, not the attention edits' factors). The message says what the top-level field is; the hint gives the
    option's indented form under the method that has it when that method is in the block (its options or one of
    its views), else the form of the top-level method's first option ('factors: {counts: [3, 5]}')."""
    shown = data.get("views") if isinstance(data.get("views"), list) else []
    found: dict[tuple, tuple[str, str]] = {}
    for name, value in data.items():
        own = next((method for method in REGISTRY if method.name == name and method.options is not None), None)
        if own is None or isinstance(value, dict) or value is None:
            continue
        others = [home for home in _field_homes().get(name, []) if home not in ("", name)]
        if not others:
            continue
        fields = list(own.options.model_fields)
        what = (own.options.model_fields[fields[0]].description or "").split(";")[0].rstrip(". ")
        named = [f"'{fields[0]}'" + (f" ({what[:1].lower()}{what[1:]})" if what else "")]
        named += [f"'{field}'" for field in fields[1:]]
        about = own.summary.partition(": ")[2].rstrip(". ")
        views = _listed(list(own.views), "and") + (" views" if len(own.views) > 1 else " view")
        message = (f"at the top level, '{name}' holds the options of the {views}{f' ({about})' if about else ''}: "
                   f"{_listed(named, 'and')}, as a mapping; {_given(value)} is not read as them")
        used = [home for home in others
                if home in data or set(REGISTRY[home].views) & {view for view in shown if isinstance(view, str)}]
        written = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
        if used:
            home = used[0]
            kind = _short(_field_info((home, name)))
            flow = isinstance(data.get(home), dict) and data[home] and all(
                lines.get(base + (home, key)) == lines.get(base + (home,)) for key in data[home])
            plural = kind.endswith("s")         # 'attention edits'
            where = (f"write {'them' if plural else 'it'} inside the braces of '{home}: {{...}}', as in {home}: "
                     f"{{..., {name}: {written}}}" if flow else
                     f"indent this line under '{home}:' by two spaces, as in '{home}:' and on the next line "
                     f"'  {name}: {written}'")
            hint = (f"the {kind}' {name} are" if plural else f"'{name}' is") + f" an option of {home}: {where}"
        else:
            hint = f"for the {views}, write {name}: {{{fields[0]}: {written}}}"
        found[(name,)] = (message, hint)
    return found


def _given(value: Any) -> str:
    """What an author's value is, in words: 'a list', 'text', 'the number 3'."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return f"the number {value:g}"
    return _GIVEN.get(type(value), type(value).__name__)


def _coherence_problems(data: dict[str, Any]) -> list[tuple[tuple, str, None]]:
    """The rule of `SpecBase._coherent` that pydantic runs only once every field is valid (exactly one of text or
    pair), read from the raw mapping, so that it is reported with the fields' errors; not when an unknown field looks
    like one of them (a typo such as 'txt' is reported as such)."""
    unknown = [str(key) for key in data if key not in spec_schema().model_fields]
    if any(difflib.get_close_matches(key, ["text", "pair"], n=1, cutoff=0.75) for key in unknown):
        return []
    if ("text" in data) == ("pair" in data):
        return [((), "give exactly one of 'text' or 'pair'", None)]
    return []


def unused_options_of(data: dict[str, Any]) -> list[tuple[tuple, str, str]]:
    """(loc, message, hint) for each option a block gives that no shown view uses, read from the raw mapping so
    that these errors come with the schema's: a method's options when `views` (given, a list of known view names)
    shows none of its views, and an option that only some of a method's views use (`Method.option_views`, next to
    the method's views in its registry record) when `views` shows none of those. Without `views` every view of a
    method given options is shown, so nothing is unused."""
    views = data.get("views")
    known = set(REGISTRY.views())
    if not isinstance(views, list) or not views or not all(isinstance(view, str) and view in known for view in views):
        return []
    out: list[tuple[tuple, str, str]] = []
    for method in REGISTRY:
        if method.options is None or method.name not in data:
            continue
        if not set(method.views) & set(views):
            own = list(method.views)
            what = (f"the {own[0]} view" if len(own) == 1
                    else f"any of the {_listed(own, 'and')} views")
            out.append(((method.name,), f"the {method.name} options are not used: 'views' does not show {what}",
                        _meant_elsewhere(method.name, data, views)
                        or f"add {_listed(own, 'or')} to 'views', or delete '{method.name}:'"))
            continue
        options = data[method.name]
        if not isinstance(options, dict):
            continue
        for option, users in method.option_views.items():
            if option in options and not set(users) & set(views):
                users = list(users)
                what = f"the {users[0]} view" if len(users) == 1 else f"the {_listed(users, 'and')} views"
                out.append(((method.name, option), f"'{option}' is an option of {what}, and 'views' does not show "
                                                   f"{'it' if len(users) == 1 else 'them'}",
                            f"add {_listed(users, 'or')} to 'views', or delete '{option}'"))
    return out


# An option of one method that an author gives for a view of another, which takes the like value from an option of
# its own: (method, option) -> (the view, its method, its option, what it takes). Counterfactual contrasts are
# several texts for the contrast views; activation patching reads one contrast of as many tokens as the text.
_ELSEWHERE = {("counterfactuals", "contrasts"): ("patching", "interventions", "contrast",
                                                 "one text with as many tokens as the text")}


def _meant_elsewhere(name: str, data: dict[str, Any], views: list[str]) -> str | None:
    """The hint for options of method `name` that `views` does not use where one of them is what a shown view takes
    from another method's option (`_ELSEWHERE`, and that option not given): which field the view reads, with the
    author's first value written there. None otherwise."""
    options = data.get(name)
    for option, value in (options.items() if isinstance(options, dict) else []):
        if (name, option) not in _ELSEWHERE:
            continue
        view, home, field, takes = _ELSEWHERE[(name, option)]
        theirs = data.get(home)
        if view not in views or (isinstance(theirs, dict) and field in theirs):
            continue
        first = value[0] if isinstance(value, list) and value else value
        example = (yaml.safe_dump({home: {field: first}}, default_flow_style=True, width=10**6, allow_unicode=True)
                   .strip() if isinstance(first, str) else f"{home}: {{{field}: ...}}")
        if example.startswith("{") and example.endswith("}"):
            example = example[1:-1]
        own = list(REGISTRY[name].views)
        return (f"the {view} view reads its {field} from '{home}.{field}', {takes}, not from '{name}.{option}': "
                f"write {example} and delete '{name}:', or add {_listed(own, 'or')} to 'views'")
    return None


def _listed(names: list[str], joint: str) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {joint} " + names[-1]


_NUMBER_PROBLEMS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than", "int_parsing", "int_type",
                    "int_from_float", "finite_number", "float_parsing", "float_type"}


def _field_loc(problem: dict[str, Any]) -> tuple:
    """A pydantic error's loc with the names pydantic gives the members of a union left out ('int', 'str',
    'list[int]', "literal['all']", 'function-after[...]', a model's class name): field names and list positions.
    The last part of an unknown field's loc is the key as the author wrote it ('Model'), never a member's name."""
    loc = tuple(problem["loc"])
    kept = loc[:-1] if problem["type"] == "extra_forbidden" and loc else loc
    return tuple(part for part in kept if isinstance(part, int) or not _is_member_tag(str(part))) + loc[len(kept):]


def _is_member_tag(part: str) -> bool:
    return ("[" in part or part in _TYPE_NAMES or part[:1].isupper()
            or part.startswith(("function-", "literal", "lax-or-strict", "json-or-python", "nullable")))


_TYPE_NAMES = {"int", "str", "float", "bool", "list", "dict", "none", "tuple", "set"}

# What an input of each kind is called, and what a union member of each error type takes.
_GIVEN = {list: "a list", dict: "a mapping", str: "text", bool: "true or false", type(None): "an empty value"}
_TAKES = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
          "string_type": "text", "list_type": "a list", "bool_type": "true or false", "bool_parsing": "true or false",
          "float_type": "a number", "float_parsing": "a number", "dict_type": "a mapping", "model_type": "a mapping",
          "none_required": "nothing"}


def union_message(problems: list[dict[str, Any]]) -> str:
    """One sentence for a value that no member of a union takes: what was given, and what is taken."""
    value = problems[0].get("input")
    given = next((name for kind, name in _GIVEN.items() if type(value) is kind), None)
    if given is None:
        given = repr(value) if isinstance(value, (int, float)) else type(value).__name__
    takes = list(dict.fromkeys(_TAKES[problem["type"]] for problem in problems if problem["type"] in _TAKES))
    if len(takes) < len(problems):      # a member with its own rule (a range, a pattern): its words say it
        return plain_message(problems[-1])
    alternatives = takes[0] if len(takes) == 1 else ", ".join(takes[:-1]) + " or " + takes[-1]
    return f"{given} is not taken here: give {alternatives}"


def _description(loc: tuple) -> str | None:
    """The schema description of the field at `loc`, lowercased and without its final full stop."""
    info = _field_info(loc)
    what = (info.description or "").rstrip(". ") if info is not None else ""
    return f"{what[:1].lower()}{what[1:]}" if what else None


def _field_info(loc: tuple):
    """The pydantic FieldInfo of the field at `loc` (names only), or None."""
    model: type[BaseModel] | None = spec_schema()
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        nested = [arg for arg in getattr(info.annotation, "__args__", (info.annotation,))
                  if isinstance(arg, type) and issubclass(arg, BaseModel)]
        model = nested[0] if nested else None
    return info


def _plural(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def plain_message(problem: dict[str, Any]) -> str:
    """A pydantic error in an author's words (no "Input should be a valid integer, unable to parse string")."""
    kind, context, value = problem["type"], problem.get("ctx") or {}, problem.get("input")
    shown = quoted(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__
    plain = {
        "int_parsing": f"this should be a whole number such as 5, not {shown}",
        "int_type": f"this should be a whole number such as 5, not {shown}",
        "int_from_float": f"this should be a whole number such as 5, not {shown}",
        "string_type": (f"this should be text, not {shown}, which YAML reads as a number: quote it, as in "
                        f"\"{value}\"" if isinstance(value, int) and not isinstance(value, bool) else
                        f"this should be text, not {shown}, which YAML reads as a number: quote it, as written"
                        if isinstance(value, float) else f"this should be text, not {shown}"),
        "list_type": f"this should be a list such as [a, b], not {shown}",
        "bool_parsing": f"this should be true or false, not {shown}",
        "bool_type": f"this should be true or false, not {shown}",
        "model_type": "this should be a mapping of options, one 'name: value' per line",
        "dict_type": "this should be a mapping of options, one 'name: value' per line",
        "greater_than_equal": f"{shown} is too small: the least allowed is {context.get('ge')}",
        "less_than_equal": f"{shown} is too large: the most allowed is {context.get('le')}",
        "greater_than": f"{shown} is too small: it must be more than {context.get('gt')}",
        "less_than": f"{shown} is too large: it must be less than {context.get('lt')}",
        "too_short": f"this needs at least {_plural(context.get('min_length'), 'entry', 'entries')}",
        "too_long": f"this takes at most {_plural(context.get('max_length'), 'entry', 'entries')}",
        "finite_number": f"this should be a finite number, not {shown}",
        "float_parsing": f"this should be a number such as 0.5, not {shown}",
        "float_type": f"this should be a number such as 0.5, not {shown}",
        "string_too_short": "this must not be empty",
        "string_pattern_mismatch": f"{shown} is not allowed here: use lowercase letters, digits, '-' and '_'",
        "literal_error": f"{shown} is not one of {context.get('expected', 'the allowed values')}",
    }
    message = plain.get(kind) or problem["msg"].removeprefix("Value error, ")
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def _range_hint(loc: tuple) -> str | None:
    """'<field description>: a whole number from <ge> to <le>, default <d>' for a bounded number field (a float
    field: 'a number'; one bound only: 'at least' / 'at most')."""
    info = _field_info(loc)
    if info is None:
        return None
    bounds = getattr(info, "metadata", [])
    low = next((m.ge for m in bounds if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in bounds if getattr(m, "le", None) is not None), None)
    if low is None and high is None:
        return None
    kind = "a whole number" if info.annotation is int else "a number"
    text = (f"{kind} from {low} to {high}" if low is not None and high is not None
            else f"{kind} of at least {low}" if low is not None else f"{kind} of at most {high}")
    text += f", default {info.default}" if info.default is not None else ""
    what = (info.description or "").split(" (")[0].rstrip(".")
    return f"{what[:1].lower()}{what[1:]}: {text}" if what else text


def _fields_at(loc: tuple) -> list[str]:
    model: type[BaseModel] = spec_schema()
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        candidates = [arg for arg in getattr(annotation, "__args__", (annotation,)) if isinstance(arg, type)]
        nested = [arg for arg in candidates if issubclass(arg, BaseModel)]
        if not nested:
            break
        model = nested[0]
    return sorted(model.model_fields)


def parse_block(text: str, *, file: str = "<markdown>", line_offset: int = 0) -> dict[str, Any]:
    """Parse the YAML body of a Markdown block; returns the mapping and its line map (offset into the page)."""
    try:
        data, lines = load_with_lines(text, file) if text.strip() else (None, {})
    except SpecError as error:
        raise error.located(file, line_offset) from None
    if data is None:
        raise SpecError("the explorable block is empty", file=file, line=line_offset or None,
                        hint="write at least 'model:' and 'text:', or 'use: <curated id>'")
    lines = {key: value + line_offset for key, value in lines.items()}
    return {"data": data, "lines": lines}


class Catalogue:
    """The curated specs of explorables/*.yml, by id, and the errors met reading them.

    A bad entry does not hide the others: `errors` holds one SpecError per entry (or per file that cannot be read
    at all), placed at file, line and field; a block that uses a broken entry is told so by `get`."""

    def __init__(self, specs: dict[str, SpecBase], errors: list[SpecError] | None = None,
                 broken: dict[str, SpecError] | None = None, unread: list[str] | None = None):
        self.specs = specs
        self.errors = errors or []
        self.broken = broken or {}     # id -> the error of the entry that has it (its spec could not be made)
        self.unread = unread or []     # files not read at all (not YAML, not a list, ...)

    @classmethod
    def load(cls, folder: str | Path, relative_to: str | Path | None = None) -> "Catalogue":
        """Read every *.yml / *.yaml file of `folder`; errors name files relative to `relative_to` when given (the
        folder of mkdocs.yml, as for pages)."""
        folder = Path(folder)
        specs: dict[str, SpecBase] = {}
        errors: list[SpecError] = []
        broken: dict[str, SpecError] = {}
        unread: list[str] = []
        if not folder.is_dir():
            return cls(specs)
        for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
            file = str(path) if relative_to is None else Path(os.path.relpath(path, relative_to)).as_posix()
            try:
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise SpecError("the file is not UTF-8 text", file=file) from None
                repeated: list[SpecError] = []
                data, lines = load_with_lines(text, file, repeated)
                if data is None:
                    continue
                if not isinstance(data, list):
                    raise SpecError("a curated file holds a list of explorables, each starting with '- id:'",
                                    file=file, line=1)
            except SpecError as error:
                errors.append(error)
                unread.append(file)
                continue
            by_entry: dict[int, list[SpecError]] = {}
            for error in repeated:      # a key given twice spoils its entry only
                by_entry.setdefault(int(error.field.split(".")[0]), []).append(error)
            for index, item in enumerate(data):
                try:
                    try:
                        spec = spec_from_data(item, file=file, lines=lines, base=(index,), require_id=True)
                    except SpecError as error:
                        combined = SpecError.combine(by_entry.get(index, []) + [error])
                        combined.partial = error.partial
                        raise combined from None
                    if index in by_entry:
                        raise SpecError.combine(by_entry[index])
                    if spec.id in specs or spec.id in broken:
                        first = specs.get(spec.id) or broken[spec.id]
                        where = (f"{first.file}:{first._lines.get(('id',), '?')}" if spec.id in specs
                                 else f"{first.file}:{first.line}, an entry with an error")
                        raise spec.error("id", f"duplicate explorable id '{spec.id}'",
                                         hint=f"already defined in {where}; ids must be unique across explorables/")
                except SpecError as error:
                    errors.append(error)
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        broken.setdefault(item["id"], error)
                    continue
                specs[spec.id] = spec
        return cls(specs, errors, broken, unread)

    def get(self, spec_id: str, *, file: str, line: int | None) -> SpecBase:
        if spec_id in self.specs:
            return self.specs[spec_id]
        if spec_id in self.broken:
            error = self.broken[spec_id]
            more = len(error.errors) - 1
            raise SpecError(f"the curated explorable '{spec_id}' has {'an error' if not more else 'errors'}",
                            file=file, line=line, field="use",
                            hint=f"fix it first: {error.errors[0]}" + (f" (and {more} more)" if more else ""))
        known = ", ".join(sorted(self.specs)) or "none yet"
        raise SpecError(f"no curated explorable with id '{spec_id}'", file=file, line=line, field="use",
                        hint=f"known ids: {known}"
                             + (f"; {', '.join(self.unread)} could not be read (see its error)" if self.unread else ""))


    def claim_id(self, spec: SpecBase, seen: dict[str, str] | None) -> None:
        """Refuse a page block's `id` that a curated explorable has, or (with `seen`, id -> FILE:LINE of the block
        that declared it first, filled here) that another block declared before, as curated files refuse a
        duplicate. A `use:` block carries its example's id and is not a declaration. Raises SpecError at `id`."""
        if spec.id is None or spec._page is not None:
            return
        if spec.id in self.specs or spec.id in self.broken:
            curated = self.specs.get(spec.id)
            where = (f"{curated.file}:{curated._lines.get(('id',), '?')}" if curated is not None
                     else f"{self.broken[spec.id].file}:{self.broken[spec.id].line}")
            raise spec.error("id", f"'{spec.id}' is the id of a curated explorable ({where})",
                             hint=f"to show that example write 'use: {spec.id}' without model and text, or give "
                                  "this block another id; ids are unique across pages and explorables/")
        if seen is None:
            return
        place = f"{spec.file}:{min(spec._lines.values())}" if spec._lines else spec.file
        first = seen.setdefault(spec.id, place)
        if first != place:
            raise spec.error("id", f"duplicate explorable id '{spec.id}'",
                             hint=f"already used at {first}; ids are unique across pages and explorables/")


def spec_from_block(body: str, *, file: str, line_offset: int, catalogue: Catalogue) -> SpecBase:
    """A Markdown block: either a full spec, or 'use: <id>' with optional presentation overrides."""
    parsed = parse_block(body, file=file, line_offset=line_offset)
    data, lines = parsed["data"], parsed["lines"]
    if isinstance(data, dict) and "use" in data:
        overrides = {key: value for key, value in data.items() if key != "use"}
        allowed = {"title", "caption", "views", "live"}
        extra = sorted(set(overrides) - allowed)
        if extra:
            raise SpecError("unknown field next to 'use'", file=file, line=line_for(lines, (extra[0],)),
                            field=extra[0], hint="with 'use' you may only set title, caption, views and live")
        base = catalogue.get(str(data["use"]), file=file, line=line_for(lines, ("use",)))
        merged = base.model_dump(exclude_unset=True) | overrides
        try:
            spec = spec_from_data(merged, file=file, lines=lines, unused_options=False)
        except SpecError as error:
            error.partial = None    # the example's own options are checked, at its lines, as a curated spec
            raise
        spec._file, spec._lines = base.file, base._lines
        spec._page, spec._page_fields = (file, lines), frozenset(overrides)
        spec._base_methods = frozenset(method.name for method in base.methods)
        return spec
    return spec_from_data(data, file=file, lines=lines)
