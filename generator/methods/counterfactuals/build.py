"""Assembles the counterfactuals section from its parts (layout in `section`'s docstring and ARCHITECTURE.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import hotflip, vocabulary
from .search import SearchResult, Verified, apply, search
from .target import Evaluation, Target
from .versions import align, text_of

if TYPE_CHECKING:
    from ...capture import Capture
    from ...spec import SpecBase
    from .options import CounterfactualsOptions


def _number(value: Any, digits: int = 6) -> float | None:
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def _shares(values: Any) -> list[float | None]:
    return [_number(v, 4) for v in np.asarray(values, dtype=np.float64).ravel()]


class Builder:
    def __init__(self, spec: "SpecBase", capture: "Capture", options: "CounterfactualsOptions"):
        self.spec, self.capture, self.options = spec, capture, options
        self.target = Target(capture, options.output, options.threshold)
        self.vocab = capture.vocabulary
        if self.target.causal:
            self.tokens = capture.tokens[:self.target.position]
            self.following = capture.tokens[self.target.position]
        else:
            a, b = capture.sentences
            self.tokens = list(a.tokens) + list(b.tokens)
            self.following = None
        self._display: dict[int, dict[str, Any]] = {}

    # -- records ----------------------------------------------------------------------------------------------

    def display(self, token_id: int) -> dict[str, Any]:
        if token_id not in self._display:
            self._display[token_id] = self.vocab.display([token_id])[0]
        return self._display[token_id]

    def outputs(self, top_ids: Any, top_probs: Any) -> list[dict[str, Any]]:
        return [{"text": self.display(int(i))["text"], "id": int(i), "p": _number(p, 5)}
                for i, p in zip(top_ids, top_probs)]

    def version(self, label: str, kind: str, tokens: list[dict[str, Any]], row: torch.Tensor, split: int,
                result: Evaluation | None = None) -> dict[str, Any]:
        """One version of the input: its tokens, the explained output's saliency in it, its score and outputs."""
        target = self.target
        result = result or target.evaluate(row[None], split)
        text: Any = text_of(tokens) if target.causal else [text_of(tokens[:split]), text_of(tokens[split:])]
        record: dict[str, Any] = {"label": label, "kind": kind, "text": text, "tokens": tokens,
                                  "split": split, "saliency": _shares(target.saliency(row, split)),
                                  "score": _number(result.score[0]), "flipped": bool(result.flipped[0])}
        if target.causal:
            record["prob"] = _number(result.prob[0], 5)
            record["top"] = self.outputs(result.top_ids[0], result.top_probs[0])
        return record

    def contrast(self, index: int, contrast: Any) -> dict[str, Any]:
        if isinstance(contrast, str):
            ids, tokens = self.vocab.read(contrast)
            split = len(ids)
        else:
            ids_a, tokens_a = self.vocab.read(contrast[0], 0)
            ids_b, tokens_b = self.vocab.read(contrast[1], 1)
            ids, tokens, split = ids_a + ids_b, tokens_a + tokens_b, len(ids_a)
        limit = self.spec.max_tokens
        if len(ids) > limit:
            raise self.spec.error(f"counterfactuals.contrasts.{index}", f"this contrast is {len(ids)} tokens long, "
                                  f"over the limit of {limit}", hint="shorten it, or raise 'max_tokens'")
        record = self.version(f"contrast {index + 1}", "contrast", tokens, torch.tensor(ids), split)
        record["align"] = align(self.tokens, tokens)
        return record

    # -- the edit searches ------------------------------------------------------------------------------------

    def edit_search(self, kind: str, saliency: np.ndarray, candidates: vocabulary.Candidates,
                    gradient: torch.Tensor) -> dict[str, Any]:
        options, target = self.options, self.target
        mask = vocabulary.editable(self.tokens, self.following)
        allowed = np.flatnonzero(mask)
        order = allowed[np.lexsort((allowed, -saliency[allowed]))]        # most salient first, ties by position
        if kind == "adversarial":
            lower = order[len(order) - len(order) // 2:] if len(order) > 1 else order[:0]
            order = lower[::-1]                                           # the least salient first
        positions = [int(p) for p in order[:options.positions]]
        row = target.row
        opts = []
        for p in positions:
            pool = candidates.ids[candidates.for_token(self.tokens[p]["text"])]
            opts.append(hotflip.best(gradient, target.table, row, p, pool, options.candidates))
        found = search(target, positions, opts, options.budget)
        return self.search_record(kind, found, opts)

    def replacement(self, position: int, new: int) -> str:
        """The display text of token `new` put at `position`: a vocabulary that spells no leading spaces
        (WordPiece) gets the space of the word it replaces, so the edited text reads as words."""
        text = self.display(new)["text"]
        if self.tokens[position]["text"].startswith(" ") and not text.startswith(" "):
            text = " " + text
        return text

    def edited_tokens(self, verified: Verified) -> list[dict[str, Any]]:
        tokens = [dict(t) for t in self.tokens]
        for position, _, new in verified.edit.changes:
            tokens[position] = {**tokens[position], "text": self.replacement(position, new), "edited": True}
        return tokens

    def step_record(self, step: Any) -> dict[str, Any]:
        best = step.best
        record = {"k": step.k, "tried": step.tried, "flips": step.flips, "flipped": best.flipped,
                  "edit": [[p, self.replacement(p, new)] for p, _, new in best.edit.changes],
                  "estimate": _number(best.edit.estimate), "score": _number(best.score)}
        if best.top_ids is not None:
            record["prob"] = _number(best.prob, 5)
            record["top"] = self.outputs(best.top_ids[:1], best.top_probs[:1])
        return record

    def search_record(self, kind: str, found: SearchResult, opts: list) -> dict[str, Any]:
        target = self.target
        record: dict[str, Any] = {
            "kind": kind, "positions": found.positions, "budget": self.options.budget, "forwards": found.forwards,
            "options": [[{"text": self.display(int(i))["text"], "estimate": _number(v)} for i, v in zip(ids, values)]
                        for ids, values in opts],
            "steps": [self.step_record(step) for step in found.steps],
            "result": None, "estimates": self.estimate_fit(found),
        }
        if found.result is not None:
            edited = torch.as_tensor(apply(target.row.numpy(), found.result.edit))
            tokens = self.edited_tokens(found.result)
            version = self.version(f"{kind} edit", kind, tokens, edited, target.split)
            version["align"] = align(self.tokens, tokens)
            version["edit"] = [[p, self.tokens[p]["text"], self.replacement(p, new)]
                               for p, _, new in found.result.edit.changes]
            version["retokenizes"] = self.retokenizes(tokens, edited)
            record["result"] = version
        return record

    def estimate_fit(self, found: SearchResult) -> dict[str, Any]:
        """How well the summed first-order estimates predicted the verified changes of the score: Pearson and
        Spearman (scipy) over the verified sets; reported, never assumed."""
        from scipy.stats import pearsonr, spearmanr

        base = self.base_score
        est = np.array([v.edit.estimate for v in found.verified], dtype=np.float64)
        actual = np.array([v.score - base for v in found.verified], dtype=np.float64)
        out: dict[str, Any] = {"n": int(est.size), "pearson": None, "spearman": None}
        if est.size > 2 and np.ptp(est) > 0 and np.ptp(actual) > 0:
            out["pearson"] = _number(pearsonr(est, actual).statistic, 4)
            out["spearman"] = _number(spearmanr(est, actual).statistic, 4)
        return out

    def retokenizes(self, tokens: list[dict[str, Any]], edited: torch.Tensor) -> bool:
        """Whether the edited text, tokenised again, gives the edited ids (so the edit is a text, not only ids)."""
        if self.target.causal:
            ids, _ = self.vocab.read(text_of(tokens))
            return ids == edited.tolist()
        split = self.target.split
        a, _ = self.vocab.read(text_of(tokens[:split]), 0)
        b, _ = self.vocab.read(text_of(tokens[split:]), 1)
        return a + b == edited.tolist()

    # -- everything ---------------------------------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        options, target, capture = self.options, self.target, self.capture
        base = target.evaluate(target.row[None])
        self.base_score = float(base.score[0])
        if not target.causal and base.flipped[0]:
            raise self.spec.error("counterfactuals.threshold", f"the pair's similarity is {base.score[0]:.3f}, "
                                  f"already below the threshold {options.threshold}: no edit can lower it below",
                                  hint=f"use a threshold below {base.score[0]:.3f}")
        original = self.version("original", "original", self.tokens, target.row, target.split, base)
        out: dict[str, Any] = {"kind": "causal" if target.causal else "similarity", "explained": {}}
        if target.causal:
            out["explained"] = {"position": target.position, "output": options.output,
                                "token": capture.tokens[target.position], "id": target.output_id}
        else:
            out["explained"] = {"threshold": options.threshold}
        out["original"] = original
        out["contrasts"] = [self.contrast(i, c) for i, c in enumerate(options.contrasts)]
        out["searches"] = {}
        if options.searches:
            saliency = np.asarray(original["saliency"], dtype=np.float64)
            candidates = vocabulary.candidates(self.vocab, vocabulary.scripts(self.tokens))
            gradient = target.gradient()
            for kind in options.searches:
                out["searches"][kind] = self.edit_search(kind, saliency, candidates, gradient)
            out["candidates"] = int(candidates.ids.size)
        out["attention"] = None
        if target.causal and options.attention and self.capture.model_run.missing("attn.hook_pattern") is None:
            from .attention import counterfactual_attention

            found = counterfactual_attention(target, options.permutations, options.seed)
            out["attention"] = _rounded(found)
        out["self_explanation"] = None
        if target.causal and options.self_explanation:
            out["self_explanation"] = self.self_explanation(np.asarray(original["saliency"], dtype=np.float64))
        out["forwards"] = target.forwards
        return out

    def self_explanation(self, saliency: np.ndarray) -> dict[str, Any]:
        """The model's own explanation of the explained token, tested by deletion (`self_explanation`)."""
        from .self_explanation import self_explanation

        capture, target = self.capture, self.target
        prompt = (self.spec.text or "").strip()
        answer = self.vocab.decode(capture.ids[capture.n_prompt:target.position + 1]).strip()
        found = self_explanation(target, self.vocab, self.tokens, prompt, answer, saliency, capture.neutral_id,
                                 max_tokens=self.options.explanation_tokens, draws=self.options.draws,
                                 seed=self.options.seed)
        if found is None:
            raise self.spec.error("counterfactuals.self_explanation", f"{capture.info.label}'s tokenizer has no chat "
                                  f"template: the model cannot be asked, in its own chat format, why it answered",
                                  hint="use a chat-tuned model (smollm2), or remove 'self_explanation'")
        return _rounded(found)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value, 5)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def build(spec: "SpecBase", capture: "Capture", options: "CounterfactualsOptions") -> dict[str, Any]:
    return Builder(spec, capture, options).build()
