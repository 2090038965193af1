"""The method registry: one record per method, from which the spec schema, the bake and the page are derived.

A method (in Captum's sense: one class of explanation under one contract) is a `Method` record:

- `name`: the payload section it writes and the spec field that holds its options (`saliency: {ig_steps: 50}`);
- `views`: the views it provides, view name -> custom element tag (`{"saliency": "explorable-saliency-view"}`);
- `options`: a pydantic model of its options (or None), included in the spec schema as field `name`;
- `needs`: what it needs from the model run (`Needs`: hook names such as `blocks.*.attn.hook_pattern`, and a few
  whole-run flags), so the capture records only that; `needs_of(spec)`, where
  given, narrows it to what the spec's options use (`Method.needs_for`);
- `check(spec, model_info, n_tokens)`: model-dependent rules, raised as placed `SpecError`s before the model runs
  (by the bake, and by `explorables check` without torch); n_tokens is the most tokens the run can have, or None;
- `section(spec, capture)`: the function from a `Capture` to its payload section (a JSON-ready dict);
- `metrics(section)`: what the experiment trackers log of a baked section (name -> number), or None
  (`generator.tracking.record`); it reads the JSON section only, never the model;
- `option_views`: the options (fields of `options`) that only some of its views use, option -> those views
  (`{"contrast": ("patching",)}`); an option not listed is used by every view. A block whose `views` shows none of
  an option's views is refused at that option, and one that shows no view of the method at its options field
  (`generator.spec.unused_options_of`), so an option is never silently ignored;
- `summary`: one line saying what the views show (the authors' table in docs/writing.md, `generator.methods.table`);
- `encoder_decoder`: whether it also reads encoder-decoder models (whose capture differs, see `generator.capture`);
- `parts`: fields of its section holding a list of ARRAYs (one per layer) that its views show one at a time: on
  the site every entry but the first becomes a data file fetched when shown (`generator.payload.parts`);
- `detached`: those of `parts` whose first entry becomes a data file too (a long text's attention layers: the
  first figure of one of its views needs none, or one that is small, and the payload stays small).

Everything else is derived from the registry: the spec's allowed views and their error hints (`generator.spec`), the
sections a bake computes and what the capture records (`generator.bake`), the view -> element table of the page
(`generator.widget_html`), the views' PNGs and the metrics the trackers log (`generator.tracking`), and the authors'
table of views and options (`generator.methods.table`). Built-in methods are listed in `generator.methods`;
`register` adds one at run time (tests do), and refuses a record that does not fit this contract (`ContractError`,
saying what is expected), so a broken record fails when it is registered, never at a reader's bake.
Importing this module imports neither torch nor any method's heavy code.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field as dataclass_field, fields
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..capture import Capture
    from ..models.facts import ModelInfo
    from ..spec import ExplorableSpec


@dataclass(frozen=True)
class Needs:
    """What a method needs the model run to record (the capture records the union over a spec's methods).

    `hooks` lists hook names or patterns (`generator.hooks`: `blocks.*.attn.hook_pattern`, `blocks.3.hook_resid_post`,
    `hook_embed`, `ln_final.hook_normalized`, ...) and weight names (`blocks.*.attn.W_O`): the capture records each
    activation in `Capture.activations` by name, batch axis dropped (shapes in `generator.hooks`), each weight in
    `Capture.weights`. A new capture point is one entry in `generator/hooks.py` and its place in the adapter; a
    method asks for it here by name. The flags after it are whole-run needs.
    """

    hooks: tuple[str, ...] = ()    # hook names or patterns, and weight names, recorded by name (see above)
    # whole-run flags:
    # the attention patterns read one layer at a time (`Capture.attention_by_layer`): on a long text (see
    # methods.attention.layered), unless another method asks for `blocks.*.attn.hook_pattern` by name, the run never
    # holds [L, H, N, N]; otherwise it records the patterns by name as usual
    attention_layers: bool = False
    gradients: bool = False        # the method runs the model again (gradients, edits): `Capture.model_run`
    sentences: bool = False        # each sentence of a pair tokenised on its own (bi-encoder reading); the
                                   # sentences' own runs record the same hook names (`Sentence.activations`)
    adapter: bool = False          # needs an architecture adapter (module paths) for this model family
    readout: bool = False          # the final norm and unembedding as a handle (`Capture.readout`, models/readout.py)
    vocabulary: bool = False       # token ids <-> display text (`Capture.vocabulary`, tokens.Vocabulary)

    def __or__(self, other: "Needs") -> "Needs":
        merged = {f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        merged["hooks"] = tuple(dict.fromkeys(self.hooks + other.hooks))
        return Needs(**merged)

    def asks(self, point: str) -> bool:
        """Whether some entry of `hooks` names point `point` of some layer (`"attn.hook_q"`, `"attn.W_O"`,
        `"hook_embed"`): what the rules read to tell whether the model's family can give it (no torch)."""
        from .. import hooks

        if point in (hooks.EMBED, hooks.FINAL):
            names = [point]
        elif point in hooks.WEIGHTS:
            names = [hooks.weight_name(0, point)]
        else:
            names = [hooks.hook_name(0, point)]
        return any(hooks.matching(hooks.layer_free(name), names) for name in self.hooks)


@dataclass(frozen=True)
class Method:
    name: str
    views: dict[str, str]
    section: Callable[["ExplorableSpec", "Capture"], dict[str, Any]]
    needs: Needs = Needs()
    options: type["BaseModel"] | None = None
    check: Callable[["ExplorableSpec", "ModelInfo", int | None], None] | None = None
    summary: str = ""              # one line for the authors' table (docs/writing.md): what the views show
    metrics: Callable[[dict[str, Any]], dict[str, float]] | None = None   # tracker metrics of a baked section
    encoder_decoder: bool = False  # its section can be computed for encoder-decoder models (T5, BART, ...)
    parts: tuple[str, ...] = ()    # lists of ARRAYs shown one at a time: data files of their own on the site
    detached: tuple[str, ...] = () # those of `parts` whose first entry is a data file too (not in the payload)
    # spec fields, besides the input, that a block needs before it can show every view of this method (for the
    # support table's probes, generator.models.support): e.g. the contrast text activation patching compares with
    example: tuple[tuple[str, Any], ...] = ()
    # what the run must record for this spec's options, when that depends on them (None: always `needs`); e.g.
    # the explanations method asks for value vectors only when value-weighted attention is chosen
    needs_of: Callable[["ExplorableSpec"], Needs] | None = None
    # options that only some of its views use: option -> those views (see the module docstring)
    option_views: dict[str, tuple[str, ...]] = dataclass_field(default_factory=dict)
    # views that draw none of the generated tokens (only the prompt's, or no token at all): a block showing only
    # such views gets no key to the generated tokens' underline in its caption
    prompt_only_views: tuple[str, ...] = ()

    def needs_for(self, spec: "ExplorableSpec") -> Needs:
        """What the model run must record for this method with `spec`'s options (`needs_of`, else `needs`)."""
        return self.needs if self.needs_of is None else self.needs_of(spec)


class ContractError(TypeError):
    """A method record that does not fit the contract of `Method` (raised by `Registry.register`)."""


# (field, the arguments it is called with, how the contract writes them)
_CALLED = (("section", 2, "section(spec, capture) -> dict"),
           ("check", 3, "check(spec, model_info, n_tokens) -> None, raising spec.error(field, message, hint=...)"),
           ("metrics", 1, "metrics(section) -> {name: number}"),
           ("needs_of", 1, "needs_of(spec) -> Needs"))
_TAG = re.compile(r"explorable-[a-z0-9]+(-[a-z0-9]+)*")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _takes(function: Callable, count: int) -> bool:
    """Whether `function` can be called with `count` positional arguments."""
    try:
        inspect.signature(function).bind(*range(count))
    except TypeError:
        return False
    except ValueError:       # no signature to read (a builtin): let it be
        return True
    return True


def check_contract(method: Any) -> None:
    """Raise ContractError, naming the method, the field and what is expected, when `method` is not a `Method`
    that fits the contract (module docstring): a lowercase name, views as {view: custom element tag}, callables
    taking the arguments they are called with, an options model, `Needs`, parts as a tuple of field names."""
    from pydantic import BaseModel

    if not isinstance(method, Method):
        raise ContractError(f"register takes a Method record, got {type(method).__name__}")
    who = f"method '{method.name}'"
    if not isinstance(method.name, str) or not _NAME.fullmatch(method.name):
        raise ContractError(f"{who}: the name is the payload section and the spec field, so it is lowercase letters, "
                            "digits and '_', starting with a letter")
    if not isinstance(method.views, dict) or not all(isinstance(view, str) and _NAME.fullmatch(view)
                                                     for view in method.views):
        raise ContractError(f"{who}: views must be a dict {{view name: custom element tag}} with lowercase view names")
    for view, tag in method.views.items():
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise ContractError(f"{who}: view '{view}' names the element {tag!r}; a custom element tag here is "
                                "'explorable-<name>', as the view class's `static tag` says")
    for field, count, shape in _CALLED:
        function = getattr(method, field)
        if function is None and field != "section":
            continue
        if not callable(function) or not _takes(function, count):
            raise ContractError(f"{who}: {field} must be a function called as {shape} ({count} positional "
                                f"argument{'s' if count > 1 else ''}); got {getattr(function, '__name__', function)!r}"
                                + (f" taking {inspect.signature(function)}" if callable(function) else ""))
    if method.options is not None and not (isinstance(method.options, type) and issubclass(method.options, BaseModel)):
        raise ContractError(f"{who}: options must be a pydantic model class (generator.methods.options.Options) or "
                            "None")
    if not isinstance(method.needs, Needs):
        raise ContractError(f"{who}: needs must be a Needs record (what the model run records for it)")
    if not isinstance(method.needs.hooks, tuple):
        raise ContractError(f"{who}: needs.hooks must be a tuple of hook names or patterns, such as "
                            "('blocks.*.attn.hook_pattern',)")
    for name in method.needs.hooks:
        _check_hook(who, name)
    if not isinstance(method.parts, tuple) or not all(isinstance(part, str) for part in method.parts):
        raise ContractError(f"{who}: parts must be a tuple of section field names (lists of ARRAYs shown one at a "
                            "time)")
    if not isinstance(method.detached, tuple) or not set(method.detached) <= set(method.parts):
        raise ContractError(f"{who}: detached must be a tuple of some of its parts fields")
    _check_option_views(who, method)


def _check_option_views(who: str, method: "Method") -> None:
    """`option_views` maps fields of the method's options to tuples of its own views, else ContractError."""
    if not isinstance(method.option_views, dict):
        raise ContractError(f"{who}: option_views must be a dict {{option: (view, ...)}}")
    names = set(method.options.model_fields) if method.options is not None else set()
    for option, users in method.option_views.items():
        if option not in names:
            raise ContractError(f"{who}: option_views names '{option}', which is not one of its options"
                                + (f" ({', '.join(sorted(names))})" if names else " (it has none)"))
        if not isinstance(users, tuple) or not users or not set(users) <= set(method.views):
            raise ContractError(f"{who}: option_views['{option}'] must be a non-empty tuple of its views "
                                f"({', '.join(method.views)})")


def _check_hook(who: str, name: object) -> None:
    """A hook name or pattern that can name some point (generator.hooks), else ContractError."""
    from .. import hooks

    if not isinstance(name, str):
        raise ContractError(f"{who}: needs.hooks holds {name!r}; a hook name is a string")
    if not hooks.matching(name, hooks.all_names(256) + hooks.weight_names(256)):
        raise ContractError(f"{who}: needs.hooks: '{name}' names no hook point or weight (known: {hooks.EMBED}, "
                            f"{hooks.FINAL}, and blocks.<layer>.<point> with point one of "
                            f"{', '.join(hooks.POINTS + hooks.WEIGHTS)}; '*' for any layer)")


class Registry:
    """Methods by name, in registration order (which is the order views are offered in)."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self.version = 0           # bumped on every change, so derived schemas know to rebuild

    def register(self, method: Method) -> Method:
        """Add a method. Raises ContractError (a TypeError) for a record that does not fit the contract
        (`check_contract`), ValueError if its name or one of its views is taken."""
        check_contract(method)
        if method.name in self._methods:
            raise ValueError(f"a method named '{method.name}' is already registered")
        taken = {view for known in self._methods.values() for view in known.views}
        clash = sorted(taken & set(method.views))
        if clash:
            raise ValueError(f"view '{clash[0]}' is already provided by another method")
        self._methods[method.name] = method
        self.version += 1
        return method

    def unregister(self, name: str) -> None:
        del self._methods[name]
        self.version += 1

    def __iter__(self) -> Iterable[Method]:
        return iter(list(self._methods.values()))

    def __getitem__(self, name: str) -> Method:
        return self._methods[name]

    def parts(self) -> dict[str, tuple[str, ...]]:
        """{section name: its `parts` fields} of the methods that have any (`generator.payload.parts.split`)."""
        return {method.name: method.parts for method in self if method.parts}

    def detached(self) -> dict[str, tuple[str, ...]]:
        """{section name: its `detached` fields} of the methods that have any (`generator.payload.parts.split`)."""
        return {method.name: method.detached for method in self if method.detached}

    def views(self) -> list[str]:
        """Every view name, in registration order."""
        return [view for method in self for view in method.views]

    def element(self, view: str) -> str:
        """The custom element tag that draws `view`. Raises KeyError for an unknown view."""
        for method in self:
            if view in method.views:
                return method.views[view]
        raise KeyError(view)

    def draws_generated(self, view: str) -> bool:
        """Whether `view` draws the generated tokens of a block (with their underline), as most views do; False for
        a method's `prompt_only_views`. Raises KeyError for an unknown view."""
        for method in self:
            if view in method.views:
                return view not in method.prompt_only_views
        raise KeyError(view)

    def for_views(self, views: Iterable[str]) -> list[Method]:
        """The methods providing `views`, each once, in registration order."""
        wanted = set(views)
        return [method for method in self if wanted & set(method.views)]


REGISTRY = Registry()
register = REGISTRY.register
