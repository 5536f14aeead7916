"""Checkpoints: one safetensors file with JSON in its header; refusals; atomic writes."""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import pytest
import torch

from composer.checkpoint import (
    FORMAT_VERSION,
    check_codec_matches,
    load_checkpoint,
    read_checkpoint,
    resolve,
    save_checkpoint,
)
from composer.config import TokenizerSpec
from composer.errors import CheckpointError, ComposerError
from composer.model import LSTMModel, ModelConfig
from composer.tokenizer import Codec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(TokenizerSpec(), styles=["tiny"])


def _model(codec: Codec, **kw) -> LSTMModel:  # type: ignore[no-untyped-def]
    torch.manual_seed(1)
    args = dict(vocab_size=codec.vocab_size, embed_dim=16, hidden_size=32, num_layers=2, dropout=0.1)
    args.update(kw)
    return LSTMModel(ModelConfig(**args)).eval()


def _logits(model: LSTMModel) -> torch.Tensor:
    ids = torch.arange(24).reshape(2, 12) % model.config.vocab_size
    with torch.no_grad():
        return model(ids)[0]


def _craft(path: Path, tensors: dict[str, torch.Tensor], doc: object) -> Path:
    """A safetensors file with ``doc`` (a JSON-able object, or a raw string) as composer metadata."""
    from safetensors.torch import save

    raw = doc if isinstance(doc, str) else json.dumps(doc)
    path.write_bytes(save(tensors, metadata={"composer": raw}))
    return path


def _raw_header_file(path: Path, header: dict) -> Path:
    """A safetensors file written by hand: 8-byte little-endian length, JSON header, data."""
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    data = b"\0" * 16
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def test_round_trip_same_logits(tmp_path: Path, codec: Codec) -> None:
    model = _model(codec)
    path = save_checkpoint(tmp_path / "m" / "model.safetensors", model, codec,
                           {"corpus": "tiny", "metrics": {"val_loss": 1.5}})
    ck = load_checkpoint(path)
    assert torch.equal(_logits(ck.model), _logits(model))
    assert ck.model.config == model.config and not ck.model.training
    assert ck.codec.hash == codec.hash
    assert ck.meta["format_version"] == FORMAT_VERSION and ck.meta["metrics"] == {"val_loss": 1.5}
    assert ck.name == "m"
    # A folder resolves to its model.safetensors; loads onto CPU.
    ck2 = load_checkpoint(tmp_path / "m", device="cpu")
    assert all(p.device.type == "cpu" for p in ck2.model.parameters())
    assert torch.equal(_logits(ck2.model), _logits(model))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_half_and_double_precision_weights_load_as_float32(tmp_path: Path, codec: Codec, dtype: torch.dtype) -> None:
    model = _model(codec).to(dtype)
    path = save_checkpoint(tmp_path / "model.safetensors", model, codec, {"corpus": "tiny"})
    ck = load_checkpoint(path)  # numpy has no bfloat16: widened to float32 exactly
    for k, v in model.state_dict().items():
        assert ck.arrays[k].dtype.name == "float32"
        assert torch.equal(torch.from_numpy(ck.arrays[k]), v.float())
    assert torch.equal(_logits(ck.model), _logits(model.float()))


def test_an_unreadable_tensor_dtype_is_a_checkpoint_error(tmp_path: Path, codec: Codec) -> None:
    doc = {"format_version": FORMAT_VERSION, "model": _model(codec).config.to_dict(), "tokenizer": codec.to_dict()}
    path = _raw_header_file(tmp_path / "x.safetensors", {"embed.weight": {"dtype": "F8_E4M3", "shape": [2, 2],
                                                                           "data_offsets": [0, 4]},
                                                          "__metadata__": {"composer": json.dumps(doc)}})
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_round_trip_tied_weights_and_extra_tensors(tmp_path: Path, codec: Codec) -> None:
    model = _model(codec, embed_dim=32, tie_weights=True)
    extra = {"optim/0/exp_avg": torch.ones(3)}
    path = save_checkpoint(tmp_path / "t.safetensors", model, codec, {}, extra=extra)
    tensors, _ = read_checkpoint(path)
    assert "head.weight" not in tensors and torch.equal(tensors["optim/0/exp_avg"], torch.ones(3))
    ck = load_checkpoint(path)
    assert ck.model.head.weight is ck.model.embed.weight
    assert torch.equal(_logits(ck.model), _logits(model))


