"""Synthetic CMS ADC2021 L1 events: a seeded generator of the background and signal processes,
written in the real file layout (``training.data.l1objects``).

It stands in for the Zenodo files, which these machines cannot reach (REFERENCE.md section 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from l1ad.io import atomic_path
from training.data.l1objects import (
    CLASS_ELECTRON,
    CLASS_JET,
    CLASS_MET,
    CLASS_MUON,
    ETA_MAX,
    LEPTON_PT_CUT,
    MET_SLOT,
    N_FEATURES,
    N_SLOTS,
    PARTICLE_CLASSES,
    PARTICLE_NAMES,
    SAMPLES,
    SLOT_RANGES,
    passes_selection,
)

# Background mixture of the ADC2021 training sample after the lepton trigger (REFERENCE.md section 2).
BACKGROUND_MIXTURE: dict[str, float] = {"W": 0.592, "QCD": 0.338, "Z": 0.067, "ttbar": 0.003}

# ---------------------------------------------------------------------------------------------
# Generator constants. Masses and widths: PDG; tau branching ratios: PDG (e 17.8%, mu 17.4%).
# Reconstruction thresholds, resolutions and efficiencies are this generator's own L1-like choices.
# ---------------------------------------------------------------------------------------------
_M_W, _G_W = 80.38, 2.09
_M_Z, _G_Z = 91.19, 2.50
_M_TOP, _M_B, _M_TAU = 172.5, 4.8, 1.777
_TAU_TO_E, _TAU_TO_MU = 0.178, 0.174
# Particle flavours (PDG codes) understood by _add_visible.
_QUARK, _BQUARK, _ELE, _NU, _MU, _TAU = 1, 5, 11, 12, 13, 15
_INVISIBLE = 0
_BJET = 5  # generator-internal kind: a b jet, written as class 4 after its semileptonic decays
# Chance that a jet holds a lepton from a heavy-flavour decay (b: BR(b -> l) + cascades, ~20% for e
# or mu; light and charm jets: charm decays, decays in flight, conversions) and the lepton's share.
_LEPTON_IN_JET_PROB = {_BJET: 0.2, CLASS_JET: 0.03}
_RECO_PT_MIN = np.array([np.inf, np.inf, 3.0, 3.0, 15.0])  # indexed by class code: e, mu 3 GeV, jets 15
_RECO_ETA_MAX = np.array([0.0, 0.0, ETA_MAX[CLASS_ELECTRON], ETA_MAX[CLASS_MUON], ETA_MAX[CLASS_JET]])
_LEPTON_EFFICIENCY = 0.95
_CALO_ETA_MAX = 5.0  # beyond this nothing is measured: such objects count as missing momentum
_RAPIDITY_SIGMA = 2.0  # width of single-boson rapidity at 13 TeV; ttbar is more central
# Pileup (<mu> = 20 for every sample, so pileup never tells samples apart): soft jets from other
# collisions; each collision is balanced by unmeasured soft particles, so these jets enter MET only
# through the resolution term.
_PU_JETS_MEAN, _PU_JETS_MAX = 1.0, 4
_PU_SUMET_SHAPE, _PU_SUMET_SCALE = 20.0, 8.0  # 20 collisions x ~8 GeV scalar sum each
_MET_STOCHASTIC = 0.5  # sigma(MET_x) = 0.5 sqrt(sum ET) in GeV, a typical calorimeter soft term
_MAX_EXTRA_ISR = 3
_ISR_ETA_SIGMA = 2.2  # radiation is wider in eta than the hard system

_BLOCK_EVENTS = 100_000  # selected events written per block: bounds generator memory
_MAX_BATCH = 100_000  # generated events per vectorised batch

# Energy-fraction CDF of the visible lepton in a boosted, unpolarised tau -> l nu nu decay:
# f(x) = (5 - 9x^2 + 4x^3) / 3, so F(x) = (5x - 3x^3 + x^4) / 3; sampled by inverting on a grid.
_X_GRID = np.linspace(0.0, 1.0, 2001)
_TAU_LEP_CDF = (5 * _X_GRID - 3 * _X_GRID**3 + _X_GRID**4) / 3


class _Objects:
    """Columns of generated objects, one entry per event: true pT, eta, phi and kind.

    The kind is the class code of what the detector sees (0 = nothing), or ``_BJET`` for a b jet.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.pt: list[np.ndarray] = []
        self.eta: list[np.ndarray] = []
        self.phi: list[np.ndarray] = []
        self.kind: list[np.ndarray] = []

    def add(self, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, kind: np.ndarray | int) -> None:
        self.pt.append(pt)
        self.eta.append(eta)
        self.phi.append(phi)
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int8), (self.n,)))


