// The page's WordPiece tokenizer (live blocks). The cases against the model's Python tokenizer come from
// tests/test_live_tokenizer.py, which writes them to a file named by LIVE_TOKENIZER_CASES and runs this file; without
// it only the unit tests on a tiny vocabulary run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { WordPiece } from "../../generator/assets/js/live-wordpiece.js";

const SETTINGS = { lowercase: true, strip_accents: true, clean_text: true, chinese_chars: true, unk_token: "[UNK]",
  prefix: "##", max_word_chars: 10, special_ids: [0, 1, 2], cls_id: 1, sep_id: 2, unk_id: 0 };
const VOCAB = ["[UNK]", "[CLS]", "[SEP]", "play", "##ing", "##ed", "un", "##aff", "##able", "cafe", ".", "日", "本", "!", "(", ")"];
const tiny = new WordPiece(SETTINGS, VOCAB);
const words = (ids) => ids.map((i) => VOCAB[i]);

test("greedy longest match, continuing pieces, [CLS] and [SEP] around", () => {
  assert.deepEqual(words(tiny.encode("Playing unaffable.").ids), ["[CLS]", "play", "##ing", "un", "##aff", "##able", ".", "[SEP]"]);
});

test("accents are stripped and case folded; CJK characters are words of their own", () => {
  assert.deepEqual(words(tiny.encode("CAFÉ 日本").ids), ["[CLS]", "cafe", "日", "本", "[SEP]"]);
});

test("a word with an unknown piece, or longer than max_word_chars, is one [UNK] with its source span", () => {
  const text = "played playplayplay 😀!";
  const enc = tiny.encode(text);
  assert.deepEqual(words(enc.ids), ["[CLS]", "play", "##ed", "[UNK]", "[UNK]", "!", "[SEP]"]);
  const shown = tiny.display(text, enc);
  assert.deepEqual(shown.map((r) => r.text), ["[CLS]", "play", "ed", " playplayplay", " 😀", "!", "[SEP]"]);
  assert.deepEqual(shown.map((r) => !!r.unknown), [false, false, false, true, true, false, false]);
  assert.deepEqual(shown.map((r) => r.special), [true, false, false, false, false, false, true]);
});

test("zero-width and control characters are removed before tokenising, as the Python tokenizer does", () => {
  assert.deepEqual(words(tiny.encode("play\u200bing\u0007").ids), ["[CLS]", "play", "##ing", "[SEP]"]);
});

test("punctuation: no space before '.' or ')' nor after '('", () => {
  const text = "(play).", enc = tiny.encode(text);
  assert.deepEqual(tiny.display(text, enc).map((r) => r.text), ["[CLS]", "(", "play", ")", ".", "[SEP]"]);
});

const cases = process.env.LIVE_TOKENIZER_CASES;
test("ids and display records equal the Python tokenizer's on every test string", { skip: !cases && "LIVE_TOKENIZER_CASES not set" }, () => {
  const { settings, vocab, cases: list } = JSON.parse(readFileSync(cases, "utf8"));
  const wp = new WordPiece(settings, vocab);
  const wrong = [];
  for (const { text, pair = null, ids, segments, tokens } of list) {
    const enc = wp.encode(text, pair);
    if (JSON.stringify(enc.ids) !== JSON.stringify(ids)) { wrong.push(`${JSON.stringify(text)}: ids ${enc.ids} != ${ids}`); continue; }
    if (JSON.stringify(enc.segments) !== JSON.stringify(segments)) wrong.push(`${JSON.stringify(text)}: segments ${enc.segments} != ${segments}`);
    const shown = wp.display(text, enc, pair).map(({ text, special, unknown, segment }) => [text, special, !!unknown, segment]);
    const want = tokens.map(({ text, special, unknown, segment }) => [text, special, !!unknown, segment]);
    if (JSON.stringify(shown) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(text)}: tokens ${JSON.stringify(shown)} != ${JSON.stringify(want)}`);
  }
  assert.ok(list.filter((c) => c.pair == null).length >= 200 && list.some((c) => c.pair != null), `${list.length} cases`);
  assert.deepEqual(wrong, []);
});
