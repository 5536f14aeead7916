"""The key-change rules of composer.harmony.pivots: pivot beats, phrase starts, excursions, the relative minor."""

from __future__ import annotations

import numpy as np
import pytest

from composer.harmony import pivots

C, G, A_MINOR = 0, 7, 21  # KEY_NAMES: C major, G major, A minor
C_BEAT = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]  # C E G
D7_BEAT = [1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0]  # D F# A C
DM_BEAT = [0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0]  # D F A
G_BEAT = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]  # G B D
C_PASSING_F_SHARP = [1, 0, 0, 0, 1, 0, 0.3, 1, 0, 0, 0, 0]  # C E G with a passing F#


def _state(root: int, quality: str) -> int:
    return pivots._STATES.index((root, quality))


def test_a_key_change_moves_past_up_to_pivot_beats_pivots(monkeypatch: pytest.MonkeyPatch) -> None:
    """C to G at beat 3 on two C-major beats without F#: one beat moved by default, two with
    PIVOT_BEATS 2, and never the new key's last beat."""
    c_chord, g_chord = _state(0, "maj"), _state(7, "maj")
    path = [C] * 3 + [G] * 4
    beats = [C_BEAT] * 5 + [D7_BEAT, G_BEAT]
    chords = [c_chord] * 5 + [g_chord] * 2
    assert pivots.pivots_in_old_key(path, beats, chords) == [C] * 4 + [G] * 3
    monkeypatch.setattr(pivots, "PIVOT_BEATS", 2)
    assert pivots.pivots_in_old_key(path, beats, chords) == [C] * 5 + [G] * 2
    monkeypatch.setattr(pivots, "PIVOT_BEATS", 9)
    assert pivots.pivots_in_old_key(path, [C_BEAT] * 7, [c_chord] * 7) == [C] * 6 + [G]


def test_a_passing_new_note_blocks_a_pivot_unless_only_chord_tones_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A passing F# in the C chord of the change's beat keeps the change there; with
    PIVOT_CHORD_NOTES only an F# that is a tone of the beat's chord or of the chord before would."""
    c_chord, d7 = _state(0, "maj"), _state(2, "dom7")
    path = [C] * 3 + [G] * 3
    beats = [C_BEAT] * 3 + [C_PASSING_F_SHARP, D7_BEAT, G_BEAT]
    chords = [c_chord] * 4 + [d7, _state(7, "maj")]
    assert pivots.pivots_in_old_key(path, beats, chords) == path
    monkeypatch.setattr(pivots, "PIVOT_CHORD_NOTES", True)
    assert pivots.pivots_in_old_key(path, beats, chords) == [C] * 4 + [G] * 2
    # the same passing F# blocks again once it is a tone of the chord before (a D7 on beat 2)
    assert pivots.pivots_in_old_key(path, beats, [c_chord] * 2 + [d7, c_chord, d7, _state(7, "maj")]) == path


def test_a_short_excursion_without_its_own_arrival_is_read_in_the_key_around_it() -> None:
    """C C G G C C: without a V-I arrival in G the two G beats are C's; with one, or longer than
    max_beats, or at the piece's edge (not between two beats of one key), they stay G."""
    path = [C, C, G, G, C, C]
    none = np.zeros((6, 24), dtype=bool)
    assert pivots.unconfirmed_excursions(path, none, 4) == [C] * 6
    arrival = none.copy()
    arrival[3, G] = True
    assert pivots.unconfirmed_excursions(path, arrival, 4) == path
    other_key = none.copy()
    other_key[3, C] = True  # an arrival of another key does not confirm G
    assert pivots.unconfirmed_excursions(path, other_key, 4) == [C] * 6
    assert pivots.unconfirmed_excursions(path, none, 1) == path
    assert pivots.unconfirmed_excursions([G, G, C, C, C, C], none, 4) == [G, G, C, C, C, C]
    assert pivots.unconfirmed_excursions([C, C, G, G, A_MINOR, A_MINOR], none, 4) == [C, C, G, G, A_MINOR, A_MINOR]


