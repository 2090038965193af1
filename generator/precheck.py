"""The rules a bake applies before running a model, checked from the model's files alone (config and tokenizer:
no torch, no weights). `explorables check` uses it for every block; the bake uses it before loading a model, so a
block that breaks a rule fails at once instead of loading its model first on every build."""

from __future__ import annotations

from .errors import ModelLoadError, ModelUnavailable, SpecError
from .models.registry import ModelSource
from .spec import SpecBase


def check_against_files(spec: SpecBase, source: ModelSource, *, precision=None, lenient: bool = False) -> None:
    """Every model-dependent rule the bake applies before running, from the model's config and tokenizer files
    (`models.facts`): no torch, no weights; with `precision` (`Baker.precision`), the device and dtype rules too
    (`precision.check_device`, `rules.check_precision`). Raises every broken rule's SpecError together
    (`SpecError.combine`), each placed at its field.

    `lenient` (the bake, before it loads a model): files that cannot be read here are no error (the load itself
    may still work, e.g. by downloading a hub model); only the rules that could be checked are raised. A hub model
    that is neither in the local cache nor given by the hub (`ModelUnavailable`) is an error here too: its load
    would fail the same way, after about 25 s of retries without a network."""
    from .models.adapters import adapter_for
    from .models.facts import model_facts
    from .precision import check_device
    from .rules import check_length, check_precision, check_rules, problems

    first = (lambda: check_device(spec, precision),
             lambda: check_precision(spec, precision, spec.methods)) if precision is not None else ()
    try:
        facts = model_facts(source)
    except Exception as exc:  # noqa: BLE001: a config or tokenizer file these readers do not understand
        if lenient and not isinstance(exc, ModelUnavailable):
            found = problems(*first)
            if found:
                raise SpecError.combine(found) from None
            return
        if isinstance(exc, ModelLoadError):
            raise SpecError.combine(problems(*first) + [spec.error("model", str(exc))]) from None
        error = spec.error("model", f"could not read the config or tokenizer of '{spec.model}': "
                                    f"{type(exc).__name__}: {exc}",
                           hint="`explorables bake` loads the model itself and may still work")
        raise SpecError.combine(problems(*first) + [error]) from None
    n_tokens = facts.count(spec.text, spec.pair)

    def length() -> None:
        if n_tokens == 0:
            raise spec.error("text", "the text produced no tokens")
        check_length(spec, facts.info.label, n_tokens, facts.max_positions)

    check_rules(spec, facts, has_adapter=adapter_for(facts.info.architecture) is not None,
                n_tokens=n_tokens + spec.generate, first=first, extra=(length,))