def test_file_is_plain_safetensors(tmp_path: Path, codec: Codec) -> None:
    from safetensors import safe_open

    path = save_checkpoint(tmp_path / "m.safetensors", _model(codec), codec, {"x": 1})
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["composer"])
        assert "embed.weight" in set(f.keys())
    assert meta["model"]["hidden_size"] == 32 and meta["tokenizer"]["hash"] == codec.hash


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".pkl", ".bin"])
def test_pickle_suffix_is_refused_with_explanation(tmp_path: Path, codec: Codec, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    torch.save(_model(codec).state_dict(), path)
    with pytest.raises(CheckpointError, match="pickle") as exc:
        load_checkpoint(path)
    assert "safetensors" in str(exc.value)
    with pytest.raises(CheckpointError):  # even if it does not exist
        resolve(tmp_path / f"missing{suffix}")


def test_torch_pickle_renamed_is_refused(tmp_path: Path, codec: Codec) -> None:
    path = tmp_path / "sneaky.safetensors"
    torch.save(_model(codec).state_dict(), path)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b"",
        b"\x01\x02",
        struct.pack("<Q", 10) + b"0123456789" + b"\0" * 8,  # a length that fits, garbage header
        struct.pack("<Q", 9) + b"{not json" + b"\0" * 8,
    ],
    ids=["random", "empty", "short", "garbage-header", "bad-header-json"],
)
def test_not_safetensors_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(data)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path: Path, codec: Codec) -> None:
    good = save_checkpoint(tmp_path / "good.safetensors", _model(codec), codec, {})
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError):
        load_checkpoint(torn)


def test_malformed_composer_json_by_hand(tmp_path: Path) -> None:
    path = _raw_header_file(tmp_path / "bad.safetensors", {
        "__metadata__": {"composer": "{not json"},
        "x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
    })
    with pytest.raises(CheckpointError, match="malformed checkpoint JSON"):
        read_checkpoint(path)


@pytest.mark.parametrize("doc, match", [
    ("[1, 2]", "not an object"),
    ({"model": {}}, "format_version"),
    ({"format_version": 99}, "format_version 99"),
    ({"format_version": "1"}, "format_version"),
])
def test_bad_composer_documents(tmp_path: Path, doc: object, match: str) -> None:
    path = _craft(tmp_path / "c.safetensors", {"x": torch.zeros(2)}, doc)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_no_composer_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no composer metadata"):
        load_checkpoint(path)


def _doc_and_tensors(tmp_path: Path, codec: Codec) -> tuple[dict, dict]:
    path = save_checkpoint(tmp_path / "src.safetensors", _model(codec), codec, {})
    tensors, doc = read_checkpoint(path)
    return dict(tensors), doc


def test_tensors_not_matching_config_name_the_tensor(tmp_path: Path, codec: Codec) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    doc["model"]["hidden_size"] = 64  # the tensors are hidden 32
    path = _craft(tmp_path / "wide.safetensors", tensors, doc)
    with pytest.raises(CheckpointError, match=r"tensor (lstm|head)\.\S+ has shape") as exc:
        load_checkpoint(path)
    m = re.search(r"tensor (\S+) has shape (\(.*?\)), config says (\(.*?\))", str(exc.value))
    assert m is not None
    name, got, want = m.groups()
    assert name in tensors and got == str(tuple(tensors[name].shape)) and got != want


def test_missing_and_unexpected_tensors(tmp_path: Path, codec: Codec) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    tensors.pop("head.bias")
    tensors["mystery"] = torch.zeros(1)
    path = _craft(tmp_path / "odd.safetensors", tensors, doc)
    with pytest.raises(CheckpointError, match="head.bias") as exc:
        load_checkpoint(path)
    assert "mystery" in str(exc.value)


def test_bad_model_config_and_vocab_mismatch(tmp_path: Path, codec: Codec) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    bad = dict(doc, model=dict(doc["model"], dropout=3.0))
    with pytest.raises(CheckpointError, match="bad model config"):
        load_checkpoint(_craft(tmp_path / "a.safetensors", tensors, bad))
    unknown = dict(doc, model=dict(doc["model"], flux_capacitor=1))
    with pytest.raises(CheckpointError, match="bad model config"):
        load_checkpoint(_craft(tmp_path / "b.safetensors", tensors, unknown))
    other = dict(doc, model=dict(doc["model"], vocab_size=doc["model"]["vocab_size"] + 1))
    with pytest.raises(CheckpointError, match="tokenizer has"):
        load_checkpoint(_craft(tmp_path / "c.safetensors", tensors, other))
    tampered = dict(doc, tokenizer=dict(doc["tokenizer"], hash="0" * 16))
    with pytest.raises(CheckpointError, match="hash"):
        load_checkpoint(_craft(tmp_path / "d.safetensors", tensors, tampered))


