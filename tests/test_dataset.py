"""Training windows: prefix, bar alignment, determinism, transposition, DDP sharding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from _corpus_fixtures import TinyCorpus, tiny_corpus

from composer.corpus import Corpus, load_corpus
from composer.dataset import Piece, WindowSampler, full_sequence, load_pieces
from composer.keys import transpose_key_index

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEQ = 32


@pytest.fixture(scope="module")
def tiny(_private_cache) -> TinyCorpus:  # type: ignore[no-untyped-def]
    return tiny_corpus()


@pytest.fixture(scope="module")
def corpus(tiny: TinyCorpus) -> Corpus:
    return load_corpus(tiny.name)


@pytest.fixture(scope="module")
def pieces(corpus: Corpus) -> list[Piece]:
    return load_pieces(corpus, "train")


def _sampler(corpus: Corpus, pieces: list[Piece], **kw) -> WindowSampler:  # type: ignore[no-untyped-def]
    aug = corpus.recipe["augment"]
    args = dict(transpose=tuple(aug["transpose"]), pitch_range=tuple(aug["pitch_range"]), seed=3)
    args.update(kw)
    return WindowSampler(corpus.codec, pieces, SEQ, 4, **args)  # type: ignore[arg-type]


def test_load_pieces(corpus: Corpus, pieces: list[Piece]) -> None:
    assert len(pieces) == len(corpus.pieces("train")) > 0
    bar = corpus.codec.id_of("Bar_None")
    for p in pieces:
        assert p.ids.dtype == np.int64 and len(p.ids)
        assert p.style == corpus.name and p.key_index is not None and p.tempo
        assert len(p.bars) >= 4 and (p.ids[p.bars] == bar).all()


def test_full_sequence_is_prefix_music_eos(corpus: Corpus, pieces: list[Piece]) -> None:
    codec = corpus.codec
    p = pieces[0]
    seq = full_sequence(codec, p)
    assert seq is not None
    prefix = codec.prefix(p.style, p.key_index, p.tempo)
    assert [codec.types[i] for i in prefix] == ["BOS", "Style", "Key", "TempoBand"]
    assert list(seq[: len(prefix)]) == prefix
    assert np.array_equal(seq[len(prefix) : -1], p.ids) and seq[-1] == codec.eos
    # Out of range: pitches far above the top of the tokenizer's range.
    assert full_sequence(codec, p, 60) is None


def test_windows_shape_prefix_and_bar_starts(corpus: Corpus, pieces: list[Piece]) -> None:
    codec = corpus.codec
    bar = codec.id_of("Bar_None")
    wins = _sampler(corpus, pieces).windows(0)
    assert len(wins) > len(pieces)  # pieces are longer than one window
    for w in wins:
        assert 4 < len(w) <= SEQ + 1
        assert [codec.types[int(i)] for i in w[:4]] == ["BOS", "Style", "Key", "TempoBand"]
        assert w[4] == bar  # the first window starts at the first bar, later ones at a bar line
        assert not np.isin(w[4:], codec.bos).any()
        assert (w >= 0).all() and (w < codec.vocab_size).all()
    # Each piece yields exactly one window from its beginning (the only one with its Tempo).
    firsts = [w for w in wins if "Tempo" in {codec.types[int(i)] for i in w}]
    assert len(firsts) == len(pieces)


def test_later_windows_continue_the_piece(corpus: Corpus, pieces: list[Piece]) -> None:
    """Untransposed, every window's music is a slice of its piece starting at a bar line."""
    codec = corpus.codec
    seqs = [full_sequence(codec, p) for p in pieces]
    assert all(s is not None for s in seqs)
    for w in _sampler(corpus, pieces, transpose=(0, 0)).windows(1):
        music = w[4:]
        hits = [
            (i, b) for i, (s, p) in enumerate(zip(seqs, pieces, strict=True)) for b in p.bars + 4
            if s is not None and np.array_equal(s[b : b + len(music)], music)
        ]
        assert hits, "window is not a bar-aligned slice of any piece"
        i, _ = hits[0]
        assert np.array_equal(w[:4], seqs[i][:4])  # type: ignore[index]  # with that piece's own prefix


