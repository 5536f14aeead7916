"""Configuration as data: frozen dataclasses with JSON-native fields."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from composer.keys import parse_key

#: Default sampling temperature.  On the bundled chorales model (24 pieces of 16 bars, seed 11)
#: 0.8 against 1.0 raised the share of notes in the piece's scale from 0.785 to 0.815 and lowered
#: the median voice-leading faults per 100 beats from 32.8 to 28.9 (benchmarks/RESULTS.md).
DEFAULT_TEMPERATURE = 0.8

#: Default soft-key penalty (logits) on pitches outside the piece's Key control.  At 1.0 the pitch
#: statistics of generated pieces match the corpus (chorales: pitch-class entropy 2.96 vs 2.96, in-scale
#: share 0.94 vs 0.93; folk 2.49 vs 2.50 and 0.99 vs 0.99; at 0: 3.29/0.82 and 2.74/0.93), and the key
#: music21 finds is the chosen one in 15 of 24 chorales instead of 3 (benchmarks/RESULTS.md).
DEFAULT_KEY_BIAS = 1.0

#: Nucleus mass kept by default, by every command that samples and by the Python API (issue 12).
DEFAULT_TOP_P = 0.95

#: The largest seed: torch's generators take a signed 64-bit seed.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SampleOptions:
    """How tokens are drawn from the model.

    Every field is JSON-native so the options can be logged and saved.
    """

    temperature: float = DEFAULT_TEMPERATURE  # > 0; below 1 sharpens, above 1 flattens
    top_k: int = 0  # 0 = off; else keep the k most likely tokens
    top_p: float = DEFAULT_TOP_P  # in (0, 1]; nucleus mass kept
    seed: int | None = None  # same seed + options -> the same piece
    key: str | None = None  # e.g. "D minor" (see keys.parse_key); restricts pitches to that key's scale
    pitch_min: int = 0  # lowest MIDI pitch allowed
    pitch_max: int = 127  # highest MIDI pitch allowed
    max_polyphony: int = 0  # 0 = off; else the most notes sounding at once
    style: str | None = None  # control token, e.g. "bach-chorales"; None = checkpoint default
    key_bias: float = DEFAULT_KEY_BIAS  # >= 0; logit penalty (before temperature) off the Key control's scale
    no_parallels: bool = True  # four-voice models: no consecutive fifths/octaves between two moving voices
    # Four-voice models, typed sampling: each step's kind (hold, new note, rest, fermata, bar) drawn at
    # the model's own odds, the temperature and top-p shaping only which token of that kind (the pitch).
    # None = on for free generation, off when harmonizing a given melody.  Free generation (100 pieces
    # x 3 seeds, one draw): sharpening the whole distribution favoured holding (half notes 9.8% vs Bach's
    # 7.8%, 16ths 0.3% vs 1.8%); typed gives 7.8% and 1.0%, AUC 0.879 -> 0.860.  Under Bach's 42
    # sopranos it doubled the faults (1.95 -> 4.07 per 100 beats), hence off there.
    typed: bool | None = None
    # Four-voice models: on every beat the chord keeps its third: when the voices above the tenor (or
    # the bass) sound a bare fifth or octave, it adds a third within one triad (else seventh chord),
    # near the voice above it.  Bach sounds no open fifth or octave on a beat (the sampler without
    # this: 1.5% of beats, the classifier's most telling feature).
    full_chords: bool = True
    # Four-voice models, typed sampling: a repeated note (a voice striking again the pitch it
    # sounds) is a kind of its own, like holding, its odds times this; None = a pitch like any other.
    # At the model's own odds repeats are 17.4% of melodic steps (Bach 14.2%); x 0.75: 14.2%.
    repeats: float | None = 0.75
    # Four-voice models: the most beats all voices rest together mid-piece before the soprano must enter
    # again (on a beat); None = as the model likes.  Bach rests one beat at most (a quarter rest after a
    # fermata, 11 of 42 test chorales); the sampler without this: a silent bar now and then (11 rests of
    # 2-4 beats in 100 pieces).
    phrase_rests: int | None = 1
    # Four-voice models: the soft key's penalty on the raised fourth (in minor also the raised sixth),
    # as a share of key_bias: Bach's secondary dominants.  0.25 -> 0 (best of 4, 3 x 100 pieces): AUC
    # 0.814 -> 0.801, keys and cadences level.
    raised_penalty: float = 0.0
    # Four-voice models: the soft key's penalty on the lowered seventh in major and the natural seventh
    # in minor (outside the harmonic minor scale), as a share of key_bias.  At 0.5 (best of 4, 3 x 100
    # pieces) the keys held (99%) but the AUC rose, 0.789 -> 0.822.
    seventh_penalty: float = 1.0
    # Four-voice models: the odds of the bass adding a fourth pitch class to the three the voices above
    # sound on a beat, times this; None = the model's odds.  Bach sounds four pitch classes on 14.6% of
    # his beats, the sampler at the model's odds on 20%: at 0.5 about 17%, triads / sevenths 77 / 14% of
    # beats as Bach's (0.3 overshoots: 80 / 12%).
    four_pcs: float | None = 0.5
    # Four-voice models: the odds of a new note on a beat a semitone (or major seventh) from a note the voices
    # above strike there, times this; None = the model's odds (held notes, suspensions, are left alone).  Tried on
    # the validation split (3 x 100 pieces, best of 4): style AUC none 0.820, 0.3 0.825, 0.5 0.820, 0.7 0.840; off.
    clash_odds: float | None = None
    # Four-voice models: a voice's new notes between the beats at the odds that bring its eighths and 16ths to
    # Bach's (generation.odds.ONSET_CALIBRATION, by voice and place in the beat: his 16ths come in pairs after an
    # eighth, the model's after a dotted eighth), the log-odds times this; None = off.  0.5 chosen by the style AUC
    # on the validation split (3 x 100 pieces, best of 4: none 0.820, 0.5 0.808, 1.0 0.814; benchmarks/RESULTS.md,
    # "The rhythm within the beat").
    onset_odds: float | None = 0.5
    # Four-voice models: the odds of a voice's new note right after it struck at a 16th's place (the second or
    # fourth 16th of a quarter-note beat), times this: Bach's notes there are 16ths (the eighth or the next beat
    # struck after them: 887 of 887 in the training chorales), the model held on after 48% / 6%, writing a 16th
    # then a dotted eighth and ties over the beat from a 16th, which he never does.  None = the model's odds.  20
    # chosen on the validation split (3 x 100 pieces, best of 4; the rule fixed beforehand: the strongest whose style
    # and texture AUCs rise by 0.01 at most): none 0.809 / 0.896, 20 0.816 / 0.903, 100 0.836 / 0.882.
    sixteenth_odds: float | None = 20.0
    # Four-voice models, with motion_odds: the bass's new note on a beat by its degree after its last note's degree
    # (generation.odds.BASS_CALIBRATION: Bach's bass moves by step where the sampler's leaps, his leading tone rises to
    # the tonic three times as often), the log-odds times this; None = off.  1.0 chosen on the validation split (3 x
    # 100 pieces, best of 4; the rule fixed beforehand: the lowest style AUC, none kept unless beaten by over 0.01):
    # none 0.816, 0.5 0.825, 1.0 0.802 (texture 0.903 / 0.888 / 0.900); the nine test runs then gave no style gain
    # (0.690 -> 0.690) at a cost in harmony (clusters 9.1 -> 9.8% of beats, triads 78.4 -> 77.3%, each ~4 SE), so
    # off by default (benchmarks/RESULTS.md, "The bass's next degree").
    bass_odds: float | None = None
    # Four-voice models: new notes on each degree of the mode at the odds that bring the sampler's degree
    # shares to Bach's training chorales (generation.odds.DEGREE_CALIBRATION), the log-odds times this;
    # None = off.  With four_pcs 0.5 (best of 4, 9 x 100 pieces): classifier AUC 0.801 (both off) -> 0.724.
    degree_odds: float | None = 0.8
    # Four-voice models: a voice's next melodic motion (a step or leap, up or down) after its last at the
    # odds of Bach's lines (generation.odds.MOTION_CALIBRATION), the log-odds times this; None = off.
    # The model zigzags where Bach runs on in scales (after a step up: on up 31% vs Bach's 45%; the model
    # itself, reading Bach's notes, 36%: no sampler rule makes it).  With it the degrees take
    # odds.DEGREE_CALIBRATION_MOTION (fitted on this sampler).  Best of 4, 9 x 100 pieces, style model rebuilt
    # (benchmarks/RESULTS.md, "Texture"): texture AUC 0.955 (off) -> 0.874, style AUC 0.696 -> 0.700,
    # key heard 94.1 -> 98.6%.  (On every note, motion_beats False, the degrees keep DEGREE_CALIBRATION, as in
    # the records made before motion_beats: at 1.5, seeds 1-3, texture 0.83, style 0.759, key heard 90.7%.)
    motion_odds: float | None = 1.0
    # Four-voice models, with motion_odds: only the notes struck on a beat take the motion odds (their motion
    # from the voice's last note); the notes between the beats keep the model's.  False: every new note.
    motion_beats: bool = True
    # Harmonizing a whole tune (a melody that ends the piece): its key read with its last note
    # (keys.MELODY_FINAL_TONIC), every candidate in that key (generation.satb.TUNE_RELATIVE), and on a
    # four-voice model the chord under its last note the tonic triad when the note is one of its, held to the
    # end.  Harmonizing the 42 test chorales' whole sopranos, best of 4: final chord on the tonic triad of
    # music21's key 45.2 -> 88.1%, key heard 88.1 -> 90.5% (benchmarks/RESULTS.md, "Harmonizing a whole tune");
    # False: as before (the records made before it replay so).
    tune_ending: bool = True
    # Harmonizing on a four-voice model: the melody's phrase ends (Primer.fermatas: a MIDI file's fermata markers,
    # a typed ``^``) written as fermata chords, as the model learnt them; on the 42 test chorales' whole sopranos,
    # best of 4: a cadence at 24 -> 44 % of its phrase ends, Bach's roots 34.3 -> 36.7 % (benchmarks/RESULTS.md, "Phrase
    # ends under a melody"); and a four-voice piece's own fermatas written to its files (MIDI markers, MusicXML).
    # False: the marks ignored, none written (the records made before it replay so, byte for byte).
    phrase_ends: bool = True
    # Harmonizing a many-voiced primer: its melody is its highest line with held notes kept (a soprano holding over
    # the inner voices' moves stays one note; generation.harmonizer.top_line).  False: every onset's highest new note
    # (the records made before it replay so).
    held_melody: bool = True
    # Harmonizing on a four-voice model with several candidates (best of K): at each of the melody's phrase ends the
    # candidates that make no cadence there go on from one that does (generation.satb.PhraseChoice), so the choice
    # looks ahead phrase by phrase, not only over the whole.  False: the candidates run apart to the end (the
    # records made before it replay so).
    phrase_choice: bool = True
    # Four-voice models, free pieces: a stream whose own phrase end (a fermata chord it wrote) makes no cadence goes
    # back to two beats before it and samples that stretch again (generation.satb.PhraseRewind: at most twice at one
    # phrase end, this many times in a piece; 0 = never).  At 6, 100 pieces, best of 4: a cadence at 46 -> 65 % of
    # the pieces' inner fermatas read blind (Bach 71 %), 73 -> 97 % told the fermatas (91 %); the style AUC fell on
    # the validation split (0.816 -> 0.786) but not over nine test runs (0.690 -> 0.687), and sampling takes twice
    # as long (batch 16: 2.8 times), so off by default (`--rewinds N`; benchmarks/RESULTS.md, "Free pieces: a phrase
    # end rewound").
    phrase_rewinds: int = 0
    # Four-voice models: a fermata's odds by the length of the phrase it would end (generation.odds.PhraseOdds,
    # PHRASE_CALIBRATION), times this strength; None: the model's odds (the records made before it replay so).
    # At the model's odds 12 % of the phrases are 8 beats long (Bach 42 %), at 1.0 39 %, at 0.5 24 %; 0.5 chosen
    # by the style AUC on the validation split (3 x 100 pieces, best of 4: none 0.824, 0.5 0.819, 1.0 0.841;
    # benchmarks/RESULTS.md, "Phrase lengths").
    phrase_odds: float | None = 0.5

    @property
    def motion_degrees(self) -> bool:
        """Whether the degrees take ``odds.DEGREE_CALIBRATION_MOTION``: with the motion odds on the beats.

        The motion odds on every note (``motion_beats`` False, what records from before ``motion_beats``
        replay) keep ``DEGREE_CALIBRATION``, the table they were sampled with.
        """
        return self.motion_odds is not None and self.motion_beats

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.pitch_min <= self.pitch_max <= 127:
            raise ValueError(
                f"pitch range must satisfy 0 <= min <= max <= 127, got {self.pitch_min}..{self.pitch_max}"
            )
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")
        if self.repeats is not None and not (self.repeats > 0 and math.isfinite(self.repeats)):
            raise ValueError(f"repeats must be a finite number > 0 or None, got {self.repeats}")
        if self.phrase_rests is not None and (type(self.phrase_rests) is not int or self.phrase_rests < 1):
            raise ValueError(f"phrase_rests must be a whole number of beats >= 1 or None, got {self.phrase_rests!r}")
        if not (0 <= self.raised_penalty and math.isfinite(self.raised_penalty)):
            raise ValueError(f"raised_penalty must be a finite number >= 0, got {self.raised_penalty}")
        if not (0 <= self.seventh_penalty and math.isfinite(self.seventh_penalty)):
            raise ValueError(f"seventh_penalty must be a finite number >= 0, got {self.seventh_penalty}")
        for name in ("four_pcs", "clash_odds", "sixteenth_odds"):  # odds factors
            if (odds := getattr(self, name)) is not None and not (odds > 0 and math.isfinite(odds)):
                raise ValueError(f"{name} must be a finite number > 0 or None, got {odds}")
        for name in ("degree_odds", "motion_odds", "phrase_odds", "onset_odds", "bass_odds"):  # the odds' strengths
            odds = getattr(self, name)
            if odds is not None and not (odds >= 0 and math.isfinite(odds)):
                raise ValueError(f"{name} must be a finite number >= 0 or None, got {odds}")
        if type(self.phrase_rewinds) is not int or self.phrase_rewinds < 0:
            raise ValueError(f"phrase_rewinds must be a whole number >= 0, got {self.phrase_rewinds!r}")
        for name in ("motion_beats", "tune_ending", "held_melody", "phrase_ends", "phrase_choice"):  # switches
            if type(flag := getattr(self, name)) is not bool:
                raise ValueError(f"{name} must be true or false, got {flag!r}")
        if self.max_polyphony < 0:
            raise ValueError(f"max_polyphony must be >= 0, got {self.max_polyphony}")
        if self.key is not None:
            parse_key(self.key)  # ValueError naming the key and the accepted forms
        if not 0 <= self.key_bias < float("inf"):
            raise ValueError(f"key_bias must be a finite number >= 0, got {self.key_bias}")

    @property
    def key_index(self) -> int | None:
        """The key as an index 0..23 (see :mod:`composer.keys`), or None when no key is asked."""
        return None if self.key is None else parse_key(self.key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy of the options."""
        return asdict(self)


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` if it is an int (not a bool) in ``lo..hi``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


#: Tokenizer resolution limits.  The bundled recipes use at most 12 steps per beat and spans up to
#: 16 beats (100 duration values); MidiTok builds its tables in time proportional to the number of
#: (span x steps) values, and ``beat_res {"0_4": 1000000}`` spun for over a minute (issue 14).
MAX_STEPS_PER_BEAT = 64
MAX_BEAT_SPAN = 64
MAX_DURATION_VALUES = 4096


def _default_beat_res() -> dict[str, int]:
    return {"0_4": 8, "4_12": 4}


@dataclass(frozen=True)
class TokenizerSpec:
    """The MidiTok tokenizer of a corpus; saved with the corpus and each checkpoint."""

    kind: str = "REMI"  # REMI | TSD | MIDILike (MidiTok, one stream) | SATB (voicegrid: four voices)
    beat_res: dict[str, int] = field(default_factory=_default_beat_res)  # "lo_hi" beats -> steps/beat
    pitch_range: tuple[int, int] = (21, 109)  # MIDI pitches, inclusive (as MidiTok reads it)
    use_velocities: bool = False  # velocity tokens (off for corpora with flat dynamics)
    num_velocities: int = 8  # velocity bins when use_velocities
    use_tempos: bool = False  # tempo tokens
    num_tempos: int = 16  # tempo bins when use_tempos
    use_time_signatures: bool = True  # time-signature tokens

    def __post_init__(self) -> None:
        if self.kind not in ("REMI", "TSD", "MIDILike", "SATB"):
            raise ValueError(f"tokenizer kind must be REMI, TSD, MIDILike or SATB, got {self.kind!r}")
        self._check_beat_res()
        if not isinstance(self.pitch_range, tuple | list) or len(self.pitch_range) != 2:
            raise ValueError(f"pitch_range must be [low, high], got {self.pitch_range!r}")
        if any(isinstance(x, bool) or not isinstance(x, int) for x in self.pitch_range):
            raise ValueError(f"pitch_range must be two integers, got {self.pitch_range!r}")
        lo, hi = self.pitch_range
        if not 0 <= lo < hi <= 127:
            raise ValueError(f"pitch_range must be within 0..127 (inclusive), got {self.pitch_range}")
        for flag in ("use_velocities", "use_tempos", "use_time_signatures"):
            check_bool(flag, getattr(self, flag))
        check_int("num_velocities", self.num_velocities, 1, 127)
        check_int("num_tempos", self.num_tempos, 1, 256)

    def _check_beat_res(self) -> None:
        if not isinstance(self.beat_res, dict) or not self.beat_res:
            raise ValueError(f'beat_res must be a table like {{"0_4": 8}}, got {self.beat_res!r}')
        values = 0
        for key, res in self.beat_res.items():
            m = re.fullmatch(r"(\d{1,3})_(\d{1,3})", str(key))
            if not m or not int(m.group(1)) < int(m.group(2)) <= MAX_BEAT_SPAN:
                raise ValueError(
                    f"beat_res key must be 'low_high' beats with low < high <= {MAX_BEAT_SPAN}, got {key!r}"
                )
            check_int(f"beat_res[{key!r}] (steps per beat)", res, 1, MAX_STEPS_PER_BEAT)
            values += (int(m.group(2)) - int(m.group(1))) * res
        if values > MAX_DURATION_VALUES:
            raise ValueError(f"beat_res has {values} duration values, over the limit of {MAX_DURATION_VALUES}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy (tuples become lists)."""
        d = asdict(self)
        d["pitch_range"] = list(self.pitch_range)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerSpec:
        """Inverse of :meth:`to_dict`; unknown keys are a ``ValueError``."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown tokenizer option(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if "pitch_range" in d:
            d["pitch_range"] = tuple(d["pitch_range"])
        return cls(**d)


#: Model size limits, checked before anything is allocated.  The bundled models have 1.1 M and 1.6 M
#: parameters (4-6 MB in float32); 200 M parameters is 800 MB of weights, about what a laptop can
#: still sample from, while ``hidden_size`` 10**7 in a crafted checkpoint asked for 1.6 PB (issue 14).
MAX_PARAMS = 200_000_000
MAX_WIDTH = 65_536  # vocab_size, embed_dim, hidden_size
MAX_LAYERS = 64
MOTION_CLASSES = 28  # composer.voicemotion.CLASSES (checked there): the motion input's table


@dataclass(frozen=True)
class ModelConfig:
    """Shape of an :class:`~composer.model.LSTMModel` (here, not in ``model``: reading a checkpoint needs no torch)."""

    vocab_size: int  # number of token ids (MidiTok vocabulary + control tokens)
    embed_dim: int = 256  # embedding width
    hidden_size: int = 512  # LSTM width
    num_layers: int = 2  # stacked LSTM layers, >= 1
    dropout: float = 0.2  # between layers and before the head, [0, 1)
    tie_weights: bool = False  # share input and output embeddings (needs embed_dim == hidden_size)
    motion_input: bool = False  # the SATB grid's voices' last intervals as an input (composer.voicemotion)

    def __post_init__(self) -> None:
        check_int("vocab_size", self.vocab_size, 2, MAX_WIDTH)
        check_int("embed_dim", self.embed_dim, 1, MAX_WIDTH)
        check_int("hidden_size", self.hidden_size, 1, MAX_WIDTH)
        check_int("num_layers", self.num_layers, 1, MAX_LAYERS)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        check_bool("tie_weights", self.tie_weights)
        check_bool("motion_input", self.motion_input)
        if self.num_params() > MAX_PARAMS:
            raise ValueError(f"model has {self.num_params():,} parameters, over the limit of {MAX_PARAMS:,}")
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_dim == hidden_size, got {self.embed_dim} and {self.hidden_size}"
            )

    def num_params(self) -> int:
        """Parameters an :class:`LSTMModel` of this shape has (computed, nothing allocated)."""
        e, h, v = self.embed_dim, self.hidden_size, self.vocab_size
        lstm = sum(4 * h * ((e if i == 0 else h) + h) + 8 * h for i in range(self.num_layers))
        motion = MOTION_CLASSES * e if self.motion_input else 0
        return v * e + lstm + (0 if self.tie_weights else h * v) + v + motion

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each tensor a :class:`~composer.model.LSTMModel` of this shape stores (tied: no head.weight)."""
        e, h, v = self.embed_dim, self.hidden_size, self.vocab_size
        shapes: dict[str, tuple[int, ...]] = {"embed.weight": (v, e)}
        for k in range(self.num_layers):
            shapes |= {f"lstm.weight_ih_l{k}": (4 * h, e if k == 0 else h), f"lstm.weight_hh_l{k}": (4 * h, h),
                       f"lstm.bias_ih_l{k}": (4 * h,), f"lstm.bias_hh_l{k}": (4 * h,)}
        if not self.tie_weights:
            shapes["head.weight"] = (v, h)
        if self.motion_input:
            shapes["motion.weight"] = (MOTION_CLASSES, e)
        return shapes | {"head.bias": (v,)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy."""
        return asdict(self)
