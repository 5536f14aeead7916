"""Where things live: bundled recipes and checkpoints, and the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    # Installed wheel: composer/_bundled/NAME; source checkout / editable: repo-root/NAME.
    inside = _PKG / "_bundled" / name
    return inside if inside.is_dir() else _PKG.parent / name


def recipes_dir() -> Path:
    """Folder of the bundled corpus recipes (``corpora/``)."""
    return _bundled("corpora")


def checkpoints_dir() -> Path:
    """Folder of the bundled trained models (``checkpoints/``)."""
    return _bundled("checkpoints")


def cache_dir() -> Path:
    """The user's cache: ``$COMPOSER_CACHE_DIR``, else ``$XDG_CACHE_HOME/composer``, else ``~/.cache/composer``."""
    env = os.environ.get("COMPOSER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "composer"


def user_models_dir() -> Path:
    """Where user checkpoints are looked up by name: ``$COMPOSER_MODELS_DIR`` or ``<cache>/models``."""
    env = os.environ.get("COMPOSER_MODELS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "models"
