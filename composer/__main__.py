"""``python -m composer``: the same CLI as the ``composer`` command."""

from composer.cli import run

if __name__ == "__main__":
    run()
