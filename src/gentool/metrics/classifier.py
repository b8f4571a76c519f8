"""Condition accuracy: does a conditional generator draw the class it was asked for?

A small CNN is trained with gentool itself on the real images and their labels (the training
split of the run's dataset), kept next to the run as ``RUN/classifier.safetensors`` (weights +
JSON metadata: class names, resolution, channels, data, held-out accuracy), and then asked to
recognise the requested class in generated images. The accuracy on held-out *real* images is
reported beside it: a generator cannot be judged more precisely than the judge.

The generator protocol (what a conditional model must offer): ``model.sample(n, generator=g,
labels=labels)`` with ``labels`` a ``LongTensor`` ``(n,)`` of class indices returns ``n`` images
in [-1, 1], image ``i`` drawn for class ``labels[i]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gentool.checkpoint import atomic_write_bytes
from gentool.data.base import ImageData, to_float
from gentool.errors import GentoolError
from gentool.loading import load_data
from gentool.metrics.base import EvaluationContext, Metric, data_key

CLASSIFIER_FILE = "classifier.safetensors"


@dataclass
class ClassifierConfig:
    channels: int = 1
    image_size: int = 32
    num_classes: int = 10
    width: int = 32


class LabelClassifier(nn.Module):
    """Three stride-2 conv blocks (BatchNorm, ReLU), global average pooling, a linear head."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.features = nn.Sequential(
            nn.Conv2d(config.channels, w, 3, 2, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.Conv2d(w, w * 2, 3, 2, 1),
            nn.BatchNorm2d(w * 2),
            nn.ReLU(True),
            nn.Conv2d(w * 2, w * 4, 3, 2, 1),
            nn.BatchNorm2d(w * 4),
            nn.ReLU(True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 4w)
        )
        self.head = nn.Linear(w * 4, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` of images ``(B, C, H, W)`` in [-1, 1]."""
        return self.head(self.features(images))


@dataclass
class TrainedClassifier:
    network: LabelClassifier
    class_names: list[str]
    meta: dict[str, Any]

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Class indices of images in [-1, 1] (or uint8)."""
        self.network.eval()
        device = next(self.network.parameters()).device
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            chunk = to_float(chunk) if chunk.dtype == torch.uint8 else chunk.float()
            out.append(self.network(chunk.to(device)).argmax(1).cpu())
        return torch.cat(out)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        known = labels >= 0
        if not bool(known.any()):
            return math.nan
        return float((self.predict(images[known]) == labels[known]).double().mean())


def labelled(data: ImageData) -> ImageData:
    """The images of ``data`` that have a label; an error when there are none."""
    if data.labels is None or data.num_classes < 2:
        raise GentoolError(
            f"dataset '{data.name}' has no class labels to train the condition classifier on; "
            "pass --labels CSV --label-column NAME."
        )
    index = (data.labels >= 0).nonzero().flatten()
    if len(index) < data.num_classes:
        raise GentoolError(f"dataset '{data.name}' has only {len(index)} labelled images.")
    return data.subset(index)


def train_classifier(
    train: ImageData,
    *,
    steps: int = 600,
    batch_size: int = 64,
    lr: float = 2e-3,
    width: int = 32,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> TrainedClassifier:
    """Train a :class:`LabelClassifier` on the labelled images of ``train`` (flips, Adam)."""
    train = labelled(train)
    config = ClassifierConfig(train.channels, train.image_size, train.num_classes, width)
    torch.manual_seed(seed)
    network = LabelClassifier(config).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    labels = train.labels
    assert labels is not None
    network.train()
    for _ in range(steps):
        index = torch.randint(len(train), (min(batch_size, len(train)),), generator=generator)
        images = to_float(train.images[index]).to(device)
        loss = F.cross_entropy(network(images), labels[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    network.eval()
    meta = {"config": asdict(config), "steps": steps, "seed": seed}
    return TrainedClassifier(network, list(train.class_names), meta)


def save_classifier(classifier: TrainedClassifier, path: str | Path) -> Path:
    from safetensors.torch import save

    meta = dict(classifier.meta, class_names=classifier.class_names, format="gentool-classifier")
    tensors = {k: v.detach().cpu().contiguous() for k, v in classifier.network.state_dict().items()}
    path = Path(path)
    atomic_write_bytes(path, save(tensors, metadata={"gentool": json.dumps(meta)}))
    return path


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> TrainedClassifier:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})["gentool"])
            state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        if meta.get("format") != "gentool-classifier":
            raise ValueError("not a gentool classifier")
        network = LabelClassifier(ClassifierConfig(**meta["config"]))
        network.load_state_dict(state)
    except Exception as exc:
        raise GentoolError(
            f"{path} is not a usable condition classifier ({exc}); delete it or pass "
            "--train-classifier."
        ) from None
    network.to(device).eval()
    return TrainedClassifier(network, list(meta["class_names"]), meta)


def classifier_fits(classifier: TrainedClassifier, data_key: str, data: ImageData) -> bool:
    """Whether a saved classifier was trained on this data (same key, classes and resolution)."""
    config = classifier.meta.get("config", {})
    return (
        classifier.meta.get("data") == data_key
        and classifier.class_names == list(data.class_names)
        and config.get("image_size") == data.image_size
        and config.get("channels") == data.channels
    )


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """``n`` class indices cycling through every class (0, 1, ..., K-1, 0, 1, ...)."""
    return torch.arange(n) % num_classes


@torch.no_grad()
def condition_accuracy(
    model: Any,
    classifier: TrainedClassifier,
    n: int,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> float:
    """Fraction of ``n`` images drawn with ``model.sample(.., labels=y)`` classified as ``y``."""
    labels = balanced_labels(n, len(classifier.class_names))
    correct = 0
    for start in range(0, n, batch_size):
        asked = labels[start : start + batch_size]
        images = model.sample(len(asked), generator=generator, labels=asked)
        correct += int((classifier.predict(images.cpu()) == asked).sum())
    return correct / n


# --- the metric -------------------------------------------------------------------------------


def is_conditional(model: Any) -> bool:
    """Whether ``model`` draws images of a requested class (``config.num_classes > 0``)."""
    return int(getattr(model.config, "num_classes", 0) or 0) > 0


class LabelAccuracy(Metric):
    """``labels``: how often a conditional model's images are recognised as the class asked
    for (``label_accuracy``), beside the classifier's accuracy on the real images."""

    PLUGIN_NAME: ClassVar[str] = "labels"
    DESCRIPTION: ClassVar[str] = "classifier accuracy on the requested class (conditional)"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})
    #: ``-n`` sets how many labelled images are drawn and classified.
    DRAWS_SAMPLES: ClassVar[bool] = True
    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {"train_classifier", "classifier_steps", "classifier_width", "classifier_batch_size"}
    )
    KEYS: ClassVar[dict[str, str]] = {
        "label_accuracy": "generated images classified as the requested class",
        "label_accuracy_real": "the classifier's accuracy on real images of the split",
    }

    @classmethod
    def not_applicable(cls, ctx: EvaluationContext) -> str | None:
        data = ctx.data
        if is_conditional(ctx.model) and data.labels is not None and data.num_classes > 1:
            return None
        return "the model is not conditional or the data has no labels"

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        model, data, settings, device = ctx.model, ctx.data, ctx.settings, ctx.device
        classifier = self.classifier(ctx)
        assert data.labels is not None  # not_applicable checked it
        real_accuracy = classifier.accuracy(data.images, data.labels)

        class Labelled:  # model.sample with labels on the model's device
            @staticmethod
            def sample(n: int, *, generator: Any = None, labels: torch.Tensor) -> torch.Tensor:
                return model.sample(n, generator=generator, labels=labels.to(device))

        generator = torch.Generator().manual_seed(settings.seed + 1)
        fake_accuracy = condition_accuracy(
            Labelled(),
            classifier,
            settings.num_samples,
            generator=generator,
            batch_size=settings.batch_size,
        )
        return {"label_accuracy": fake_accuracy, "label_accuracy_real": real_accuracy}

    @staticmethod
    def classifier(ctx: EvaluationContext) -> TrainedClassifier:
        """The classifier kept in the run folder when it fits the train split of the data;
        else one trained on it now (and kept there)."""
        settings, device = ctx.settings, ctx.device
        if ctx.spec is None:
            raise GentoolError("metric 'labels' needs to know which data the images came from.")
        train_spec = dataclasses.replace(ctx.spec, split="train", limit=None)
        key = data_key(train_spec)
        path = ctx.run_dir / CLASSIFIER_FILE if ctx.run_dir is not None else None
        if path is not None and path.exists() and not settings.train_classifier:
            kept = load_classifier(path, device)
            if classifier_fits(kept, key, ctx.data):
                return kept
        ctx.say(
            f"training the condition classifier ({settings.classifier_steps} steps) on "
            f"{ctx.spec.name} train labels"
        )
        classifier = train_classifier(
            load_data(train_spec),
            steps=settings.classifier_steps,
            width=settings.classifier_width,
            batch_size=settings.classifier_batch_size,
            seed=settings.seed,
            device=device,
        )
        classifier.meta["data"] = key
        if path is not None:
            save_classifier(classifier, path)
            ctx.say(f"kept the classifier in {path}")
        return classifier
