"""Export a training run as a model: weights, test metrics and a model card.

``export_model(run, out)`` copies the best checkpoint of a run (weights only:
no optimizer state), evaluates it on the corpus's test split against the
unigram and n-gram baselines, stores those figures in the checkpoint's JSON,
and writes ``card.md`` and ``card.json`` beside it.  ``composer models`` reads
them.
"""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import date
from pathlib import Path
from typing import Any

from composer.checkpoint import WEIGHTS, check_meta, load_checkpoint, save_checkpoint
from composer.corpus import load_corpus
from composer.errors import InputError
from composer.evaluate import evaluate
from composer.files import refuse_overwrite, write_bytes_atomic
from composer.paths import checkpoints_dir, user_models_dir
from composer.recipes import list_recipes


def _hardware(device: str | None) -> str:
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), device {device or 'cpu'}"


def export_model(
    run: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    description: str = "",
    default_program: int = 0,
    default_tempo: float | None = None,
    ngram: int = 4,
    force: bool = False,
) -> dict[str, Any]:
    """Export the best checkpoint of ``run`` to ``out`` with its model card.

    Returns
    -------
    dict
        The card (also written to ``out/card.json``).
    """
    run, out = Path(run), Path(out)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,63}", name):
        raise InputError(f"--name must be letters, digits, '.', '_', '-' or spaces (64 at most), got {name!r}")
    refuse_overwrite(out / WEIGHTS, force)
    ckpt = load_checkpoint(run)
    meta = dict(ckpt.meta)
    check_meta({"default_program": default_program, "default_tempo": default_tempo or meta.get("default_tempo", 100.0),
                "name": name or out.name}, out)  # before the test evaluation, not after
    corpus = load_corpus(meta["corpus"])
    report = evaluate(str(ckpt.path), corpus.name, split="test", order=ngram)
    lstm, uni, ngram_row = report["models"]  # evaluate's order: the LSTM, unigram, n-gram
    training = meta.get("training", {})
    history = meta.get("history", [])
    bundled = out.resolve().parent == checkpoints_dir().resolve()  # (a model of this repository's checkpoints/)
    sources = [src for src in corpus.recipe.get("sources", []) if isinstance(src, dict)]
    folder = next((str(src.get("path")) for src in sources if src.get("kind") == "dir"), None)
    card: dict[str, Any] = {
        "name": name or out.name,
        "bundled": bundled,
        "recipe": (f"recipe `corpora/{corpus.name}.toml`" if corpus.name in list_recipes()
                   else f"built from the MIDI folder {folder}" if folder else f"recipe {corpus.name}"),
        # what -m takes: a model in the user models folder by its name, any other by its folder
        "model_ref": out.name if bundled or out.resolve().parent == user_models_dir().resolve() else str(out),
        "description": description,
        "date": date.today().isoformat(),
        "corpus": corpus.name,
        "corpus_manifest_hash": corpus.manifest.get("hash"),
        "split": {**corpus.manifest["splits"], "rule": "by piece, sha256(seed:id), recipe seed; from 3 pieces at least one in each split"},
        "split_tokens": corpus.manifest.get("split_tokens"),
        "tokenizer": ckpt.codec.to_dict(),
        "model": ckpt.model.config.to_dict(),
        "params": ckpt.model.num_parameters(),
        "training": training,
        "training_minutes": round(float(history[-1]["elapsed"]) / 60, 1) if history else None,
        "best": meta.get("best_metrics"),
        "hardware": _hardware(meta.get("device")),
        "torch": meta.get("torch"),
        "test": {
            "pieces": report["pieces"], "tokens": report["tokens"], "notes": report["notes"],
            "beats": report["beats"], "models": report["models"],
        },
        "default_program": default_program,
        "default_tempo": default_tempo or meta.get("default_tempo", 100.0),
    }
    meta.update(
        name=card["name"],
        test_metrics={k: lstm[k] for k in ("nll_per_token", "perplexity", "nll_per_note", "nll_per_quarter")},
        baseline_metrics={"unigram": uni, "ngram": ngram_row},
        default_program=default_program,
        default_tempo=card["default_tempo"],
        description=description,
    )
    for k in ("train_state", "optim", "sched", "plateau"):
        meta.pop(k, None)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / WEIGHTS, ckpt.model, ckpt.codec, meta)
    write_bytes_atomic(json.dumps(card, indent=1).encode(), out / "card.json", force=True)
    write_bytes_atomic(card_markdown(card).encode(), out / "card.md", force=True)
    return card


