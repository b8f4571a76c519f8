"""``gentool plugins MODEL --arch``: a model's networks as layer tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from gentool.architecture import describe, describe_model
from gentool.cli.main import cli
from gentool.plugins import get_model_class, get_registry

TINY_DCGAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "100"})


def arch_json(*args: str) -> dict[str, Any]:
    result = invoke("plugins", *args, "--arch", "--json")
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.output)
    return record


def network(record: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in record["networks"] if n["name"] == name)
    return found


def test_dcgan_default_table_is_the_papers() -> None:
    record = arch_json("dcgan")
    assert (record["image_size"], record["channels"]) == (64, 3)
    assert [n["name"] for n in record["networks"]] == ["generator", "discriminator"]
    generator = network(record, "generator")
    assert generator["inputs"] == [{"name": "z", "shape": [100]}]
    rows = generator["layers"]
    # 100 -> 1024 (4x4) -> 512 -> 256 -> 128 -> 3 (64x64), as in Radford et al.'s figure 1.
    assert [r["output_shape"] for r in rows] == [
        [1024, 4, 4],
        [512, 8, 8],
        [256, 16, 16],
        [128, 32, 32],
        [3, 64, 64],
    ]
    first, last = rows[0], rows[-1]
    assert (first["type"], first["kernel"], first["stride"], first["padding"]) == (
        "ConvTranspose2d",
        "4",
        "1",
        "0",
    )
    assert (first["norm"], first["activation"]) == ("BatchNorm2d", "ReLU")
    assert first["modules"] == ["net.0", "net.1", "net.2"]
    assert (last["stride"], last["norm"], last["activation"]) == ("2", "", "Tanh")
    d_rows = network(record, "discriminator")["layers"]
    assert [(r["type"], r["stride"], r["norm"], r["activation"]) for r in d_rows] == [
        ("Conv2d", "2", "", "LeakyReLU(0.2)"),  # no norm on D's first layer
        ("Conv2d", "2", "BatchNorm2d", "LeakyReLU(0.2)"),
        ("Conv2d", "2", "BatchNorm2d", "LeakyReLU(0.2)"),
        ("Conv2d", "2", "BatchNorm2d", "LeakyReLU(0.2)"),
        ("Conv2d", "1", "", ""),
    ]
    assert d_rows[-1]["output_shape"] == [1, 1, 1]
    assert network(record, "discriminator")["outputs"] == [[]]  # one score per image


def test_parameter_totals_are_each_networks_own() -> None:
    options = {"g_width": 8, "d_width": 8, "latent_dim": 16, "image_size": 32}
    record = arch_json("dcgan", *[f"--model-opt={k}={v}" for k, v in options.items()])
    model = get_model_class("dcgan")(get_model_class("dcgan").configure(options))
    for name in ("generator", "discriminator"):
        table = network(record, name)
        expected = sum(p.numel() for p in getattr(model, name).parameters())
        assert table["parameters"] == expected
        assert sum(r["parameters"] for r in table["layers"]) == expected


def _tiny_options(name: str) -> dict[str, Any]:
    cls = get_model_class(name)
    options = dict(cls.TEST_OPTIONS)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    if "num_classes" in fields:
        options["num_classes"] = 3
    if "with_discriminator" in fields:  # every network there is, to be tabulated
        options["with_discriminator"] = True
    return options


@pytest.mark.parametrize("name", get_registry().names("model"))
def test_every_model_gets_every_network_fed_and_counted(name: str) -> None:
    cls = get_model_class(name)
    config = cls.configure(_tiny_options(name))
    architecture = describe_model(
        lambda: cls(config), image_size=config.image_size, channels=config.channels
    )
    model = cls(config)
    networks = dict(model.named_children())
    assert [n.name for n in architecture.networks] == list(networks)
    for table in architecture.networks:
        assert table.ran, table.note
        assert table.rows and all(row.output is not None for row in table.rows)
        expected = sum(p.numel() for p in networks[table.name].parameters())
        assert table.parameters == expected == sum(row.parameters for row in table.rows)


def test_the_mlp_vae_table() -> None:
    record = arch_json("vae-mlp")
    encoder, decoder = network(record, "encoder"), network(record, "decoder")
    assert [(r["type"], r["output_shape"], r["activation"]) for r in encoder["layers"]] == [
        ("Flatten", [784], ""),
        ("Linear", [400], "ReLU"),
        ("Linear", [40], ""),  # the mean and log-variance of 20 latents
    ]
    assert decoder["inputs"] == [{"name": "z", "shape": [20]}]
    assert decoder["outputs"] == [[1, 28, 28]]


def test_the_unet_upscaler_and_its_conditional_patchgan() -> None:
    record = arch_json("sr-unet", "--image-size", "32")
    generator = network(record, "generator")
    assert generator["inputs"] == [{"name": "upsampled", "shape": [3, 32, 32]}]
    down = generator["layers"][0]
    assert (down["type"], down["kernel"], down["stride"], down["output_shape"]) == (
        "Conv2d",
        "4",
        "2",
        [16, 16, 16],
    )
    assert generator["layers"][-1]["output_shape"] == [3, 32, 32]
    # The main pass never runs D; it is fed the image pair its forward asks for.
    discriminator = network(record, "discriminator")
    assert discriminator["note"] is None
    assert [i["name"] for i in discriminator["inputs"]] == ["condition", "images"]


def test_cyclegan_padding_layers_join_their_convolution() -> None:
    record = arch_json("cyclegan", "--model-opt", "width=8", "--model-opt", "n_res_blocks=1")
    first = network(record, "generator_ba")["layers"][0]  # run with generator_ab's input
    assert (first["kernel"], first["padding"]) == ("7", "3 reflect")
    assert first["modules"][:2] == ["net.0", "net.1"]  # ReflectionPad2d(3), Conv2d(k=7)
    assert network(record, "discriminator_b")["note"] is None


def test_spectral_norm_shows_in_the_norm_column() -> None:
    record = arch_json("dcgan", "--model-opt", "spectral_norm=true", *TINY_DCGAN)
    rows = network(record, "discriminator")["layers"]
    assert rows[0]["type"] == "Conv2d"
    # d_norm=auto with spectral norm: no norm layer besides it (features.0, 2, 5, 8, head).
    assert [r["norm"] for r in rows] == ["spectral"] * 5


def test_the_terminal_table_fits_100_columns() -> None:
    result = invoke("plugins", "dcgan", "--arch", "--image-size", "64")
    assert result.exit_code == 0, result.output
    assert "generator (DcganGenerator): 12,658,432 parameters" in result.output
    assert "ConvTranspose2d  1024×4×4" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arch") / "dcgan"
    args = ["train", "dcgan", "--loss", "ls", "--out", str(out), "--steps", "1"]
    args += ["--batch-size", "4", "--limit", "8", "--image-size", "16", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--checkpoint-every", "1", *TINY_DCGAN])
    assert result.exit_code == 0, result.output
    return out


def test_a_checkpoint_gives_the_table_of_its_plugin_with_its_options(tiny_run: Path) -> None:
    from_run = arch_json(str(tiny_run))
    config = from_run["config"]
    from_name = arch_json(
        "dcgan", "--image-size", "16", "--channels", str(config["channels"]), *TINY_DCGAN
    )
    assert from_run["networks"] == from_name["networks"]
    assert from_run["source"] == str(tiny_run)
    assert arch_json(str(tiny_run / "ckpt.safetensors"))["networks"] == from_run["networks"]


def test_options_that_do_not_apply_are_refused_by_name(tiny_run: Path) -> None:
    cases = {
        ("plugins", "dcgn", "--arch"): "did you mean 'dcgan'",
        ("plugins", "dcgan", "--image-size", "32"): "--image-size apply only with --arch",
        ("plugins", "dcgan", "--model-opt", "g_width=8"): "--model-opt apply only with --arch",
        ("plugins", str(tiny_run), "--arch", "--model-opt", "g_width=8"): "--model-opt cannot "
        "change a checkpoint's model",
        ("plugins", str(tiny_run), "--arch", "--image-size", "32"): "--image-size cannot",
        ("plugins", str(tiny_run)): "add --arch",
        ("plugins", "bce", "--arch"): "'bce' is a loss plugin",
        ("plugins", "--arch"): "--arch needs a model name",
        ("plugins", "dcgan", "--arch", "--kind", "loss"): "drop --kind loss",
        ("plugins", "acgan", "--arch"): "set --model-opt num_classes=N",
        ("plugins", "dcgan", "--arch", "--image-size", "32", "--model-opt", "image_size=32"): (
            "give it once"
        ),
    }
    for args, expected in cases.items():
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.output)
        assert expected in lines[0], (args, lines[0])


class _NeedsAMapping(nn.Module):
    """A network only its own model knows how to call."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.body(batch.get("x"))  # type: ignore[no-any-return]


