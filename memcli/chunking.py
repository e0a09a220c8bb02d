"""Split long input (a document, a transcript) into chunks that each stay findable."""

from __future__ import annotations

import re

# all-MiniLM-L6-v2 reads 256 word pieces; about 800 characters of English fit.
CHUNK_CHARS = 800
CHUNK_THRESHOLD = 1200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, max_chars: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs, then sentences, then words, packed greedily up to max_chars."""
    if len(text) <= CHUNK_THRESHOLD:
        return [text]
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            pieces.extend(_split_words(sentence, max_chars))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}\n\n{piece}" if current else piece
        if len(joined) <= max_chars:
            current = joined
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_words(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    out: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > max_chars:  # one enormous token: cut it
            if current:
                out.append(current)
                current = ""
            out.append(word[:max_chars])
            word = word[max_chars:]
        joined = f"{current} {word}" if current else word
        if len(joined) <= max_chars:
            current = joined
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out
