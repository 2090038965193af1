"""One bake as a tracker-neutral record: params, metrics, tags and artifacts (no tracker library needed here).

- params: what was asked for: the model (name, label, fingerprint, architecture), a SHA-256 digest of the text or
  sentence pair, generation length, views, and every option of the methods shown, as `<method>_<option>`
  (saliency_target, saliency_ig_steps, factors_counts, factors_layers, ...).
- metrics: what the bake measured, read back from the payload: token counts, payload bytes (raw and gzipped), the
  bake's wall seconds when the cache recorded them (entries baked before it did have none), and what each method
  shown gives of its section (`Method.metrics`: saliency's completeness gaps and similarity, NMF errors and
  iterations, the explanations' AOPC, comprehensiveness and sufficiency per method, the lens's top-1 figures, the
  neuron view's stored values).
- tags: explorable id, source page (the page showing it in a site build, else the file defining it), the
  file defining it, the bake cache key, the spec digest.
- artifacts: the payload JSON and the standalone HTML (plus PNGs of the views when a browser could render them).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable

from ..spec import SpecBase

TAG_ID = "explorables.id"
TAG_SOURCE = "explorables.source"      # the page showing it (a site build), else the file defining it
TAG_DEFINED = "explorables.defined_in"   # the file holding the spec (explorables/*.yml or a page)
TAG_KEY = "explorables.cache_key"
TAG_DIGEST = "explorables.spec_digest"


@dataclass
class Record:
    name: str                                   # run name: the explorable id, or a digest-based name
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: dict[str, bytes] = field(default_factory=dict)   # file name -> bytes
    # more artifacts, made only for a run that is really created (PNGs take a browser)
    more: Callable[[], dict[str, bytes]] | None = None

    @property
    def cache_key(self) -> str:
        return self.tags[TAG_KEY]

    def all_artifacts(self) -> dict[str, bytes]:
        return {**self.artifacts, **(self.more() if self.more else {})}


def text_digest(spec: SpecBase) -> str:
    """SHA-256 of the text, or of sentence A, a NUL byte and sentence B."""
    text = spec.text if spec.text is not None else "\0".join(spec.pair or [])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_for(spec: SpecBase, payload: bytes, *, key: str, fingerprint: str,
               bake_seconds: float | None, html: str, page: str | None = None) -> Record:
    """The record of one baked explorable. payload: its JSON bytes; html: its standalone page; page: the site
    page that shows it (a build logs it), else the file that defines it is the source."""
    from ..widget_html import download_name

    document = json.loads(payload)
    model = document.get("model", {})
    params = {
        "model": spec.model, "model_label": str(model.get("label", "")), "model_fingerprint": fingerprint,
        "architecture": str(model.get("architecture", "")), "text_sha256": text_digest(spec),
        "input": "pair" if spec.pair else "text", "generate": str(spec.generate),
        "views": ",".join(spec.shown_views), "max_tokens": str(spec.max_tokens),
        "schema_version": str(document.get("schema_version")),
    }
    metrics: dict[str, float] = {
        "tokens": float(len(document.get("tokens", []))), "prompt_tokens": float(document.get("n_prompt", 0)),
        "payload_bytes": float(len(payload)), "payload_gzip_bytes": float(len(gzip.compress(payload, 9, mtime=0))),
    }
    if bake_seconds is not None:
        metrics["bake_seconds"] = float(bake_seconds)
    for method in spec.methods:       # the options asked for, one param per field: saliency_ig_steps, ...
        options = spec.options(method.name)
        for field_name, value in (options.model_dump() if options is not None else {}).items():
            params[f"{method.name}_{field_name}"] = (",".join(str(item) for item in value)
                                                     if isinstance(value, list) else str(value))
    for method in spec.methods:       # what each method measured, read back from its section
        if method.metrics is not None and document.get(method.name):
            metrics.update(method.metrics(document[method.name]))
    name = download_name(spec).removesuffix(".html")
    tags = {TAG_ID: spec.id or name, TAG_SOURCE: page or spec.file, TAG_DEFINED: spec.file, TAG_KEY: key,
            TAG_DIGEST: spec.digest()}
    artifacts = {f"{name}.json": payload, f"{name}.html": html.encode("utf-8")}
    return Record(name=name, params=params, metrics=metrics, tags=tags, artifacts=artifacts)
