"""Synthetic jet images: a physics-motivated generator of QCD, W/Z and top jets, written in the hls4ml
LHC jet layout (``training.data.jetimages``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from l1ad.io import atomic_path
from training.data.jetimages import JET_FEATURE_NAMES

# Physics constants (GeV) and generator settings.
_CF, _CA = 4.0 / 3.0, 3.0  # colour factors of quarks and gluons
_ALPHA_S = 0.1  # strong coupling near the jet scale: sets the Sudakov suppression of QCD jet mass
_M_W, _G_W = 80.379, 2.085
_M_Z, _G_Z = 91.1876, 2.4952
_M_T, _G_T = 172.76, 1.42
_JET_R = 0.8  # anti-kT radius of the hls4ml jets: constituents farther than this from the axis are lost
_PT_RANGE = (500.0, 700.0)
_PT_POWER = 5.0  # dN/dpT ~ pT^-5 inside the window
_ETA_MAX = 2.0
_COLOURED_CONE = 1.6  # largest constituent angle from a coloured prong (then the R = 0.8 cut)
_RHO_MAX = 0.2  # largest m^2/(pT R)^2 of the hardest QCD emission (keeps the emission inside the cone)
_MULT_SCALE = 3.0  # mean constituents per prong = 3 (C/CF)^0.7 ln(1 + P/5 GeV)
_FRAG_SHAPE = 0.6  # Gamma shape of constituent momentum fractions: a few hard particles, many soft
_WIDTH_SCALE = 0.03  # typical constituent angle of a 300 GeV quark prong
_UE_MEAN_N, _UE_MEAN_PT = 8.0, 0.4  # underlying event inside the cone: about 3 GeV per jet
_CALO_STOCHASTIC, _CALO_CONSTANT = 0.5, 0.05  # sigma/pT = 0.5/sqrt(pT) (+) 5%
_PIXELS_PER_CHUNK = 1 << 22  # bounds the bincount buffer: chunk_events * S^2 float64 values


def _falling_pt(rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = (x ** (1.0 - _PT_POWER) for x in _PT_RANGE)
    return (lo + rng.random(n) * (hi - lo)) ** (1.0 / (1.0 - _PT_POWER))


def _breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int) -> np.ndarray:
    """Cauchy masses truncated at +-5 widths (inverse CDF on the truncated range, no pile-up at the edges)."""
    edge = np.arctan(10.0) / np.pi
    u = rng.uniform(-edge, edge, n)
    return mass + 0.5 * width * np.tan(np.pi * u)


def _two_body(
    rng: np.random.Generator, axis: np.ndarray, theta: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of daughters (1-z) and z separated by theta around a random direction.

    The pT-weighted centroid of the pair stays on the parent axis.
    """
    alpha = rng.uniform(0.0, 2.0 * np.pi, len(z))
    direction = np.stack([np.cos(alpha), np.sin(alpha)], axis=1) * theta[:, None]
    return axis + z[:, None] * direction, axis - (1.0 - z)[:, None] * direction


def _qcd_prongs(rng: np.random.Generator, pt: np.ndarray, gluon: np.ndarray) -> tuple[np.ndarray, ...]:
    """Core parton plus its two hardest emissions, the first one's rho = m^2/(pT R)^2 drawn from a LL Sudakov.

    Sigma(rho) = exp(-(alpha_s C / (2 pi)) ln^2 rho), truncated at rho <= _RHO_MAX: the double-log
    radiator of the plain jet mass (emission density (alpha_s C / pi) dtheta^2/theta^2 dz/z integrated
    over z theta^2 / R^2 > rho). Gluons (C = CA) radiate more, so their jets are heavier and wider. The
    emission's z is log-uniform along the line of constant rho (soft-collinear phase space). The core
    then emits again at a smaller rho (the next step of the same Sudakov). Every parton stays
    colour-connected to the rest of the event, so its radiation may reach the cone's edge.
    """
    n = len(pt)
    colour = np.where(gluon, _CA, _CF)
    a = _ALPHA_S * colour / (2.0 * np.pi)
    u = (1.0 - rng.random(n)) * np.exp(-a * np.log(_RHO_MAX) ** 2)
    rho = np.exp(-np.sqrt(-np.log(u) / a))
    z_lo = 0.5 * (1.0 - np.sqrt(1.0 - 4.0 * rho))
    z = np.exp(rng.uniform(np.log(z_lo), np.log(0.5)))
    theta = _JET_R * np.sqrt(rho / (z * (1.0 - z)))
    core, emission = _two_body(rng, np.zeros((n, 2)), theta, z)
    # The core's next emission, ordered below the first in rho (Sigma(rho2) / Sigma(rho) uniform): QCD
    # mass builds up from several emissions, not from one clean splitting.
    rho2 = np.exp(-np.sqrt(np.log(rho) ** 2 - np.log(1.0 - rng.random(n)) / a))
    z2_lo = 0.5 * (1.0 - np.sqrt(1.0 - 4.0 * rho2))
    z2 = np.exp(rng.uniform(np.log(z2_lo), np.log(0.5)))
    theta2 = _JET_R * np.sqrt(rho2 / (z2 * (1.0 - z2)))
    core, second = _two_body(rng, core, theta2, z2)
    frac = np.stack([(1.0 - z) * (1.0 - z2), z, (1.0 - z) * z2], axis=1)
    pos = np.stack([core, emission, second], axis=1)
    col = np.stack([colour, np.full(n, _CA), np.full(n, _CA)], axis=1)
    return frac, pos, col, np.full((n, 3), _COLOURED_CONE)