def test_a_key_change_soon_after_a_phrase_end_moves_back_to_the_phrase_start() -> None:
    """C: ... V (beat 2, held to beat 3) || a: iv iv V: the HMM turns to A minor at beat 6 (G#);
    from the phrase end the new key begins at beat 4, its first chord (D minor: ii of C, iv of a)
    read in A minor.  A G natural in those beats (a note of C only), or a change farther than
    max_beats, stays."""
    g_chord, dm, e_chord = _state(7, "maj"), _state(2, "min"), _state(4, "maj")
    path = [C] * 6 + [A_MINOR] * 2
    beats = [C_BEAT, C_BEAT, G_BEAT, G_BEAT, DM_BEAT, DM_BEAT, [0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1], C_BEAT]
    chords = [_state(0, "maj")] * 2 + [g_chord] * 2 + [dm] * 2 + [e_chord, _state(9, "min")]
    assert pivots.changes_at_phrase_starts(path, beats, chords, [2], 2) == [C] * 4 + [A_MINOR] * 4
    assert pivots.changes_at_phrase_starts(path, beats, chords, [2], 1) == path
    with_g = beats[:5] + [[0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0]] + beats[6:]
    assert pivots.changes_at_phrase_starts(path, with_g, chords, [2], 2) == path
    assert pivots.changes_at_phrase_starts(path, beats, chords, [], 2) == path


def test_a_tonicization_without_its_own_arrival_stays_in_the_home_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """C major with four beats of D/F# - G/B (the F# of G major, no root-position arrival on G):
    one key, C, since round 12; with the excursion rule off, or with D - G in root position
    (a V-I arrival confirms G), a G major region."""
    from composer.events import Note
    from composer.harmony import analyze_notes

    def voices(chords: list[tuple[int, ...]]) -> list[list[Note]]:
        return [[Note(float(i), chord[v], 1.0) for i, chord in enumerate(chords)] for v in range(4)]

    i, iv, v, v7 = (72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 43), (71, 65, 62, 43)
    d6, g6, d, g = (74, 69, 62, 54), (74, 67, 62, 59), (74, 69, 66, 50), (71, 67, 62, 55)

    def keys(mid: list[tuple[int, ...]]) -> list[str]:
        a = analyze_notes(voices([i, iv, v, i, i, iv, *mid, iv, v, i, iv, v7, i]), time_signature=(4, 4))
        return [r.key for r in a.local_keys]

    assert pivots.EXCURSION_BEATS == 4
    assert keys([d6, g6, d6, g6]) == ["C major"]
    assert "G major" in keys([d, g, d, g])
    monkeypatch.setattr(pivots, "EXCURSION_BEATS", 0)
    assert keys([d6, g6, d6, g6]) == ["C major", "G major", "C major"]


def test_excursions_are_folded_again_until_none_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """C C C G D G C C C: the D beat is an excursion inside G; folded back, the three G beats are
    one inside C and fold too (round 13); a single pass (round 12) left them G."""
    d_major = 2
    path = [C] * 3 + [G, d_major, G] + [C] * 3
    none = np.zeros((9, 24), dtype=bool)
    assert pivots.unconfirmed_excursions(path, none, 4) == [C] * 9
    monkeypatch.setattr(pivots, "EXCURSION_REPEAT", False)
    assert pivots.unconfirmed_excursions(path, none, 4) == [C] * 3 + [G] * 3 + [C] * 3
    arrival = none.copy()
    arrival[4, G] = True  # an arrival on G: the G excursion stays once the D beat is folded into it
    monkeypatch.setattr(pivots, "EXCURSION_REPEAT", True)
    assert pivots.unconfirmed_excursions(path, arrival, 4) == [C] * 3 + [G] * 3 + [C] * 3


