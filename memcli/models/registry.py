"""Which embedding model is configured, and loading it once per process."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .. import settings
from ..errors import ModelError
from ..paths import models_dir

if TYPE_CHECKING:
    from .embed import Embedder

DEFAULT_EMBED_MODEL = settings.SETTINGS["embed_model"].default
_loaded: dict[str, Embedder] = {}
_lock = threading.Lock()
_preloading: threading.Thread | None = None


def configured_embed_model() -> str:
    """MEMCLI_EMBED_MODEL, else `embed_model` in the config file, else the default."""
    return settings.value("embed_model")


def model_name(spec: str) -> str:
    """The name stored beside each vector: the model name, or a GGUF file's stem
    (the catalog's own file keeps its model's name, however it is configured)."""
    if spec.endswith(".gguf") or os.sep in spec:
        from .catalog import find_file

        known = find_file(spec, models_dir())
        return known.name if known else Path(spec).expanduser().name.removesuffix(".gguf")
    return spec


def load_embedder(spec: str | None = None) -> Embedder:
    spec = spec or configured_embed_model()
    with _lock:
        if spec not in _loaded:
            _loaded[spec] = _load(spec)
        return _loaded[spec]


def preload() -> None:
    """Start loading the configured model in a thread, ready for the first embed.

    A cold `mem recall` overlaps the model's load (llama.cpp releases the GIL)
    with parsing its arguments and opening the database; any error surfaces
    later, in the main thread. Calling it again does nothing. The process waits
    for the load before it exits (exiting while llama.cpp loads can crash).
    """
    global _preloading
    with _lock:
        if _preloading is not None:
            return

        def work() -> None:
            try:
                load_embedder().embed(["warm up"])
            except Exception:
                pass  # the main thread's own call reports it

        _preloading = threading.Thread(target=work, daemon=True)
        _preloading.start()
    atexit.register(_preloading.join)


def _load(spec: str) -> Embedder:
    from .embed import LlamaEmbedder, install_default

    if spec == DEFAULT_EMBED_MODEL:
        path = install_default(models_dir())
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ModelError(
                f"embedding model {spec!r} not found: give a GGUF file path "
                f"or {DEFAULT_EMBED_MODEL!r} (MEMCLI_EMBED_MODEL or embed_model in the config)"
            )
    return LlamaEmbedder(path, name=model_name(spec))
