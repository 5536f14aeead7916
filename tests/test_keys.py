"""Tests of composer.keys: key names, parsing, scales, transposition and key finding."""

from __future__ import annotations

import pytest

from composer.events import Note
from composer.keys import (
    KEY_NAMES,
    find_key,
    find_melody_key,
    key_name,
    parse_key,
    pitch_class_histogram,
    scale_pitch_classes,
    transpose_key_index,
)

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71, 72)
A_HARMONIC_MINOR_SCALE = (57, 59, 60, 62, 64, 65, 68, 69)


def _notes(pitches: tuple[int, ...], dur: float = 1.0) -> list[Note]:
    return [Note(i * dur, p, dur) for i, p in enumerate(pitches)]


def test_key_names_layout() -> None:
    assert len(KEY_NAMES) == 24 == len(set(KEY_NAMES))
    assert KEY_NAMES[0] == "C major" and KEY_NAMES[1] == "C minor"
    assert KEY_NAMES[14] == "G major" and KEY_NAMES[19] == "A minor"
    assert key_name(13) == "F# minor"
    for i, name in enumerate(KEY_NAMES):
        assert parse_key(name) == i  # every name parses back to itself


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("D minor", "D minor"),
        ("Dm", "D minor"),
        ("d", "D minor"),  # bare lower case: minor (music21's convention)
        ("D", "D major"),
        ("  D  major ", "D major"),
        ("dmin", "D minor"),
        ("C maj", "C major"),
        ("CM", "C major"),
        ("c minor", "C minor"),  # an explicit mode wins over the letter's case
        ("F# major", "F# major"),
        ("F♯", "F# major"),
        ("f#", "F# minor"),
        ("Bb", "Bb major"),
        ("B♭ major", "Bb major"),
        ("B-", "Bb major"),  # music21's flat
        ("Eb minor", "Eb minor"),
        ("E flat major", "Eb major"),
        ("G sharp minor", "G# minor"),
        ("ab", "G# minor"),  # A-flat minor is spelt G# minor
        ("Fis", "F# major"),  # German
        ("Es", "Eb major"),
        ("e moll", "E minor"),
        ("G dur", "G major"),
        ("Cb", "B major"),  # enharmonic
        ("B#", "C major"),
    ],
)
def test_parse_key_variants(text: str, name: str) -> None:
    assert KEY_NAMES[parse_key(text)] == name


@pytest.mark.parametrize(
    "text", ["", "   ", "H major", "C lydian", "C##", "Do majeur", "12", "Cmajor7"]
)
def test_parse_key_errors(text: str) -> None:
    with pytest.raises(ValueError, match="unknown key .*e.g. 'D minor'"):
        parse_key(text)


def test_key_name_range() -> None:
    with pytest.raises(ValueError, match="0..23, got 24"):
        key_name(24)
    with pytest.raises(ValueError, match="got -1"):
        key_name(-1)


def test_scales() -> None:
    assert scale_pitch_classes(parse_key("C major")) == {0, 2, 4, 5, 7, 9, 11}
    # Minor: natural minor plus the raised leading tone.
    assert scale_pitch_classes(parse_key("A minor")) == {9, 11, 0, 2, 4, 5, 7, 8}
    assert scale_pitch_classes(parse_key("D major")) == {2, 4, 6, 7, 9, 11, 1}


def test_transpose_key_index() -> None:
    assert KEY_NAMES[transpose_key_index(parse_key("C major"), 2)] == "D major"
    assert KEY_NAMES[transpose_key_index(parse_key("A minor"), 3)] == "C minor"
    assert KEY_NAMES[transpose_key_index(parse_key("C major"), -1)] == "B major"
    assert transpose_key_index(5, 12) == 5 and transpose_key_index(5, -24) == 5
    for k in range(24):
        assert transpose_key_index(transpose_key_index(k, 7), -7) == k


def test_histogram_is_duration_weighted() -> None:
    h = pitch_class_histogram([Note(0, 60, 2.0), Note(2, 72, 1.0), Note(3, 67, 0.5)])
    assert h[0] == 3.0 and h[7] == 0.5 and h.sum() == 3.5