def test_a_change_into_the_relative_minor_moves_back_over_its_own_chords(monkeypatch: pytest.MonkeyPatch) -> None:
    """C: I V ii6 vi | a: V i (the HMM turns at the G#): the D minor and A minor beats before
    the E major chord are iv6 and i of A minor and join it, up to max_beats; the G major beat
    (VII of a, V of C) does not; a change into G major does not move unless PREDOMINANT_ALL."""
    chords = [_state(r, q) for r, q in ((0, "maj"), (7, "maj"), (2, "min"), (9, "min"), (4, "maj"), (9, "min"))]
    path = [C] * 4 + [A_MINOR] * 2
    assert pivots.predominants_in_new_key(path, chords, 1) == [C] * 3 + [A_MINOR] * 3
    assert pivots.predominants_in_new_key(path, chords, 3) == [C] * 2 + [A_MINOR] * 4
    to_g = [_state(0, "maj"), _state(7, "maj"), _state(9, "min"), _state(2, "dom7"), _state(7, "maj")]
    assert pivots.predominants_in_new_key([C] * 3 + [G] * 2, to_g, 2) == [C] * 3 + [G] * 2
    monkeypatch.setattr(pivots, "PREDOMINANT_ALL", True)
    # A minor is ii of G and joins it; the G chord before (G's I) stops the move
    assert pivots.predominants_in_new_key([C] * 3 + [G] * 2, to_g, 2) == [C] * 2 + [G] * 3


def test_a_chorale_phrase_turning_to_the_relative_minor_begins_it_on_its_iv6(monkeypatch: pytest.MonkeyPatch) -> None:
    """C: I IV V I IV V7 I, then ii6 vi E Am: A minor from the E chord's G# (beat 9); with
    PREDOMINANT_BEATS 2 (round 13, off) from the D minor chord (beat 7), read a: iv6 i V i.  The
    rule path (LEARNED_KEYS off); the learned key model (round 14) begins A minor on its i (beat 8)."""
    from composer.events import Note
    from composer.harmony import analyze_notes, chords

    i, iv, v, v7 = (72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 43), (71, 65, 62, 43)
    ii6, vi, e, am = (74, 69, 65, 53), (72, 69, 64, 57), (71, 68, 64, 52), (72, 69, 64, 45)
    prog = [i, iv, v, i, iv, v7, i, ii6, vi, e, am, am]
    voices = [[Note(float(t), c[k], 1.0) for t, c in enumerate(prog)] for k in range(4)]

    def turn() -> tuple[float, str]:
        a = analyze_notes(voices, time_signature=(4, 4))
        return a.local_keys[-1].start, a.progression.split("a: ")[-1]

    assert pivots.PREDOMINANT_BEATS == 0
    assert turn() == (8.0, "i V i")
    monkeypatch.setattr(chords, "LEARNED_KEYS", False)
    assert turn() == (9.0, "V i")
    monkeypatch.setattr(pivots, "PREDOMINANT_BEATS", 2)
    assert turn() == (7.0, "iv6 i V i")


def test_a_major_arrival_confirms_its_parallel_minor_only_with_the_half_bonus() -> None:
    """G7 - C in root position: the full cadence bonus for C major on the arrival beat, half of it
    for C minor (a Picardy third), none for C minor with ``parallel`` 0 (what confirms an
    excursion since round 13: an arrival on its own tonic)."""
    from composer.events import Note
    from composer.harmony import chords
    from composer.harmony.piece import piece_from_notes
    from composer.harmony.slices import make_slices

    prog = [(72, 67, 64, 48), (72, 69, 65, 53), (71, 65, 62, 43), (72, 67, 64, 48)]
    piece = piece_from_notes([[Note(float(t), c[k], 1.0) for t, c in enumerate(prog)] for k in range(4)])
    sl = make_slices(piece)
    beats = [j for j, s in enumerate(sl.strength) if s >= 2]
    path = chords.chord_path(sl, [C] * sl.n)
    full = chords.cadence_bonus(sl, path, beats)
    assert full[3, C] == pytest.approx(chords.CADENCE_BONUS)
    assert full[3, 12 + C] == pytest.approx(0.5 * chords.CADENCE_BONUS)
    own = chords.cadence_bonus(sl, path, beats, 0.0)
    assert own[3, C] == pytest.approx(chords.CADENCE_BONUS) and own[3, 12 + C] == 0.0
    assert chords.EXCURSION_OWN_ARRIVAL