def _vector_boson_prongs(
    rng: np.random.Generator, pt: np.ndarray, is_z: np.ndarray
) -> tuple[np.ndarray, ...]:
    """V -> q q': m^2 = z(1-z) pT^2 theta^2 with z uniform (unpolarised decay), so theta ~ 2m/pT.

    The pair is a colour singlet: its radiation stays within the q q' opening angle (the cone returned).
    """
    n = len(pt)
    mass = np.where(is_z, _breit_wigner(rng, _M_Z, _G_Z, n), _breit_wigner(rng, _M_W, _G_W, n))
    z = rng.uniform(0.01, 0.99, n)
    theta = mass / (pt * np.sqrt(z * (1.0 - z)))
    q1, q2 = _two_body(rng, np.zeros((n, 2)), theta, z)
    frac = np.stack([1.0 - z, z, np.zeros(n)], axis=1)
    pos = np.stack([q1, q2, np.zeros((n, 2))], axis=1)
    return frac, pos, np.full((n, 3), _CF), np.repeat(theta[:, None], 3, axis=1)


def _top_prongs(rng: np.random.Generator, pt: np.ndarray) -> tuple[np.ndarray, ...]:
    """t -> b W(-> q q'): b takes z_b uniform in [0, 1 - mW^2/mt^2] (isotropic decay, massless b).

    The b carries the top's colour (its radiation may reach the cone's edge); the W's quarks are a
    colour singlet whose radiation stays within their opening angle.
    """
    n = len(pt)
    m_t = _breit_wigner(rng, _M_T, _G_T, n)
    m_w = _breit_wigner(rng, _M_W, _G_W, n)
    z_max = 1.0 - (m_w / m_t) ** 2
    z_b = 0.01 + rng.random(n) * (z_max - 0.02)
    theta_bw = np.sqrt((m_t**2 - m_w**2 / (1.0 - z_b)) / (z_b * (1.0 - z_b))) / pt
    w_axis, b = _two_body(rng, np.zeros((n, 2)), theta_bw, z_b)
    z_q = rng.uniform(0.01, 0.99, n)
    theta_qq = m_w / ((1.0 - z_b) * pt * np.sqrt(z_q * (1.0 - z_q)))
    q1, q2 = _two_body(rng, w_axis, theta_qq, z_q)
    frac = np.stack([z_b, (1.0 - z_b) * (1.0 - z_q), (1.0 - z_b) * z_q], axis=1)
    cone = np.stack([np.full(n, _COLOURED_CONE), theta_qq, theta_qq], axis=1)
    return frac, np.stack([b, q1, q2], axis=1), np.full((n, 3), _CF), cone


