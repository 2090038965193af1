// Pure logic of the lens views: the section reader and its checks, candidate and rank look-ups, formatting.
// Arrays are encoded here with node's zlib (the ARCHITECTURE.md format), independently of the decoder under test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { readLens, candidate, next, outputs, layerName, layerLabel, pct, rankText, rankShade } from "../../generator/assets/js/lens.js";

const tok = (text, generated = false) => ({ text, special: false, partial: false, segment: 0, generated });

/** uint16 ARRAY of exact integers (min 0, max 65535), or of values over [0, 1]. */
function u16(values, shape, unit = false) {
  const q = Uint16Array.from(values, (v) => Math.round(unit ? v * 65535 : v));
  return { dtype: "uint16", shape, min: 0, max: unit ? 1 : 65535, data: deflateSync(Buffer.from(q.buffer)).toString("base64") };
}

// 2 rows of layers (embedding, output), 3 tokens, top 2; candidates "a", " b", "<0xE6>"
function payload(over = {}) {
  const top = [0, 1, 1, 0, 2, 0, /* output */ 1, 0, 1, 2, 0, 1];
  const probs = [0.5, 0.25, 0.6, 0.1, 0.7, 0.2, 0.9, 0.05, 0.8, 0.1, 0.4, 0.3];
  return {
    schema_version: 1, n_prompt: 2, tokens: [tok("a"), tok(" b"), tok("a", true)],
    lens: {
      top_k: 2, n_layers: 1, vocab_size: 50000, norm: "LlamaRMSNorm", token_ids: [7, 9, 7],
      candidates: { text: ["a", " b", "<0xE6>"], ids: [7, 9, 300], partial: [2], special: [] },
      top: u16(top, [2, 3, 2]), top_probs: u16(probs, [2, 3, 2], true),
      next_ranks: u16([3, 12, 1, 1], [2, 2]), next_probs: u16([0.1, 0.01, 0.9, 0.8], [2, 2], true),
      watch: [{ text: " b", id: 9, ranks: u16([2, 1, 5, 1, 1, 4], [2, 3]), probs: u16([0.25, 0.6, 0.01, 0.9, 0.8, 0.1], [2, 3], true) }],
      ...over,
    },
  };
}

test("readLens decodes the section: candidates, probabilities, next-token ranks, watched tokens", async () => {
  const x = await readLens(payload());
  assert.equal(x.L, 1);
  assert.equal(x.N, 3);
  assert.equal(x.K, 2);
  assert.equal(x.V, 50000);
  assert.equal(x.nPrompt, 2);
  assert.deepEqual(x.cand.map((c) => [c.text, c.id, c.partial]), [["a", 7, false], [" b", 9, false], ["<0xE6>", 300, true]]);
  const c = candidate(x, 1, 1, 0);                    // output row, position 1, most probable
  assert.equal(c.token.text, " b");
  assert.equal(c.id, 9);
  assert.ok(Math.abs(c.prob - 0.8) < 1e-4);
  assert.equal(candidate(x, 0, 2, 0).token.text, "<0xE6>");
  assert.deepEqual(next(x, 0, 1).rank, 12);
  assert.ok(Math.abs(next(x, 1, 0).prob - 0.9) < 1e-4);
  assert.equal(next(x, 1, 2), null, "the last position has no next token");
  assert.equal(Math.round(x.watch[0].ranks[1 * 3 + 2]), 4);
  assert.deepEqual(x.ids, [7, 9, 7]);
});

test("readLens refuses sections that do not fit the tokens", async () => {
  await assert.rejects(readLens({ schema_version: 1, tokens: [tok("a")] }), /no lens section/);
  const p = payload();
  p.tokens.push(tok("c"));
  await assert.rejects(readLens(p), /do not fit 4 tokens/);
  await assert.rejects(readLens(payload({ next_ranks: u16([1, 2, 3], [1, 3]) })), /next-token ranks of shape \[1,3\]/);
  await assert.rejects(readLens(payload({ top: u16([0, 1, 1, 0, 2, 0, 1, 0, 1, 7, 0, 1], [2, 3, 2]) })), /outside the candidate list/);
  await assert.rejects(readLens(payload({ candidates: { text: ["a"], ids: [1, 2] } })), /a text and an id/);
  await assert.rejects(readLens(payload({ watch: [{ text: "x", ranks: u16([1, 2], [1, 2]), probs: u16([1, 1], [1, 2], true) }] })), /watched token "x"/);
});

test("outputs are the positions predicting generated tokens, else every position with a next token", () => {
  assert.deepEqual(outputs({ N: 6, nPrompt: 3 }), [2, 3, 4]);
  assert.deepEqual(outputs({ N: 4, nPrompt: 4 }), [0, 1, 2]);
  assert.deepEqual(outputs({ N: 1, nPrompt: 1 }), []);
});

test("layer names and labels mark the embedding and the output", () => {
  assert.equal(layerName(0, 30), "embedding");
  assert.equal(layerName(7, 30), "layer 7");
  assert.equal(layerName(30, 30), "layer 30 (output)");
  assert.deepEqual([0, 1, 30].map((l) => layerLabel(l, 30)), ["emb", "1", "30 out"]);
});

test("ranks shade on a log scale and print with separators; probabilities print to 0.1 %", () => {
  assert.equal(rankShade(1, 49152), 1);
  assert.equal(rankShade(49152, 49152), 0);
  assert.ok(Math.abs(rankShade(Math.sqrt(49152), 49152) - 0.5) < 1e-12);
  assert.equal(rankShade(0, 100), 0);
  assert.equal(rankText(49152), "49,152");
  assert.equal(pct(0.8912), "89.1%");
  assert.equal(pct(0.0004), "<0.1%");
  assert.equal(pct(0), "0%");
});
