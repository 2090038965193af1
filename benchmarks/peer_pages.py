"""Pages for the peer benchmark (benchmarks/peer.py): the peers' own environment, texts of exact token counts, our
bench site (a real Material site with the project's theme settings) and BertViz's pages built from the same capture.

Nothing here measures; peer_browser.py does.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".cache" / "peer"
VENV = WORK / "venv"
NPM = WORK / "npm"

# The peers, pinned. BertViz's JS asks for these exact CDN files; npm has no jQuery 2.0.0, so 2.1.0 stands in.
TORCH = "torch==2.13.0"       # first and alone: a bare 'torch' could pull a CUDA build (as scripts/setup does)
PEERS = ["bertviz==1.4.1"]
JS_LIBS = {"requirejs": "2.3.6", "d3": "5.7.0", "jquery": "2.1.0"}

# An original text long enough for 256 tokens on both bundled models.
LONG_TEXT = (
    "The lighthouse keeper kept a notebook of every ship that passed the point, and after forty winters the notebook "
    "had become a small history of the coast. In the early pages the entries are short: a name, a flag, the hour, "
    "the direction of the wind. Later the keeper began to add what the sailors shouted across the water when the "
    "sea was calm enough to hear them, news of storms further north, the price of salt in the harbour towns, a "
    "wedding, a wreck, a whale seen off the cape. When the railway reached the village the ships grew fewer, and the "
    "notebook changed again. The keeper wrote about the birds that nested on the rocks below the tower, the colour "
    "of the evening light on the cliffs, the children who climbed the stairs on Sundays to look at the great lens. "
    "She measured the rain each morning and drew small maps of the sandbanks, which moved a little every year. A "
    "scientist from the university later copied the rain measurements into a table and found that the autumn "
    "storms had become stronger and more frequent over those four decades, a pattern that nobody in the village "
    "had noticed because it happened so slowly. The notebook is now kept in the town library, in a glass case near "
    "the window, and visitors often stop to read the open page. It shows a calm day in June: three fishing boats, "
    "one steamer bound for the south, a line about the first swallows, and at the bottom, in smaller letters, a "
    "note that the lamp was cleaned and the clock wound before dark. People who read it tend to stay longer than "
    "they meant to, turning over in their minds how much a careful person can see from one fixed place.")


@dataclass(frozen=True)
class Case:
    model: str      # bundled alias
    n: int          # tokens
    text: str

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.n}"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def peer_env() -> Path:
    """The peers' own virtual environment under .cache/peer/venv (torch first, then the pinned peers) and their JS
    libraries from npm under .cache/peer/npm. Idempotent: a stamp holds what was installed. Returns the peer python.

    A venv of its own, not the project's: BertViz pins nothing and pulls IPython, boto3 and an unpinned transformers,
    which must not move the project's lock; torch comes from the same pinned CPU wheel as the project's."""
    python = VENV / "bin" / "python"
    stamp, want = VENV / ".peer-stamp", json.dumps([TORCH, PEERS])
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        print("peer: installing", TORCH, *PEERS, "into", VENV, file=sys.stderr)
        if not python.exists():
            run([sys.executable, "-m", "venv", str(VENV)])
        log = WORK / "install.log"
        with log.open("w") as out:
            run([str(python), "-m", "pip", "install", "-q", TORCH], stdout=out, stderr=out)
            run([str(python), "-m", "pip", "install", "-q", *PEERS], stdout=out, stderr=out)
        stamp.write_text(want)
    js = NPM / "package.json"
    wanted = {"private": True, "dependencies": JS_LIBS}
    if not js.exists() or json.loads(js.read_text()) != wanted or not (NPM / "node_modules" / "d3").exists():
        NPM.mkdir(parents=True, exist_ok=True)
        js.write_text(json.dumps(wanted))
        run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NPM)])
    return python


@functools.lru_cache(maxsize=None)
def loaded(alias: str):
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    return POOL.get(resolve(alias))


def text_of(alias: str, n_tokens: int) -> str:
    """A prefix of LONG_TEXT that the model's tokenizer splits into exactly n_tokens tokens (special ones included)."""
    tokenizer = loaded(alias).tokenizer
    ids = tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]
    special = len(tokenizer("a")["input_ids"]) - len(tokenizer("a", add_special_tokens=False)["input_ids"])
    for cut in range(n_tokens - special, n_tokens - special + 8):
        text = tokenizer.decode(ids[:cut]).strip()
        if len(tokenizer(text)["input_ids"]) == n_tokens:
            return text
    raise ValueError(f"no prefix of LONG_TEXT has exactly {n_tokens} tokens on {alias}")


# -- our side: a bench site with the project's theme settings ---------------------------------------------------

OUR_VIEWS = ("head", "model")


def our_page(case: Case, view: str) -> str:
    return f"{case.slug}-{view}/"


# The views BertViz has no counterpart of, each on one of the project's curated blocks (first figure, interactions).
CURATED = (("saliency", "shakespeare-birth"), ("factors", "eu-countries"), ("layers", "counting-lens"),
           ("neuron", "neuron-previous-token"), ("explanations", "explain-pronoun"))