def generate_chunk(
    rng: np.random.Generator, cls: np.ndarray, sub: np.ndarray, size: int, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, size, size) and the `jets` rows (n, 59) for class indices ``cls``.

    ``sub`` picks the flavour within a class: gluon (vs quark) for QCD, Z (vs W) for W/Z.
    """
    n = len(cls)
    pt = _falling_pt(rng, n)
    eta = rng.uniform(-_ETA_MAX, _ETA_MAX, n)
    frac, pos, colour = np.zeros((n, 3)), np.zeros((n, 3, 2)), np.full((n, 3), _CF)
    cone = np.full((n, 3), _COLOURED_CONE)
    for label, make in (
        (0, lambda m: _qcd_prongs(rng, pt[m], sub[m])),
        (1, lambda m: _vector_boson_prongs(rng, pt[m], sub[m])),
        (2, lambda m: _top_prongs(rng, pt[m])),
    ):
        mask = cls == label
        if mask.any():
            frac[mask], pos[mask], colour[mask], cone[mask] = make(mask)

    # Each prong showers into constituents: multiplicity and width grow with the colour charge,
    # harder constituents sit closer to the prong axis (collinear enhancement).
    prong_pt = frac * pt[:, None]
    active = frac > 0
    mean_n = _MULT_SCALE * (colour / _CF) ** 0.7 * np.log1p(prong_pt / 5.0)
    n_const = np.where(active, 1 + rng.poisson(np.maximum(mean_n - 1.0, 0.0)), 0).ravel()
    owner = np.repeat(np.arange(3 * n), n_const)
    x = rng.gamma(_FRAG_SHAPE, size=len(owner))
    x /= np.bincount(owner, weights=x, minlength=3 * n)[owner]
    safe_pt = np.where(active, prong_pt, 1.0).ravel()
    width = _WIDTH_SCALE * np.sqrt(colour.ravel() / _CF) * np.sqrt(300.0 / safe_pt)
    r = width[owner] * rng.gamma(2.0, 0.5, len(owner)) / np.sqrt(n_const[owner] * x)
    # Colour coherence (angular ordering): a colour singlet's prongs radiate within their dipole's
    # opening angle; beyond it soft gluons see no net colour charge. r / (1 + r / cone) keeps the
    # collinear core and bends the wide-angle tail inside the cone. Coloured prongs radiate up to 2R.
    reach = cone.ravel()[owner]
    r = np.where(reach < _COLOURED_CONE, r / (1.0 + r / reach), np.minimum(r, _COLOURED_CONE))
    alpha = rng.uniform(0.0, 2.0 * np.pi, len(owner))
    axes = pos.reshape(-1, 2)
    shower_jet = owner // 3
    shower_pt = x * prong_pt.ravel()[owner]
    shower_deta = axes[owner, 0] + r * np.cos(alpha)
    shower_dphi = axes[owner, 1] + r * np.sin(alpha)

    # Underlying event: soft particles spread uniformly over the cone.
    n_ue = rng.poisson(_UE_MEAN_N, n)
    ue_jet = np.repeat(np.arange(n), n_ue)
    ue_r = _JET_R * np.sqrt(rng.random(len(ue_jet)))
    ue_alpha = rng.uniform(0.0, 2.0 * np.pi, len(ue_jet))

    jet = np.concatenate([shower_jet, ue_jet])
    p = np.concatenate([shower_pt, rng.exponential(_UE_MEAN_PT, len(ue_jet))])
    deta = np.concatenate([shower_deta, ue_r * np.cos(ue_alpha)])
    dphi = np.concatenate([shower_dphi, ue_r * np.sin(ue_alpha)])

    # Calorimeter response, then the cone: what survives is the jet (its pT, mass and image).
    sigma = np.sqrt(_CALO_STOCHASTIC**2 / np.maximum(p, 1e-3) + _CALO_CONSTANT**2)
    p = p * np.maximum(1.0 + sigma * rng.standard_normal(len(p)), 0.0)
    keep = (p > 0) & (np.hypot(deta, dphi) < _JET_R)
    jet, p, deta, dphi = jet[keep], p[keep], deta[keep], dphi[keep]

    abs_eta = eta[jet] + deta
    px = np.bincount(jet, p * np.cos(dphi), n)
    py = np.bincount(jet, p * np.sin(dphi), n)
    pz = np.bincount(jet, p * np.sinh(abs_eta), n)
    energy = np.bincount(jet, p * np.cosh(abs_eta), n)
    jet_pt = np.maximum(np.hypot(px, py), 1e-9)  # guards the (never seen) jet that lost every constituent
    jet_mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    sum_p = np.maximum(np.bincount(jet, p, n), 1e-12)

    # Centre on the pT-weighted centroid (the usual jet-image preprocessing); no rotation or flip.
    u = deta - (np.bincount(jet, p * deta, n) / sum_p)[jet]
    v = dphi - (np.bincount(jet, p * dphi, n) / sum_p)[jet]
    pixel = 2.0 * half_width / size
    iu = np.floor((u + half_width) / pixel).astype(np.int64)
    iv = np.floor((v + half_width) / pixel).astype(np.int64)
    inside = (iu >= 0) & (iu < size) & (iv >= 0) & (iv < size)
    flat = (jet * size + iu) * size + iv
    images = np.bincount(flat[inside], p[inside], n * size * size).reshape(n, size, size)

    rows = np.zeros((n, len(JET_FEATURE_NAMES)), dtype=np.float32)
    col = {name: i for i, name in enumerate(JET_FEATURE_NAMES)}
    rows[:, col["j_pt"]] = jet_pt
    rows[:, col["j_eta"]] = np.arcsinh(pz / jet_pt)
    rows[:, col["j_mass"]] = jet_mass
    rows[:, col["j_multiplicity"]] = np.bincount(jet, minlength=n)
    flag = np.select(
        [(cls == 0) & sub, cls == 0, (cls == 1) & ~sub, cls == 1],
        [col["j_g"], col["j_q"], col["j_w"], col["j_z"]],
        default=col["j_t"],
    )
    rows[np.arange(n), flag] = 1.0
    return images.astype(np.float32), rows


def generate_jet_images(
    path: str | Path,
    n_qcd: int,
    n_wz: int,
    n_top: int,
    image_size: int,
    seed: int,
    *,
    half_width: float = 0.8,
) -> None:
    """Write synthetic jets in the hls4ml LHC jet-dataset layout (``jetImage``, ``jets``, ``jetFeatureNames``).

    Jets have pT from a falling spectrum (pT^-5) in 500-700 GeV and |eta| < 2. QCD jets (half gluon,
    half quark) are a core parton plus its two hardest emissions, ordered in rho = m^2/(pT R)^2 by the
    double-log Sudakov of the plain jet mass (QCD mass arises from radiation: median about 58 GeV);
    W and Z jets are two prongs from a Breit-Wigner mass with z uniform (separation ~ 2m/pT); top jets
    are b + W with the W split again. Each prong showers into constituents (gluons: more and wider);
    the quarks of a colour singlet (W, Z, the W in a top) radiate inside their opening angle (colour
    coherence), coloured partons up to the cone's edge. An underlying event adds about 3 GeV,
    constituent pT is smeared by a calorimeter resolution and only constituents within R = 0.8 of the
    axis are kept; ``jetimages.jet_marginals`` measures what these choices produce (docs/studies.md lists
    them).
    ``jetImage`` (N, S, S) holds the pT (GeV) per pixel over |d eta|, |d phi| < ``half_width``, centred
    on the pT-weighted centroid, indexed [eta, phi]. In ``jets`` the columns j_pt, j_eta, j_mass and
    j_multiplicity are computed from the kept constituents and the one-hot class columns are set (QCD -> j_g or j_q, W -> j_w, Z -> j_z,
    top -> j_t); every other column is zero. Classes are shuffled together; the write is atomic and
    done in chunks, so memory does not grow with N. The same seed gives the same file.
    """
    counts = (n_qcd, n_wz, n_top)
    if min(counts) < 0 or sum(counts) < 1:
        raise ValueError(f"need non-negative class counts with at least one jet, got {counts}")
    if image_size < 2:
        raise ValueError(f"image_size must be >= 2, got {image_size}")
    if not half_width > 0:
        raise ValueError(f"half_width must be positive, got {half_width}")
    rng = np.random.default_rng(seed)
    n = sum(counts)
    cls = rng.permutation(np.repeat(np.arange(3, dtype=np.int8), counts))
    sub = rng.random(n) < 0.5  # gluon among QCD, Z among W/Z
    chunk = max(1, _PIXELS_PER_CHUNK // (image_size * image_size))
    rows_per_h5_chunk = max(1, min(n, (1 << 18) // (image_size * image_size)))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        images = f.create_dataset(
            "jetImage",
            shape=(n, image_size, image_size),
            dtype=np.float32,
            chunks=(rows_per_h5_chunk, image_size, image_size),
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        jets = f.create_dataset("jets", shape=(n, len(JET_FEATURE_NAMES)), dtype=np.float32)
        f.create_dataset("jetFeatureNames", data=np.array(JET_FEATURE_NAMES, dtype="S"))
        f.attrs["generator"] = "l1ad synthetic jet images"
        f.attrs["seed"] = seed
        f.attrs["half_width"] = half_width
        f.attrs["jet_radius"] = _JET_R
        f.attrs["pt_range_gev"] = _PT_RANGE
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            images[start:stop], jets[start:stop] = generate_chunk(
                rng, cls[start:stop], sub[start:stop], image_size, half_width
            )