def _wrap_phi(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _lomax(rng: np.random.Generator, n: int, scale: float, shape: float = 3.0) -> np.ndarray:
    """Falling pT spectrum with a power-law tail: soft bosons mostly, a hard tail from recoil jets."""
    return scale * (rng.random(n) ** (-1.0 / shape) - 1.0)


def _breit_wigner(rng: np.random.Generator, n: int, mass: float, width: float) -> np.ndarray:
    m = mass + 0.5 * width * np.tan(np.pi * (rng.random(n) - 0.5))
    return np.clip(m, mass - 10 * width, mass + 10 * width)


def _resonance(
    rng: np.random.Generator,
    n: int,
    mass: np.ndarray | float,
    pt_scale: float,
    y_sigma: float = _RAPIDITY_SIGMA,
) -> np.ndarray:
    """Four-vectors (4, n) [E, px, py, pz] of a produced system: pT from a falling spectrum, Gaussian y."""
    pt = _lomax(rng, n, pt_scale)
    y = rng.normal(0.0, y_sigma, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(np.asarray(mass) ** 2 + pt**2)
    return np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)])


def _boost(p: np.ndarray, parent: np.ndarray, mass: np.ndarray | float) -> np.ndarray:
    """Boost rest-frame four-vectors ``p`` into the frame where the parent has four-momentum ``parent``."""
    gamma = parent[0] / mass
    beta = parent[1:] / parent[0]
    bp = np.sum(beta * p[1:], axis=0)
    k = gamma**2 / (gamma + 1.0) * bp + gamma * p[0]
    return np.concatenate([(gamma * (p[0] + bp))[None], p[1:] + k * beta])


