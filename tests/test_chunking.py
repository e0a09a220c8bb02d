from memcli.chunking import CHUNK_CHARS, chunk_text


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("hello world") == ["hello world"]


def test_long_text_splits_on_boundaries_and_keeps_every_word() -> None:
    paragraphs = [
        " ".join(f"Sentence {p}.{s} talks about topic{p}x{s}." for s in range(12)) for p in range(8)
    ]
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text)
    assert len(chunks) > 1
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


def test_one_enormous_word_is_cut() -> None:
    chunks = chunk_text("x" * 5000)
    assert "".join(chunks) == "x" * 5000
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
