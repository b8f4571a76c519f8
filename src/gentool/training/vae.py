"""The VAE training loop: one Adam optimizer over encoder and decoder, minimising
``recon + beta(step) * kl`` in the formulation the model option ``reduction`` picks (see
:mod:`gentool.losses.vae`): ``sum`` (the default) per image in nats, ``mean`` averaged over
the ``D = C * H * W`` pixel values (recon) and the ``d`` latent dimensions (kl).

The learning rate is ``--lr-g`` (the "generator" rate is the whole model's here), with
``--beta1``/``--beta2`` as Adam's betas; the CLI defaults (2e-4, 0.5) are GAN settings, and
``--lr-g 1e-3 --beta1 0.9`` is the usual VAE choice.

Logged per step, averaged over the batch. ``recon``, ``kl`` and ``loss`` follow
``reduction`` (``sum``: nats per image; ``mean``: nats per pixel value and per latent
dimension); ``elbo`` and ``bits_per_dim`` do not, so they compare across formulations:

* ``recon``: -log p(x|z) for one z drawn from q(z|x) (Bernoulli: binary cross-entropy;
  Gaussian: the Gaussian negative log-density of the [0, 1] pixels); ``mean``: divided by D;
* ``kl``: KL(q(z|x) || N(0, I)), closed form; ``mean``: divided by d;
* ``elbo``: always nats per image, -(recon_sum + kl_sum), the evidence lower bound itself
  (higher is better; a log-likelihood, so usually negative for Bernoulli);
* ``loss``: the optimised ``recon + beta * kl`` (what ``beta`` and annealing change);
* ``beta``: the KL weight at this step (beta times the annealing factor), in the chosen
  formulation;
* ``bits_per_dim``: -elbo in bits per pixel and channel (an upper bound on the NLL);
* ``mse``: squared error per pixel of the sampled reconstruction, images in [0, 1];
* ``sigma``: the Gaussian decoder's standard deviation (Gaussian likelihood only).

Sample grids from fixed inputs: ``samples/step_XXXXXX.png`` decodes fixed prior draws and
``samples/recon_step_XXXXXX.png`` shows a fixed batch of training images (odd rows) above
their reconstructions (even rows).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.data.base import to_float
from gentool.distributed import wrap
from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.loading import load_data
from gentool.models.vae import VaeModel
from gentool.training.base import Trainer, make_optimizer

#: Held-out images scored at every log interval (a fixed batch of the test split).
TEST_IMAGES = 256
#: Columns of the reconstruction grid: a row of originals, then a row of reconstructions.
RECON_COLUMNS = 8


class ElboTerms(torch.nn.Module):
    """The model's negative-ELBO terms as a module's forward, so one DDP wrapper covers every
    parameter (the model's networks are not wrapped one by one)."""

    def __init__(self, model: VaeModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = self.model.negative_elbo_terms(images)
        return terms


class VaeTrainer(Trainer):
    PLUGIN_NAME: ClassVar[str] = "vae"
    DESCRIPTION: ClassVar[str] = "the evidence lower bound, with KL weight and annealing"
    # One optimizer over the whole model, no discriminator, no EMA copy.
    UNUSED_SETTINGS: ClassVar[tuple[str, ...]] = ("lr_d", "d_steps", "g_steps", "ema")
    #: Adam 1e-3 with beta1 0.9, the usual VAE choice (Kingma & Ba's defaults).
    RECOMMENDED_SETTINGS: ClassVar[dict[str, Any]] = {"lr_g": 1e-3, "beta1": 0.9}
    progress_keys = ("elbo", "recon", "kl", "beta")
    model: VaeModel

    def __init__(self, model: VaeModel, data: Any, settings: Any, **kwargs: Any) -> None:
        super().__init__(model, data, settings, **kwargs)
        if settings.extra:
            key = sorted(settings.extra)[0]
            hint = (
                f"; VAE objective options are model options: --model-opt {key}=..."
                if key in model.config_dict()
                else ""
            )
            raise GentoolError(f"the VAE loop takes no --train-opt, got '{key}'{hint}.")
        s = self.settings
        self.optimizers = {
            "model": make_optimizer(list(model.parameters()), s.lr_g, s, self.device)
        }
        #: What the step runs: the ELBO terms of the model, or a DDP handle on them.
        self.objective: torch.nn.Module = ElboTerms(model)
        fixed = torch.Generator().manual_seed(s.seed + 1)
        self.fixed_z = model.sample_prior(s.samples, generator=fixed)
        n_recon = min(
            len(data), max(RECON_COLUMNS, s.samples // 2 // RECON_COLUMNS * RECON_COLUMNS)
        )
        self.fixed_images = to_float(data.images[:n_recon]).to(self.device)
        #: A fixed batch of held-out (test-split) images, scored at every log interval.
        self.test_images = self._test_batch()

    def _test_batch(self) -> torch.Tensor | None:
        """Up to :data:`TEST_IMAGES` images of the test split (None when there is none)."""
        if self.data_spec.split != "train" or self.data_spec.test_fraction <= 0:
            return None
        spec = dataclasses.replace(self.data_spec, split="test", limit=TEST_IMAGES)
        try:
            test = load_data(spec)
        except GentoolError:
            return None
        return to_float(test.images[:TEST_IMAGES]).to(self.device)

    def held_out_stats(self) -> dict[str, float]:
        """``test_elbo`` (nats per image), ``test_recon``, ``test_kl`` (reduced like
        ``recon`` and ``kl``) and ``test_mse`` (per pixel, images in [0, 1]) on the fixed
        test batch, beside the training values."""
        if self.test_images is None:
            return {}
        terms = self.model.negative_elbo_terms(self.test_images)
        terms = {k: v.float() for k, v in terms.items()}
        _, recon, kl = self.model.objective(terms, 1.0)
        return {
            "test_elbo": -float(terms["recon"].mean() + terms["kl"].mean()),
            "test_recon": float(recon),
            "test_kl": float(kl),
            "test_mse": float(terms["mse"].float().mean()),
        }

    def wrap_distributed(self) -> None:
        """One DDP handle over the whole objective (encoder, decoder and a learned sigma);
        the model itself is never replaced."""
        self.objective = wrap(ElboTerms(self.model), self.device, self.settings.sync_batchnorm)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model = self.model
        images = batch["images"]
        with self.autocast():  # --precision bf16: forward passes in bf16, the loss in fp32
            terms = self.objective(images)
        terms = {k: v.float() for k, v in terms.items()}
        beta = model.kl_factor(self.step, self.total_steps)
        loss, recon, kl = model.objective(terms, beta)
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        negative_elbo = (terms["recon"].mean() + terms["kl"].mean()).detach()  # nats per image
        stats = {
            "loss": loss.detach(),
            "recon": recon.detach(),
            "kl": kl.detach(),
            "elbo": -negative_elbo,
            "beta": torch.tensor(beta),
            "bits_per_dim": model.bits_per_dim(negative_elbo),
            "mse": terms["mse"].mean(),
        }
        if model.sigma is not None:
            stats["sigma"] = torch.tensor(model.sigma)
        return stats

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        n = self.fixed_z.shape[0]
        save_grid(self.model.decode(self.fixed_z), path, nrow=math.ceil(math.sqrt(n)))
        originals = self.fixed_images
        recons = self.model.reconstruct(originals)
        save_grid(
            interleave_rows(originals, recons, RECON_COLUMNS),
            path.with_name(f"recon_{path.name}"),
            nrow=RECON_COLUMNS,
        )


def interleave_rows(top: torch.Tensor, bottom: torch.Tensor, columns: int) -> torch.Tensor:
    """Stack rows of ``columns`` images: a row of ``top``, the matching row of ``bottom``, ..."""
    rows = []
    for i in range(0, top.shape[0], columns):
        rows += [top[i : i + columns], bottom[i : i + columns]]
    return torch.cat(rows)