class _Opaque(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.network = _NeedsAMapping()
        self.scale = nn.Parameter(torch.ones(3))


def test_a_network_that_cannot_be_fed_gets_its_rows_and_a_note() -> None:
    architecture = describe(_Opaque(), torch.zeros(2, 3, 8, 8))
    (table,) = architecture.networks
    assert table.note is not None and table.note.startswith("no output shapes")
    assert [(r.type, r.activation, r.output) for r in table.rows] == [
        ("Linear", "ReLU", None),
        ("Linear", "", None),
    ]
    assert table.parameters == 4 * 8 + 8 + 8 * 2 + 2 == sum(r.parameters for r in table.rows)
    assert architecture.loose == {"scale": 3}


def test_the_dummy_pass_leaves_the_random_state_alone() -> None:
    cls = get_model_class("dcgan")
    model = cls(cls.configure({"g_width": 4, "d_width": 4, "latent_dim": 8, "image_size": 8}))
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    describe(model, torch.zeros(2, 3, 8, 8))
    assert torch.equal(torch.rand(2), expected)


def test_a_size_the_model_cannot_run_is_refused_by_name() -> None:
    result = invoke("plugins", "sr-unet", "--arch", "--image-size", "7")
    assert result.exit_code == 2, result.output
    assert "cannot run at 7x7" in result.output and "choose another --image-size" in result.output