def test_find_key_c_major_scale() -> None:
    key, r = find_key(_notes(C_MAJOR_SCALE))
    assert KEY_NAMES[key] == "C major"
    assert 0.8 < r <= 1.0


def test_find_key_a_harmonic_minor_scale() -> None:
    key, r = find_key(_notes(A_HARMONIC_MINOR_SCALE))
    assert KEY_NAMES[key] == "A minor"
    assert 0.7 < r <= 1.0


@pytest.mark.parametrize("shift", range(-6, 6))
def test_find_key_follows_transposition(shift: int) -> None:
    for scale, base in ((C_MAJOR_SCALE, "C major"), (A_HARMONIC_MINOR_SCALE, "A minor")):
        key, _ = find_key(_notes(tuple(p + shift for p in scale)))
        assert key == transpose_key_index(parse_key(base), shift)


def test_find_key_cadence_in_g_major() -> None:
    # I - IV - V7 - I in G major as block chords: the F# tips it from C major to G major.
    chords = [(55, 59, 62, 67), (60, 64, 67, 72), (62, 66, 69, 72), (55, 59, 62, 67)]
    notes = [Note(i * 2.0, p, 2.0) for i, chord in enumerate(chords) for p in chord]
    assert KEY_NAMES[find_key(notes)[0]] == "G major"


def test_find_key_without_notes() -> None:
    assert find_key([]) == (0, 0.0)


def _melody(text: str) -> list[Note]:
    """Quarter notes (a trailing ``2``: a half note) from names like ``c d e f g2 g``, in octave 4."""
    pcs = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
    notes, t = [], 0.0
    for word in text.split():
        pitch = 60 + pcs[word[0]] + (1 if "#" in word else 0)
        d = 2.0 if word.endswith("2") else 1.0
        notes.append(Note(start=t, pitch=pitch, duration=d))
        t += d
    return notes


def test_a_melody_is_read_in_a_key_whose_scale_holds_its_notes() -> None:
    plain = _melody("c d e f g2 g")
    assert key_name(find_key(plain)[0]) == "G major"  # the profile alone: G major, which has no F
    assert key_name(find_melody_key(plain)[0]) == "C major"
    assert key_name(find_melody_key(_melody("g a b c d e f#2 g"))[0]) == "G major"
    assert key_name(find_melody_key(_melody("a b c d e c a2 g# a2"))[0]) == "A minor"
    assert find_melody_key([]) == (0, 0.0)
    assert find_melody_key([Note(start=float(i), pitch=60 + i, duration=1.0) for i in range(12)]) == (0, 0.0)


def test_a_whole_tune_counts_its_last_note() -> None:
    tune = _melody("e e c d d e g2")
    assert key_name(find_melody_key(tune)[0]) == "E minor"  # as a primer: the profile and the scale
    assert key_name(find_melody_key(tune, ends=True)[0]) == "G major"  # a tune that ends on G
    assert key_name(find_melody_key(_melody("c d e f g2 g"), ends=True)[0]) == "C major"  # a last G alone does not win
    from composer.config import SampleOptions
    from composer.generation.satb import melody_key_of

    assert key_name(melody_key_of(tune, SampleOptions(), ends=True)) == "G major"
    assert key_name(melody_key_of(tune, SampleOptions())) == "E minor"


def test_a_melody_to_harmonize_is_set_in_its_melody_key() -> None:
    from composer.config import SampleOptions
    from composer.generation.satb import melody_key_of

    plain = _melody("c d e f g2 g")  # the profile alone says G major
    assert key_name(melody_key_of(plain, SampleOptions())) == "C major"
    assert key_name(melody_key_of(plain, SampleOptions(key="D minor"))) == "D minor"  # a key asked wins


def test_harmonizing_reads_the_tune_whole_and_continuing_reads_the_primer() -> None:
    from composer.config import SampleOptions
    from composer.generation import Primer, harmonize, sample_pieces

    primer = Primer(tuple(_melody("e e c d d e g2")))  # 2 bars of 4/4
    assert harmonize(primer, "chorales", options=SampleOptions(seed=1)).key == "G major"  # it ends the piece
    more = sample_pieces("chorales", n=1, bars=primer.bars + 1, options=SampleOptions(seed=1), primer=primer)
    assert more[0].key == "E minor"  # a primer that goes on: its last note is not the end
