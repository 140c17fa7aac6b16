"""Every place the library reaches into a private name of TRL, in one module.

Each hook names the TRL versions it was checked against, looks its target up before touching it,
and, when the name is gone (a TRL release renamed it), leaves TRL's own behaviour in place and logs
one note saying what is lost. `status()` tells which hooks take effect with the installed TRL; the
tests check each hook both ways.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("posttrain")

CHECKED_ON = "trl 1.16"
_noted: set[str] = set()


def _note_missing(hook: str, target: str, lost: str) -> None:
    if hook not in _noted:
        _noted.add(hook)
        log.warning("posttrain: %s not found in the installed TRL (hook '%s', checked on %s); "
                    "falling back to TRL's own behaviour: %s", target, hook, CHECKED_ON, lost)


# -- hook 1: the fused LM head scores labelled positions only, in tiles sized for the device -------------------

LM_HEAD_TARGET = "trl.trainer.utils._use_triton"
HEAD_TILE_TARGET = "trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE"


@contextmanager
def labelled_positions_only(vocab_tile: int | None = None) -> Iterator[bool]:
    """Make TRL's fused LM head project only the positions that have a label, on every device, and
    (`vocab_tile`) project the vocabulary in tiles of that width.

    TRL's head (`fused_lm_head=True`) already avoids the full (tokens x vocabulary) logits, but off
    CUDA it scores every position, masked prompt and padding included, so as to keep tile shapes
    fixed for compilers that need them. On CPU nothing is compiled, so scoring only the labelled
    positions gives the same loss and gradients for a fraction of the LM-head work. Its vocabulary
    tiles (32,768 wide) are sized for a GPU; on CPU a narrower tile keeps each tile's elementwise work
    in cache (the same loss and gradients, summed in a different order).

    Targets: `trl.trainer.utils._use_triton(device) -> bool` and the module constant
    `trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE` that TRL's head passes as its tile width (checked on
    TRL 1.16). Yields whether the labelled-positions hook took effect; each is restored on exit."""
    import trl.trainer.utils as trl_utils

    tile = getattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", None)
    if vocab_tile is not None:
        if isinstance(tile, int):
            trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = vocab_tile
        else:
            _note_missing("head_tile", HEAD_TILE_TARGET, "the LM head keeps TRL's vocabulary tiles (same loss, "
                          "more time and memory on CPU)")
    original = getattr(trl_utils, "_use_triton", None)
    try:
        if not callable(original):
            _note_missing("labelled_positions_only", LM_HEAD_TARGET, "the LM head also scores unlabelled "
                          "positions on CPU (same loss, more time)")
            yield False
            return
        trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
        try:
            yield True
        finally:
            trl_utils._use_triton = original
    finally:
        if vocab_tile is not None and isinstance(tile, int):
            trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = tile


# -- hook 2: wrap GRPO's sampling call ---------------------------------------------------------------------------

GENERATE_TARGET = "GRPOTrainer._generate_single_turn"


def wrap_generation(trainer: object, wrapper: Callable[[Callable[..., object]], Callable[..., object]],
                    purpose: str) -> bool:
    """Replace `trainer._generate_single_turn` (on this instance only) by `wrapper(original)`.

    Used to sample with a merged LoRA adapter and with bf16 weights; wrappers compose (each call
    wraps the current method). Target: `GRPOTrainer._generate_single_turn(self, prompt_ids, ...)`
    (checked on TRL 1.16). Returns whether the hook took effect; without the target, sampling is
    TRL's own (correct, slower) and `purpose` says what is lost."""
    original = getattr(trainer, "_generate_single_turn", None)
    if not callable(original):
        _note_missing(f"wrap_generation:{purpose}", GENERATE_TARGET, purpose)
        return False
    setattr(trainer, "_generate_single_turn", wrapper(original))  # noqa: B010 - the instance's own method
    return True


def generation_returns_logprobs(trainer: object) -> bool:
    """Whether the trainer's `_generate_single_turn` returns `(completion_ids, logprobs)` (GRPO: it takes
    `num_generations`) rather than the completion ids alone (RLOO). Checked on TRL 1.16."""
    import inspect

    method = getattr(trainer, "_generate_single_turn", None)
    return callable(method) and "num_generations" in inspect.signature(method).parameters


# -- hook 3: time private TRL methods (the benchmark's generation and reference-pass timers) -------------------

TIMED_TARGETS = {"generation": ("GRPOTrainer", "_generate"), "reference": ("DPOTrainer", "_precompute_ref_logps")}


@contextmanager
def timed_methods(record: Callable[[str, float, object], None]) -> Iterator[dict[str, bool]]:
    """Time `GRPOTrainer._generate` and `DPOTrainer._precompute_ref_logps` (checked on TRL 1.16) on
    their classes while the block runs, calling `record(label, seconds, result)` after each call;
    the originals are restored on exit. Yields {label: whether it is timed}."""
    import time

    import trl

    originals: list[tuple[type, str, Callable[..., object]]] = []
    active: dict[str, bool] = {}
    for label, (cls_name, name) in TIMED_TARGETS.items():
        cls = getattr(trl, cls_name)
        original = cls.__dict__.get(name)
        active[label] = callable(original)
        if not callable(original):
            _note_missing(f"timed_methods:{label}", f"{cls_name}.{name}", f"the {label} time is not measured")
            continue

        def timed(self_: object, *args: object, _original: Callable[..., object] = original, _label: str = label,
                  **kwargs: object) -> object:
            start = time.perf_counter()
            result = _original(self_, *args, **kwargs)
            record(_label, time.perf_counter() - start, result)
            return result

        setattr(cls, name, timed)
        originals.append((cls, name, original))
    try:
        yield active
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def status() -> dict[str, bool]:
    """Whether each hook's target exists in the installed TRL (shown by `posttrain doctor`)."""
    import trl
    import trl.trainer.utils as trl_utils

    return {LM_HEAD_TARGET: callable(getattr(trl_utils, "_use_triton", None)),
            HEAD_TILE_TARGET: isinstance(getattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", None), int),
            GENERATE_TARGET: callable(getattr(trl.GRPOTrainer, "_generate_single_turn", None))}
