"""Greedy decoding under a grammar, without masking the whole vocabulary each token.

llama.cpp's grammar sampler checks every token of the vocabulary against the
grammar at every step: 151,936 candidates for Qwen2.5, which doubled the time
of a short JSON reply here (3.0 s against 1.65 s unconstrained for the same
39 tokens). Greedy decoding needs only the best token the grammar allows, so
this sampler asks the grammar about the few best-scoring tokens first and
masks the whole vocabulary only when none of them is allowed (rarely: the
model mostly wants to write what the schema asks for). The tokens chosen are
the ones the full mask would give: the best allowed token among the best
`FIRST_TRY` is the best allowed token overall.

The repeat penalty is applied as llama.cpp's penalties sampler does (to the
last `last_n` generated tokens: a positive logit divided by it, a negative one
multiplied).
"""

from __future__ import annotations

import ctypes
import math
from collections import deque
from typing import Any

import numpy as np

FIRST_TRY = 8


class GreedyGrammarSampler:
    """Stands in for llama-cpp-python's LlamaSampler inside `Llama.generate`."""

    def __init__(self, llm: Any, grammar: Any, *, repeat_penalty: float = 1.0, last_n: int = 64) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._n_vocab = llm.n_vocab()
        self._penalty = repeat_penalty
        self._recent: deque[int] = deque(maxlen=last_n)
        self._full: Any = None  # the whole vocabulary, made on the first fallback
        self._few = (llama_cpp.llama_token_data * FIRST_TRY)()

    def sample(self, ctx: Any, idx: int = -1) -> int:
        lib = self._lib
        pointer = lib.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        if self._penalty != 1.0 and self._recent:
            logits = logits.copy()
            seen = np.fromiter(set(self._recent), dtype=np.intc)
            values = logits[seen]
            logits[seen] = np.where(values > 0, values / self._penalty, values * self._penalty)
        best = np.argpartition(logits, -FIRST_TRY)[-FIRST_TRY:]
        best = best[np.argsort(-logits[best], kind="stable")]
        token = self._best_allowed(self._few, best, logits)
        if token is None:
            if self._full is None:
                self._full = (lib.llama_token_data * self._n_vocab)()
            token = self._best_allowed(self._full, np.arange(self._n_vocab), logits)
        if token is None:  # the grammar allows nothing: llama.cpp would fail the same way
            raise RuntimeError("the grammar allows no next token")
        lib.llama_sampler_accept(self._grammar, token)
        self._recent.append(token)
        return token

    def _best_allowed(self, buffer: Any, tokens: np.ndarray, logits: np.ndarray) -> int | None:
        lib = self._lib
        size = len(tokens)
        view = np.ctypeslib.as_array(buffer).view(
            np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)])
        )[:size]
        view["id"] = tokens
        view["logit"] = logits[tokens]
        view["p"] = 0.0
        array = lib.llama_token_data_array(
            data=ctypes.cast(buffer, lib.llama_token_data_p), size=size, selected=-1, sorted=False
        )
        lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        allowed = view[: array.size]
        allowed = allowed[allowed["logit"] != -math.inf]
        if not len(allowed):
            return None
        return int(allowed["id"][np.argmax(allowed["logit"])])

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def install(llm: Any) -> None:
    """Make `llm` decode greedy grammar-constrained replies with GreedyGrammarSampler;
    everything else (temperature sampling, no grammar) goes through llama.cpp's own chain."""
    original = llm._init_sampler

    def init_sampler(*args: Any, **kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        if grammar is not None and kwargs.get("temp", 0.8) == 0.0 and not kwargs.get("logits_processor"):
            return GreedyGrammarSampler(
                llm, grammar, repeat_penalty=kwargs.get("repeat_penalty", 1.0), last_n=llm.last_n_tokens_size
            )
        return original(*args, **kwargs)

    llm._init_sampler = init_sampler
