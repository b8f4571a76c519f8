"""Built-in datasets, registered through the same hook as third-party ones."""

from __future__ import annotations

from gentool.data.base import DatasetPlugin
from gentool.data.celeba import CelebaDataset
from gentool.data.digits import DigitsDataset
from gentool.data.folder import AnimeFacesDataset, FolderDataset
from gentool.data.mnist import MnistDataset
from gentool.data.stl10 import Stl10Dataset, Stl10LabeledDataset
from gentool.data.torchvision_sets import Cifar10Dataset, FashionMnistDataset
from gentool.hookspecs import hookimpl


@hookimpl
def gentool_register_datasets() -> list[type[DatasetPlugin]]:
    return [
        DigitsDataset,
        MnistDataset,
        FashionMnistDataset,
        Cifar10Dataset,
        Stl10Dataset,
        Stl10LabeledDataset,
        CelebaDataset,
        FolderDataset,
        AnimeFacesDataset,
    ]
