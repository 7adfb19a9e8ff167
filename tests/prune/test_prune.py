"""Structured pruning: importance finds useless groups, shapes follow the ratio, the result loads and round-trips."""

from __future__ import annotations

import json

import pytest
import torch

import zhclip
from tests.conftest import run_cli
from zhclip.models import read_weights, save_cnclip
from zhclip.models.flops import count_flops
from zhclip.prune.network import importance, kept_count, prune_network
from zhclip.runtime.calibration import synthetic_batch


@pytest.fixture(scope="module")
def calibration():
    return synthetic_batch(8, 64, seed=0)


def test_importance_finds_a_head_that_does_nothing(tiny_network, calibration):
    network = zhclip.models.random_model("tiny", seed=1234)
    width = network.config.vision.head_width
    with torch.no_grad():
        network.visual.transformer.resblocks[0].attn.out_proj.weight[:, width : 2 * width] = 0  # head 1 of layer 0
        network.bert.encoder.layer[1].output.dense.weight[:, 5] = 0  # MLP neuron 5 of text layer 1
    scores = importance(network, calibration)
    assert scores[("vision", 0, "heads")].argmin() == 1
    assert scores[("text", 1, "mlp")][5] == 0
    pruned = prune_network(network, calibration, 0.5)
    kept_fc = pruned.bert.encoder.layer[1].intermediate.dense.weight
    original_fc = network.bert.encoder.layer[1].intermediate.dense.weight
    assert not any(torch.equal(row, original_fc[5]) for row in kept_fc)


def test_shapes_follow_the_ratio(tiny_network, calibration):
    pruned = prune_network(tiny_network, calibration, 0.5)
    v, t = pruned.config.vision, pruned.config.text
    assert v.layer_heads == [1, 1] and v.layer_mlp_dims == [128, 128]  # tiny: 2 heads, MLP 256
    assert t.layer_heads == [1, 1] and t.layer_mlp_dims == [64, 64]  # tiny: 2 heads, MLP 128
    block = pruned.visual.transformer.resblocks[0]
    assert block.attn.in_proj_weight.shape == (3 * 32, 64) and block.attn.out_proj.weight.shape == (64, 32)
    assert pruned.bert.encoder.layer[0].attention.self.query.weight.shape == (32, 64)
    flops_before, flops_after = count_flops(tiny_network.config), count_flops(pruned.config)
    assert flops_after["image"] < 0.75 * flops_before["image"] and flops_after["text"] < 0.75 * flops_before["text"]


def test_kept_counts():
    assert kept_count(12, 0.3, "heads") == 8 and kept_count(3072, 0.3, "mlp") == 2152
    assert kept_count(2, 0.9, "heads") == 1 and kept_count(16, 0.99, "mlp") == 8


def test_saved_pruned_model_loads_and_round_trips(tmp_path, tiny_network, calibration):
    pruned = prune_network(tiny_network, calibration, 0.5).eval()
    path = save_cnclip(pruned.state_dict(), pruned.config, tmp_path / "pruned.pt")
    model = zhclip.load(path, device="cpu")
    assert model.config.vision.layer_heads == [1, 1]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(pruned.encode_image(calibration.pixels), dim=-1)
    assert torch.allclose(torch.from_numpy(model.encode_pixels(calibration.pixels)), expected, atol=1e-5)
    again = save_cnclip(model.network.state_dict(), model.config, tmp_path / "again.pt")
    first, second = read_weights(path), read_weights(again)
    assert first.config == second.config
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)


def test_cli_prune_writes_model_and_report(tmp_path, tiny_checkpoints):
    out = tmp_path / "pruned"
    result = run_cli("compress", "prune", tiny_checkpoints["hf"], "--ratio", "0.5", "--out", out, "--calibration", "4")
    assert result.returncode == 0, result.stderr
    assert "parameters" in result.stdout and "image_flops" in result.stdout
    report = json.loads((out / "prune.json").read_text())
    assert report["after"]["parameters"] < report["before"]["parameters"]
    assert report["reduction"]["image_flops"] > 0.25
    assert zhclip.load(out / "model.pt", device="cpu").config.text.layer_mlp_dims == [64, 64]


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--ratio", "1.5"], "--ratio"), (["--recover"], "--data")],
)
def test_prune_mistakes_name_the_flag(tmp_path, tiny_checkpoints, flags, message):
    from zhclip.prune.model import PruneOptions, RecoverOptions, prune_model

    options = PruneOptions(ratio=1.5) if "--ratio" in flags else PruneOptions(recover=RecoverOptions())
    with pytest.raises(zhclip.InputError, match=message):
        prune_model(tiny_checkpoints["pt"], tmp_path / "out", options)
    assert not (tmp_path / "out").exists()
