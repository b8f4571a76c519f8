"""Built-in models, registered through the same hook as third-party ones."""

from __future__ import annotations

from gentool.hookspecs import hookimpl
from gentool.models.base import ModelPlugin
from gentool.models.dcgan import Dcgan
from gentool.models.srunet import SrUnet


@hookimpl
def gentool_register_models() -> list[type[ModelPlugin]]:
    return [Dcgan, SrUnet]
