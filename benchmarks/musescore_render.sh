#!/usr/bin/env bash
# Shows a generated chorale opening in MuseScore 3: writes the MusicXML with composer and has
# MuseScore (headless, under xvfb-run) engrave it to PNG.  Debian: apt install musescore3 xvfb.
# Usage: benchmarks/musescore_render.sh [OUT_DIR]   (default: benchmarks/results/musescore)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/results/musescore}"
composer="${COMPOSER:-$(command -v composer || echo "$here/../.venv/bin/composer")}"
command -v musescore3 > /dev/null || { echo "musescore3 is not installed (apt install musescore3 xvfb)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/chorales-*.mid "$out"/chorales-*.json "$out"/chorales-*.musicxml "$out"/chorales-*.png
"$composer" generate -n 1 --bars 8 --seed 11 --key "D minor" -o "$out" --musicxml > /dev/null
start=$(date +%s.%N)
xvfb-run -a musescore3 -o "$out/chorales-001.png" "$out/chorales-001.musicxml" > "$out/musescore.log" 2>&1
end=$(date +%s.%N)
printf '{"musicxml": "%s", "png": "%s", "render_s": %.2f}\n' "$out/chorales-001.musicxml" \
    "$(ls "$out"/chorales-001*.png | head -1)" "$(echo "$end - $start" | bc)"
