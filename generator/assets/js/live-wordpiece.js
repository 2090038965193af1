// A BERT-style WordPiece tokenizer for live blocks: the same ids as the model's Hugging Face tokenizer
// (tokenizers' BertNormalizer, BertPreTokenizer, WordPiece, [CLS] ... [SEP]), written for the page, and display
// records made as generator/tokens.py makes them for WordPiece. Settings come from the live model's live.json
// (generator/live/export.py, tokenizer_settings). tests/test_live_tokenizer.py checks the ids against the Python
// tokenizer on tests/live/strings.json (accents, CJK, emoji, zero-width and control characters, long words, numbers).
//
// Why our own rather than @huggingface/tokenizers 0.2.0 from npm (measured on the same 255 strings and MiniLM):
// that package gave the Python ids on 254 of them (not on "ΣΊΣΥΦΟΣ": it lowercases the whole string, so a final
// sigma becomes ς, where tokenizers lowercases each character alone), and costs 11.5 KB of code plus tokenizer.json
// (193 KB) gzipped, against 2.5 KB plus vocab.txt (110 KB) here, with the ids of all 255.

// Rust's char::is_whitespace (the White_Space property), as tokenizers' BertNormalizer and BertPreTokenizer use it.
const WHITE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
// tokenizers' is_control: the "other" categories but tab, newline and carriage return (removed by clean_text).
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
const NONSPACING = /\p{Mn}/u;
// char::is_ascii_punctuation or a Unicode punctuation category (tokenizers' is_bert_punc)
const PUNCT = /[!-\/:-@\[-`{-~\p{P}]/u;
const NO_SPACE_BEFORE = new Set([...".,!?;:)]}%'’-"]), NO_SPACE_AFTER = new Set([..."([{$'’-"]);

function chinese(cp) {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

export class WordPiece {
  /** settings: live.json's `tokenizer` object; vocab: the words, index = id (vocab.txt's lines). */
  constructor(settings, vocab) {
    this.s = settings;
    this.vocab = vocab;
    this.ids = new Map(vocab.map((w, i) => [w, i]));
    this.special = new Set(settings.special_ids);
  }

  /** Normalised characters of `text`, each with the [start, end) of the source characters it came from. */
  normalise(text) {
    const { clean_text, chinese_chars, strip_accents, lowercase } = this.s, out = [];
    let at = 0;
    for (const c of text) {
      const start = at, end = (at += c.length), cp = c.codePointAt(0);
      if (clean_text && (cp === 0 || cp === 0xfffd || (CONTROL.test(c) && !"\t\n\r".includes(c)))) continue;
      let chars = clean_text && WHITE.test(c) ? " " : c;
      if (chinese_chars && chinese(cp)) {
        out.push([" ", start, end], [c, start, end], [" ", start, end]);
        continue;
      }
      if (strip_accents) chars = [...chars.normalize("NFD")].filter((x) => !NONSPACING.test(x)).join("");
      if (lowercase) chars = [...chars].map((x) => x.toLowerCase()).join(""); // per character, as tokenizers does
      for (const x of chars) out.push([x, start, end]);
    }
    return out;
  }

  /** Words: runs of normalised characters between whitespace, each punctuation character a word of its own. */
  words(text) {
    const words = [];
    let word = null;
    for (const [c, start, end] of this.normalise(text)) {
      if (WHITE.test(c)) { word = null; continue; }
      if (PUNCT.test(c)) { words.push({ text: c, start, end }); word = null; continue; }
      if (!word) words.push((word = { text: "", start, end }));
      word.text += c;
      word.end = end;
    }
    return words;
  }

  /**
   * Encode one text (or a pair, `second` given) as the model reads it: {ids: [CLS] A [SEP] (B [SEP]), spans:
   * [start, end, sentence] of the source for each id (null for [CLS] and [SEP]), segments: 0 or 1 per id}. A word
   * longer than max_word_chars, or with a piece not in the vocabulary, becomes the unknown token (WordPiece's greedy longest match, continuing pieces with the prefix).
   */
  encode(text, second = null) {
    const { cls_id, sep_id } = this.s, ids = [cls_id], spans = [null], segments = [0];
    this.pieces(text, 0, ids, spans, segments);
    ids.push(sep_id), spans.push(null), segments.push(0);
    if (second != null) {
      this.pieces(second, 1, ids, spans, segments);
      ids.push(sep_id), spans.push(null), segments.push(1);
    }
    return { ids, spans, segments };
  }

  /** Append the pieces of `text` (sentence `sentence`: 0 or 1) to ids, spans ([start, end, sentence]), segments. */
  pieces(text, sentence, ids, spans, segments) {
    const { unk_token, prefix, max_word_chars } = this.s, unk = this.ids.get(unk_token);
    for (const w of this.words(text)) {
      const chars = [...w.text], pieces = [];
      let ok = chars.length <= max_word_chars, i = 0;
      while (ok && i < chars.length) {
        let j = chars.length, id;
        for (; j > i; j--) {
          id = this.ids.get((i ? prefix : "") + chars.slice(i, j).join(""));
          if (id !== undefined) break;
        }
        if (j === i) ok = false;
        else pieces.push(id), (i = j);
      }
      for (const id of ok ? pieces : [unk]) ids.push(id), spans.push([w.start, w.end, sentence]), segments.push(sentence);
    }
  }

  /**
   * Display records of encoded ids (of `text`, and `second` for a pair), as generator/tokens.py display_tokens makes them for a WordPiece tokenizer:
   * {text, special, partial, segment, generated}, `unknown: true` on an unknown token with the source characters
   * it stands for as its text. A continuing piece is written without its prefix; other pieces after a token get a
   * leading space, except where text usually has none (before "." or ")", after "(" or "$").
   */
  display(text, { ids, spans, segments }, second = null) {
    const unk = this.ids.get(this.s.unk_token), { prefix } = this.s, texts = [text, second];
    const records = ids.map((id, k) => ({ text: "", special: this.special.has(id), partial: false, segment: segments?.[k] ?? 0, generated: false }));
    const pieces = ids.map((id) => this.vocab[id]);
    ids.forEach((id, k) => {
      const source = id === unk && spans[k] ? texts[spans[k][2] ?? 0].slice(spans[k][0], spans[k][1]) : null;
      if (source && source !== this.s.unk_token) {
        records[k].special = false;
        records[k].unknown = true;
        pieces[k] = source;
      }
    });
    let previous = null;
    records.forEach((r, k) => {
      const piece = pieces[k];
      if (r.special) {
        r.text = piece;
        previous = null;
        return;
      }
      r.text = piece.startsWith(prefix) ? piece.slice(prefix.length)
        : previous === null || NO_SPACE_BEFORE.has(piece) || NO_SPACE_AFTER.has(previous) ? piece : " " + piece;
      previous = piece;
    });
    return records;
  }
}
