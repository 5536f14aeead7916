"""The Python API: generate a chorale, continue a melody, analyze the result.

Run from the repository root after installing (see README):

    .venv/bin/python examples/api_example.py

Both calls return ``pretty_midi.PrettyMIDI`` objects; the bundled models load
from the installed package, on the CPU, with no other set-up.
"""

from pathlib import Path

import composer

out = Path("out")
out.mkdir(exist_ok=True)

# A 16-bar four-part chorale in G minor from the bundled default model.
chorale = composer.generate("chorales", bars=16, key="G minor", seed=7)
chorale.write(str(out / "api-chorale.mid"))
voices = ", ".join(f"{i.name} {len(i.notes)}" for i in chorale.instruments)  # Soprano, Alto, Tenor, Bass
print("chorale:", voices, "notes,", round(chorale.get_end_time(), 1), "seconds")

# Continue a typed melody with the folk model; the first notes are exactly the primer's.
tune = composer.continue_melody("tinyNotation: 6/8 d8 e f# g4 a8 b4 a8 g4.", "folk", bars=8, seed=3)
tune.write(str(out / "api-folk-continuation.mid"))
print("first notes:", [n.pitch for n in tune.instruments[0].notes[:8]])

# The harmonic analysis of the chorale (music21 is imported only here).
from composer.harmony import analyze_file  # noqa: E402

analysis = analyze_file(out / "api-chorale.mid")
print("key:", analysis.key.name, "| progression:", analysis.progression[:80])
print("cadences:", [(c.kind, c.bar) for c in analysis.cadences])
print("voice-leading faults per 100 beats:", round(analysis.faults_per_100_beats, 1))
