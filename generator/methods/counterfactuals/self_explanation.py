"""The model's own explanation, put to the test (predict, then explain; the survey's "natural-language explanations",
tested as Madsen et al. 2024 test self-explanations: by deleting what they cite).

1. The prediction is the explained token y, generated from the text as the capture read it.
2. The model is asked why, in its own chat template (`Vocabulary.chat`, the tokenizer's `apply_chat_template`):

       user:      TASK with the text            assistant: the answer (the generated text up to y)
       user:      QUESTION with the answer      -> the explanation, greedy, at most `max_tokens` new tokens
                                                   (`ModelRun.generate`), up to the end of the turn.

3. The words of the input (maximal runs of tokens joined without a space, `words`) are matched, case-insensitively,
   against the words of the explanation. A word of the input is *cited* when the explanation contains it and our
   own two messages (TASK and QUESTION, without the text and the answer) do not: an explanation that echoes "the
   text" cites nothing by it.
4. Deletion, the faithfulness test of the explanations method (`explanations.model_runs.causal_variant_scores`:
   each deleted token's embedding replaced by the neutral token's, positions and length kept): p(y) with every
   occurrence of the cited words deleted, against deleting as many words (a) drawn at random (`draws` seeded draws,
   numpy default_rng((seed, draw)), without replacement) and (b) with the highest gradient x input saliency (the
   token shares summed per word; ties by position).

The record says how many random draws lowered p(y) at least as much as the cited words did: the explanation
points at what the output depends on when its words matter more than most random words (few such draws), and the
top-saliency words are the yardstick of what deletion can do with as many words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ..explanations.model_runs import causal_variant_scores

if TYPE_CHECKING:
    from ...tokens import Vocabulary
    from .target import Target

TASK = "Continue this text:\n\n{text}"
QUESTION = "Why did you continue the text with \"{answer}\"? Which words of the text made you answer that?"
_WORD = re.compile(r"[^\W_]+")


def word_set(text: str) -> set[str]:
    """The words (runs of letters and digits, Unicode) of `text`, lower case."""
    return {w.lower() for w in _WORD.findall(text)}


def messages(text: str, answer: str) -> list[dict[str, str]]:
    """The conversation that asks for the explanation (module docstring, step 2)."""
    return [{"role": "user", "content": TASK.format(text=text)},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": QUESTION.format(answer=answer)}]


def question_words() -> set[str]:
    """The words of our own messages, which a cited word must not be one of."""
    return word_set(TASK.format(text="") + " " + QUESTION.format(answer=""))


@dataclass(frozen=True)
class Word:
    """A word of the input: its text (lower case, letters and digits only) and its token positions."""

    text: str
    positions: tuple[int, ...]


def words(tokens: Sequence[dict[str, Any]]) -> list[Word]:
    """The words of display tokens [n]: a token continues the word before it when it does not start with a space
    and both sides of the join are letters or digits; special tokens and runs without a letter are not words."""
    out: list[list[int]] = []
    for i, token in enumerate(tokens):
        text = token["text"]
        if token.get("special"):
            out.append([])
            continue
        prev = tokens[i - 1]["text"] if i > 0 and not tokens[i - 1].get("special") else ""
        joined = out and out[-1] and not text[:1].isspace() and text[:1].isalnum() and prev[-1:].isalnum()
        if joined:
            out[-1].append(i)
        else:
            out.append([i])
    result = []
    for group in out:
        text = "".join(tokens[i]["text"] for i in group).strip().lower()
        if group and any(c.isalpha() for c in text):
            result.append(Word("".join(_WORD.findall(text)), tuple(group)))
    return result


def _mask(chosen: Sequence[Word], width: int) -> np.ndarray:
    mask = np.zeros(width, dtype=bool)
    for word in chosen:
        mask[list(word.positions)] = True
    return mask


def _spread(values: np.ndarray) -> dict[str, float]:
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "min": float(values.min()),
            "max": float(values.max()), "mean": float(values.mean())}


def self_explanation(target: "Target", vocab: "Vocabulary", tokens: Sequence[dict[str, Any]], prompt: str,
                     answer: str, saliency: np.ndarray, neutral_id: int, *, max_tokens: int, draws: int,
                     seed: int) -> dict[str, Any] | None:
    """The test of the model's own explanation of its explained output (module docstring).

    target: the explained output (a causal model); tokens: display tokens of the input [n] (target.row);
    prompt / answer: the text and the generated text up to y, as the chat shows them; saliency: gradient x input
    shares [n]; neutral_id: the token a deletion puts in place. Returns None when the tokenizer has no chat
    template; else {"messages", "explanation", "tokens", "ended", "cited": [word texts], "positions": [deleted
    positions], "prob": p(y), "deleted": {"cited", "saliency", "random"}, "random_at_least": draws whose deletion
    lowered p(y) at least as much as the cited words'}."""
    conversation = messages(prompt, answer)
    ids = vocab.chat(conversation)
    if ids is None:
        return None
    stops = vocab.stop_ids()
    new = target.run.generate(torch.tensor([ids]), max_tokens, stops)
    ended = bool(new) and new[-1] in stops
    explanation = vocab.decode(new[:-1] if ended else new)
    said = word_set(explanation) - question_words()
    found = words(tokens)
    cited = [w for w in found if w.text in said]
    record: dict[str, Any] = {"messages": conversation, "explanation": explanation, "tokens": len(new),
                              "ended": ended, "cited": [], "occurrences": 0, "positions": [], "words": len(found),
                              "draws": draws, "seed": seed, "prob": None, "deleted": None, "random_at_least": None}
    if not cited:
        return record
    n_words, width = len(cited), int(target.row.shape[0])
    by_saliency = sorted(found, key=lambda w: (-float(np.sum(saliency[list(w.positions)])), w.positions))
    top = by_saliency[:n_words]
    drawn = []
    for draw in range(draws):
        pick = np.random.default_rng((seed, draw)).choice(len(found), size=n_words, replace=False)
        drawn.append([found[i] for i in sorted(pick)])
    masks = np.stack([_mask(cited, width), _mask(top, width)] + [_mask(d, width) for d in drawn])
    full = torch.cat([target.row, torch.tensor([target.output_id])])
    base = causal_variant_scores(target.run, full, width, np.zeros((1, width), dtype=bool), neutral_id,
                                 "probability")[0]
    probs = causal_variant_scores(target.run, full, width, masks, neutral_id, "probability")
    target.forwards += len(masks) + 1
    drops = base - probs
    random_drops = drops[2:]
    record.update({
        "cited": list(dict.fromkeys(w.text for w in cited)), "occurrences": n_words, "positions": [int(p) for p in np.flatnonzero(masks[0])],
        "prob": float(base),
        "deleted": {
            "cited": {"tokens": int(masks[0].sum()), "prob": float(probs[0]), "drop": float(drops[0])},
            "saliency": {"words": [w.text for w in top], "positions": [int(p) for p in np.flatnonzero(masks[1])],
                         "tokens": int(masks[1].sum()), "prob": float(probs[1]), "drop": float(drops[1])},
            "random": {"tokens": _spread(masks[2:].sum(axis=1).astype(np.float64)), "drop": _spread(random_drops),
                       "drops": [float(d) for d in random_drops],
                       "positions": [[int(p) for p in np.flatnonzero(m)] for m in masks[2:]]},
        },
        "random_at_least": int(np.sum(random_drops >= drops[0])),
    })
    return record
