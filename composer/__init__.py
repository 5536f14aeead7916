"""composer: a symbolic music composition engine (LSTM over MIDI tokens).

The Python API mirrors the CLI: :func:`composer.generate` and
:func:`composer.continue_melody` return ``pretty_midi.PrettyMIDI`` objects.
Heavy modules load on first use, so ``import composer`` stays fast.
"""

from __future__ import annotations

from typing import Any

from composer.version import __version__

__all__ = ["__version__", "continue_melody", "generate"]


def __getattr__(name: str) -> Any:
    # Lazy: importing torch costs ~1 s; only pay it when the API is used.
    if name in ("generate", "continue_melody"):
        from composer import generation

        return getattr(generation, name)
    raise AttributeError(f"module 'composer' has no attribute {name!r}")