def _tokenizer_line(card: dict[str, Any]) -> str:
    spec, code = card["tokenizer"]["spec"], card["tokenizer"]["hash"]
    if spec["kind"] == "SATB":
        return (f"- Tokenizer: the SATB grid (`composer/voicegrid.py`, `docs/chorales.md`), {max(spec['beat_res'].values())} "
                "steps per quarter note: every step lists soprano, alto, tenor and bass (new note, held note or rest), "
                f"with bar, bars-left, position and fermata tokens; pieces stored in C major / A minor; hash {code}; "
                "control tokens: style, key (the mode).")
    return (f"- Tokenizer: MidiTok {spec['kind']}, beat resolution {spec['beat_res']}, "
            f"velocities {'on' if spec['use_velocities'] else 'off'}, hash {code}; "
            "control tokens: style, key (24), tempo band (3). Training transposes each piece by a random shift in the "
            "recipe's range every epoch.")


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown."""
    t = card["training"]
    m = card["model"]
    recipe = card.get("recipe") or f"recipe `corpora/{card['corpus']}.toml`"  # (cards from before it say where)
    pieces = sum(card["split"][k] for k in ("train", "valid", "test"))
    lines = [
        f"# Model card: `{card['name']}`",
        "",
        card["description"],
        "",
        "## Data",
        f"- Corpus `{card['corpus']}` ({recipe}, manifest {card['corpus_manifest_hash']}).",
        f"- Split by piece: train {card['split']['train']}, validation {card['split']['valid']}, "
        f"test {card['split']['test']} pieces ({card['split']['rule']}); tokens per split "
        + ", ".join(f"{k} {(card['split_tokens'] or {})[k]:,}" for k in ("train", "valid", "test")
                    if k in (card["split_tokens"] or {})) + ".",
        _tokenizer_line(card),
        "",
        "## Model",
        f"- LSTM language model: embedding {m['embed_dim']}, {m['num_layers']} x LSTM {m['hidden_size']}, "
        f"dropout {m['dropout']}, vocabulary {m['vocab_size']}; {card['params']:,} parameters"
        + ("; each voice's last melodic interval read beside the tokens (`--motion-input`)." if m.get("motion_input")
           else "."),
        "",
        "## Training",
        f"- `composer train {card['corpus']}` with seq_len {t.get('seq_len')}, batch {t.get('batch_size')}, "
        f"AdamW lr {t.get('lr')} ({t.get('schedule')}, warm-up {t.get('warmup_steps')}), grad clip {t.get('grad_clip')}, "
        f"seed {t.get('seed')}, time budget {t.get('time_budget', 0) / 60:.0f} min.",
        f"- Trained {card['training_minutes']} minutes on {card['hardware']}, torch {card['torch']}; best validation "
        f"loss {card['best']['val_loss']:.4f} nats/token at step {card['best']['step']} (epoch {card['best']['epoch']}).",
        "",
        "## Test results (held-out pieces)",
        f"{card['test']['pieces']} pieces, {card['test']['tokens']:,} tokens, {card['test']['notes']:,} notes, "
        f"{card['test']['beats']:,.0f} quarter notes. NLL in nats (definitions in `composer/evaluate.py`); baselines are "
        "fitted on the same training split.",
        "",
        "| model | NLL/token | perplexity | NLL/note | NLL/quarter note |",
        "|---|---|---|---|---|",
    ]
    for r in card["test"]["models"]:
        lines.append(f"| {r['model']} | {r['nll_per_token']:.4f} | {r['perplexity']:.2f} | "
                     f"{r['nll_per_note']:.3f} | {r['nll_per_quarter']:.3f} |")
    lines += [
        "",
        "## Use",
        f"`composer generate -m {card.get('model_ref') or card['name']} -n 4 --bars 16 -o out/` — defaults: tempo "
        f"{card['default_tempo']:.0f} bpm, General MIDI program {card['default_program']}."
        + (" Sample outputs: `examples/`." if card.get("bundled", True) else ""),
        "",
        "## Limits",
        f"- Trained on a corpus of {pieces} pieces on {card['hardware']}; expect stylistic slips (voice-leading "
        "faults, wandering keys) "
        "that `composer analyze` will point out; `composer generate --best-of K` picks the best of K candidates.",
        "- Sampling applies a soft key by default (`--key-bias 1.0`: a logit penalty on notes outside the piece's Key "
        "control), which brings the pitch statistics of generated pieces to the corpus's"
        + ("; measured figures against the test split are in `benchmarks/RESULTS.md`." if card.get("bundled", True)
           else "."),
        "",
    ]
    return "\n".join(lines)
