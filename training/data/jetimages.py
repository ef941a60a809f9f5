"""Jet images for the NuRD family: a physics-motivated generator and a loader for the hls4ml LHC jet layout.

QCD and W/Z jets are the labelled backgrounds and top jets the anomaly; the jet mass is the nuisance
that differs between the background classes and that a nuisance-robust representation must ignore.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from l1ad.config import JetImageData
from l1ad.errors import InputError
from l1ad.io import atomic_path, require_finite, write_json
from training.data.h5read import (
    ENERGY_NOISE_GEV,
    MAX_GEV,
    clip_noise,
    open_h5,
    require_dataset,
    require_within,
    tally,
)
from training.data.splits import Split, Splits, write_splits

CLASSES = ("qcd", "wz", "top")

# Column names of `jets` in the hls4ml LHC jet dataset (Zenodo 3602260, 150-particle files).
JET_FEATURE_NAMES = (
    "j_ptfrac", "j_pt", "j_eta", "j_mass",
    "j_tau1_b1", "j_tau2_b1", "j_tau3_b1", "j_tau1_b2", "j_tau2_b2", "j_tau3_b2",
    "j_tau32_b1", "j_tau32_b2", "j_zlogz",
    "j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2",
    "j_d2_b1", "j_d2_b2", "j_d2_a1_b1", "j_d2_a1_b2",
    "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2",
    "j_tau1_b1_mmdt", "j_tau2_b1_mmdt", "j_tau3_b1_mmdt", "j_tau1_b2_mmdt", "j_tau2_b2_mmdt", "j_tau3_b2_mmdt",
    "j_tau32_b1_mmdt", "j_tau32_b2_mmdt",
    "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt", "j_n2_b2_mmdt",
    "j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1",
    "j_multiplicity",
    "j_g", "j_q", "j_w", "j_z", "j_t", "j_undef",
)  # fmt: skip

# One-hot truth columns -> class index in CLASSES; j_undef (or no flag) marks events that are dropped.
_CLASS_OF_FLAG = {"j_g": 0, "j_q": 0, "j_w": 1, "j_z": 1, "j_t": 2}

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
_RAW_CHUNK_BYTES = 256 << 20  # loader: at most this many bytes of raw images in memory at once


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
    axis are kept; ``jet_marginals`` measures what these choices produce (docs/studies.md lists them).
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


def _overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) share of each input pixel falling into each output pixel; columns sum to 1."""
    edges_in = np.linspace(0.0, 1.0, n_in + 1)
    edges_out = np.linspace(0.0, 1.0, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return (np.clip(hi - lo, 0.0, None) * n_in).astype(np.float32)


def rebin_images(images: np.ndarray, size: int) -> np.ndarray:
    """Rebin (N, H, W) images to (N, size, size), preserving each image's total.

    When ``size`` divides H and W, pixel blocks are summed exactly; otherwise each input pixel's
    content is shared among the output pixels it overlaps in proportion to the overlapping area
    (also exact in the total, up to float rounding). Raises ``ValueError`` on a bad shape or size.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    n, h, w = images.shape
    if h < 1 or w < 1:
        raise ValueError(f"images have an empty axis: {images.shape}")
    images = images.astype(np.float32, copy=False)
    if (h, w) == (size, size):
        return images.copy()
    if h % size == 0 and w % size == 0:
        return images.reshape(n, size, h // size, size, w // size).sum(axis=(2, 4))
    return _overlap_matrix(h, size) @ images @ _overlap_matrix(w, size).T


def _feature_names(f: h5py.File, path: Path, n_columns: int) -> list[str]:
    if "jetFeatureNames" not in f:
        raise InputError(path, "missing key 'jetFeatureNames' (names of the `jets` columns)")
    raw = f["jetFeatureNames"]
    if not isinstance(raw, h5py.Dataset) or raw.ndim != 1 or raw.dtype.kind not in "SOU":
        raise InputError(path, "'jetFeatureNames' must be a 1-D array of strings")
    try:
        values = raw[...]
    except OSError as exc:
        raise InputError(path, f"'jetFeatureNames' could not be read, file truncated? ({exc})") from None
    names = [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in values]
    if len(names) != n_columns:
        raise InputError(path, f"'jetFeatureNames' names {len(names)} columns but 'jets' has {n_columns}")
    return names


def _read_block(ds: h5py.Dataset, start: int, stop: int, path: Path, what: str) -> np.ndarray:
    try:
        block = ds[start:stop]
    except OSError as exc:
        raise InputError(path, f"'{what}' could not be read, file truncated? ({exc})") from None
    return require_finite(block, path, f"{what} (events {start}-{stop})")


def load_jet_images(
    path: str | Path, image_size: int, chunk_events: int = 10_000, clipped: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a jet-image file (hls4ml ``jetImage_*.h5`` layout or the generator's) rebinned to ``image_size``.

    Returns (images (N, S, S) float32 pT per pixel, class index (N,) int8 into CLASSES, jet mass
    (N,) float32 GeV, jet pT (N,) float32 GeV). The class comes from the one-hot columns located by
    name in ``jetFeatureNames`` (j_g, j_q -> qcd; j_w, j_z -> wz; j_t -> top); events flagged j_undef
    or with no flag are dropped. Images are read ``chunk_events`` at a time, fewer when a chunk of
    raw images would exceed 256 MiB, so memory is one raw chunk plus the rebinned result.
    ``jetConstituentList`` is not read. Every problem is an ``InputError`` naming the file.
    """
    path = Path(path)
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
    with open_h5(path) as f:
        image_ds = require_dataset(f, "jetImage", path, ndim=3, floating=True)
        jets_ds = require_dataset(f, "jets", path, ndim=2, floating=True)
        n, h, w = image_ds.shape
        if h != w:
            raise InputError(path, f"'jetImage' has shape {image_ds.shape}, expected square images (N, S, S)")
        if jets_ds.shape[0] != n:
            raise InputError(path, f"'jets' holds {jets_ds.shape[0]} events but 'jetImage' holds {n}")
        names = _feature_names(f, path, jets_ds.shape[1])
        column = {name: i for i, name in enumerate(names)}
        for needed in ("j_pt", "j_mass"):
            if needed not in column:
                raise InputError(path, f"'jetFeatureNames' has no '{needed}' column")
        missing = [flag for flag in _CLASS_OF_FLAG if flag not in column]
        if missing:
            raise InputError(
                path, f"one-hot class columns missing from 'jetFeatureNames': {', '.join(missing)}"
            )
        flags = list(_CLASS_OF_FLAG) + (["j_undef"] if "j_undef" in column else [])
        flag_cols = [column[name] for name in flags]
        flag_class = np.array([_CLASS_OF_FLAG.get(name, -1) for name in flags], dtype=np.int8)

        labels, masses, pts = [], [], []
        for start in range(0, n, chunk_events):
            stop = min(start + chunk_events, n)
            block = _read_block(jets_ds, start, stop, path, "jets")
            onehot = block[:, flag_cols]
            if not np.isin(onehot, (0, 1)).all():
                raise InputError(
                    path, f"one-hot class columns hold values other than 0/1 (events {start}-{stop})"
                )
            n_flags = onehot.sum(axis=1)
            if (n_flags > 1).any():
                bad = start + int(np.argmax(n_flags > 1))
                raise InputError(path, f"event {bad} has more than one class flag set")
            label = np.where(n_flags == 1, flag_class[np.argmax(onehot, axis=1)], -1).astype(np.int8)
            labels.append(label)
            tally(clipped, "j_pt", clip_noise(block[:, column["j_pt"]], ENERGY_NOISE_GEV))
            require_within(block[:, column["j_pt"]], path, "'jets' column j_pt", 0.0, MAX_GEV, " GeV", start)
            require_within(
                block[:, column["j_mass"]], path, "'jets' column j_mass", -MAX_GEV, MAX_GEV, " GeV", start
            )
            masses.append(block[:, column["j_mass"]].astype(np.float32))
            pts.append(block[:, column["j_pt"]].astype(np.float32))
        label = np.concatenate(labels)
        keep = label >= 0
        if not keep.any():
            raise InputError(path, "no event carries a qcd, W/Z or top class flag")

        out = np.empty((int(keep.sum()), image_size, image_size), dtype=np.float32)
        step = max(1, min(chunk_events, _RAW_CHUNK_BYTES // max(1, h * w * image_ds.dtype.itemsize)))
        filled = 0
        for start in range(0, n, step):
            stop = min(start + step, n)
            chunk_keep = keep[start:stop]
            if not chunk_keep.any():
                continue
            raw = _read_block(image_ds, start, stop, path, "jetImage")
            tally(clipped, "jetImage pixel pT", clip_noise(raw, ENERGY_NOISE_GEV))
            require_within(raw, path, "'jetImage' pixel pT", 0.0, MAX_GEV, " GeV", start)
            raw = raw[chunk_keep]
            out[filled : filled + len(raw)] = rebin_images(raw, image_size)
            filled += len(raw)
    return out, label[keep], np.concatenate(masses)[keep], np.concatenate(pts)[keep]


def _split_indices(
    rng: np.random.Generator, label: np.ndarray, test_fraction: float
) -> dict[str, list[np.ndarray]]:
    """Per background class: test share ``test_fraction``, validation 10% of the rest; top: test only."""
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(CLASSES)):
        idx = rng.permutation(np.flatnonzero(label == c))
        if CLASSES[c] == "top":
            parts["test"].append(idx)
            continue
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(0.1 * (len(idx) - n_test)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return parts


def _rank_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive value > a negative one) + half the ties (Mann-Whitney); NaN when a side is empty."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    values = np.concatenate([positive, negative])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # average ranks of ties
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


# Fixed-mass windows (GeV) in which the backgrounds and the signal are compared image by image.
WZ_WINDOW = (75.0, 100.0)
TOP_WINDOW = (150.0, 190.0)


def jet_marginals(images: np.ndarray, label: np.ndarray, mass: np.ndarray, half_width: float = 0.8) -> dict:
    """The marginals the generator is checked against, measured on (N, S, S) images normalised to unit pT.

    Per class: jet-mass quantiles (10/50/90%). Image observables per jet: the pT-weighted angular spread
    ``width`` = sqrt(sum_i I_i |r_i - r_c|^2) (m / pT ~ width for a massless-constituent jet, so it measures
    the mass through the image) and ``n_pixels``, the pixels holding more than 1% of the jet pT (the spread
    of the radiation). Reported: Pearson(mass, width) per class (how far the image encodes the mass), and
    at fixed mass, AUC of W/Z against QCD in ``WZ_WINDOW`` and of top against QCD in ``TOP_WINDOW`` for
    each observable (AUC > 0.5: the first class has the larger value). At fixed mass the width carries
    little (AUC near 0.5); what separates the classes there is the radiation pattern.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images[..., 0]
    label, mass = np.asarray(label), np.asarray(mass, dtype=np.float64)
    size = images.shape[1]
    centres = (np.arange(size) + 0.5) * (2.0 * half_width / size) - half_width
    u, v = np.meshgrid(centres, centres, indexing="ij")
    mean_u, mean_v = (images * u).sum(axis=(1, 2)), (images * v).sum(axis=(1, 2))
    spread = (images * (u**2 + v**2)).sum(axis=(1, 2)) - mean_u**2 - mean_v**2
    observables = {"width": np.sqrt(np.maximum(spread, 0.0)), "n_pixels": (images > 0.01).sum(axis=(1, 2))}
    out: dict = {"classes": {}}
    for c, name in enumerate(CLASSES):
        sel = label == c
        if sel.sum() < 2:
            continue
        out["classes"][name] = {
            "n": int(sel.sum()),
            "mass_quantiles_10_50_90_gev": [float(q) for q in np.percentile(mass[sel], [10, 50, 90])],
            "pearson_mass_width": float(np.corrcoef(mass[sel], observables["width"][sel])[0, 1]),
        }
    for key, (first, window) in {"wz_vs_qcd": (1, WZ_WINDOW), "top_vs_qcd": (2, TOP_WINDOW)}.items():
        inside = (mass > window[0]) & (mass < window[1])
        a, b = inside & (label == first), inside & (label == 0)
        out[f"{key}_at_fixed_mass"] = {
            "window_gev": list(window),
            "n": [int(a.sum()), int(b.sum())],
            **{f"auc_{o}": _rank_auc(vals[a], vals[b]) for o, vals in observables.items()},
        }
    return out


def _binned_mutual_information(values: np.ndarray, label: np.ndarray, n_bins: int = 20) -> float:
    """I(value; label) in bits with quantile bins: catches the dependence a correlation misses.

    QCD and W/Z can share a mean mass while their spectra differ (broad vs peaked).
    """
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    joint = np.zeros((len(edges) + 1, 2))
    np.add.at(joint, (np.searchsorted(edges, values, side="right"), label), 1.0)
    joint /= joint.sum()
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / expected[nz])).sum())


def normalise_pt(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image divided by its total pT (in place where possible), empty images dropped: (images, kept mask)."""
    total = images.sum(axis=(1, 2), dtype=np.float64)
    nonempty = total > 0
    if not nonempty.all():
        images, total = images[nonempty], total[nonempty]
    images /= total.astype(np.float32)[:, None, None]
    return images, nonempty


def prepare_jet_images(
    cfg: JetImageData, source: Path, out_path: Path, preprocessing_path: Path, seed: int, chunk_events: int
) -> dict:
    """Load ``source``, normalise each image to unit total pT and write train/val/test splits.

    ``source`` is one jet-image file or a directory of ``jetImage_*.h5`` files (concatenated). Each
    image is divided by its total pT so the model sees the shape of the energy flow, not its scale
    (images with no pT are dropped). QCD and W/Z are split into train/val/test (test share
    ``cfg.test_fraction``, validation 10% of the rest); top goes to test only. Splits carry X
    (N, S, S, 1) float32, y (0 qcd, 1 W/Z, 2 top) and the jet mass in GeV as nuisance. The choices
    are recorded in ``preprocessing_path`` (JSON). Returns counts per split and class, the mean mass
    per class and the correlation of mass with the QCD-vs-W/Z label.
    """
    source = Path(source)
    if not 0.0 < cfg.test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {cfg.test_fraction}")
    size = cfg.image_size
    if source.is_dir():
        files = sorted(source.glob("jetImage_*.h5"))
        if not files:
            raise InputError(source, "directory holds no jetImage_*.h5 files")
    else:
        files = [source]
    clipped: dict[str, int] = {}
    loaded = [load_jet_images(p, size, chunk_events, clipped) for p in files]
    images = np.concatenate([x[0] for x in loaded]) if len(loaded) > 1 else loaded[0][0]
    label, mass, pt = (np.concatenate([x[i] for x in loaded]) for i in (1, 2, 3))
    del loaded

    images, nonempty = normalise_pt(images)
    n_empty = int((~nonempty).sum())
    if n_empty:
        label, mass, pt = (a[nonempty] for a in (label, mass, pt))
    for c, name in enumerate(CLASSES):
        if not (label == c).any():
            raise InputError(source, f"no {name} jets in the input: every class is needed for the splits")

    # marginals on at most 20k jets (fixed seed): the checks of the generator, also recorded for real data
    rows = np.sort(np.random.default_rng(seed + 1).permutation(len(images))[:20_000])
    marginals = jet_marginals(images[rows], label[rows], mass[rows])
    rng = np.random.default_rng(seed)
    parts = _split_indices(rng, label, cfg.test_fraction)
    split_arrays = {}
    for name, pieces in parts.items():
        idx = rng.permutation(np.concatenate(pieces))
        if len(idx) == 0:
            raise InputError(source, f"too few jets: the {name} split would be empty")
        split_arrays[name] = Split(X=images[idx][..., None], y=label[idx].astype(np.int8), nuisance=mass[idx])
    del images

    write_splits(
        out_path,
        Splits(
            train=split_arrays["train"],
            val=split_arrays["val"],
            test=split_arrays["test"],
            classes=list(CLASSES),
            n_background_classes=2,
            attrs={"family": "jet_images", "nuisance": "jet_mass_gev", "image_size": size},
        ),
    )
    background = label < 2
    mass_corr = float(np.corrcoef(mass[background], label[background])[0, 1])
    summary = {
        "counts": {
            name: {CLASSES[c]: int((s.y == c).sum()) for c in range(len(CLASSES)) if name == "test" or c < 2}
            for name, s in split_arrays.items()
        },
        "mean_mass_gev": {CLASSES[c]: float(mass[label == c].mean()) for c in range(len(CLASSES))},
        "mean_pt_gev": {CLASSES[c]: float(pt[label == c].mean()) for c in range(len(CLASSES))},
        "mass_label_correlation_qcd_vs_wz": mass_corr,
        "mass_label_mutual_information_bits": _binned_mutual_information(mass[background], label[background]),
        "marginals": marginals,
        "n_dropped_empty": n_empty,
        "clipped_noise": clipped,  # values within noise of 0 set to 0 (h5read.ENERGY_NOISE_GEV)
    }
    write_json(
        preprocessing_path,
        {
            "family": "jet_images",
            "source": [str(p) for p in files],
            "image_size": size,
            "input_shape": [size, size, 1],
            "rebinning": "pixel blocks summed when the size divides the raw size, else area-weighted",
            "normalisation": "each image divided by its total pT (sum of pixels); empty images dropped",
            "classes": list(CLASSES),
            "n_background_classes": 2,
            "nuisance": "jet mass (GeV, j_mass), unscaled",
            "split": {
                "test_fraction": cfg.test_fraction,
                "validation_fraction_of_rest": 0.1,
                "top": "test only",
            },
            "seed": seed,
            **summary,
        },
    )
    return summary
