"""Built-in models, registered through the same hook as third-party ones."""

from __future__ import annotations

from gentool.hookspecs import hookimpl
from gentool.models.acgan import Acgan
from gentool.models.base import ModelPlugin
from gentool.models.cyclegan import CycleGan
from gentool.models.dcgan import Dcgan
from gentool.models.infogan import Infogan
from gentool.models.mlp_gan import MlpGan
from gentool.models.srresnet import SrResnet
from gentool.models.srunet import SrUnet
from gentool.models.vae import ConvVae
from gentool.models.vae_mlp import MlpVae


@hookimpl
def gentool_register_models() -> list[type[ModelPlugin]]:
    return [Dcgan, MlpGan, Acgan, Infogan, ConvVae, MlpVae, SrUnet, SrResnet, CycleGan]
