"""Piano-roll picture of an analysis: voices, chord labels and key regions (matplotlib Agg)."""

from __future__ import annotations

import io
from pathlib import Path

from composer.files import refuse_overwrite, write_bytes_atomic
from composer.harmony.analysis import Analysis

_VOICE_COLORS = (
    "#d62728",
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
)
_KEY_COLORS = ("#fde0c5", "#c6dbef", "#d9f0d3", "#e7d4e8", "#fff2ae", "#d9d9d9")


def plot_png(analysis: Analysis, *, dpi: int = 100) -> bytes:
    """Render the piano roll with chord labels and key regions as PNG bytes.

    Parameters
    ----------
    analysis : Analysis
        The analysis to draw.
    dpi : int
        Resolution; the width grows with the length of the piece (8 to 40 inches).

    Returns
    -------
    bytes
        A PNG image.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    piece = analysis.piece
    end = max(piece.end, 1.0)
    width = min(max(8.0, end * 0.15), 40.0)
    fig = Figure(figsize=(width, 6.0), dpi=dpi)
    top, roll = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 5]})
    keys = sorted({r.key for r in analysis.local_keys})
    for r in analysis.local_keys:
        color = _KEY_COLORS[keys.index(r.key) % len(_KEY_COLORS)]
        top.axvspan(r.start, r.end, color=color, alpha=0.9)
        top.text(r.start + 0.1, 0.85, r.key, va="top", fontsize=9, weight="bold")
    last = None
    for c in analysis.chords:
        if (c.roman, c.key) == last:
            continue
        last = (c.roman, c.key)
        top.text(c.offset, 0.15, c.roman, fontsize=7, rotation=60, va="bottom")
    top.set_ylim(0, 1)
    top.set_yticks([])
    top.set_title(
        f"{Path(analysis.source).name}: {analysis.key.name} (r = {analysis.key.correlation:.2f})",
        fontsize=10,
    )
    for i, (name, voice) in enumerate(zip(analysis.voices.names, piece.voices, strict=True)):
        color = _VOICE_COLORS[i % len(_VOICE_COLORS)]
        roll.barh(
            [n.pitch for n in voice],
            [n.duration for n in voice],
            left=[n.start for n in voice],
            height=0.8,
            color=color,
            label=name,
        )
    for t in piece.bar_starts:
        roll.axvline(t, color="#bbbbbb", linewidth=0.5)
        top.axvline(t, color="#bbbbbb", linewidth=0.5)
    for cad in analysis.cadences:
        roll.axvline(cad.offset, color="black", linestyle="--", linewidth=0.8)
    pitches = [n.pitch for n in piece.notes]
    roll.set_ylim(min(pitches) - 2, max(pitches) + 2)
    roll.set_xlim(0, end)
    roll.set_xlabel("beats")
    roll.set_ylabel("MIDI pitch")
    roll.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_plot(analysis: Analysis, path: str | Path, *, force: bool = False) -> Path:
    """Write :func:`plot_png` to ``path`` atomically; OutputError if it exists (without ``force``) or fails."""
    path = Path(path)
    refuse_overwrite(path, force)  # before the drawing, so a refusal comes at once
    return write_bytes_atomic(plot_png(analysis), path, force=force)
