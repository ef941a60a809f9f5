"""Contrastive losses of AnomalyCLR (Dillon et al., SciPost Phys. Core 7, 056 (2024)) on event representations.

s = cosine similarity, tau = temperature; i = event, j = its physical augmentation, k = its anomaly
augmentation. Each loss is averaged over the 2B anchors {i, j} of a batch of B events.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _pair_similarities(h_i: torch.Tensor, h_j: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine-similarity matrix / tau of the 2B views [i; j] and the index of each anchor's positive."""
    z = nn.functional.normalize(torch.cat([h_i, h_j]), dim=1)
    n = h_i.shape[0]
    partner = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return z @ z.T / tau, partner


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (nn.functional.normalize(a, dim=1) * nn.functional.normalize(b, dim=1)).sum(1)


def clr_loss(h_i: torch.Tensor, h_j: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent (SimCLR): -log exp(s_ij / tau) / sum_{k != anchor} exp(s_ik / tau) over the 2B views."""
    sim, partner = _pair_similarities(h_i, h_j, tau)
    anchors = torch.arange(len(sim), device=sim.device)
    positives = sim[anchors, partner]
    others = sim.masked_fill(torch.eye(len(sim), dtype=torch.bool, device=sim.device), -math.inf)
    return (torch.logsumexp(others, dim=1) - positives).mean()


def anomclr_loss(h_i: torch.Tensor, h_j: torch.Tensor, h_k: torch.Tensor, tau: float) -> torch.Tensor:
    """AnomCLR: -log exp((s_ij - s_ik) / tau) / sum_{in-batch negatives} exp(s / tau).

    The negatives of an anchor are the 2B - 2 views of the other events (itself and its positive are
    excluded, as in the AnomalyCLR reference code); s_ik is the event's similarity to its anomaly view.
    """
    sim, partner = _pair_similarities(h_i, h_j, tau)
    anchors = torch.arange(len(sim), device=sim.device)
    positives = sim[anchors, partner]
    anomalous = _cosine(h_i, h_k).repeat(2) / tau
    excluded = torch.eye(len(sim), dtype=torch.bool, device=sim.device)
    excluded[anchors, partner] = True
    negatives = sim.masked_fill(excluded, -math.inf)
    return (torch.logsumexp(negatives, dim=1) - (positives - anomalous)).mean()


def anomclr_plus_loss(h_i: torch.Tensor, h_j: torch.Tensor, h_k: torch.Tensor, tau: float) -> torch.Tensor:
    """AnomCLR+: -log exp((s_ij - s_ik) / tau) = -(s_ij - s_ik) / tau, no denominator (linear in B)."""
    return (-(_cosine(h_i, h_j) - _cosine(h_i, h_k)) / tau).mean()


LOSSES = ("clr", "anomclr", "anomclr_plus")


def contrastive_loss(
    name: str, h_i: torch.Tensor, h_j: torch.Tensor, h_k: torch.Tensor | None, tau: float
) -> torch.Tensor:
    """The loss called ``name`` (one of ``LOSSES``); ``h_k`` is unused by "clr"."""
    if name == "clr":
        return clr_loss(h_i, h_j, tau)
    if h_k is None:
        raise ValueError(f"loss {name!r} needs the anomaly-augmented view")
    if name == "anomclr":
        return anomclr_loss(h_i, h_j, h_k, tau)
    if name == "anomclr_plus":
        return anomclr_plus_loss(h_i, h_j, h_k, tau)
    raise ValueError(f"unknown contrastive loss {name!r} (known: {', '.join(LOSSES)})")
