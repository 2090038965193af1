"""The model's readout: from a hidden state to next-token logits, the way the model itself does it.

`Readout.logits(rows, normed)` applies the model's own final norm module to `rows` (unless they are already normed),
then its unembedding (LM head, with its bias if it has one), then the final logit soft-cap where the family has one.
Calling the norm module on each row set recomputes the norm's statistics (RMS, or mean and variance) from those rows:
the lens reads every layer with its own statistics, never with the last layer's (the bug TransformerLens fixed in
its issue #1076). Where the modules live and whether the library's last hidden state already carries the final norm
is the adapter's knowledge (`generator.models.adapters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Readout:
    norm: Any | None            # the final norm module ([..., d] -> [..., d]), None if the model has none
    unembed: Any                # the LM head module ([..., d] -> [..., V])
    softcap: float | None       # final logit soft-cap (logits = cap * tanh(logits / cap)), or None
    last_normed: bool           # hidden_states[-1] as the library returns it already carries the final norm
    vocab_size: int             # V, rows of the unembedding (may exceed the tokenizer's vocabulary: padding)
    norm_name: str              # the norm's class name, for readers ("LlamaRMSNorm", "LayerNorm"); "" without one

    def needs_norm(self, layer: int, n_layers: int) -> bool:
        """Whether row set `layer` of hidden_states (0 = embedding output, n_layers = the last) still needs the
        final norm before the unembedding."""
        return self.norm is not None and not (layer == n_layers and self.last_normed)

    @torch.no_grad()
    def logits(self, rows: torch.Tensor, normed: bool, out: torch.Tensor | None = None) -> torch.Tensor:
        """rows [n, d] float32 -> logits [n, V] float32. `normed`: the rows already carry the final norm. `out`: an
        [n, V] float32 tensor to write the logits into (a buffer reused across calls spares the allocator a fresh
        n x V block, and the kernel its page faults, each time); returned."""
        if not normed and self.norm is not None:
            rows = self.norm(rows)
        if isinstance(self.unembed, torch.nn.Linear):
            out = torch.nn.functional.linear(rows, self.unembed.weight, self.unembed.bias, out=out)
        else:
            out = self.unembed(rows) if out is None else out.copy_(self.unembed(rows))
        if self.softcap:
            out.div_(self.softcap).tanh_().mul_(self.softcap)
        return out


def readout_of(loaded: Any) -> Readout:
    """The Readout of a LoadedModel. Raises ValueError when its architecture has no adapter or no LM head."""
    adapter, model = loaded.adapter, loaded.model
    if adapter is None:
        raise ValueError(f"no architecture adapter for '{loaded.architecture}': its final norm and unembedding "
                         "are unknown")
    unembed = adapter.unembed_module(model)
    if unembed is None:
        raise ValueError(f"{loaded.info.label} ({loaded.architecture}) has no language-model head")
    norm = adapter.final_norm_module(model)
    softcap = getattr(loaded.config, adapter.logit_softcap, None) if adapter.logit_softcap else None
    return Readout(norm=norm, unembed=unembed, softcap=float(softcap) if softcap else None,
                   last_normed=adapter.last_hidden_normed, vocab_size=int(unembed.weight.shape[0]),
                   norm_name=type(norm).__name__ if norm is not None else "")