def test_deterministic_in_seed_and_epoch(corpus: Corpus, pieces: list[Piece]) -> None:
    a = _sampler(corpus, pieces).windows(2)
    b = _sampler(corpus, pieces).windows(2)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other_epoch = _sampler(corpus, pieces).windows(3)
    other_seed = _sampler(corpus, pieces, seed=4).windows(2)
    for other in (other_epoch, other_seed):
        same = len(other) == len(a) and all(
            np.array_equal(x, y) for x, y in zip(a, other, strict=True)
        )
        assert not same
    ba, bb = _sampler(corpus, pieces).batches(2), _sampler(corpus, pieces).batches(2)
    assert all((x == y).all() for x, y in zip(ba, bb, strict=True))


def test_batches_are_padded_windows(corpus: Corpus, pieces: list[Piece]) -> None:
    s = _sampler(corpus, pieces)
    wins, batches = s.windows(0), s.batches(0)
    assert s.num_batches(0) == len(batches) == -(-len(wins) // 4)
    rows = [r for b in batches for r in b.numpy()]
    assert len(rows) == len(wins)
    for row, w in zip(rows, wins, strict=True):
        assert row.shape[0] <= SEQ + 1
        assert np.array_equal(row[: len(w)], w) and (row[len(w) :] == corpus.codec.pad).all()
    i = 0
    for b in batches:  # padded to the batch's longest window, not to seq_len
        assert b.shape[1] == max(len(w) for w in wins[i : i + len(b)])
        i += len(b)
    assert all(str(b.dtype) == "torch.int64" for b in batches)


def test_group_by_length_batches_like_lengths(corpus: Corpus, pieces: list[Piece]) -> None:
    plain, grouped = _sampler(corpus, pieces), _sampler(corpus, pieces, group_by_length=True)
    wins, batches = plain.windows(0), grouped.batches(0)
    assert len(batches) == len(plain.batches(0)) and sum(len(b) for b in batches) == len(wins)
    rows = sorted(tuple(int(t) for t in r if t != corpus.codec.pad) for b in batches for r in b.numpy())
    assert rows == sorted(tuple(int(t) for t in w) for w in wins)  # the same windows, regrouped
    cells = lambda bs: sum(b.numel() for b in bs)  # noqa: E731
    assert cells(batches) < cells(plain.batches(0))  # less padding
    again = _sampler(corpus, pieces, group_by_length=True).batches(0)
    assert all(torch.equal(x, y) for x, y in zip(batches, again, strict=True))  # a function of (seed, epoch)
    assert not all(torch.equal(x, y) for x, y in zip(batches, grouped.batches(1), strict=False))


def test_whole_pieces_fit_one_window(corpus: Corpus, pieces: list[Piece]) -> None:
    s = WindowSampler(corpus.codec, pieces, 100_000, 4, seed=3)
    wins = s.windows(0)
    assert len(wins) == len(pieces)
    full = sorted(tuple(full_sequence(corpus.codec, p)) for p in pieces)  # type: ignore[arg-type]
    assert sorted(tuple(w) for w in wins) == full


def _shift_of_first(codec, seq, w):  # type: ignore[no-untyped-def]
    """The semitone shifts ``s`` for which ``w`` is the transposed start of ``seq``."""
    return [
        s for s in range(-12, 13)
        if (t := codec.transpose_table(s)[seq[: len(w)]]).min() >= 0 and np.array_equal(t, w)
    ]


def test_transposition_stays_in_range_and_moves_the_key(corpus: Corpus, pieces: list[Piece]) -> None:
    """One shift per piece and epoch, applied to pitches and the Key control alike."""
    codec = corpus.codec
    lo, hi = 38, 92  # narrower than the recipe's, so some shifts are ruled out
    shifts: Counter[int] = Counter()
    for p in pieces:
        seq = full_sequence(codec, p)
        assert seq is not None
        own = codec.pitch_of[p.ids]
        fits = lo <= own[own >= 0].min() and own.max() <= hi
        for epoch in range(4):
            wins = _sampler(corpus, [p], transpose=(-5, 5), pitch_range=(lo, hi)).windows(epoch)
            first = [w for w in wins if "Tempo" in {codec.types[int(i)] for i in w}]
            assert len(first) == 1
            found = _shift_of_first(codec, seq, first[0])
            assert len(found) == 1, found  # pitches and Key moved together, by one shift
            s = found[0]
            shifts[s] += 1
            if not fits:
                assert s == 0  # no shift keeps it inside: it is left alone
            table = codec.transpose_table(s)
            assert codec.key_of[first[0][2]] == transpose_key_index(int(p.key_index or 0), s)
            for w in wins:  # every window of the piece carries the same shift
                music = w[4:]
                assert np.array_equal(w[:4], table[seq[:4]])
                assert any(
                    np.array_equal(table[seq[b : b + len(music)]], music) for b in [4, *(p.bars + 4)]
                )
                pitches = codec.pitch_of[w]
                pitches = pitches[pitches >= 0]
                assert not fits or (lo <= pitches.min() and pitches.max() <= hi)
    assert len(shifts) > 3  # augmentation really happens


def test_recipe_pitch_range_is_respected(corpus: Corpus, pieces: list[Piece]) -> None:
    codec = corpus.codec
    lo, hi = corpus.recipe["augment"]["pitch_range"]
    for epoch in range(3):
        for w in _sampler(corpus, pieces).windows(epoch):
            p = codec.pitch_of[w]
            p = p[p >= 0]
            assert lo <= p.min() and p.max() <= hi


def test_transposition_without_room_leaves_the_piece_alone(corpus: Corpus, pieces: list[Piece]) -> None:
    codec = corpus.codec
    p = pieces[0]
    pitches = codec.pitch_of[p.ids]
    pitches = pitches[pitches >= 0]
    exact = (int(pitches.min()), int(pitches.max()))
    s = _sampler(corpus, [p], transpose=(-5, 5), pitch_range=exact)
    seq = full_sequence(codec, p)
    assert seq is not None
    for epoch in range(3):
        first = [w for w in s.windows(epoch) if np.array_equal(w, seq[: SEQ + 1])]
        assert len(first) == 1


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_shards_are_disjoint_and_cover(corpus: Corpus, pieces: list[Piece], world: int) -> None:
    wins = _sampler(corpus, pieces).windows(1)
    usable = len(wins) - len(wins) % world
    shards = [_sampler(corpus, pieces, rank=r, world=world).batches(1) for r in range(world)]
    assert len({len(b) for b in shards}) == 1  # same step count on every rank, or DDP hangs
    taken: list[int] = []
    for r, batches in enumerate(shards):
        rows = [row for b in batches for row in b.numpy()]
        # Rank r holds windows r, r + world, ... of the shuffled epoch, in order.
        idx = list(range(r, usable, world))
        assert len(rows) == len(idx)
        for row, i in zip(rows, idx, strict=True):
            w = wins[i]
            assert np.array_equal(row[: len(w)], w)
        taken += idx
    assert sorted(taken) == list(range(usable))  # disjoint, and together all but < world windows
    assert len(wins) - usable < world


def test_sampler_validation(corpus: Corpus, pieces: list[Piece]) -> None:
    with pytest.raises(ValueError, match="seq_len"):
        WindowSampler(corpus.codec, pieces, 4, 2)
    with pytest.raises(ValueError, match="batch_size"):
        WindowSampler(corpus.codec, pieces, 16, 0)


def test_windows_cover_every_music_token(corpus: Corpus, pieces: list[Piece]) -> None:
    """With bars shorter than a window, the windows of a piece should leave no gap."""
    codec = corpus.codec
    seq_len = 64  # bars of the tiny pieces are ~40 tokens: shorter than a window
    for p in pieces:
        seq = full_sequence(codec, p)
        assert seq is not None
        assert np.diff(p.bars).max() < seq_len - 4
        covered = np.zeros(len(seq), dtype=bool)
        s = WindowSampler(codec, [p], seq_len, 4, seed=0)
        for w in s.windows(0):
            music = w[4:]
            for b in [0, *(p.bars + 4)]:
                if np.array_equal(seq[b : b + len(music)], music):
                    covered[b : b + len(music)] = True
        covered[:4] = True
        assert covered.all(), f"uncovered positions {np.nonzero(~covered)[0][:10]} of {len(seq)}"


def test_tokenizers_without_bars_still_window_the_whole_piece(tiny: TinyCorpus) -> None:
    from composer.config import TokenizerSpec
    from composer.midifile import load_score
    from composer.tokenizer import Codec

    codec = Codec(TokenizerSpec(kind="TSD"), styles=["tiny"])
    ids = np.concatenate([
        codec.encode_score(load_score(p)).astype(np.int64)
        for p in sorted(tiny.midi_dir.glob("*.mid"))[:2]
    ])
    piece = Piece(ids=ids, style="tiny", key_index=0, tempo=100.0, bars=np.zeros(0, dtype=np.int64))
    assert len(ids) > 4 * SEQ
    wins = WindowSampler(codec, [piece], SEQ, 4).windows(0)
    assert sum(len(w) - 4 for w in wins) >= len(ids)