def build_ours(cases: list[Case], site: Path) -> dict:
    """A Material site with the project's mkdocs.yml theme, plugins and extensions: one page per case and view
    (head, model), each with one explorable block, plus one page per view of CURATED. Returns {"pages": {key: url
    path}}."""
    docs = WORK / "docs"
    for old in docs.glob("*.md") if docs.exists() else []:
        old.unlink()
    docs.mkdir(parents=True, exist_ok=True)
    pages, nav = {}, [{"Home": "index.md"}]
    (docs / "index.md").write_text("# Peer benchmark\n\nPages with one figure each.\n")

    def page(name: str, title: str, block: dict) -> None:
        body = yaml.safe_dump(block, allow_unicode=True, width=10_000, sort_keys=False)
        (docs / f"{name}.md").write_text(f"# {title}\n\n```explorable\n{body}```\n")
        nav.append({title: f"{name}.md"})
        pages[name] = f"{name}/"

    for case in cases:
        for view in OUR_VIEWS:
            page(f"{case.slug}-{view}", f"{case.model} {case.n} {view}",
                 {"model": case.model, "text": case.text, "views": [view]})
    for view, use in CURATED:
        page(f"curated-{view}", f"curated {view}", {"use": use, "views": [view]})
    class Loader(yaml.SafeLoader):   # the project's mkdocs.yml sets site_url with MkDocs' !ENV tag
        pass
    Loader.add_constructor("!ENV", lambda loader, node: loader.construct_sequence(node)[-1])
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)
    config.update(site_name="Peer benchmark", docs_dir=str(docs), site_dir=str(site), nav=nav)
    config["plugins"] = ["search", {"explorables": {"cache_dir": str(REPO / ".cache" / "explorables"),
                                                    "explorables_dir": str(REPO / "explorables")}}]
    (WORK / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(WORK / "mkdocs.yml")],
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO)})
    return pages


# -- BertViz's side: the same capture, through BertViz's own HTML ------------------------------------------------

BERTVIZ_JOB = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from bertviz import head_view, model_view
    jobs = json.load(open(sys.argv[1]))
    for job in jobs:
        att = np.load(job["attention"])                       # [L, H, N, N] float32
        layers = [torch.from_numpy(att[i][None]) for i in range(att.shape[0])]
        view = head_view if job["view"] == "head" else model_view
        html = view(layers, job["tokens"], html_action="return").data
        for old, new in job["replace"]:
            assert old in html, old
            html = html.replace(old, new)
        with open(job["out"], "w") as out:
            out.write('<!doctype html><html><head><meta charset="utf-8"><title>BertViz</title></head><body>')
            out.write(html)
            out.write("</body></html>")
""")

# BertViz's CDN URLs -> the same libraries from npm, served by the bench server under /npm/
LOCAL_LIBS = [
    ("https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js", "/npm/requirejs/require.js"),
    ("https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min", "/npm/d3/dist/d3.min"),
    ("https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min", "/npm/jquery/dist/jquery.min"),
]


def capture_of(case: Case) -> tuple[np.ndarray, list[str]]:
    """Attention [L, H, N, N] (float32, the model's own) and display tokens of the case's text: the same run and
    token ids our bake uses."""
    from generator.capture import run as capture
    from generator.spec import spec_from_data
    spec = spec_from_data({"model": case.model, "text": case.text}, file="peer-bench")
    cap = capture(spec, loaded(case.model))
    assert cap.attentions.shape[-1] == case.n, (case, cap.attentions.shape)
    return cap.attentions.astype(np.float32), [t["text"] for t in cap.tokens]


def build_bertviz(cases: list[Case], python: Path, out: Path) -> dict:
    """BertViz head and model view pages for every case under `out` (served as /peer/). Returns {key: url path}."""
    out.mkdir(parents=True, exist_ok=True)
    jobs, pages = [], {}
    for case in cases:
        for view in OUR_VIEWS:
            name = f"{case.slug}-{view}.html"
            pages[f"{case.slug}-{view}"] = name
            done = out / (name + ".ok")
            if (out / name).exists() and done.exists() and done.read_text() == case.text:
                continue
            npy, meta = WORK / "attention" / f"{case.slug}.npy", WORK / "attention" / f"{case.slug}.json"
            npy.parent.mkdir(exist_ok=True)
            if not npy.exists() or not meta.exists() or json.loads(meta.read_text())["text"] != case.text:
                att, tokens = capture_of(case)
                np.save(npy, att)
                meta.write_text(json.dumps({"text": case.text, "tokens": tokens}))
            tokens = json.loads(meta.read_text())["tokens"]
            jobs.append({"attention": str(npy), "tokens": tokens, "view": view, "out": str(out / name),
                         "replace": LOCAL_LIBS})
    if jobs:
        (WORK / "jobs.json").write_text(json.dumps(jobs))
        run([str(python), "-c", BERTVIZ_JOB, str(WORK / "jobs.json")])
        for case in cases:
            for view in OUR_VIEWS:
                (out / f"{case.slug}-{view}.html.ok").write_text(case.text)
    return pages
