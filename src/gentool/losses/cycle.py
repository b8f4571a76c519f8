"""The reconstruction terms of CycleGAN as pure tensor functions (Zhu et al., 2017).

"Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks": with
generators ``G: A -> B`` and ``F: B -> A``, the full objective is::

    L(G, F, D_A, D_B) = L_GAN(G, D_B) + L_GAN(F, D_A)
                        + lambda_cycle * L_cyc(G, F)
                        + lambda_cycle * lambda_identity * L_idt(G, F)

The adversarial terms come from any GAN loss plugin (least squares in the paper). The two
functions here are the L1 terms; images are ``(B, C, H, W)`` in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cycle_consistency_loss(
    real_a: torch.Tensor,
    reconstructed_a: torch.Tensor,
    real_b: torch.Tensor,
    reconstructed_b: torch.Tensor,
) -> torch.Tensor:
    """Cycle consistency, eq. (2) of Zhu et al. (2017).

    ``L_cyc = E_a[|F(G(a)) - a|_1] + E_b[|G(F(b)) - b|_1]``: translating to the other domain
    and back must return the input. Means over every pixel, so it is 0 exactly when both
    round trips are exact.
    """
    return F.l1_loss(reconstructed_a, real_a) + F.l1_loss(reconstructed_b, real_b)


def identity_loss(
    real_a: torch.Tensor,
    same_a: torch.Tensor,
    real_b: torch.Tensor,
    same_b: torch.Tensor,
) -> torch.Tensor:
    """Identity mapping loss, section 5.2 of Zhu et al. (2017) (after Taigman et al., 2017).

    ``L_idt = E_b[|G(b) - b|_1] + E_a[|F(a) - a|_1]``, with ``same_b = G(b)`` and
    ``same_a = F(a)``: a generator fed an image already in its output domain should leave it
    alone, which keeps colours from drifting.
    """
    return F.l1_loss(same_a, real_a) + F.l1_loss(same_b, real_b)