def test_check_codec_matches_names_the_difference(codec: Codec) -> None:
    check_codec_matches(codec, Codec(TokenizerSpec(), styles=["tiny"]))  # equal: no error
    velo = Codec(TokenizerSpec(use_velocities=True), styles=["tiny"])
    with pytest.raises(CheckpointError, match="use_velocities"):
        check_codec_matches(codec, velo)
    styles = Codec(TokenizerSpec(), styles=["folk"])
    with pytest.raises(CheckpointError, match="styles") as exc:
        check_codec_matches(codec, styles, "baseline corpus")
    assert "baseline corpus" in str(exc.value)


def test_resolve_names(tmp_path: Path, codec: Codec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(tmp_path / "models"))
    save_checkpoint(tmp_path / "models" / "mine" / "model.safetensors", _model(codec), codec, {})
    assert resolve("mine") == tmp_path / "models" / "mine" / "model.safetensors"
    with pytest.raises(CheckpointError, match="no model named 'nope'") as exc:
        resolve("nope")
    assert "mine" in str(exc.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resolve(tmp_path / "absent" / "x.safetensors")


def test_an_output_folder_does_not_hide_a_model_of_the_same_name(
    tmp_path: Path, codec: Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``composer generate -o tunes/`` then ``-m tunes`` in the same folder still finds the model."""
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(tmp_path / "models"))
    save_checkpoint(tmp_path / "models" / "tunes" / "model.safetensors", _model(codec), codec, {})
    work = tmp_path / "work"
    (work / "tunes").mkdir(parents=True)
    (work / "empty").mkdir()
    monkeypatch.chdir(work)
    assert resolve("tunes") == tmp_path / "models" / "tunes" / "model.safetensors"
    with pytest.raises(CheckpointError, match="the folder empty/ has no model.safetensors"):
        resolve("empty")
    save_checkpoint(work / "tunes" / "model.safetensors", _model(codec), codec, {})
    assert resolve("tunes") == Path("tunes") / "model.safetensors"  # a real local run folder wins


def _tmp_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("where", ["replace", "fsync", "write"])
@pytest.mark.parametrize("exc_type", [OSError, KeyboardInterrupt])
def test_atomic_write_crash_keeps_old_checkpoint(
    tmp_path: Path, codec: Codec, monkeypatch: pytest.MonkeyPatch, where: str, exc_type: type
) -> None:
    old_model = _model(codec)
    path = save_checkpoint(tmp_path / "model.safetensors", old_model, codec, {"gen": 1})
    old_bytes = path.read_bytes()
    new_model = _model(codec)
    with torch.no_grad():
        for p in new_model.parameters():
            p.add_(1.0)

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise exc_type(28, "No space left on device") if exc_type is OSError else exc_type()

    if where == "replace":
        monkeypatch.setattr(os, "replace", boom)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    else:  # the write itself fails half-way: only part of the bytes reach the temp file
        real_fdopen = os.fdopen

        class Torn:
            def __init__(self, fh):  # type: ignore[no-untyped-def]
                self.fh = fh

            def __enter__(self):  # type: ignore[no-untyped-def]
                return self

            def __exit__(self, *a):  # type: ignore[no-untyped-def]
                self.fh.close()

            def write(self, data):  # type: ignore[no-untyped-def]
                self.fh.write(data[: len(data) // 2])
                boom()

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: Torn(real_fdopen(fd, mode)))
    expected = ComposerError if exc_type is OSError else exc_type
    with pytest.raises(expected):
        save_checkpoint(path, new_model, codec, {"gen": 2})
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    ck = load_checkpoint(path)
    assert ck.meta["gen"] == 1 and torch.equal(_logits(ck.model), _logits(old_model))
    assert _tmp_leftovers(tmp_path) == []


def test_overwrite_replaces_atomically(tmp_path: Path, codec: Codec) -> None:
    path = save_checkpoint(tmp_path / "model.safetensors", _model(codec), codec, {"gen": 1})
    save_checkpoint(path, _model(codec, hidden_size=16), codec, {"gen": 2})
    ck = load_checkpoint(path)
    assert ck.meta["gen"] == 2 and ck.model.config.hidden_size == 16
    assert _tmp_leftovers(tmp_path) == []


# ---- issue 14: metadata, types, sizes and weights from an untrusted file ------------------------
def _deep(n: int) -> str:
    return "[" * n + "]" * n


BAD_FIELDS = [
    ({"default_program": 200}, "default_program"),
    ({"default_program": -1}, "default_program"),
    ({"default_program": "piano"}, "default_program"),
    ({"default_tempo": -50}, "default_tempo"),
    ({"default_tempo": 1e12}, "default_tempo"),
    ({"default_tempo": 0}, "default_tempo"),
    ({"default_tempo": "fast"}, "default_tempo"),
    ({"name": ["x"]}, "name"),
    ({"model": {"embed_dim": 128.5}}, "embed_dim"),
    ({"model": {"hidden_size": 10**7}}, "hidden_size"),
    ({"model": {"hidden_size": 20_000, "num_layers": 4}}, "parameters"),
    ({"model": {"num_layers": True}}, "num_layers"),
    ({"model": {"dropout": "0.1"}}, "dropout"),
    ({"model": {"tie_weights": "yes"}}, "tie_weights"),
    ({"model": "small"}, "model"),
    ({"tokenizer": {"spec": {"beat_res": [8, 4]}}}, "beat_res"),
    ({"tokenizer": {"spec": {"beat_res": {"0_4": 1000000}}}}, "beat_res"),
    ({"tokenizer": {"spec": {"beat_res": {"4_0": 8}}}}, "beat_res"),
    ({"tokenizer": {"spec": {"beat_res": {"0_4": 8.5}}}}, "beat_res"),
    ({"tokenizer": {"spec": {"pitch_range": [21.5, 108]}}}, "pitch_range"),
    ({"tokenizer": {"spec": {"num_velocities": 10**9}}}, "num_velocities"),
    ({"tokenizer": {"spec": {"use_tempos": "no"}}}, "use_tempos"),
    ({"tokenizer": "REMI"}, "tokenizer"),
]


def _merge(doc: dict, change: dict) -> dict:
    out = dict(doc)
    for k, v in change.items():
        if k == "tokenizer" and isinstance(v, dict):
            out[k] = dict(doc[k], spec=dict(doc[k]["spec"], **v["spec"]))
        elif k == "model" and isinstance(v, dict):
            out[k] = dict(doc[k], **v)
        else:
            out[k] = v
    return out


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS, ids=[str(c) for c, _ in BAD_FIELDS])
def test_bad_metadata_field_is_named(tmp_path: Path, codec: Codec, change: dict, field: str) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    path = _craft(tmp_path / "bad.safetensors", tensors, _merge(doc, change))
    with pytest.raises(CheckpointError, match=field) as exc:
        load_checkpoint(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, codec: Codec, value: float) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    tensors["lstm.weight_hh_l0"] = tensors["lstm.weight_hh_l0"].clone()
    tensors["lstm.weight_hh_l0"][3, 1] = value
    with pytest.raises(CheckpointError, match=r"lstm\.weight_hh_l0 holds NaN or infinite"):
        load_checkpoint(_craft(tmp_path / "nan.safetensors", tensors, doc))


def test_deeply_nested_json_is_refused(tmp_path: Path, codec: Codec) -> None:
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    nested = json.dumps(doc)[:-1] + ', "deep": ' + _deep(100_000) + "}"
    with pytest.raises(CheckpointError, match="nested too deeply"):
        load_checkpoint(_craft(tmp_path / "deep.safetensors", tensors, nested))
    with pytest.raises(CheckpointError, match="safetensors"):  # in the header itself: safetensors refuses it
        load_checkpoint(_deep_header(tmp_path / "deephdr.safetensors"))


def _deep_header(path: Path) -> Path:
    blob = ('{"__metadata__": {"composer": "{}"}, "x": ' + _deep(100_000) + "}").encode()
    blob += b" " * (-len(blob) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    return path


def test_one_bad_user_model_does_not_break_the_list(tmp_path: Path, codec: Codec,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.checkpoint import list_models

    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(tmp_path / "models"))
    tensors, doc = _doc_and_tensors(tmp_path, codec)
    from composer.paths import user_models_dir

    for name, raw in (("deep", json.dumps(doc)[:-1] + ', "deep": ' + _deep(100_000) + "}"),
                      ("good", json.dumps(doc))):
        (user_models_dir() / name).mkdir(parents=True)
        _craft(user_models_dir() / name / "model.safetensors", tensors, raw)
    rows = {m["name"]: m for m in list_models() if m["origin"] == "user"}
    assert "nested too deeply" in rows["deep"]["error"] and "error" not in rows["good"]
