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
    def logits(self, rows: torch.Tensor, normed: bool, out: torch.Tensor | None = None,
               vocab: slice | None = None) -> torch.Tensor:
        """rows [n, d] float32 -> logits [n, V] float32 (or [n, len(vocab)] for a contiguous `vocab` slice of the
        vocabulary). `normed`: the rows already carry the final norm. `out`: a tensor of that shape to write the
        logits into (a buffer reused across calls spares the allocator a fresh block, and the kernel its page faults,
        each time); returned."""
        if not normed and self.norm is not None:
            rows = self.norm(rows)
        if isinstance(self.unembed, torch.nn.Linear):
            weight, bias = self.unembed.weight, self.unembed.bias
            if vocab is not None:
                weight, bias = weight[vocab], None if bias is None else bias[vocab]
            out = torch.nn.functional.linear(rows, weight, bias, out=out)
        else:
            full = self.unembed(rows)
            full = full if vocab is None else full[:, vocab]
            out = full if out is None else out.copy_(full)
        return self._capped(out)

    @torch.no_grad()
    def logits_at(self, rows: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The logits of chosen vocabulary entries only, from rows that already carry the final norm: rows [n, d]
        float32, ids [n, j] int64 -> [n, j] float32, entry (r, i) the logit of token ids[r, i] at row r. Costs
        n x j x d instead of n x V x d. Equal to `logits(rows)` gathered at ids up to float32 rounding (the sums run
        in another order)."""
        if isinstance(self.unembed, torch.nn.Linear):
            picked = torch.einsum("nd,njd->nj", rows, self.unembed.weight[ids])
            if self.unembed.bias is not None:
                picked += self.unembed.bias[ids]
            return self._capped(picked)
        return self.logits(rows, normed=True).gather(1, ids)

    def _capped(self, logits: torch.Tensor) -> torch.Tensor:
        if self.softcap:
            logits.div_(self.softcap).tanh_().mul_(self.softcap)
        return logits

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
    if unembed.weight.device.type != "cpu" or unembed.weight.dtype != torch.float32:
        # The lens reads float32 hidden states on the CPU (capture.py brings them there): a model on a GPU gets a
        # float32 CPU copy of its final norm and unembedding (precision.py). On CPU float32, the model's own modules.
        import copy
        unembed = copy.deepcopy(unembed).to("cpu", torch.float32)
        norm = None if norm is None else copy.deepcopy(norm).to("cpu", torch.float32)
    softcap = getattr(loaded.config, adapter.logit_softcap, None) if adapter.logit_softcap else None
    return Readout(norm=norm, unembed=unembed, softcap=float(softcap) if softcap else None,
                   last_normed=adapter.last_hidden_normed, vocab_size=int(unembed.weight.shape[0]),
                   norm_name=type(norm).__name__ if norm is not None else "")