def _two_body(
    rng: np.random.Generator,
    parent: np.ndarray,
    mass: np.ndarray | float,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay in the parent rest frame, boosted to the lab."""
    n = parent.shape[1]
    mass, m1, m2 = (np.asarray(m, dtype=float) for m in (mass, m1, m2))
    kallen = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    p = np.broadcast_to(np.sqrt(np.maximum(kallen, 0.0)) / (2 * mass), (n,))
    cos = rng.uniform(-1.0, 1.0, n)
    sin = np.sqrt(1.0 - cos**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    q = np.stack([p * sin * np.cos(ph), p * sin * np.sin(ph), p * cos])
    d1 = np.vstack([np.sqrt(p**2 + m1**2), q])
    d2 = np.vstack([np.sqrt(p**2 + m2**2), -q])
    return _boost(d1, parent, mass), _boost(d2, parent, mass)


def _pt_eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(p4[1], p4[2])
    eta = np.arcsinh(p4[3] / np.maximum(pt, 1e-9))
    return pt, eta, np.arctan2(p4[2], p4[1])


def _tau_decay(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Visible class and momentum fraction of n boosted taus (collinear approximation)."""
    u = rng.random(n)
    kind = np.where(
        u < _TAU_TO_E, CLASS_ELECTRON, np.where(u < _TAU_TO_E + _TAU_TO_MU, CLASS_MUON, CLASS_JET)
    )
    x_lep = np.interp(rng.random(n), _TAU_LEP_CDF, _X_GRID)
    # Hadronic taus are mostly rho/a1 modes whose visible mass keeps x away from 0.
    x_had = rng.uniform(0.2, 1.0, n)
    return kind.astype(np.int8), np.where(kind == CLASS_JET, x_had, x_lep)


def _add_daughter(
    objs: _Objects, rng: np.random.Generator, p4: np.ndarray, flavour: np.ndarray | int
) -> None:
    """Add the visible part of a decay product given as four-vectors (4, n)."""
    _add_visible(objs, rng, *_pt_eta_phi(p4), flavour)


def _add_visible(
    objs: _Objects,
    rng: np.random.Generator,
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    flavour: np.ndarray | int,
) -> None:
    """Add what the detector can see of a particle of ``flavour``: neutrinos nothing, taus decay."""
    flavour = np.broadcast_to(flavour, pt.shape)
    kind = np.zeros(objs.n, dtype=np.int8)
    kind[flavour == _ELE] = CLASS_ELECTRON
    kind[flavour == _MU] = CLASS_MUON
    kind[flavour == _QUARK] = CLASS_JET
    kind[flavour == _BQUARK] = _BJET
    tau = flavour == _TAU
    if tau.any():
        tau_kind, x = _tau_decay(rng, int(tau.sum()))
        kind[tau] = tau_kind
        pt = pt.copy()
        pt[tau] *= x
    objs.add(pt, eta, phi, kind)


def _add_recoil(
    objs: _Objects, rng: np.random.Generator, px: np.ndarray, py: np.ndarray, mean_extra: float
) -> None:
    """Initial-state radiation balancing a hard system of transverse momentum (px, py).

    Up to three extra jets with a pT^-4 spectrum above 10 GeV, and one jet taking the rest of the
    recoil, so the event is balanced and MET comes only from neutrinos, lost objects and resolution.
    """
    n = objs.n
    n_extra = np.minimum(rng.poisson(mean_extra, n), _MAX_EXTRA_ISR)
    rx, ry = -np.asarray(px, dtype=float), -np.asarray(py, dtype=float)
    for j in range(_MAX_EXTRA_ISR):
        pt = np.where(j < n_extra, 10.0 * rng.random(n) ** (-1.0 / 3.0), 0.0)
        phi = rng.uniform(-np.pi, np.pi, n)
        objs.add(pt, rng.normal(0.0, _ISR_ETA_SIGMA, n), phi, np.where(pt > 0, CLASS_JET, _INVISIBLE))
        rx = rx - pt * np.cos(phi)
        ry = ry - pt * np.sin(phi)
    objs.add(np.hypot(rx, ry), rng.normal(0.0, _ISR_ETA_SIGMA, n), np.arctan2(ry, rx), CLASS_JET)


def _lepton_flavour(rng: np.random.Generator, n: int, with_tau: bool = True) -> np.ndarray:
    choices = np.array([_ELE, _MU, _TAU] if with_tau else [_ELE, _MU])
    return choices[rng.integers(0, len(choices), n)]


def _gen_w(rng: np.random.Generator, n: int) -> _Objects:
    """W -> l nu (l = e, mu, tau): one hard lepton with a Jacobian peak near m_W / 2 and real MET."""
    objs = _Objects(n)
    m = _breit_wigner(rng, n, _M_W, _G_W)
    w = _resonance(rng, n, m, pt_scale=20.0)
    lep, _nu = _two_body(rng, w, m, 0.0, 0.0)
    _add_daughter(objs, rng, lep, _lepton_flavour(rng, n))
    _add_recoil(objs, rng, w[1], w[2], mean_extra=0.8)
    return objs


def _gen_z(rng: np.random.Generator, n: int) -> _Objects:
    """Z -> l l (e, mu, tau): two opposite leptons with m_ll near 91 GeV, little MET."""
    objs = _Objects(n)
    m = _breit_wigner(rng, n, _M_Z, _G_Z)
    z = _resonance(rng, n, m, pt_scale=20.0)
    l1, l2 = _two_body(rng, z, m, 0.0, 0.0)
    flavour = _lepton_flavour(rng, n)
    _add_daughter(objs, rng, l1, flavour)
    _add_daughter(objs, rng, l2, flavour)
    _add_recoil(objs, rng, z[1], z[2], mean_extra=0.8)
    return objs


def _gen_ttbar(rng: np.random.Generator, n: int) -> _Objects:
    """t tbar -> W b W b: two b jets, W -> l nu (1/3) or q q' (2/3) per side: leptons, jets, MET."""
    objs = _Objects(n)
    m_tt = 2 * _M_TOP + rng.exponential(150.0, n)
    tt = _resonance(rng, n, m_tt, pt_scale=60.0, y_sigma=1.0)
    for top in _two_body(rng, tt, m_tt, _M_TOP, _M_TOP):
        m_w = np.clip(_breit_wigner(rng, n, _M_W, _G_W), 60.0, _M_TOP - _M_B - 1.0)
        w, b = _two_body(rng, top, _M_TOP, m_w, _M_B)
        _add_daughter(objs, rng, b, _BQUARK)
        d1, d2 = _two_body(rng, w, m_w, 0.0, 0.0)
        hadronic = rng.random(n) < 6.0 / 9.0
        _add_daughter(objs, rng, d1, np.where(hadronic, _QUARK, _lepton_flavour(rng, n)))
        _add_daughter(objs, rng, d2, np.where(hadronic, _QUARK, _NU))
    _add_recoil(objs, rng, tt[1], tt[2], mean_extra=1.0)
    return objs


def _gen_qcd(rng: np.random.Generator, n: int) -> _Objects:
    """QCD 2 -> 2 with a lepton inside one jet: b -> c l nu (60%) or a jet faking an electron (40%).

    The parton pT falls as pT^-5 above 23 GeV and the lepton takes a fraction z ~ Beta(2, 3) of its
    jet. Only z pT > 23 GeV can pass the trigger, so (z, pT) is drawn from that conditional directly:
    z ~ Beta(2 + 4, 3) and pT ~ pT^-5 above 23 / z. The lepton is thus just above threshold,
    non-isolated, with a soft neutrino and extra jets.
    """
    objs = _Objects(n)
    z = rng.beta(6.0, 3.0, n)
    pt_hat = (LEPTON_PT_CUT / z) * rng.random(n) ** (-1.0 / 4.0)
    y1, y2 = rng.normal(0.0, 1.4, n), rng.normal(0.0, 1.4, n)
    phi1 = rng.uniform(-np.pi, np.pi, n)
    fake = rng.random(n) < 0.4
    flavour = np.where(fake, _ELE, _lepton_flavour(rng, n, with_tau=False))
    z_nu = np.where(fake, 0.0, (1.0 - z) * rng.uniform(0.0, 0.5, n))
    # The lepton sits inside its jet, a few hundredths away in eta and phi.
    lep_eta = y1 + rng.normal(0.0, 0.05, n)
    lep_phi = _wrap_phi(phi1 + rng.normal(0.0, 0.05, n))
    _add_visible(objs, rng, z * pt_hat, lep_eta, lep_phi, flavour)
    objs.add((1.0 - z - z_nu) * pt_hat, y1, phi1, CLASS_JET)
    objs.add(pt_hat, y2, _wrap_phi(phi1 + np.pi), CLASS_JET)
    _add_recoil(objs, rng, np.zeros(n), np.zeros(n), mean_extra=1.5)
    return objs


def _offshell_pair_masses(rng: np.random.Generator, n: int, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Masses of two off-shell Z* from a scalar of ``mass``: two-body phase space x Z* line shapes.

    Each Z* -> l l contributes m^3 / (m^2 - m_Z^2)^2 dm (propagator, dm^2 = 2m dm, width ~ m);
    spin correlations of the matrix element are ignored. Accept-reject, vectorised.
    """

    def weight(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
        kallen = np.maximum((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0.0)
        line = m1**3 * m2**3 / ((m1**2 - _M_Z**2) ** 2 * (m2**2 - _M_Z**2) ** 2)
        return np.sqrt(kallen) * line

    grid = np.linspace(0.0, mass, 401)
    w_max = 1.05 * weight(grid[:, None], grid[None, :]).max()
    m1_out, m2_out = np.empty(0), np.empty(0)
    while m1_out.size < n:
        m1, m2 = rng.uniform(0.0, mass, (2, 4 * n))
        keep = (m1 + m2 < mass) & (rng.random(4 * n) * w_max < weight(m1, m2))
        m1_out, m2_out = np.concatenate([m1_out, m1[keep]]), np.concatenate([m2_out, m2[keep]])
    return m1_out[:n], m2_out[:n]


def _gen_ato4l(rng: np.random.Generator, n: int) -> _Objects:
    """A (50 GeV) -> Z* Z* -> 4 l, each Z* forced to e e or mu mu: four soft leptons, little MET."""
    objs = _Objects(n)
    mass = 50.0
    m1, m2 = _offshell_pair_masses(rng, n, mass)
    a = _resonance(rng, n, mass, pt_scale=40.0)
    for zstar, m in zip(_two_body(rng, a, mass, m1, m2), (m1, m2), strict=True):
        flavour = _lepton_flavour(rng, n, with_tau=False)
        for lep in _two_body(rng, zstar, m, 0.0, 0.0):
            _add_daughter(objs, rng, lep, flavour)
    _add_recoil(objs, rng, a[1], a[2], mean_extra=0.8)
    return objs


def _gen_resonance_pair(
    rng: np.random.Generator, n: int, mass: float, daughters: tuple[tuple[int, float], tuple[int, float]]
) -> _Objects:
    """A resonance of ``mass`` decaying to two (flavour, mass) daughters, recoiling against ISR."""
    objs = _Objects(n)
    parent = _resonance(rng, n, mass, pt_scale=40.0)
    (f1, m1), (f2, m2) = daughters
    d1, d2 = _two_body(rng, parent, mass, m1, m2)
    _add_daughter(objs, rng, d1, f1)
    _add_daughter(objs, rng, d2, f2)
    _add_recoil(objs, rng, parent[1], parent[2], mean_extra=0.8)
    return objs


def _gen_leptoquark(rng: np.random.Generator, n: int) -> _Objects:
    """LQ (80 GeV) -> b tau: a b jet, a tau seen as lepton or jet, neutrinos.

    Modelled as one resonance recoiling against radiation; pair production would add a second b tau.
    """
    return _gen_resonance_pair(rng, n, 80.0, ((_BQUARK, _M_B), (_TAU, _M_TAU)))


def _gen_h_tautau(rng: np.random.Generator, n: int) -> _Objects:
    """h0 (60 GeV) -> tau tau: leptons and/or tau jets with MET from the tau neutrinos."""
    return _gen_resonance_pair(rng, n, 60.0, ((_TAU, _M_TAU), (_TAU, _M_TAU)))


def _gen_hch_taunu(rng: np.random.Generator, n: int) -> _Objects:
    """h+ (60 GeV) -> tau nu: one tau plus a hard neutrino, so sizeable MET."""
    return _gen_resonance_pair(rng, n, 60.0, ((_TAU, _M_TAU), (_NU, 0.0)))


_BACKGROUND_GENERATORS: dict[str, Callable[[np.random.Generator, int], _Objects]] = {
    "W": _gen_w,
    "QCD": _gen_qcd,
    "Z": _gen_z,
    "ttbar": _gen_ttbar,
}
_SIGNAL_GENERATORS: dict[str, Callable[[np.random.Generator, int], _Objects]] = {
    "Ato4l": _gen_ato4l,
    "leptoquark": _gen_leptoquark,
    "hToTauTau": _gen_h_tautau,
    "hChToTauNu": _gen_hch_taunu,
}


def _leptons_in_jets(
    rng: np.random.Generator, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, kind: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Soft non-isolated leptons from heavy-flavour decays inside jets (at most one per event).

    The lepton takes a share z ~ Beta(1.5, 6) of its jet and the neutrino a comparable share, which
    is lost (MET). Returns the (n, K + 1) columns, b jets turned into class-4 jets.
    """
    n = len(pt)
    prob = np.zeros(pt.shape)
    for jet_kind, p in _LEPTON_IN_JET_PROB.items():
        prob[kind == jet_kind] = p
    has = rng.random(pt.shape) < prob
    rows, col = np.arange(n), np.argmax(has, axis=1)
    any_lepton = has[rows, col]
    z = np.where(any_lepton, rng.beta(1.5, 6.0, n), 0.0)
    z_nu = z * rng.uniform(0.5, 1.0, n)
    source_pt = pt[rows, col]
    pt = pt.copy()
    pt[rows, col] = source_pt * (1.0 - z - z_nu)
    lepton_kind = np.where(any_lepton, np.where(rng.random(n) < 0.5, CLASS_ELECTRON, CLASS_MUON), _INVISIBLE)
    kind = np.where(kind == _BJET, CLASS_JET, kind).astype(np.int8)
    return (
        np.column_stack([pt, z * source_pt]),
        np.column_stack([eta, eta[rows, col] + rng.normal(0.0, 0.05, n)]),
        np.column_stack([phi, _wrap_phi(phi[rows, col] + rng.normal(0.0, 0.05, n))]),
        np.column_stack([kind, lepton_kind.astype(np.int8)]),
    )


def _pileup_jets(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Soft jets from pileup collisions: (n, _PU_JETS_MAX) pT, eta, phi, class."""
    shape = (n, _PU_JETS_MAX)
    n_pu = np.minimum(rng.poisson(_PU_JETS_MEAN, n), _PU_JETS_MAX)
    pt = np.where(np.arange(_PU_JETS_MAX) < n_pu[:, None], 10.0 + rng.exponential(8.0, shape), 0.0)
    kind = np.where(pt > 0, CLASS_JET, _INVISIBLE).astype(np.int8)
    return pt, rng.uniform(-4.7, 4.7, shape), rng.uniform(-np.pi, np.pi, shape), kind


def _reconstruct(rng: np.random.Generator, objs: _Objects) -> np.ndarray:
    """Detector response: add pileup jets, smear, apply acceptance, compute MET, fill the 19 slots."""
    n = objs.n
    hard = (np.stack(objs.pt, 1), np.stack(objs.eta, 1), np.stack(objs.phi, 1), np.stack(objs.kind, 1))
    hard = _leptons_in_jets(rng, *hard)
    n_hard = hard[0].shape[1]
    pt, eta, phi, kind = (
        np.concatenate([h, p], axis=1) for h, p in zip(hard, _pileup_jets(rng, n), strict=True)
    )

    jet_res = np.hypot(1.0 / np.sqrt(np.maximum(pt, 1.0)), 0.05)  # 100%/sqrt(pT) (+) 5%
    rel = np.where(kind == CLASS_ELECTRON, 0.04, np.where(kind == CLASS_MUON, 0.06, jet_res))
    pt = pt * np.maximum(1.0 + rel * rng.standard_normal(pt.shape), 0.0)
    lepton = (kind == CLASS_ELECTRON) | (kind == CLASS_MUON)
    found = ~lepton | (rng.random(pt.shape) < _LEPTON_EFFICIENCY)
    reco = (kind > 0) & found & (pt > _RECO_PT_MIN[kind]) & (np.abs(eta) < _RECO_ETA_MAX[kind])

    # MET: minus the measured hard objects. The calorimeter sees electrons and jets (even below the
    # object thresholds) up to |eta| = 5; a muon counts only when reconstructed. Neutrinos are absent.
    calo = ((kind == CLASS_ELECTRON) | (kind == CLASS_JET)) & (np.abs(eta) < _CALO_ETA_MAX)
    measured = (calo | ((kind == CLASS_MUON) & reco))[:, :n_hard]
    pt_m = np.where(measured, pt[:, :n_hard], 0.0)
    sum_et = pt_m.sum(1) + rng.gamma(_PU_SUMET_SHAPE, _PU_SUMET_SCALE, n)
    sigma = _MET_STOCHASTIC * np.sqrt(sum_et)
    met_x = -(pt_m * np.cos(phi[:, :n_hard])).sum(1) + sigma * rng.standard_normal(n)
    met_y = -(pt_m * np.sin(phi[:, :n_hard])).sum(1) + sigma * rng.standard_normal(n)

    out = np.zeros((n, N_SLOTS, N_FEATURES), dtype=np.float32)
    out[:, MET_SLOT, 0] = np.hypot(met_x, met_y)
    out[:, MET_SLOT, 2] = np.arctan2(met_y, met_x)
    out[:, MET_SLOT, 3] = CLASS_MET
    for cls in (CLASS_ELECTRON, CLASS_MUON, CLASS_JET):
        start, stop = SLOT_RANGES[cls]
        key = np.where(reco & (kind == cls), pt, 0.0)
        width = stop - start
        order = np.argsort(-key, axis=1)[:, :width]
        filled_pt = np.take_along_axis(key, order, 1)
        filled = filled_pt > 0
        cols = order.shape[1]  # fewer generated columns than slots leaves the rest empty
        out[:, start : start + cols, 0] = filled_pt
        out[:, start : start + cols, 1] = np.where(filled, np.take_along_axis(eta, order, 1), 0.0)
        out[:, start : start + cols, 2] = np.where(filled, np.take_along_axis(phi, order, 1), 0.0)
        out[:, start : start + cols, 3] = np.where(filled, cls, 0)
    return out


def _collect(
    rng: np.random.Generator, generator: Callable[[np.random.Generator, int], _Objects], n: int
) -> np.ndarray:
    """Generate batches until ``n`` events pass the selection; the batch size follows the efficiency."""
    parts, have, efficiency, tried = [], 0, 0.3, 0
    while have < n:
        batch = int(min(_MAX_BATCH, max(1000, 1.2 * (n - have) / efficiency)))
        particles = _reconstruct(rng, generator(rng, batch))
        keep = particles[passes_selection(particles)][: n - have]
        parts.append(keep)
        have += len(keep)
        tried += batch
        efficiency = max(have / tried, 1e-3)
    return np.concatenate(parts)


def generate_background_block(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` selected background events (size, 19, 4) from the process mixture, shuffled together.

    The mixture fractions hold after the trigger, so each process fills its own quota.
    """
    names = list(BACKGROUND_MIXTURE)
    counts = rng.multinomial(size, np.array([BACKGROUND_MIXTURE[k] for k in names]))
    block = np.concatenate(
        [_collect(rng, _BACKGROUND_GENERATORS[k], c) for k, c in zip(names, counts, strict=True) if c]
    )
    return block[rng.permutation(size)]


def generate_l1_sample(path: str | Path, process: str, n: int, seed: int) -> None:
    """Write ``n`` selected events of ``process`` (a key of ``SAMPLES``) in the ADC2021 file layout."""
    if process not in SAMPLES:
        raise ValueError(f"unknown L1 process {process!r}; known: {', '.join(SAMPLES)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        dset = f.create_dataset("Particles", shape=(n, N_SLOTS, N_FEATURES), dtype=np.float32)
        f.create_dataset("Particles_Names", data=np.array(PARTICLE_NAMES))
        f.create_dataset("Particles_Classes", data=np.array(PARTICLE_CLASSES))
        for start in range(0, n, _BLOCK_EVENTS):
            size = min(_BLOCK_EVENTS, n - start)
            if process == "background":
                block = generate_background_block(rng, size)
            else:
                block = _collect(rng, _SIGNAL_GENERATORS[process], size)
            dset[start : start + size] = block


def generate_l1_dataset(out_dir: str | Path, n_background: int, n_signal: int, seed: int) -> dict[str, Path]:
    """Write all five ADC2021-like files into ``out_dir`` (real names), one derived seed per sample."""
    out_dir = Path(out_dir)
    children = np.random.SeedSequence(seed).spawn(len(SAMPLES))
    paths = {}
    for (name, filename), child in zip(SAMPLES.items(), children, strict=True):
        path = out_dir / filename
        n = n_background if name == "background" else n_signal
        generate_l1_sample(path, name, n, int(child.generate_state(1)[0]))
        paths[name] = path
    return paths
