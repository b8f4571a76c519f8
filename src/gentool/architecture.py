"""A model's networks as layer tables: what ``gentool plugins MODEL --arch`` prints.

One table per top-level network of a model (its direct sub-modules: a GAN's ``generator``
and ``discriminator``, a VAE's ``encoder`` and ``decoder``, CycleGAN's two generators and
two discriminators), one row per layer as an assignment's table writes it: a convolution,
linear, pooling or resampling layer with its output shape, kernel, stride and padding; the
normalisation (spectral norm on its weight, BatchNorm, ...) and the activation that follow
it folded into its row; and its parameter count.

Output shapes come from forward hooks while the model runs its own main pass
(:meth:`gentool.models.base.ModelPlugin.main_pass`) on a dummy batch of images of the
configured size, in eval mode without gradients. A network that pass does not reach is fed
what a network of the same class was fed (CycleGAN's second generator), else one image
batch per input of its ``forward`` (every gentool network takes images ``(B, C, H, W)``).
The model is built and run on the meta device first, so nothing is computed or allocated;
a model whose pass does not run there is built and run on the CPU. A network that cannot be
fed at all still gets its rows, without output shapes, and a one-line note saying why.

Nothing here knows a model family: it asks the model object what it holds and what it runs.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

#: Batch size of the dummy input (2: code that squeezes a batch of one is not misled).
BATCH = 2
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass
class LayerRow:
    """One row of a network's table: a layer, with the norm and activation after it."""

    #: Where the layer is in the network (``net.0``, ``down.1.0``).
    name: str
    #: Its class name, with what matters for resampling layers (``Upsample x2 nearest``).
    type: str
    #: Output shape of one item (the batch dimension left out); None when it did not run.
    output: tuple[int, ...] | None = None
    kernel: str = ""
    stride: str = ""
    padding: str = ""
    #: Spectral (or weight) norm on the layer's weight, then the norm layer after it.
    norm: str = ""
    #: The activation after it (and a dropout, if any).
    activation: str = ""
    parameters: int = 0
    #: Every module folded into this row, in order.
    modules: list[str] = field(default_factory=list)


@dataclass
class NetworkTable:
    """The layer table of one top-level network of a model."""

    name: str
    cls: str
    #: ``sum(p.numel() for p in network.parameters())``; the rows add up to it.
    parameters: int
    rows: list[LayerRow]
    #: ``(argument name, shape of one item)`` of what the network was fed.
    inputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    outputs: list[tuple[int, ...]] = field(default_factory=list)
    #: Why there are no output shapes (None: the network ran).
    note: str | None = None

    @property
    def ran(self) -> bool:
        return self.note is None


