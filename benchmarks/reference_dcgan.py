"""A plain DCGAN training loop in the style of the PyTorch examples (examples/dcgan/main.py).

This is the reference that ``benchmarks/gan_losses.py`` runs beside gentool's DCGAN: its own
``nn.Module`` classes, ``BCELoss`` on a sigmoid output, Adam(2e-4, beta1=0.5), labels 1 for
real and 0 for fake, the generator trained against label 1 (the non-saturating loss), one D
update and one G update per step, the G update reusing the fake batch of the D update, as in
the example. The architecture is gentool's ``dcgan`` at the same width: a 4x4 projection,
stride-2 transposed convs with BatchNorm + ReLU, tanh; D mirrors it with LeakyReLU(0.2) and
BatchNorm on every conv but the first.

It imports nothing from gentool: the images come in as a uint8 tensor ``(N, C, H, W)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int, image_size: int) -> None:
        super().__init__()
        n_up = int(math.log2(image_size)) - 2
        c = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, c, 4, 1, 0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ConvTranspose2d(c, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)  # type: ignore[no-any-return]


class Discriminator(nn.Module):
    def __init__(self, ndf: int, nc: int, image_size: int) -> None:
        super().__init__()
        n_down = int(math.log2(image_size)) - 2
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        c = ndf
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c * 2),
                nn.LeakyReLU(0.2, True),
            ]
            c *= 2
        layers += [nn.Conv2d(c, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)  # type: ignore[no-any-return]


def train(
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 64,
    nz: int = 100,
    ngf: int = 32,
    ndf: int = 32,
    lr: float = 2e-4,
    beta1: float = 0.5,
    seed: int = 0,
    log_every: int = 50,
) -> tuple[Generator, list[dict[str, float]]]:
    """Train on uint8 ``images`` for ``steps`` iterations; return G and the loss log."""
    torch.manual_seed(seed)
    nc, image_size = images.shape[1], images.shape[-1]
    netG = Generator(nz, ngf, nc, image_size)
    netG.apply(weights_init)
    netD = Discriminator(ndf, nc, image_size)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    real_label, fake_label = 1.0, 0.0
    log: list[dict[str, float]] = []
    order = torch.randperm(len(images))
    position = 0
    for step in range(1, steps + 1):
        if position + batch_size > len(images):
            order, position = torch.randperm(len(images)), 0
        batch = images[order[position : position + batch_size]].float() / 127.5 - 1.0
        position += batch_size
        b_size = batch.size(0)
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((b_size,), real_label)
        output = netD(batch)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b_size, nz, 1, 1)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        if step % log_every == 0 or step == steps:
            log.append(
                {
                    "step": step,
                    "loss_d": errD.item(),
                    "loss_g": errG.item(),
                    "d_real": D_x,
                    "d_fake": D_G_z1,
                    "d_gen": D_G_z2,
                }
            )
    return netG, log


@torch.no_grad()
def sample(netG: Generator, n: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """``n`` images in [-1, 1] from the generator in eval mode."""
    netG.eval()
    noise = torch.randn(n, nz, 1, 1, generator=torch.Generator().manual_seed(seed))
    return netG(noise)
