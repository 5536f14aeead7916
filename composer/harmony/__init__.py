"""Harmonic analysis with music21: keys, Roman numerals, cadences, voice leading, figures.

The face of the package: code outside it imports from here.  Modules, lowest first (each imports
only those before it): ``voiceleading`` (voices, four-part checks), ``piece`` (reading files into a
:class:`VoicedPiece`), ``slices`` (half-beat pitch-class weights, non-chord tones set aside),
``keyfinding`` (global key; local keys by Viterbi), ``numerals`` (chord templates and their
RomanText figures), ``chords`` (chord labels by Viterbi on the harmonic rhythm),
``cadences``, ``figures`` (range, density, pitch classes, consonance), ``analysis``
(:class:`Analysis`, :func:`analyze_file`, :func:`analysis_score`), ``romanxml`` (the MusicXML
score), ``plot`` (the piano-roll PNG).  music21, numpy and matplotlib are imported inside the
functions that need them, so importing this package is light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from composer.errors import InputError, MidiError
from composer.harmony.analysis import (
    MAX_ANALYSIS_BEATS,
    SCHEMA_VERSION,
    WINDOW_BARS,
    Analysis,
    VoicesInfo,
    analysis_score,
    analyze_file,
    analyze_notes,
    analyze_piece,
    cadences_in,
    ending_value,
)
from composer.harmony.cadences import Cadence
from composer.harmony.chords import ChordLabel
from composer.harmony.figures import consonance_share, is_consonant
from composer.harmony.keyfinding import KEY_NAMES, KeyEstimate, KeyRegion, key_of_notes, key_path
from composer.harmony.notation import spelling, voices_score, write_voices_xml
from composer.harmony.numerals import QUALITIES, roman_figure
from composer.harmony.piece import VoicedPiece, load_piece, piece_from_notes
from composer.harmony.plot import plot_png, write_plot
from composer.harmony.romanxml import roman_score, write_roman
from composer.harmony.slices import Slices, make_slices
from composer.harmony.style import (
    DURATION_BINS,
    DURATION_TOLERANCE,
    EXCERPT_BARS,
    SEVENTHS,
    TRIADS,
    StyleModel,
    beat_sonorities,
    duration_bin,
    excerpt_features,
    has_clash,
    piece_excerpts,
    shares,
    sonority_kind,
    sounding_at,
)
from composer.harmony.style import FEATURES as STYLE_FEATURES
from composer.harmony.style import KINDS as SONORITY_KINDS
from composer.harmony.voiceleading import (
    FAULT_KINDS,
    ONSET_EPS,
    VoiceFault,
    check_voice_leading,
    polyphony_count,
    separate_voices,
    split_voices,
    voice_names,
)

__all__ = [
    "DURATION_BINS",
    "DURATION_TOLERANCE",
    "EXCERPT_BARS",
    "SEVENTHS",
    "SONORITY_KINDS",
    "STYLE_FEATURES",
    "TRIADS",
    "StyleModel",
    "beat_sonorities",
    "duration_bin",
    "excerpt_features",
    "has_clash",
    "piece_excerpts",
    "shares",
    "sonority_kind",
    "sounding_at",
    "FAULT_KINDS",
    "KEY_NAMES",
    "ONSET_EPS",
    "QUALITIES",
    "SCHEMA_VERSION",
    "MAX_ANALYSIS_BEATS",
    "WINDOW_BARS",
    "Analysis",
    "Cadence",
    "ChordLabel",
    "KeyEstimate",
    "KeyRegion",
    "Slices",
    "VoiceFault",
    "VoicedPiece",
    "VoicesInfo",
    "analysis_score",
    "ending_value",
    "analyze_file",
    "analyze_files",
    "analyze_notes",
    "analyze_piece",
    "cadences_in",
    "check_voice_leading",
    "consonance_share",
    "is_consonant",
    "key_of_notes",
    "key_path",
    "make_slices",
    "load_piece",
    "piece_from_notes",
    "plot_png",
    "roman_figure",
    "polyphony_count",
    "roman_score",
    "split_voices",
    "write_plot",
    "write_roman",
    "write_voices_xml",
    "voices_score",
    "spelling",
    "separate_voices",
    "voice_names",
]


def _out_path(out: Path, source: Path, several: bool) -> Path:
    """``out`` itself for one input; ``out-<input stem>.<ext>`` for several."""
    return out.with_name(f"{out.stem}-{source.stem}{out.suffix}") if several else out


def analyze_files(
    paths: Sequence[Path],
    *,
    window_bars: int = WINDOW_BARS,
    max_beats: int = MAX_ANALYSIS_BEATS,
    roman: Path | None = None,
    plot: Path | None = None,
    force: bool = False,
    skipped: list[tuple[Path, str]] | None = None,
) -> list[Analysis]:
    """Analyze each file, then write its Roman-numeral score and plot if asked (``composer analyze``).

    Every file is analyzed before anything is written, so a bad file leaves no outputs.  With
    several files, ``roman``/``plot`` ``OUT.ext`` become ``OUT-<file stem>.ext`` for each.  With a
    ``skipped`` list, a file that cannot be read is put there (path, why) and the others go on.

    Raises
    ------
    MidiError, InputError
        For an unreadable file (see :func:`analyze_file`).
    OutputError
        If an output exists and ``force`` is false, or cannot be written.
    """
    several = len(paths) > 1
    read: list[tuple[Path, Analysis]] = []
    for p in paths:
        try:
            read.append((p, analyze_file(p, window_bars=window_bars, max_beats=max_beats)))
        except (MidiError, InputError) as exc:
            if skipped is None:
                raise
            skipped.append((p, str(exc)))
    analyses = [a for _, a in read]
    for p, a in read:
        if roman is not None:
            write_roman(a, _out_path(roman, p, several), force=force)
        if plot is not None:
            write_plot(a, _out_path(plot, p, several), force=force)
    return analyses