@dataclass
class Architecture:
    """Every network of a model, and the parameters that belong to none of them."""

    networks: list[NetworkTable]
    #: Parameters held by the model itself, by name (e.g. a VAE's learned sigma).
    loose: dict[str, int] = field(default_factory=dict)
    #: Where the dummy pass ran: ``meta`` (nothing computed) or ``cpu``.
    device: str = "meta"

    @property
    def complete(self) -> bool:
        return all(network.ran for network in self.networks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every network with its rows (shapes per item, batch left out)."""
        return {
            "networks": [
                {
                    "name": n.name,
                    "class": n.cls,
                    "parameters": n.parameters,
                    "inputs": [{"name": a, "shape": list(s)} for a, s in n.inputs],
                    "outputs": [list(s) for s in n.outputs],
                    "note": n.note,
                    "layers": [
                        {
                            "name": r.name,
                            "type": r.type,
                            "output_shape": None if r.output is None else list(r.output),
                            "kernel": r.kernel,
                            "stride": r.stride,
                            "padding": r.padding,
                            "norm": r.norm,
                            "activation": r.activation,
                            "parameters": r.parameters,
                            "modules": r.modules,
                        }
                        for r in n.rows
                    ],
                }
                for n in self.networks
            ],
            "other_parameters": self.loose,
        }


# --- building and feeding the model ----------------------------------------------------------


def describe_model(
    build: Callable[[], nn.Module], *, image_size: int, channels: int
) -> Architecture:
    """The layer tables of the model ``build()`` makes, fed images of ``image_size`` pixels
    with ``channels``: built and run on the meta device, or on the CPU when that leaves a
    network unfed. ``build`` makes a fresh model at each call."""
    shape = (BATCH, channels, image_size, image_size)
    meta: Architecture | None = None
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build()
    except Exception:  # a model that cannot be built on meta is built on the CPU below
        pass
    else:
        meta = describe(model, torch.zeros(shape, device="meta"))
        if meta.complete:
            return meta
    try:
        model = build()
    except Exception:
        if meta is None:
            raise
        return meta  # what the meta pass found is all there is
    cpu = describe(model, torch.zeros(shape))
    if meta is not None and _fed(meta) > _fed(cpu):
        return meta
    return cpu


def _fed(architecture: Architecture) -> int:
    return sum(network.ran for network in architecture.networks)


def describe(model: nn.Module, images: torch.Tensor) -> Architecture:
    """Run ``model``'s main pass on ``images``, feed the networks it left out, and
    tabulate each top-level network. Changes nothing in ``model`` but its train/eval mode
    (and no random state: the pass draws from a forked generator)."""
    networks = top_level_networks(model)
    recorder = _Recorder(networks)
    errors: dict[str, str] = {}
    model.eval()
    with recorder, torch.no_grad(), torch.random.fork_rng(devices=[]):
        main_pass = getattr(model, "main_pass", None)
        main_error = "the model's main pass does not run it"
        if callable(main_pass):
            try:
                main_pass(images)
            except Exception as exc:  # its networks are fed one by one below
                main_error = _one_line(exc)
        for name, network in networks:
            if recorder.done(name):
                continue
            recorder.reset(name)
            errors[name] = main_error
            for args, kwargs in _candidate_inputs(name, network, networks, recorder, images):
                try:
                    network(*args, **kwargs)
                except Exception as exc:
                    errors[name] = _one_line(exc)
                if recorder.done(name):
                    break
                recorder.reset(name)
    batch = images.shape[0]
    tables = [
        _table(name, network, recorder, batch, None if recorder.done(name) else errors[name])
        for name, network in networks
    ]
    inside = {id(p) for _, network in networks for p in network.parameters()}
    loose = {n: p.numel() for n, p in model.named_parameters() if id(p) not in inside}
    return Architecture(tables, loose, device=images.device.type)


def top_level_networks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's direct sub-modules (or the model itself when it has none)."""
    children = list(model.named_children())
    return children or [(type(model).__name__, model)]


def _candidate_inputs(
    name: str,
    network: nn.Module,
    networks: list[tuple[str, nn.Module]],
    recorder: _Recorder,
    images: torch.Tensor,
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """What to try feeding a network the main pass did not run: what a network of the same
    class was fed, then one image batch per required input of its ``forward``."""
    for other, sibling in networks:
        if other != name and type(sibling) is type(network) and recorder.done(other):
            yield recorder.inputs[other]
    wanted = _required_inputs(network)
    if wanted:
        yield tuple(images for _ in range(wanted)), {}


def _forward_parameters(network: nn.Module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(network.forward).parameters.values())
    except (TypeError, ValueError):
        return []


def _required_inputs(network: nn.Module) -> int:
    """How many positional arguments ``network.forward`` needs (1 for ``*args``)."""
    parameters = _forward_parameters(network)
    needed = sum(p.kind in _POSITIONAL and p.default is p.empty for p in parameters)
    if needed == 0 and (
        not parameters or any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    ):
        return 1
    return needed


class _Recorder:
    """Forward hooks on every module of every network: each module's first output shapes,
    in the order they ran, the tensors it took and gave (to see which layer feeds which),
    and what each network was first fed and gave back."""

    def __init__(self, networks: list[tuple[str, nn.Module]]) -> None:
        self.networks = dict(networks)
        self.shapes: dict[int, list[tuple[int, ...]]] = {}
        self.order: dict[int, int] = {}
        # The tensors themselves are kept while the recorder lives, so identities stay valid.
        self.took: dict[int, list[torch.Tensor]] = {}
        self.gave: dict[int, list[torch.Tensor]] = {}
        self.inputs: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.outputs: dict[str, list[tuple[int, ...]]] = {}
        self._handles: list[Any] = []
        self._count = 0

    def __enter__(self) -> _Recorder:
        for name, network in self.networks.items():
            self._handles += [
                network.register_forward_pre_hook(self._fed(name), with_kwargs=True),
                network.register_forward_hook(self._finished(name)),
            ]
            self._handles += [m.register_forward_hook(self._ran) for _, m in _modules(network)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def done(self, name: str) -> bool:
        return name in self.outputs

    def reset(self, name: str) -> None:
        """Forget what a network recorded (a pass that failed halfway)."""
        for _, module in _modules(self.networks[name]):
            for record in (self.shapes, self.order, self.took, self.gave):
                record.pop(id(module), None)
        self.inputs.pop(name, None)
        self.outputs.pop(name, None)

    def _fed(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            self.inputs.setdefault(name, (args, kwargs))

        return hook

    def _finished(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self.outputs.setdefault(name, _shapes(output))

        return hook

    def feeds(self, first: nn.Module, second: nn.Module) -> bool:
        """Whether ``second`` took what ``first`` gave (True when either did not run)."""
        if id(first) not in self.gave or id(second) not in self.took:
            return True
        return any(a is b for a in self.gave[id(first)] for b in self.took[id(second)])

    def _ran(self, module: nn.Module, args: Any, output: Any) -> None:
        if id(module) not in self.shapes:
            self.shapes[id(module)] = _shapes(output)
            self.took[id(module)] = _tensors(args)
            self.gave[id(module)] = _tensors(output)
            self.order[id(module)] = self._count
            self._count += 1


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in an input or output: a tensor, or a tuple, list or dict of them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in _tensors(item)]
    return []


def _shapes(value: Any) -> list[tuple[int, ...]]:
    return [tuple(tensor.shape) for tensor in _tensors(value)]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


# --- the rows -------------------------------------------------------------------------------


def _modules(network: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every module of ``network`` but the machinery of parametrizations (spectral norm)."""
    for path, module in network.named_modules():
        if "parametrizations" not in path.split("."):
            yield path, module


def _is_leaf(module: nn.Module) -> bool:
    return all(name == "parametrizations" for name, _ in module.named_children())


def _table(
    name: str, network: nn.Module, recorder: _Recorder, batch: int, note: str | None
) -> NetworkTable:
    registered = [(path, m) for path, m in _modules(network) if path and _is_leaf(m)]
    if not registered:  # a network that is a single layer
        registered = [(name, network)]
    # The layers in the order they ran; those that did not run after them, as registered.
    ran = len(recorder.order)
    leaves = [
        item
        for _, item in sorted(
            enumerate(registered),
            key=lambda pair: recorder.order.get(id(pair[1][1]), ran + pair[0]),
        )
    ]
    seen: set[int] = set()
    rows = _fold(leaves, recorder, batch, seen)
    owners: dict[str, int] = {}
    for path, parameter in network.named_parameters():
        if id(parameter) not in seen:
            seen.add(id(parameter))
            owner = path.rpartition(".")[0] or "(own)"
            owners[owner] = owners.get(owner, 0) + parameter.numel()
    rows += [LayerRow(owner, "parameters", parameters=n) for owner, n in owners.items()]
    inputs: list[tuple[str, tuple[int, ...]]] = []
    if name in recorder.inputs:
        args, kwargs = recorder.inputs[name]
        names = [p.name for p in _forward_parameters(network) if p.kind in _POSITIONAL]
        named = [(names[i] if i < len(names) else f"input{i}", a) for i, a in enumerate(args)]
        inputs = [
            (arg, _per_item(tuple(value.shape), batch))
            for arg, value in [*named, *kwargs.items()]
            if isinstance(value, torch.Tensor)
        ]
    return NetworkTable(
        name=name,
        cls=class_name(network),
        parameters=sum(p.numel() for p in network.parameters()),
        rows=rows,
        inputs=inputs,
        outputs=[_per_item(s, batch) for s in recorder.outputs.get(name, [])],
        note=None if note is None else f"no output shapes: it could not be fed ({note})",
    )


def _per_item(shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
    return shape[1:] if shape and shape[0] == batch else shape


def _fold(
    leaves: list[tuple[str, nn.Module]], recorder: _Recorder, batch: int, seen: set[int]
) -> list[LayerRow]:
    """One row per layer: a norm layer, an activation or a dropout that takes the output of
    the row's last module joins its row (a norm only before the activation); a padding
    layer joins the convolution it feeds; identities are left out. ``seen`` collects the
    parameters counted."""
    rows: list[LayerRow] = []
    current: LayerRow | None = None
    last: nn.Module | None = None  # the last module of the current row
    normed = False  # the current row has its norm layer (or is one)
    pending: tuple[str, nn.Module] | None = None  # a padding layer waiting for its conv
    kept = [(path, m, _kind(m)) for path, m in leaves if _kind(m) != "skip"]
    for index, (path, module, kind) in enumerate(kept):
        following = kept[index + 1][1] if index + 1 < len(kept) else None
        if (
            kind == "pad"
            and following is not None
            and _unpadded_conv(following)
            and recorder.feeds(module, following)
        ):
            pending = (path, module)
            continue
        joins = (
            current is not None
            and last is not None
            and recorder.feeds(last, module)
            and (
                (kind == "norm" and not normed and not current.activation)
                or (kind == "activation" and not current.activation)
                or kind == "dropout"
            )
        )
        if joins and current is not None:
            label = _label(module)
            if kind == "norm":
                current.norm = f"{current.norm}, {label}" if current.norm else label
                normed = True
            else:
                current.activation = (
                    f"{current.activation}, {label}" if current.activation else label
                )
        else:
            current = _row(path, module, kind)
            normed = kind == "norm"
            if pending is not None:
                current.padding = _padding_layer(pending[1])
                current.modules.append(pending[0])
                current.parameters += _count(pending[1], seen)
                pending = None
            if recorder.shapes.get(id(module)):
                current.output = _per_item(recorder.shapes[id(module)][0], batch)
            rows.append(current)
        current.modules.append(path)
        current.parameters += _count(module, seen)
        last = module
    return rows


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Identity):
        return "skip"
    norms: tuple[type, ...] = (
        nn.modules.batchnorm._NormBase,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
    )
    if isinstance(module, (*norms, *([nn.RMSNorm] if hasattr(nn, "RMSNorm") else []))):
        return "norm"
    home = type(module).__module__
    if home == "torch.nn.modules.activation":
        return "activation"
    if home == "torch.nn.modules.dropout":
        return "dropout"
    if home == "torch.nn.modules.padding":
        return "pad"
    return "layer"


def _count(module: nn.Module, seen: set[int]) -> int:
    """Parameters of ``module`` not counted yet (shared weights count once)."""
    total = 0
    for parameter in module.parameters():
        if id(parameter) not in seen:
            seen.add(id(parameter))
            total += parameter.numel()
    return total


def _size(value: Any) -> str:
    """``4`` or ``(4, 4)`` -> ``4``; ``(3, 1)`` -> ``3x1``."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) == 1:
            return str(value[0])
        return "x".join(str(v) for v in value)
    return str(value)


def _label(module: nn.Module) -> str:
    """How a norm, activation or dropout reads in its column."""
    name = class_name(module)
    if isinstance(module, nn.GroupNorm):
        return f"{name}({module.num_groups})"
    for attribute in ("negative_slope", "alpha", "p"):  # LeakyReLU, ELU, Dropout
        value = getattr(module, attribute, None)
        if isinstance(value, float):
            return f"{name}({value:g})"
    return name


def _weight_norms(module: nn.Module) -> list[str]:
    """Spectral or weight normalisation on a layer's weight (parametrization or hook)."""
    found: list[str] = []
    parametrizations = getattr(module, "parametrizations", None)
    if isinstance(parametrizations, nn.ModuleDict):
        for tensor_name, chain in parametrizations.items():
            assert isinstance(chain, nn.ModuleList)
            for parametrization in chain:
                kind = type(parametrization).__name__.strip("_")
                kind = {"SpectralNorm": "spectral", "WeightNorm": "weight norm"}.get(kind, kind)
                found.append(kind if tensor_name == "weight" else f"{kind} ({tensor_name})")
    for hook in module._forward_pre_hooks.values():
        kind = type(hook).__name__
        if kind in ("SpectralNorm", "WeightNorm"):
            found.append({"SpectralNorm": "spectral"}.get(kind, "weight norm"))
    return found


def class_name(module: nn.Module) -> str:
    """The module's class name (a parametrized ``Conv2d`` is still ``Conv2d``)."""
    name = type(module).__name__
    if parametrize.is_parametrized(module):
        return name.removeprefix("Parametrized")
    return name


def _row(path: str, module: nn.Module, kind: str) -> LayerRow:
    """A new row for ``module``: its type, kernel, stride and padding."""
    name = class_name(module)
    row = LayerRow(path, name)
    if kind == "norm":
        row.type = _label(module)
    elif kind in ("activation", "dropout"):
        row.activation = _label(module)
    elif kind == "pad":
        row.padding = _padding_layer(module)
    elif isinstance(module, nn.modules.conv._ConvNd):
        groups = int(module.groups)
        row.type = name if groups == 1 else f"{name} g{groups}"
        dilation = _size(module.dilation)
        row.kernel = _size(module.kernel_size) + ("" if dilation == "1" else f" d{dilation}")
        row.stride = _size(module.stride)
        padding = module.padding if isinstance(module.padding, str) else _size(module.padding)
        if module.padding_mode != "zeros":
            padding = f"{padding} {module.padding_mode}"
        extra = _size(getattr(module, "output_padding", 0))
        row.padding = padding if extra == "0" else f"{padding} +{extra}"
    elif isinstance(module, nn.Upsample):
        factor = module.scale_factor
        if factor is None:
            amount = f"to {_size(module.size)}"
        else:
            amount = "x" + _size(tuple(f"{float(f):g}" for f in _as_tuple(factor)))
        row.type = f"{name} {amount} {module.mode}"
    elif isinstance(module, nn.PixelShuffle):
        row.type = f"{name} x{module.upscale_factor}"
    elif isinstance(module, nn.PixelUnshuffle):
        row.type = f"{name} /{module.downscale_factor}"
    elif hasattr(module, "output_size") and type(module).__module__.endswith("pooling"):
        row.type = f"{name} to {_size(module.output_size)}"
    elif hasattr(module, "kernel_size") and type(module).__module__.endswith("pooling"):
        kernel = module.kernel_size
        stride = getattr(module, "stride", None)
        row.kernel = _size(kernel)
        row.stride = _size(stride if stride not in (None, (), []) else kernel)
        row.padding = _size(getattr(module, "padding", 0))
    row.norm = ", ".join(_weight_norms(module))
    return row


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _unpadded_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd) and (
        not isinstance(module.padding, str) and not any(module.padding)
    )


def _padding_layer(module: nn.Module) -> str:
    """``ReflectionPad2d(3)`` -> ``3 reflect``; ``ZeroPad2d(1)`` -> ``1``."""
    mode = type(module).__name__.split("Pad")[0].lower()
    modes = {"reflection": "reflect", "replication": "replicate", "zero": "", "constant": ""}
    return f"{_size(getattr(module, 'padding', '?'))} {modes.get(mode, mode)}".strip()


# --- printing --------------------------------------------------------------------------------


def shape_text(shape: tuple[int, ...] | None) -> str:
    """``(512, 4, 4)`` -> ``512×4×4``; a scalar per item -> ``1``; not run -> ``-``."""
    if shape is None:
        return "-"
    return "×".join(str(d) for d in shape) or "1"


def rich_tables(architecture: Architecture) -> list[Any]:
    """One :class:`rich.table.Table` per network, titled with its class and parameter
    count, its inputs first and its output last (when the last layer's differs); ``k``,
    ``s``, ``p``: kernel, stride, padding. Readable at 100 columns."""
    from rich import box
    from rich.table import Table

    tables: list[Any] = []
    for network in architecture.networks:
        table = Table(
            title=f"{network.name} ({network.cls}): {network.parameters:,} parameters",
            caption=network.note,
            box=box.SIMPLE_HEAD,
            title_justify="left",
            caption_justify="left",
            pad_edge=False,
            collapse_padding=True,
        )
        for header, justify in (
            ("layer", "left"),
            ("type", "left"),
            ("output", "left"),
            ("k", "right"),
            ("s", "right"),
            ("p", "right"),
            ("norm", "left"),
            ("activation", "left"),
            ("params", "right"),
        ):
            wrap = header not in ("layer", "type", "output")
            table.add_column(header, justify=justify, no_wrap=not wrap, overflow="fold")  # type: ignore[arg-type]
        for arg, shape in network.inputs:
            table.add_row("input", arg, shape_text(shape), *[""] * 6, style="dim")
        for row in network.rows:
            table.add_row(
                row.name,
                row.type,
                shape_text(row.output) if network.ran else "",
                row.kernel,
                row.stride,
                row.padding,
                row.norm,
                row.activation,
                f"{row.parameters:,}" if row.parameters else "",
            )
        last = next((r.output for r in reversed(network.rows) if r.output is not None), None)
        for shape in network.outputs:
            if len(network.outputs) > 1 or shape != last:
                table.add_row("output", "", shape_text(shape), *[""] * 6, style="dim")
        tables.append(table)
    return tables
