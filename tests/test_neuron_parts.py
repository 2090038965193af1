"""A large payload's arrays shown one at a time (the neuron section's layers, `Method.parts`) as data files of
their own: `generator/payload/parts.py` splits and joins without changing a byte, and the neuron view, on a site
whose payload is a data file, paints its first layer before any part is fetched, fetches a layer's files once when
the reader picks it (served, and from the offline copy on file://), shows the weights of the joined payload, and
works in the standalone file; its columns, estimated before the first draw, fit the width at 1280 and 390 px."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import Reader, build_site, next_frame, ready, write_test_site_config

from generator.methods import REGISTRY
from generator.payload import decode_array, dumps, encode_array
from generator.payload.parts import join, split


def payload_with_layers(count: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    queries, keys = ([encode_array(rng.normal(size=(3, 5, 4)), dtype="uint16") for _ in range(count)] for _ in "qk")
    return dumps({"schema_version": 1, "tokens": [{"text": "a"}], "attention": {"values": queries[0]},
                  "neuron": {"layers": list(range(count)), "queries": queries, "keys": keys, "scales": [0.5] * count}})


def test_split_moves_every_layer_but_the_first_out_and_join_gives_the_same_bytes():
    payload = payload_with_layers(3)
    main, parts = split(payload, REGISTRY.parts())
    original, document = json.loads(payload), json.loads(main)
    assert len(main) < len(payload) and len(parts) == 4                 # layers 1 and 2 of queries and of keys
    for field in ("queries", "keys"):
        entries, before = document["neuron"][field], original["neuron"][field]
        assert entries[0] == before[0]                                  # the first layer stays in the payload
        for ref, array in zip(entries[1:], before[1:]):
            assert "data" not in ref and {**ref, "data": array["data"]} == {**array, "part": ref["part"]}
            text = parts[ref["part"]]
            assert ref["part"] == hashlib.sha256(text).hexdigest()[:20] + ".json"   # named by its own bytes
            restored = {key: value for key, value in ref.items() if key != "part"} | {"data": json.loads(text)}
            np.testing.assert_array_equal(decode_array(restored), decode_array(array))
    assert document["attention"] == original["attention"], "only the named fields are split"
    assert join(main, parts) == payload
    assert split(payload, REGISTRY.parts()) == (main, parts), "deterministic"


def test_nothing_to_split_leaves_the_payload_as_it_was():
    one = payload_with_layers(1)
    assert split(one, REGISTRY.parts()) == (one, {})
    plain = dumps({"schema_version": 1, "tokens": []})
    assert split(plain, REGISTRY.parts()) == (plain, {})


def test_a_named_field_that_is_not_a_list_of_arrays_is_refused():
    bad = dumps({"schema_version": 1, "tokens": [], "neuron": {"queries": [{"dtype": "uint16"}, {}]}})
    with pytest.raises(ValueError, match="'neuron': field 'queries' is not a list of ARRAYs"):
        split(bad, REGISTRY.parts())


# -- in the browser ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parts_site(tmp_path_factory, tiny_models) -> Path:
    """One page whose payload (neuron + head views of a tiny two-layer Llama) is a data file with parts, built with
    the offline plugin (so it also opens from file://) and the "download HTML" links (the standalone file)."""
    root = tmp_path_factory.mktemp("parts-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Parts

        ```explorable
        id: parts
        model: {tiny_models["llama"]}
        text: The cat sat on the mat because it was warm and the sun was out.
        views: [neuron, head]
        ```
        """), encoding="utf-8")
    write_test_site_config(root, "Parts test site", offline=True, embed_limit=2000)
    build_site(root / "mkdocs.yml", root / "site")
    return root / "site"


def site_payload(site: Path) -> tuple[dict, dict, list[list[str]]]:
    """(main data file, the payload joined from it and its parts, [[queries part, keys part] per layer but the first])."""
    page = (site / "index.html").read_text(encoding="utf-8")
    [name] = re.findall(r'data-src="([^"]+)"', page)
    data = site / "assets" / "explorables" / "data"
    main = (data / name).read_bytes()
    assert name == hashlib.sha256(main).hexdigest()[:20] + ".json", "every data file is named by its own bytes"
    parts = {path.name: path.read_bytes() for path in data.glob("*.json") if path.name != name}
    section = json.loads(main)["neuron"]
    layer_parts = [[section["queries"][slot]["part"], section["keys"][slot]["part"]]
                   for slot in range(1, len(section["layers"]))]
    assert layer_parts and sorted(sum(layer_parts, [])) == sorted(parts)
    return json.loads(main), json.loads(join(main, parts)), layer_parts


def weights(payload: dict, slot: int, head: int, query: int) -> np.ndarray:
    """softmax(scale q . k) with the causal mask, numpy on the decoded payload (not the view's code)."""
    section, model = payload["neuron"], payload["model"]
    q = decode_array(section["queries"][slot])[head, query]
    kv = section["key_heads"].index(section["heads"][head] // (model["n_heads"] // model["n_kv_heads"]))
    scores = decode_array(section["keys"][slot])[kv] @ q * section["scales"][slot]
    scores[query + 1:] = -np.inf
    row = np.exp(scores - scores.max())
    return row / row.sum()


def shown(view) -> np.ndarray:
    return np.array([float(t) for t in view.locator(".xp-nnum").last.locator("span").all_inner_texts()])


def fits(view) -> bool:
    """The figure is within its scrolling box (no sideways scrolling), drawn cells and all."""
    return view.evaluate("el => { const b = el.querySelector('.xp-scroll'); return b.scrollWidth <= b.clientWidth; }")


def open_reader(browser, base: str, width: int) -> Reader:
    reader = Reader(browser, base, viewport={"width": width, "height": 800})
    reader.requests = []
    reader.page.on("request", lambda req: reader.requests.append(req.url))
    return reader


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_served_the_first_layer_paints_alone_and_a_layer_is_fetched_once(parts_site, serve, browser, width):
    main, payload, layer_parts = site_payload(parts_site)
    reader = open_reader(browser, serve(parts_site), width)
    try:
        page = reader.open("index.html")
        view = page.locator("explorable-neuron-view")
        assert ready(page, view) == "ready"
        next_frame(page)
        assert fits(view)
        fetched = lambda name: sum(url.endswith("/data/" + name) for url in reader.requests)  # noqa: E731
        assert all(fetched(name) == 0 for name in layer_parts[0]), "the first paint fetches no part"
        query = main["neuron"]["query"]
        np.testing.assert_allclose(shown(view), weights(payload, 0, 0, query), atol=0.0005 + 1e-6)
        for slot in (1, 0, 1):
            view.locator("select").first.select_option(str(slot))
            page.wait_for_function(f"el => el.state.li === {slot}", arg=view.element_handle())
            next_frame(page)
            np.testing.assert_allclose(shown(view), weights(payload, slot, 0, query), atol=0.0005 + 1e-6)
        assert [fetched(name) for name in layer_parts[0]] == [1, 1], "each file of the layer once"
        # the weights are the model's own attention (the head view's section), within the documented bounds
        attention = decode_array(payload["attention"]["values"])[payload["neuron"]["layers"][1], 0, query]
        np.testing.assert_allclose(shown(view), attention, atol=0.0005 + 1 / 511 + 1e-3)
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()


@pytest.mark.browser
def test_from_file_a_layer_is_read_through_its_script_copy_once(parts_site, browser):
    _, payload, layer_parts = site_payload(parts_site)
    reader = open_reader(browser, parts_site.as_uri() + "/", 1280)
    try:
        page = reader.open("index.html")
        view = page.locator("explorable-neuron-view")
        assert ready(page, view) == "ready"
        query = payload["neuron"]["query"]
        for slot in (1, 0, 1):
            view.locator("select").first.select_option(str(slot))
            page.wait_for_function(f"el => el.state.li === {slot}", arg=view.element_handle())
        next_frame(page)
        np.testing.assert_allclose(shown(view), weights(payload, 1, 0, query), atol=0.0005 + 1e-6)
        scripts = [url.rsplit("/", 1)[1] for url in reader.requests if "/assets/explorables/data/" in url]
        main = page.evaluate("document.querySelector('.explorable').dataset.src")
        assert sorted(scripts) == sorted(name.replace(".json", ".js") for name in [main, *layer_parts[0]])
        assert reader.errors == [] and [u for u in reader.requests if not u.startswith(("file:", "data:", "blob:"))] == []
    finally:
        reader.close()


@pytest.mark.browser
def test_the_standalone_file_holds_every_layer(parts_site, browser):
    _, payload, _ = site_payload(parts_site)
    [href] = re.findall(r'<p class="explorable-download"><a href="([^"]+)"',
                        (parts_site / "index.html").read_text(encoding="utf-8"))
    standalone = parts_site / href
    reader = open_reader(browser, standalone.parent.as_uri() + "/", 1280)
    try:
        page = reader.open(standalone.name)
        view = page.locator("explorable-neuron-view")
        assert ready(page, view) == "ready"
        view.locator("select").first.select_option("1")
        page.wait_for_function("el => el.state.li === 1", arg=view.element_handle())
        next_frame(page)
        np.testing.assert_allclose(shown(view), weights(payload, 1, 0, payload["neuron"]["query"]), atol=0.0005 + 1e-6)
        assert [u for u in reader.requests if u.rsplit("/", 1)[1] != standalone.name
                and not u.startswith(("data:", "blob:"))] == []
        assert reader.errors == []
    finally:
        reader.close()


@pytest.mark.browser
def test_a_wrong_column_estimate_is_corrected_once_laid_out(parts_site, serve, browser):
    """The first draw estimates the width beside the strips from the text; should that be far off (here: forced to
    2,000 px, so the first draw has room for one narrow strip only), the layout read after the first frame redraws
    the cells once, and the figure ends as the one drawn from a right estimate."""
    base = serve(parts_site)

    def figure(patch: bool):
        reader = open_reader(browser, base, 1280)
        if patch:
            reader.page.add_init_script("""(() => {
              const define = customElements.define.bind(customElements);
              customElements.define = (tag, cls) => {
                if (tag === 'explorable-neuron-view') cls.prototype.estimate = () => 2000;
                return define(tag, cls);
              };
            })()""")
        reader.page.add_init_script("""(() => {
          const define = customElements.define.bind(customElements);
          customElements.define = (tag, cls) => {
            if (tag === 'explorable-neuron-view') {
              const draw = cls.prototype.draw;
              cls.prototype.draw = function () { this.draws = (this.draws || 0) + 1; return draw.call(this); };
            }
            return define(tag, cls);
          };
        })()""")
        try:
            page = reader.open("index.html")
            view = page.locator("explorable-neuron-view")
            assert ready(page, view) == "ready"
            next_frame(page)      # a resize seen in a frame repaints in the next one: wait for both
            next_frame(page)
            assert fits(view) and reader.errors == []
            return view.evaluate("el => [el.draws, el.querySelector('.xp-nstrips').style.width, el.querySelector('.xp-nv').offsetWidth]")
        finally:
            reader.close()
    right, wrong = figure(False), figure(True)
    assert right[0] == 1 and wrong[0] == 2
    assert wrong[1:] == right[1:]


@pytest.mark.browser
def test_a_layer_file_that_cannot_be_read_is_reported_on_its_own_and_retried(parts_site, serve, browser):
    """A missing part leaves the view usable: an inline message names the layer, the shown layer stays, and
    picking the layer again once the file is back fetches it and shows it. A failure arriving after the reader
    moved to another layer is ignored."""
    main, payload, layer_parts = site_payload(parts_site)
    missing = set(layer_parts[0])
    reader = open_reader(browser, serve(parts_site), 1280)
    blocked = {"on": True}

    def route(r):
        if blocked["on"] and r.request.url.rsplit("/", 1)[-1] in missing:
            return r.fulfill(status=404, body="gone")
        return r.continue_()
    try:
        reader.page.route("**/data/*.json", route)
        page = reader.open("index.html")
        view = page.locator("explorable-neuron-view")
        assert ready(page, view) == "ready"
        layer = main["neuron"]["layers"][1]
        view.locator("select").first.select_option("1")
        alert = view.locator(".xp-bar .xp-error")
        alert.wait_for(state="visible")
        assert f"Layer {layer} could not be loaded" in alert.inner_text() and "HTTP 404" in alert.inner_text()
        assert view.get_attribute("data-state") == "ready" and view.evaluate("el => el.state.li") == 0
        assert view.locator("select").first.input_value() == "0", "the select shows the layer still drawn"
        blocked["on"] = False
        view.locator("select").first.select_option("1")
        page.wait_for_function("el => el.state.li === 1", arg=view.element_handle())
        next_frame(page)
        assert alert.inner_text() == "" and not alert.is_visible()
        query = main["neuron"]["query"]
        np.testing.assert_allclose(shown(view), weights(payload, 1, 0, query), atol=0.0005 + 1e-6)
    finally:
        reader.close()
