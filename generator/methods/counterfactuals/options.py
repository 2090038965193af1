"""Options of the counterfactuals method (as authors write them under `counterfactuals:`) and their limits."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from ..options import Options

BUDGET_MIN, BUDGET_MAX = 8, 4096
POSITIONS_MIN, POSITIONS_MAX = 1, 16
CANDIDATES_MIN, CANDIDATES_MAX = 1, 64
PERMUTATIONS_MIN, PERMUTATIONS_MAX = 1, 100
CONTRASTS_MAX = 6
EXPLANATION_TOKENS_MIN, EXPLANATION_TOKENS_MAX = 8, 256
DRAWS_MIN, DRAWS_MAX = 1, 200
TOP_K = 5                      # output bars shown per version

Search = Literal["minimal", "adversarial"]


class CounterfactualsOptions(Options):
    """Options of the counterfactual views. Every count is bounded; out of range is a schema error naming it."""

    contrasts: list[Union[str, list[str]]] = Field(
        default_factory=list, max_length=CONTRASTS_MAX,
        description="Author contrasts: other versions of the text (a causal model) or of the pair ([A, B], an "
                    "encoder), each shown beside the original.")
    output: int = Field(0, ge=0, le=63, description="Which generated token is explained (0: the first).")
    searches: list[Search] = Field(
        default_factory=lambda: ["minimal", "adversarial"], max_length=2,
        description="Edit searches to run: 'minimal' (the most salient positions, MiCE-style) and 'adversarial' "
                    "(the least salient half only).")
    budget: int = Field(256, ge=BUDGET_MIN, le=BUDGET_MAX,
                        description="Verifying forward passes allowed to one edit search.")
    positions: int = Field(6, ge=POSITIONS_MIN, le=POSITIONS_MAX,
                           description="Most positions an edit may change (the top of the saliency ranking).")
    candidates: int = Field(8, ge=CANDIDATES_MIN, le=CANDIDATES_MAX,
                            description="Replacement tokens per position, ranked by the first-order (HotFlip) "
                                        "estimate.")
    threshold: float = Field(0.5, gt=-1.0, lt=1.0,
                             description="Encoder pairs: an edit changes the answer when the cosine similarity "
                                         "falls below this.")
    attention: bool = Field(True, description="Counterfactual attention (permuted and uniform rows), causal models.")
    permutations: int = Field(20, ge=PERMUTATIONS_MIN, le=PERMUTATIONS_MAX,
                              description="Seeded permutations of the attention rows per layer.")
    seed: int = Field(0, ge=0, le=2**31 - 1,
                      description="Seed of the attention permutations and of the self-explanation's random words.")
    self_explanation: bool = Field(
        False, description="Ask the model (a chat-tuned causal model), in its chat template, why it gave its "
                           "answer; delete the words its explanation cites and compare with as many random and "
                           "top-saliency words.")
    explanation_tokens: int = Field(48, ge=EXPLANATION_TOKENS_MIN, le=EXPLANATION_TOKENS_MAX,
                                    description="Most new tokens of the model's explanation (greedy).")
    draws: int = Field(20, ge=DRAWS_MIN, le=DRAWS_MAX,
                       description="Seeded random draws of as many words as the explanation cites.")
