"""The local chat model: loading it on first use, counting tokens, streaming replies.

Nothing here runs at import time: `mem recall`, `mem remember` and `mem --help`
never load a generation model; `mem ask` and `mem chat` load it once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import InputError, ModelError
from ..paths import models_dir
from . import catalog, sampling

Message = dict[str, str]
# Tokens the chat template adds around each message (role markers, newlines);
# measured on Qwen2.5 (5) and SmolLM2 (5), rounded up so budgets stay safe.
TEMPLATE_TOKENS_PER_MESSAGE = 8


class Generator:
    """A GGUF chat model run by llama.cpp, loaded on first use."""

    def __init__(self, path: Path, name: str, *, n_ctx: int = 4096) -> None:
        self.path = Path(path)
        self.name = name
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()
        self.last_finish_reason: str | None = None

    @property
    def llm(self) -> Any:
        with self._lock:
            if self._llm is None:
                from .llama import load_llama

                try:
                    self._llm = load_llama(self.path, n_ctx=self.n_ctx)
                    sampling.install(self._llm)
                except (ValueError, RuntimeError, OSError) as exc:
                    raise ModelError(f"cannot load the generation model {self.path}: {exc}") from None
            return self._llm

    def preload(self) -> None:
        """Start loading in a thread (llama.cpp releases the GIL); errors surface at first use."""

        def work() -> None:
            try:
                self.llm  # noqa: B018
            except Exception:
                pass

        self._preloading = threading.Thread(target=work, daemon=True)
        self._preloading.start()

    def settle(self) -> None:
        """Wait for a preload still running: exiting while llama.cpp loads can crash."""
        thread = getattr(self, "_preloading", None)
        if thread is not None:
            thread.join()

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.count_tokens(m["content"]) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        grammar: str | None = None,
        temperature: float = 0.0,
        repeat_penalty: float = 1.0,
    ) -> Iterator[str]:
        """Yield the reply piece by piece; greedy by default, so answers are repeatable."""
        from llama_cpp import LlamaGrammar

        kwargs: dict[str, Any] = {}
        if grammar is not None:
            kwargs["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
        self.last_finish_reason = None
        try:
            chunks = self.llm.create_chat_completion(
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                seed=0,
                repeat_penalty=repeat_penalty,
                **kwargs,
            )
            for chunk in chunks:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content")
                if piece:
                    yield piece
                if choice.get("finish_reason"):
                    self.last_finish_reason = choice["finish_reason"]
        except ValueError as exc:  # llama_cpp: "Requested tokens (N) exceed context window of M"
            if "context window" not in str(exc):
                raise
            raise InputError(f"too long for the model: {exc}; say it in fewer words") from None

    def complete(self, messages: Sequence[Message], *, max_tokens: int, **kw: Any) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, **kw))

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


def configured_generate_model() -> str:
    """MEMCLI_MODEL, else `generate_model` in the config file, else the default."""
    return settings.value("generate_model")


def resolve(spec: str) -> tuple[Path, str]:
    """A catalog name or a GGUF path -> (path, display name); a clear error when missing."""
    known = catalog.find(spec)
    if known is not None:
        if known.role != "generate":
            raise ModelError(f"{spec} is an embedding model, not a generation model")
        path = catalog.model_path(known, models_dir())
        if not path.is_file():
            raise ModelError(f"the generation model {spec} is not installed. Fix: mem models install {spec}")
        if not catalog.checked_since_written(path, known.sha256):  # trusted once verified, until it changes
            if not catalog.verify(known, path):
                raise ModelError(f"{path} does not match its sha256. Fix: mem models install {known.name}")
            try:
                catalog.record_checksum(path, known.sha256)
            except OSError:
                pass  # a read-only models dir: verified again next time
        return path, known.name
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(
            f"generation model {spec!r} not found: give a GGUF file path or one of "
            f"{', '.join(n for n, m in catalog.MODELS.items() if m.role == 'generate')} "
            "(mem models use NAME|PATH, or MEMCLI_MODEL)"
        )
    return path, path.name.removesuffix(".gguf")


_loaded: dict[str, Generator] = {}
_loaded_lock = threading.Lock()


def load_generator(spec: str | None = None, *, n_ctx: int = 4096) -> Generator:
    spec = spec or configured_generate_model()
    with _loaded_lock:
        if spec not in _loaded:
            path, name = resolve(spec)
            _loaded[spec] = Generator(path, name, n_ctx=n_ctx)
        return _loaded[spec]
