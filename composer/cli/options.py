"""Option types shared by the commands, and the one builder of sampling options.

A command declares ``temperature: Temperature = DEFAULT_TEMPERATURE`` and so on,
then calls :func:`sample_options`; a new sampling option is added here once.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from composer.cli.common import handle_errors
from composer.config import DEFAULT_KEY_BIAS, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, SampleOptions
from composer.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])

#: Nucleus mass kept by default, by every command that samples (``play`` and ``jam`` too, since issue 12).
FILE_TOP_P = DEFAULT_TOP_P

def _model_named(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty: name a model (chorales, folk), a folder or a .safetensors file")
    return value


Model = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", callback=_model_named,
        help="Bundled model name (chorales, folk), folder or .safetensors file (a run's folder or its "
        "last.safetensors too); play and jam also take builtin:scale, a test source.",
    ),
]
Temperature = Annotated[float, typer.Option("--temperature", help="Sampling temperature, > 0.")]
TopK = Annotated[int, typer.Option("--top-k", help="Keep the k most likely tokens (0 = off; typed sampling: "
                                                   "within each kind).")]
TopP = Annotated[float, typer.Option("--top-p", help="Nucleus mass kept, in (0, 1] (typed sampling: within each "
                                                     "kind).")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed: same seed and options, same music.")]
Key = Annotated[str | None, typer.Option("--key", help='Keep to a key, e.g. "D minor" or "F#".')]
KeyBias = Annotated[
    float, typer.Option("--key-bias", help="Penalty (in logits) on notes outside the piece's key; 0 = off.")
]
Typed = Annotated[
    bool | None,
    typer.Option("--typed-sampling/--plain-sampling",
                 help="Four-voice models: hold / new note / rest at the model's own odds, temperature and top-p "
                      "shaping the pitch only (default: on for free generation, off when harmonizing)."),
]
NoParallels = Annotated[
    bool,
    typer.Option("--no-parallels/--allow-parallels",
                 help="Four-voice models: forbid consecutive fifths and octaves between moving voices."),
]
FullChords = Annotated[
    bool,
    typer.Option("--full-chords/--open-chords",
                 help="Four-voice models: a bare fifth or octave on a beat gets its third from the tenor or bass "
                      "where the other rules allow."),
]
Rewinds = Annotated[
    int,
    typer.Option("--rewinds", min=0,
                 help="Four-voice models, free pieces (generate; a melody's bars keep their own choice): a phrase "
                      "end (fermata) without a cadence is sampled again from two beats before it, up to N times a "
                      "piece (about twice the time) [0 = never]."),
]
Program = Annotated[int | None, typer.Option("--program", help="General MIDI program 0-127.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No status line or progress bar.")]
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="The cache folder, as $COMPOSER_CACHE_DIR means it (default: that, else "
                 "~/.cache/composer): built corpora in CACHE/corpora, your models in CACHE/models."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
Wav = Annotated[
    bool, typer.Option("--wav", help="Also render NAME.wav beside each MIDI file (FluidSynth, a GM soundfont).")
]
Humanize = Annotated[
    bool, typer.Option("--humanize", help="Shape velocities (metre, voices, line, ending) instead of one level.")
]
Flac = Annotated[
    bool, typer.Option("--flac", help="Also render NAME.flac beside each MIDI file (lossless, a third of a WAV).")
]


def audio(wav: bool, flac: bool) -> tuple[str, ...]:
    """The audio formats asked for by --wav and --flac."""
    return (("wav",) if wav else ()) + (("flac",) if flac else ())


Soundfont = Annotated[
    Path | None,
    typer.Option("--soundfont", help="A General MIDI .sf2 soundfont (play and jam: with --synth) "
                                     "[$COMPOSER_SOUNDFONT, else the system's]."),
]
MusicXml = Annotated[
    bool, typer.Option("--musicxml", help="Also write NAME.musicxml beside each MIDI file (one staff per voice).")
]
MaxNotes = Annotated[
    int | None,
    typer.Option("--max-notes", min=1, help="Refuse MIDI files with more notes than this [200000]."),
]
Record = Annotated[Path | None, typer.Option("--record", help="Also write what was played to this MIDI file.")]


def sampling(
    temperature: Temperature = DEFAULT_TEMPERATURE,
    top_k: TopK = 0,
    top_p: TopP = FILE_TOP_P,
    seed: Seed = None,
    key: Key = None,
    key_bias: KeyBias = DEFAULT_KEY_BIAS,
    no_parallels: NoParallels = True,
    full_chords: FullChords = True,
    typed: Typed = None,
    rewinds: Rewinds = 0,
) -> SampleOptions:
    """The sampling options every sampling command takes (an option group, see :func:`with_groups`)."""
    return sample_options(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, key=key, key_bias=key_bias,
                          no_parallels=no_parallels, full_chords=full_chords, typed=typed, phrase_rewinds=rewinds)


def sample_options(**fields: Any) -> SampleOptions:
    """:class:`SampleOptions` from command-line values; a bad value is an :class:`InputError` (exit 2)."""
    try:
        return SampleOptions(**fields)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def constrained(options: SampleOptions, **fields: Any) -> SampleOptions:
    """``options`` with more fields set (pitch range, polyphony), validated like :func:`sample_options`."""
    return sample_options(**{**dataclasses.asdict(options), **fields})


def with_groups(**groups: Callable[..., Any] | tuple[Callable[..., Any], dict[str, Any]]) -> Callable[[F], F]:
    """Declare shared options once: each parameter named in ``groups`` becomes its builder's options.

    ``@with_groups(options=sampling)`` on a command whose signature has ``options: SampleOptions``
    shows ``--temperature ... --key-bias`` in that place of ``--help``, and the command receives
    ``options=sampling(temperature=..., ...)``.  A group given as ``(builder, {"top_p": 1.0})``
    changes the builder's defaults for this command.  A bad value in a group exits 2 with one
    ``error:`` line, like any option.
    """

    def decorate(func: F) -> F:
        hints = typing.get_type_hints(func, include_extras=True)
        params: list[inspect.Parameter] = []
        members: dict[str, tuple[Callable[..., Any], list[str]]] = {}
        for p in inspect.signature(func).parameters.values():
            if p.name not in groups:
                params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
                continue
            group = groups[p.name]
            builder, defaults = group if isinstance(group, tuple) else (group, {})
            b_hints = typing.get_type_hints(builder, include_extras=True)
            b_params = list(inspect.signature(builder).parameters.values())
            members[p.name] = (builder, [q.name for q in b_params])
            params += [q.replace(annotation=b_hints[q.name], default=defaults.get(q.name, q.default))
                       for q in b_params]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            with handle_errors():
                for name, (builder, names) in members.items():
                    kwargs[name] = builder(**{n: kwargs.pop(n) for n in names})
            return func(**kwargs)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # type: ignore[attr-defined]  # typer must read the new signature
        return command  # type: ignore[return-value]

    return decorate
