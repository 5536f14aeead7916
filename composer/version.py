"""The package version (one home: the wheel, ``composer --version`` and ``composer.__version__`` read it)."""

__version__ = "0.1.0"
