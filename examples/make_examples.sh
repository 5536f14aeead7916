#!/usr/bin/env bash
# Regenerates every file under examples/ with fixed seeds: same code, same bytes.
# Usage: examples/make_examples.sh [OUT_DIR]   (default: examples/; needs `composer` on PATH or in .venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
composer="${COMPOSER:-$(command -v composer || echo "$here/../.venv/bin/composer")}"
mkdir -p "$out/chorales" "$out/folk" "$out/continue"
rm -f "$out"/chorales/*.mid "$out"/folk/*.mid "$out"/continue/*.mid "$out"/*/*.png "$out"/*/*.json

"$composer" generate -m chorales -n 4 --bars 16 --seed 1 -o "$out/chorales" > /dev/null
"$composer" generate -m folk -n 3 --bars 16 --seed 1 -o "$out/folk" > /dev/null
"$composer" continue "tinyNotation: 4/4 c4 d e f g2 g" -m chorales --bars 8 --seed 1 \
    -o "$out/continue/chorale-continuation.mid" > /dev/null 2>&1
"$composer" continue "tinyNotation: 6/8 d8 e f# g a b a g f# g4." -m folk --bars 8 --seed 1 \
    -o "$out/continue/folk-continuation.mid" > /dev/null 2>&1
"$composer" continue "tinyNotation: 4/4 g4 g a b c'2 b a g a b c'1" -m chorales --voices --best-of 8 --seed 1 \
    -o "$out/continue/chorale-harmonized.mid" > /dev/null 2>&1
# a melody with its phrase ends marked (^): a fermata chord at each, as in Bach's chorales
"$composer" continue "G4:1 G4:1 A4:1 B4:1 C5:2^ B4:1 A4:1 G4:1 A4:1 B4:1 G4:1 A4:2^ B4:1 C5:1 D5:1 C5:1 B4:1 A4:1 B4:2 A4:2 G4:4^" \
    -m chorales --voices --best-of 8 --seed 1 -o "$out/continue/chorale-harmonized-phrases.mid" > /dev/null 2>&1

# Piano rolls with the chord under each beat (the analysis' plot).
for f in "$out"/chorales/*.mid "$out"/folk/*.mid "$out"/continue/*.mid; do
    "$composer" analyze "$f" --plot "${f%.mid}.png" --force > /dev/null
done
echo "examples written to $out"
