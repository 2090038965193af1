"""Readable tokens: the characters a reader should see for each token id, never `Ġ`, `▁`, `##` or mojibake.

Byte-level BPE can split one character (CJK, emoji) over several tokens, and each piece alone decodes to U+FFFD.
We recover every token's bytes, decode runs of ordinary tokens together, and give each token the characters its
bytes belong to; a token holding only part of a character's bytes is marked `partial`.

Two more things a reader must be able to see:
- characters with no glyph of their own (format characters such as U+200B, unusual spaces, a combining mark with
  nothing to sit on): the record lists them by code point and name in `invisible`, and the widgets draw a mark;
- text the tokenizer does not know (WordPiece turns an emoji into `[UNK]`): that token is real input, not a special
  token; the record is marked `unknown` and its text is the source characters it stands for, found through the
  tokenizer's offsets mapping.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from functools import lru_cache
from typing import Any, Iterable, Sequence

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")

# WordPiece splits punctuation into tokens of its own and forgets the spacing; these rules put it back the way
# text is usually written ("guitar.", "(this)", "don't", "well-known") instead of "guitar ." or "don ' t".
_NO_SPACE_BEFORE = frozenset(".,!?;:)]}%'’-")
_NO_SPACE_AFTER = frozenset("([{$'’-")


@lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """Inverse of the GPT-2 byte-to-printable-character table used by byte-level BPE vocabularies.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes are shifted to code points 256 and up,
    in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {chr(byte): byte for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in table.values():
            table[chr(256 + shifted)] = byte
            shifted += 1
    return table


def tokenizer_style(tokenizer: Any) -> str:
    """'byte-level', 'sentencepiece', 'wordpiece' or 'other', read from the tokenizer's decoder."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = repr(getattr(backend, "decoder", None))
    if "ByteLevel" in decoder:
        return "byte-level"
    if "ByteFallback" in decoder or "Metaspace" in decoder or "▁" in decoder:
        return "sentencepiece"
    if "WordPiece" in decoder:
        return "wordpiece"
    return "other"


def _wordpiece_text(piece: str, previous: str | None) -> str:
    if piece.startswith("##"):
        return piece[2:]
    if previous is None or piece in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER:
        return piece
    return " " + piece


def _token_bytes(tokenizer: Any, style: str, piece: str, previous: str | None) -> bytes:
    """This token's bytes; `previous` is the piece before it in the same run of ordinary tokens (None first)."""
    if style == "byte-level":
        table = _byte_level_decoder()
        if all(char in table for char in piece):
            return bytes(table[char] for char in piece)
        return piece.encode("utf-8")
    if style == "sentencepiece":
        match = _BYTE_TOKEN.match(piece)
        if match:
            return bytes([int(match.group(1), 16)])
        return piece.replace("▁", " ").encode("utf-8")
    if style == "wordpiece":
        return _wordpiece_text(piece, previous).encode("utf-8")
    return tokenizer.convert_tokens_to_string([piece]).encode("utf-8")


def display_tokens(tokenizer: Any, ids: Iterable[int], *, segments: Iterable[int] | None = None,
                   n_prompt: int | None = None, source: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One display record per id: text, special, partial, segment, generated; `unknown` (true) on a token the
    tokenizer could not read, `invisible` (["U+200B ZERO WIDTH SPACE", ...]) on one holding characters without a
    glyph of their own (see invisible_characters).

    source: the text (or the sentence pair) the ids were encoded from with `tokenizer(*source)`; needed to tell
    which characters an unknown token stands for. Without it an unknown token shows the tokenizer's unknown token.
    """
    ids = [int(i) for i in ids]
    segments = list(segments) if segments is not None else [0] * len(ids)
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = tokenizer.convert_ids_to_tokens(ids)
    style = tokenizer_style(tokenizer)
    records = [{"text": "", "special": i in special_ids, "partial": False, "segment": int(seg),
                "generated": n_prompt is not None and pos >= n_prompt}
               for pos, (i, seg) in enumerate(zip(ids, segments))]
    shared: list[int] = []   # unknown tokens that split one source span between them
    for span, positions in _by_span(unknown_sources(tokenizer, ids, source, n_prompt)):
        for index, pos in enumerate(positions):
            records[pos]["special"] = False
            records[pos]["unknown"] = True
            if span is None:
                continue
            text = span[0]
            data = text.encode("utf-8")
            if style == "byte-level" and len(data) == len(positions):
                pieces[pos] = _as_piece(style, data[index:index + 1])   # one byte each: decoded like known bytes
            else:
                pieces[pos] = _as_piece(style, text)
                if len(positions) > 1:
                    shared.append(pos)

    run: list[int] = []   # positions of consecutive ordinary tokens, decoded together
    for pos, piece in enumerate(pieces):
        if records[pos]["special"]:
            _decode_run(tokenizer, style, pieces, run, records)
            run = []
            records[pos]["text"] = piece if piece is not None else ""
        else:
            run.append(pos)
    _decode_run(tokenizer, style, pieces, run, records)
    for pos in shared:
        records[pos]["partial"] = True
    for record in records:
        names = invisible_characters(record["text"])
        if names:
            record["invisible"] = names
    return records


# Whitespace the widgets already draw with a glyph of their own (middle dot, return arrow, tab arrow).
_DRAWN = frozenset(" \n\t\r")
_NO_GLYPH = frozenset({"Cf", "Cc", "Co", "Cn", "Cs", "Zl", "Zp", "Zs"})


def invisible_characters(text: str) -> list[str]:
    """Names ("U+200B ZERO WIDTH SPACE") of the distinct characters of `text` that show no glyph of their own, in
    order: format, control, private-use, unassigned and surrogate characters and every space but U+0020 (Unicode
    general categories Cf, Cc, Co, Cn, Cs, Zs, Zl, Zp), and combining marks (Mn, Mc, Me) at the start of the text,
    where no base character carries them. Space, newline, tab and carriage return are left out: the widgets draw
    them already. Names come from the Unicode Character Database (Python's unicodedata); a character without a
    name is described by its category."""
    names: list[str] = []
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if char in _DRAWN or not (category in _NO_GLYPH or (category[0] == "M" and _starts_marks(text, index))):
            continue
        name = f"U+{ord(char):04X} {unicodedata.name(char, _UNNAMED.get(category, '(' + category + ')'))}"
        if name not in names:
            names.append(name)
    return names


_UNNAMED = {"Cc": "(control character)", "Co": "(private use)", "Cn": "(unassigned)", "Cs": "(surrogate)"}


def _starts_marks(text: str, index: int) -> bool:
    return all(unicodedata.category(char)[0] == "M" for char in text[: index + 1])


def _unknown_id(tokenizer: Any) -> int | None:
    """The unknown token's id, unless the tokenizer gives that id another special role too (SmolLM2's unk_token
    is `<|endoftext|>`): then only the offsets mapping can tell an unknown character from that token."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return None
    others = {getattr(tokenizer, f"{role}_token_id", None) for role in ("bos", "eos", "pad", "cls", "sep", "mask")}
    return None if unk in others else int(unk)


def unknown_sources(tokenizer: Any, ids: list[int], source: str | Sequence[str] | None,
                    n_prompt: int | None = None) -> dict[int, tuple[str, int, int, int] | None]:
    """Positions of tokens that stand for text the tokenizer could not read -> (those source characters, sentence,
    start, end), or None when they cannot be recovered (no source given, a slow tokenizer without offsets).

    A position counts when its id is the tokenizer's unk_token_id and the offsets mapping of `tokenizer(*source)`
    (Hugging Face fast tokenizers, `return_offsets_mapping=True`) gives it a span of the source other than the
    unknown token's own spelling (an author may write "[UNK]" on purpose). Without offsets, only a prompt token
    whose unknown id plays no other special role counts. Several positions can share one span (a byte-level
    tokenizer without a byte for each of a character's bytes gives one unknown token per byte).
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or unk not in ids:
        return {}
    texts = [source] if isinstance(source, str) else list(source or [])
    found: dict[int, tuple[str, int, int, int] | None] = {}
    offsets: list[tuple[int, int]] = []
    sequences: list[int | None] = []
    if texts and getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(*texts, return_offsets_mapping=True)
        if list(encoded["input_ids"]) == ids[: len(encoded["input_ids"])]:
            offsets = [tuple(span) for span in encoded["offset_mapping"]]
            sequences = encoded.sequence_ids()
    prompt = len(ids) if n_prompt is None else n_prompt
    for pos, token_id in enumerate(ids):
        if token_id != unk:
            continue
        if pos < len(offsets) and sequences[pos] is not None and offsets[pos][1] > offsets[pos][0]:
            start, end = offsets[pos]
            text = texts[sequences[pos]][start:end]
            if text != getattr(tokenizer, "unk_token", None):
                found[pos] = (text, sequences[pos], start, end)
        elif not offsets and pos < prompt and _unknown_id(tokenizer) == unk:
            found[pos] = None
    return found


def _by_span(found: dict[int, tuple | None]) -> list[tuple[tuple | None, list[int]]]:
    """Group consecutive positions that stand for the same source span (each position alone when unrecovered)."""
    groups: list[tuple[tuple | None, list[int]]] = []
    for pos in sorted(found):
        span = found[pos]
        if span is not None and groups and groups[-1][0] == span and groups[-1][1][-1] == pos - 1:
            groups[-1][1].append(pos)
        else:
            groups.append((span, [pos]))
    return groups


def _as_piece(style: str, text: str | bytes) -> str:
    """Source characters (or, byte-level only, bytes) written as a vocabulary piece of this tokenizer style, so the
    run decoder turns them back into the same characters (byte-level pieces map bytes to printable characters)."""
    if style == "byte-level":
        table = {byte: char for char, byte in _byte_level_decoder().items()}
        return "".join(table[byte] for byte in (text if isinstance(text, bytes) else text.encode("utf-8")))
    if style == "sentencepiece":
        return text.replace(" ", "▁")
    return text


def _decode_run(tokenizer: Any, style: str, pieces: list[str], run: list[int], records: list[dict]) -> None:
    if not run:
        return
    data = bytearray()
    owner: list[int] = []
    for index, pos in enumerate(run):
        previous = (pieces[run[index - 1]] or "") if index else None
        chunk = _token_bytes(tokenizer, style, pieces[pos] or "", previous)
        data.extend(chunk)
        owner.extend([pos] * len(chunk))
    start = 0
    while start < len(data):
        end = start + _utf8_length(data, start)
        char = bytes(data[start:end]).decode("utf-8", errors="replace")
        owners = list(dict.fromkeys(owner[start:end]))
        for pos in owners:
            records[pos]["text"] += char
            if len(owners) > 1:
                records[pos]["partial"] = True
        start = end


def _utf8_length(data: bytearray, start: int) -> int:
    """Bytes in the UTF-8 character at `start` (1 for an invalid lead or truncated sequence)."""
    lead = data[start]
    need = 1 if lead < 0x80 else 2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF5 else 1
    if start + need > len(data) or any(not 0x80 <= byte < 0xC0 for byte in data[start + 1:start + need]):
        return 1
    return need


def token_alone(tokenizer: Any, style: str, piece: str | None, special: bool) -> dict[str, Any]:
    """One token read on its own, as a candidate in a list: {"text", "special", "partial"}.

    A token holding only some bytes of a character (byte-level BPE, SentencePiece byte fallback) has no character to
    show: its undecodable bytes are written `<0xE6>` (SentencePiece's spelling) and it is marked partial.
    """
    if special:
        return {"text": piece or "", "special": True, "partial": False}
    data = _token_bytes(tokenizer, style, piece or "", None)
    text, partial, start = "", False, 0
    while start < len(data):
        end = start + _utf8_length(bytearray(data), start)
        try:
            text += data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            text += "".join(f"<0x{byte:02X}>" for byte in data[start:end])
            partial = True
        start = end
    return {"text": text, "special": False, "partial": partial}


_SHARED: "weakref.WeakKeyDictionary[Any, dict[Any, Any]]" = weakref.WeakKeyDictionary()


class Vocabulary:
    """A tokenizer as methods may see it: text -> ids, ids -> display records, and nothing else.

    Methods never get the tokenizer itself (`generator.capture` makes this wrapper when a method needs it).
    """

    def __init__(self, tokenizer: Any):
        self._tokenizer = tokenizer
        self._style = tokenizer_style(tokenizer)
        self._special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.size = len(tokenizer)

    def shared(self) -> dict[Any, Any]:
        """A dict that lives as long as the tokenizer and is shared by every Vocabulary of it (a model pool keeps one
        tokenizer per model): for what is read from the whole vocabulary and costly to read again."""
        found = _SHARED.get(self._tokenizer)
        if found is None:
            found = _SHARED[self._tokenizer] = {}
        return found

    def encode(self, text: str) -> list[int]:
        """The ids of `text` alone, without the special tokens the tokenizer would add around a whole text."""
        return [int(i) for i in self._tokenizer(text, add_special_tokens=False)["input_ids"]]

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` of many texts in one call of the tokenizer (its batch path)."""
        return [[int(i) for i in ids] for ids in self._tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def display(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """One record per id, each token read on its own (`token_alone`); ids beyond the tokenizer's vocabulary
        (padding rows of an unembedding) read `<id 49200>`."""
        ids = [int(i) for i in ids]
        pieces = self._tokenizer.convert_ids_to_tokens([i if i < self.size else 0 for i in ids])
        return [token_alone(self._tokenizer, self._style, piece, i in self._special) if i < self.size
                else {"text": f"<id {i}>", "special": True, "partial": False}
                for i, piece in zip(ids, pieces)]

    def chat(self, messages: Sequence[dict[str, str]]) -> list[int] | None:
        """The ids of a conversation [{"role", "content"}, ...] as the tokenizer's own chat template writes it, with
        the prompt that opens the assistant's next turn (`apply_chat_template(..., add_generation_prompt=True)`);
        None when the tokenizer has no chat template (a model not tuned to chat)."""
        if not getattr(self._tokenizer, "chat_template", None):
            return None
        out = self._tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
        ids = out["input_ids"] if hasattr(out, "keys") else out
        return [int(i) for i in ids]

    def stop_ids(self) -> set[int]:
        """Ids that end an assistant's turn: the end-of-text token and the chat template's turn end where the
        vocabulary has one (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`)."""
        out = {int(i) for i in [getattr(self._tokenizer, "eos_token_id", None)] if i is not None}
        vocab = self._tokenizer.get_vocab()
        out |= {int(vocab[name]) for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>") if name in vocab}
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`, special tokens left out (the tokenizer's `decode`)."""
        return str(self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True))

    def read(self, text: str, segment: int = 0) -> tuple[list[int], list[dict[str, Any]]]:
        """`text` as the model reads it on its own (the special tokens the tokenizer adds included): its ids and
        display records in context (`display_tokens`, every record in `segment`)."""
        ids = [int(i) for i in self._tokenizer(text)["input_ids"]]
        return ids, display_tokens(self._tokenizer, ids, segments=[segment] * len(ids), source=text)
