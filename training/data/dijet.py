"""LHC Olympics 2020 R&D dijet family: a seeded generator of the jet-feature file, its loader, and the data stage.

The generator writes the real ``events_anomalydetection_v2.features.h5`` layout (REFERENCE.md section 1), so the
synthetic default and the Zenodo file go through the same loader and the same five derived features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np

from l1ad.config import DijetData
from l1ad.errors import InputError
from l1ad.h5read import (
    ENERGY_NOISE_GEV,
    MAX_GEV,
    RATIO_NOISE,
    clip_noise,
    open_h5,
    open_npy,
    require_dataset,
    require_strings,
    require_within,
    tally,
)
from l1ad.io import atomic_path, require_finite, write_json
from training.data.splits import Split, Splits, write_splits

# Column order of the features file (REFERENCE.md section 1); momenta and masses in GeV.
FEATURE_COLUMNS = (
    "pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
    "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2",
    "label",
)  # fmt: skip
FEATURE_NAMES = ("mjj", "mj_min", "dm", "tau21_light", "tau21_heavy")
N_JET_COLUMNS = 14  # the black-box files carry the 14 jet columns without the label
# Jet columns (in FEATURE_COLUMNS order) that cannot be negative: masses and N-subjettiness.
NONNEGATIVE_COLUMNS = tuple(i for i, c in enumerate(FEATURE_COLUMNS[:N_JET_COLUMNS]) if c[:2] in ("mj", "ta"))
# Prepared arrays hold masses in TeV and tau21 ratios (at most about 1): larger is corrupt or not TeV.
MAX_PREPARED = 100.0

# Signal-region marginals of the OCDN study (REFERENCE.md section 1): background means, signal medians.
PUBLISHED_SR_MARGINALS = {
    "background_mean": {
        "mjj": 3.48,
        "mj_min": 0.135,
        "dm": 0.173,
        "tau21_light": 0.577,
        "tau21_heavy": 0.479,
    },
    "signal_median": {"mj_min": 0.111, "dm": 0.380, "tau21_light": 0.383, "tau21_heavy": 0.199},
}

# --- Generator physics. LHCO R&D: 13 TeV pp, anti-kt R = 1.0 jets, single-jet trigger pT > 1.2 TeV.
SQRT_S_GEV = 13_000.0
TRIGGER_PT_GEV = 1_200.0
JET_ABS_Y_MAX = 2.5
W_PRIME_GEV, X_GEV, Y_GEV = 3_500.0, 500.0, 100.0  # W' -> X(qq) Y(qq)
# Standard dijet-search fit function f(x) = (1 - x)^P1 / x^P2, x = mjj / sqrt(s), with exponents of the size
# the 13 TeV fits find.
DIJET_P1, DIJET_P2 = 10.0, 5.0
MJJ_RANGE_GEV = (2_000.0, 8_000.0)
# Jet-mass Sudakov at leading log: P(rho < r) = exp(-a/2 ln^2(RHO_MAX / r)), rho = m^2 / (pT R)^2,
# a = alpha_s C / pi. A fixed coupling of 0.2 stands in for the running coupling at the low kt that sets the
# mass; jets are an even quark (C_F) / gluon (C_A) mix at mjj ~ 3.5 TeV.
ALPHA_S_EFF = 0.2
GLUON_FRACTION = 0.5
RHO_MAX = 0.4
# Diffuse radiation (underlying event, ISR) caught in an R = 1 jet adds mass in quadrature; its scale grows
# like sqrt(pT). It is spread over the jet, so it raises tau2 relative to tau1: light jets look less prong-like.
UE_MASS_GEV, UE_PT_REF_GEV = 35.0, 1_700.0
# Two prongs closer than about the calorimeter granularity (HCAL towers ~0.087) merge into one.
PRONG_RESOLUTION = 0.1
JET_PT_RESOLUTION = 0.04
JET_MASS_SCALE, JET_MASS_RESOLUTION = 0.98, 0.08  # out-of-cone losses pull the reconstructed mass low
BATCH_EVENTS = 200_000  # bounds generator temporaries to a few tens of MB


def _beta_mean(rng: np.random.Generator, mean: float, concentration: float, n: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, n)


def _ue_mass(rng: np.random.Generator, pt: np.ndarray) -> np.ndarray:
    return UE_MASS_GEV * np.sqrt(pt / UE_PT_REF_GEV) * np.exp(rng.normal(0.0, 0.3, pt.size))


def _subjettiness(
    rng: np.random.Generator, m: np.ndarray, pt: np.ndarray, tau21: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tau1..tau3 (beta = 1, normalised by pT R) from a jet's tau21.

    A splitting with momentum share z at angle theta gives m/pT ~ theta sqrt(z) and tau1 ~ z theta,
    so tau1 ~ (m/pT) sqrt(z); tau3/tau2 is near 0.75 for one- and two-prong jets alike.
    """
    tau1 = (m / pt) * np.sqrt(z)
    tau2 = tau21 * tau1
    tau3 = _beta_mean(rng, 0.75, 15.0, m.size) * tau2
    return tau1, tau2, tau3


def _rows(
    rng: np.random.Generator,
    pt: tuple[np.ndarray, np.ndarray],
    y: tuple[np.ndarray, np.ndarray],
    phi: tuple[np.ndarray, np.ndarray],
    m: tuple[np.ndarray, np.ndarray],
    tau21: tuple[np.ndarray, np.ndarray],
    z: tuple[np.ndarray, np.ndarray],
    label: float,
) -> np.ndarray:
    """Feature-file rows (n, 15) from two jets, j1 the harder in pT as in the real file."""
    n = pt[0].size
    out = np.empty((n, len(FEATURE_COLUMNS)))
    lead = pt[0] >= pt[1]

    def ordered(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return np.where(lead, pair[0], pair[1]), np.where(lead, pair[1], pair[0])

    columns = zip(*(ordered(q) for q in (pt, y, phi, m, tau21, z)), strict=True)
    for c, (pt_j, y_j, phi_j, m_j, tau21_j, z_j) in zip((0, 7), columns, strict=True):
        mt = np.sqrt(pt_j**2 + m_j**2)
        out[:, c] = pt_j * np.cos(phi_j)
        out[:, c + 1] = pt_j * np.sin(phi_j)
        out[:, c + 2] = mt * np.sinh(y_j)
        out[:, c + 3] = m_j
        out[:, c + 4 : c + 7] = np.column_stack(_subjettiness(rng, m_j, pt_j, tau21_j, z_j))
    out[:, 14] = label
    return out


def _mjj_proposal_cdf(pt_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid CDF of the dijet function times the share of chi = exp|dy| that passes a parton-level pT cut.

    QCD dijets are flat in chi (t-channel Rutherford limit), and pT = mjj / (2 cosh(dy/2)), so at each mjj
    only chi < chi_acc(mjj) passes; sampling that product leaves almost nothing for the trigger to reject.
    """
    grid = np.linspace(*MJJ_RANGE_GEV, 4097)
    x = grid / SQRT_S_GEV
    density = (1.0 - x) ** DIJET_P1 / x**DIJET_P2
    chi_max = np.exp(2 * JET_ABS_Y_MAX)
    chi_acc = np.exp(2 * np.arccosh(np.maximum(grid / (2 * pt_min), 1.0)))
    density *= (np.minimum(chi_acc, chi_max) - 1.0) / (chi_max - 1.0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return grid, cdf / cdf[-1]


def _background_batch(rng: np.random.Generator, n: int) -> np.ndarray:
    """QCD dijets: falling mjj, flat chi, Sudakov jet masses, one-prong tau21."""
    # Over 4 sigma of pT resolution below the trigger: the proposal removes no event the trigger would keep.
    pt_min = 0.85 * TRIGGER_PT_GEV
    grid, cdf = _mjj_proposal_cdf(pt_min)
    mjj = np.interp(rng.random(n), cdf, grid)
    chi_acc = np.exp(2 * np.arccosh(np.maximum(mjj / (2 * pt_min), 1.0)))
    dy = np.log(rng.uniform(1.0, np.minimum(chi_acc, np.exp(2 * JET_ABS_Y_MAX)))) * rng.choice([-1.0, 1.0], n)
    pt_parton = mjj / (2 * np.cosh(dy / 2))
    y_boost = rng.normal(0.0, 0.5, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    pt = tuple(pt_parton * (1.0 + rng.normal(0.0, JET_PT_RESOLUTION, n)) for _ in range(2))
    y = (y_boost + dy / 2, y_boost - dy / 2)
    phis = (phi, phi + np.pi + rng.normal(0.0, 0.05, n))  # ISR recoil: jets not exactly back to back
    masses, tau21s, zs = [], [], []
    for pt_j in pt:
        casimir = np.where(rng.random(n) < GLUON_FRACTION, 3.0, 4.0 / 3.0)
        log_rho = np.sqrt(-2.0 * np.log1p(-rng.random(n)) / (ALPHA_S_EFF * casimir / np.pi))
        m_qcd = pt_j * np.sqrt(RHO_MAX * np.exp(-log_rho))  # R = 1
        m_ue = _ue_mass(rng, pt_j)
        m = np.sqrt(m_qcd**2 + m_ue**2)
        one_prong = _beta_mean(rng, 0.46, 12.0, n)
        masses.append(m)
        tau21s.append(one_prong + (1.0 - one_prong) * (m_ue / m) ** 2)
        zs.append(rng.uniform(0.05, 0.5, n))
    rows = _rows(rng, pt, y, phis, tuple(masses), tuple(tau21s), tuple(zs), 0.0)
    return rows[_passes_selection(pt, y)]


def _signal_batch(rng: np.random.Generator, n: int) -> np.ndarray:
    """W'(3.5 TeV) -> X(500 GeV) Y(100 GeV), both decaying to two quarks."""
    mw, mx, my = W_PRIME_GEV, X_GEV, Y_GEV
    p_star = np.sqrt((mw**2 - (mx + my) ** 2) * (mw**2 - (mx - my) ** 2)) / (2 * mw)
    # A vector decaying to two scalars: d sigma / d cos(theta*) ~ 1 - cos^2, which is the law of the median
    # of three uniforms on [-1, 1].
    cos_t = np.median(rng.uniform(-1.0, 1.0, (n, 3)), axis=1)
    pt_true = p_star * np.sqrt(1.0 - cos_t**2)
    y_boost = rng.normal(0.0, 0.5, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    pts, ys, masses, tau21s, zs = [], [], [], [], []
    for m_true, sign in ((mx, 1.0), (my, -1.0)):
        e_star = np.sqrt(p_star**2 + m_true**2)
        y_star = np.arctanh(sign * p_star * cos_t / e_star)
        # Final-state radiation out of the cone gives the resonance its low-side tail.
        response = (1.0 + rng.normal(0.0, JET_PT_RESOLUTION, n)) * (1.0 - rng.exponential(0.03, n))
        pt_j = pt_true * response
        m_det = m_true * rng.normal(JET_MASS_SCALE, JET_MASS_RESOLUTION, n)
        m_ue = _ue_mass(rng, pt_j)
        m = np.sqrt(m_det**2 + m_ue**2)
        # A scalar's decay is flat in the quark momentum share z; the prongs open by m / (pT sqrt(z(1-z))).
        z = rng.uniform(0.0, 1.0, n)
        opening = m_true / (pt_j * np.sqrt(z * (1.0 - z)) + 1e-12)
        dilution = np.clip((m_ue / m) ** 2 + np.exp(-((opening / PRONG_RESOLUTION) ** 2)), 0.0, 1.0)
        two_prong = _beta_mean(rng, 0.2, 10.0, n)
        pts.append(pt_j)
        ys.append(y_boost + y_star)
        masses.append(m)
        tau21s.append(two_prong + (1.0 - two_prong) * dilution)
        zs.append(np.minimum(z, 1.0 - z))
    phis = (phi, phi + np.pi + rng.normal(0.0, 0.05, n))
    rows = _rows(rng, tuple(pts), tuple(ys), phis, tuple(masses), tuple(tau21s), tuple(zs), 1.0)
    return rows[_passes_selection(tuple(pts), tuple(ys))]


def _passes_selection(pt: tuple[np.ndarray, ...], y: tuple[np.ndarray, ...]) -> np.ndarray:
    inside = (np.abs(y[0]) < JET_ABS_Y_MAX) & (np.abs(y[1]) < JET_ABS_Y_MAX)
    return inside & (np.maximum(pt[0], pt[1]) > TRIGGER_PT_GEV)


def _accepted(
    rng: np.random.Generator, n: int, sampler: Callable[[np.random.Generator, int], np.ndarray]
) -> Iterator[np.ndarray]:
    """Yield batches of selected events until ``n`` are out (the selection is applied by rejection)."""
    left = n
    while left > 0:
        rows = sampler(rng, min(BATCH_EVENTS, int(1.3 * left) + 100))[:left]
        left -= len(rows)
        yield rows


def generate_dijet_features(path: str | Path, n_background: int, n_signal: int, seed: int) -> None:
    """Write a synthetic LHCO R&D features file (pandas fixed frame, key ``df``), classes shuffled together."""
    if n_background < 0 or n_signal < 0 or n_background + n_signal == 0:
        raise ValueError(
            f"need a positive number of events, got {n_background} background, {n_signal} signal"
        )
    rng = np.random.default_rng(seed)
    n = n_background + n_signal
    table = np.empty((n, len(FEATURE_COLUMNS)))
    # Events of one class are i.i.d., so scattering them onto a random permutation is a full shuffle.
    order = rng.permutation(n)
    start = 0
    for count, sampler in ((n_background, _background_batch), (n_signal, _signal_batch)):
        for rows in _accepted(rng, count, sampler):
            table[order[start : start + len(rows)]] = rows
            start += len(rows)
    with atomic_path(path) as tmp:
        _write_pandas_fixed_frame(tmp, "df", table, FEATURE_COLUMNS)


def generate_background_features(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` selected QCD background events (all mjj) as the five OCDN features (N, 5) float32, in memory.

    The same generator and feature code as a written file read by ``load_dijet``.
    """
    return derive_features(np.concatenate(list(_accepted(rng, n, _background_batch))))


def _write_pandas_fixed_frame(path: Path, key: str, values: np.ndarray, columns: tuple[str, ...]) -> None:
    """Lay out one float64 frame as ``DataFrame.to_hdf(format="fixed")`` does through PyTables.

    Attribute names and values follow pandas.io.pytables (BlockManagerFixed) and PyTables' own node attributes,
    so pandas can read the file where PyTables is installed.
    """
    names = np.array(columns, dtype="S")
    with h5py.File(path, "w") as f:
        for k, v in (
            ("CLASS", "GROUP"),
            ("PYTABLES_FORMAT_VERSION", "2.1"),
            ("TITLE", ""),
            ("VERSION", "1.0"),
        ):
            f.attrs[k] = np.bytes_(v)
        g = f.create_group(key)
        for k, v in (
            ("CLASS", "GROUP"), ("TITLE", ""), ("VERSION", "1.0"),
            ("pandas_type", "frame"), ("pandas_version", "0.15.2"), ("encoding", "UTF-8"), ("errors", "strict"),
            ("axis0_variety", "regular"), ("axis1_variety", "regular"), ("block0_items_variety", "regular"),
        ):  # fmt: skip
            g.attrs[k] = np.bytes_(v)
        g.attrs["ndim"] = np.int64(2)
        g.attrs["nblocks"] = np.int64(1)
        arrays = (
            ("axis0", names, "string"),
            ("axis1", np.arange(values.shape[0], dtype=np.int64), "integer"),
            ("block0_values", values.astype(np.float64, copy=False), None),
            ("block0_items", names, "string"),
        )
        for name, data, kind in arrays:
            ds = g.create_dataset(name, data=data)
            for k, v in (("CLASS", "ARRAY"), ("FLAVOR", "numpy"), ("TITLE", ""), ("VERSION", "2.4")):
                ds.attrs[k] = np.bytes_(v)
            ds.attrs["transposed"] = np.bool_(True)
            if kind is not None:
                ds.attrs["kind"] = np.bytes_(kind)
                ds.attrs["name"] = np.bytes_("N.")  # the index name None, pickled by PyTables


def derive_features(table: np.ndarray) -> np.ndarray:
    """The five OCDN features (N, 5) float32 from raw feature-file columns (N, >= 14), GeV in, TeV out.

    Jets are ordered by mass; tau21 of a jet with tau1 = 0 (a single constituent) is 0.
    """
    t = np.asarray(table, dtype=np.float64)
    p1, m1 = t[:, 0:3], t[:, 3]
    p2, m2 = t[:, 7:10], t[:, 10]
    e1 = np.sqrt(np.einsum("ij,ij->i", p1, p1) + m1**2)
    e2 = np.sqrt(np.einsum("ij,ij->i", p2, p2) + m2**2)
    p = p1 + p2
    mjj = np.sqrt(np.maximum((e1 + e2) ** 2 - np.einsum("ij,ij->i", p, p), 0.0))
    tau21_1 = np.divide(t[:, 5], t[:, 4], out=np.zeros(len(t)), where=t[:, 4] > 0)
    tau21_2 = np.divide(t[:, 12], t[:, 11], out=np.zeros(len(t)), where=t[:, 11] > 0)
    first_light = m1 <= m2
    out = np.empty((len(t), len(FEATURE_NAMES)), dtype=np.float32)
    out[:, 0] = mjj / 1000.0
    out[:, 1] = np.minimum(m1, m2) / 1000.0
    out[:, 2] = np.abs(m1 - m2) / 1000.0
    out[:, 3] = np.where(first_light, tau21_1, tau21_2)
    out[:, 4] = np.where(first_light, tau21_2, tau21_1)
    return out


def _labels(values: np.ndarray, path: Path, start: int) -> np.ndarray:
    bad = (values != 0) & (values != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(path, f"label of event {start + i} is {float(values[i])}, expected 0 or 1")
    return values.astype(np.int8)


def _read_rows(
    source: h5py.Dataset | np.ndarray,
    path: Path,
    what: str,
    chunk_events: int,
    convert: Callable[[np.ndarray], np.ndarray],
    label_column: int | None,
    check: Callable[[np.ndarray, int], None],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Chunked pass over a 2-D table: features from ``convert`` per chunk, labels from ``label_column``.

    ``check(block, start)`` clips floating-point noise in each raw chunk (in place) and validates its
    value ranges before conversion.
    """
    n = source.shape[0]
    features = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    labels = np.empty(n, dtype=np.int8) if label_column is not None else None
    try:
        for start in range(0, n, chunk_events):
            stop = min(start + chunk_events, n)
            block = np.array(source[start:stop], dtype=np.float64)  # a copy: check() clips noise in it
            require_finite(block, path, f"{what} (events {start}-{stop})")
            check(block, start)
            features[start:stop] = convert(block)
            if labels is not None:
                labels[start:stop] = _labels(block[:, label_column], path, start)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"'{what}' could not be read, file truncated or corrupt? ({exc})") from None
    return features, labels


def _prepared_layout(ds: h5py.Dataset | np.ndarray, path: Path, what: str) -> int | None:
    """Label column of a prepared array [mjj, mj_min, dm, tau21_light, tau21_heavy(, label)]."""
    if ds.dtype.kind != "f":
        raise InputError(
            path, f"'{what}' has dtype {ds.dtype}, expected a numeric array of floating-point values"
        )
    if ds.ndim != 2 or ds.shape[1] not in (5, 6):
        raise InputError(
            path,
            f"'{what}' has shape {ds.shape}, expected (N, 5) columns {', '.join(FEATURE_NAMES)} or (N, 6) with a label",
        )
    if ds.shape[0] == 0:
        raise InputError(path, f"'{what}' holds no events")
    return 5 if ds.shape[1] == 6 else None


def _load_features_frame(
    f: h5py.File, path: Path, chunk_events: int, clipped: dict[str, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The real features file: pandas fixed frame ``df`` with the 15 (or, unlabelled, 14) named columns."""
    values = require_dataset(f, "df/block0_values", path, ndim=2, floating=True)
    names = require_strings(f, "df/block0_items", path, "the column names of the frame")
    if len(names) != values.shape[1]:
        raise InputError(path, f"'df' names {len(names)} columns but block0_values has {values.shape[1]}")
    missing = [c for c in FEATURE_COLUMNS[:N_JET_COLUMNS] if c not in names]
    if missing:
        raise InputError(
            path,
            f"wrong columns in 'df': {values.shape[1]} columns, missing {', '.join(missing)} "
            f"(expected the 15 jet-feature columns {' '.join(FEATURE_COLUMNS)})",
        )
    index = [names.index(c) for c in FEATURE_COLUMNS[:N_JET_COLUMNS]]
    label_column = names.index("label") if "label" in names else None
    if index == list(range(N_JET_COLUMNS)):
        convert = derive_features
    else:
        convert = lambda block: derive_features(block[:, index])  # noqa: E731

    def check(block: np.ndarray, start: int) -> None:
        """Momenta and masses within +-100 TeV; masses and N-subjettiness not negative beyond noise."""
        for c in range(N_JET_COLUMNS):
            name = FEATURE_COLUMNS[c]
            if c in NONNEGATIVE_COLUMNS:
                tolerance = ENERGY_NOISE_GEV if name.startswith("mj") else RATIO_NOISE
                tally(clipped, name, clip_noise(block[:, index[c]], tolerance))
            lo = 0.0 if c in NONNEGATIVE_COLUMNS else -MAX_GEV
            require_within(block[:, index[c]], path, f"column '{name}' of 'df'", lo, MAX_GEV, " (GeV)", start)

    return _read_rows(values, path, "df/block0_values", chunk_events, convert, label_column, check)


def _check_prepared(path: Path, what: str, clipped: dict[str, int]) -> Callable[[np.ndarray, int], None]:
    def check(block: np.ndarray, start: int) -> None:
        """Masses in TeV and tau21 ratios: none negative beyond noise, none beyond 100 (a file in GeV
        shows up here)."""
        for c, name in enumerate(FEATURE_NAMES):
            tolerance = RATIO_NOISE if name.startswith("tau") else ENERGY_NOISE_GEV / 1000.0  # TeV
            tally(clipped, name, clip_noise(block[:, c], tolerance))
            require_within(
                block[:, c],
                path,
                f"column '{name}' of '{what}'",
                0.0,
                MAX_PREPARED,
                " (TeV for masses)",
                start,
            )

    return check


def _as_float32(block: np.ndarray) -> np.ndarray:
    return block[:, : len(FEATURE_NAMES)].astype(np.float32)


def load_dijet(
    path: str | Path, chunk_events: int = 100_000, clipped: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load the five features (N, 5) float32 and labels (N,) int8, or None when the file has no label column.

    Accepts the real features file (``.h5``, pandas key ``df``) and prepared arrays
    [mjj, mj_min, dm, tau21_light, tau21_heavy(, label)] as ``.npy`` or as one 2-D dataset in an ``.h5``
    (key ``data``, or the file's only dataset). Reads in chunks of ``chunk_events`` rows. Floating-point
    noise in masses and N-subjettiness (``h5read.ENERGY_NOISE_GEV``, ``RATIO_NOISE``) is set to 0 and
    counted per column into ``clipped``; values negative beyond it are refused.
    """
    clipped = {} if clipped is None else clipped
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = open_npy(path)
        label_column = _prepared_layout(array, path, "array")
        check = _check_prepared(path, "array", clipped)
        return _read_rows(array, path, "array", chunk_events, _as_float32, label_column, check)
    if suffix not in (".h5", ".hdf5"):
        raise InputError(path, f"unknown extension '{path.suffix}' (expected .h5, .hdf5 or .npy)")
    with open_h5(path) as f:
        if "df" in f:
            return _load_features_frame(f, path, chunk_events, clipped)
        datasets: list[str] = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        if "data" in f:
            key = "data"
        elif len(datasets) == 1:
            key = datasets[0]
        else:
            found = ", ".join(datasets) or "none"
            raise InputError(path, f"missing key: expected 'df' (features frame) or 'data' (found: {found})")
        ds = f[key]
        if not isinstance(ds, h5py.Dataset):
            raise InputError(path, f"'{key}' is a group, expected a dataset")
        label_column = _prepared_layout(ds, path, key)
        check = _check_prepared(path, key, clipped)
        return _read_rows(ds, path, key, chunk_events, _as_float32, label_column, check)


def signal_region_mask(mjj: np.ndarray, window: tuple[float, float] = (3.3, 3.7)) -> np.ndarray:
    """Events with ``window[0] < mjj < window[1]`` (TeV)."""
    lo, hi = window
    return (mjj > lo) & (mjj < hi)


def sideband_mask(
    mjj: np.ndarray, sidebands: tuple[tuple[float, float], ...] = ((2.4, 3.3), (3.7, 4.6))
) -> np.ndarray:
    """Events inside any closed sideband window (TeV); the edges belong to the sidebands, not the open SR."""
    mask = np.zeros(np.shape(mjj), dtype=bool)
    for lo, hi in sidebands:
        mask |= (mjj >= lo) & (mjj <= hi)
    return mask


def prepare_dijet(
    cfg: DijetData, source: Path, out_path: Path, preprocessing_path: Path, seed: int, chunk_events: int
) -> dict:
    """Signal-region splits of the dijet family, standardised on background training events only.

    SR background goes to train/val/test (test share ``cfg.test_background_fraction``, val 10% of the rest);
    SR signal only to test (at most ``cfg.n_test_signal``). Writes the split file and the scaler JSON and
    returns event counts and the per-class SR marginals.
    """
    clipped: dict[str, int] = {}
    features, labels = load_dijet(source, chunk_events, clipped)
    if labels is None:
        raise InputError(
            source,
            f"no label column (the table holds only the {len(FEATURE_NAMES)} feature columns): "
            "labels are needed to build test sets",
        )
    in_sr = signal_region_mask(features[:, 0], tuple(cfg.signal_region))
    lo, hi = cfg.signal_region
    background = features[in_sr & (labels == 0)]
    signal = features[in_sr & (labels == 1)]
    if len(background) == 0:
        raise InputError(source, f"no background events in the signal region {lo}-{hi} TeV")
    if len(signal) == 0:
        raise InputError(source, f"no signal events in the signal region {lo}-{hi} TeV")

    summary = {
        "n_events": len(features),
        "n_signal_region_background": len(background),
        "n_signal_region_signal": len(signal),
        "n_sideband": int(sideband_mask(features[:, 0], tuple(cfg.sidebands)).sum()),
        # values within floating-point noise of 0 (h5read.ENERGY_NOISE_GEV, RATIO_NOISE) set to 0, per column
        "clipped_noise": clipped,
        "background_mean": dict(
            zip(FEATURE_NAMES, background.mean(axis=0, dtype=np.float64).tolist(), strict=True)
        ),
        "signal_median": dict(
            zip(FEATURE_NAMES, np.median(signal, axis=0).astype(float).tolist(), strict=True)
        ),
    }
    del features, labels, in_sr

    rng = np.random.default_rng(seed)
    background = background[rng.permutation(len(background))]
    signal = signal[rng.permutation(len(signal))][: cfg.n_test_signal]
    n_test = int(round(cfg.test_background_fraction * len(background)))
    n_val = int(round(0.1 * (len(background) - n_test)))
    train, val, test_bkg = np.split(background, [len(background) - n_test - n_val, len(background) - n_test])
    if len(train) < 2 or len(val) == 0 or len(test_bkg) == 0:
        raise InputError(
            source, f"only {len(background)} background events in the signal region: too few to split"
        )

    mean = train.astype(np.float64).mean(axis=0)
    std = train.astype(np.float64).std(axis=0)
    if np.any(std == 0):
        flat = ", ".join(n for n, s in zip(FEATURE_NAMES, std, strict=True) if s == 0)
        raise InputError(source, f"feature {flat} is constant on the background training events")

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        scaled = ((x - mean) / std).astype(np.float32)
        return Split(X=scaled, y=y.astype(np.int8), nuisance=x[:, 0].astype(np.float32))

    test_x = np.concatenate([test_bkg, signal])
    test_y = np.concatenate([np.zeros(len(test_bkg)), np.ones(len(signal))])
    mix = rng.permutation(len(test_x))
    splits = Splits(
        train=split(train, np.zeros(len(train))),
        val=split(val, np.zeros(len(val))),
        test=split(test_x[mix], test_y[mix]),
        classes=["background", "signal"],
        attrs={"family": "dijet", "features": ",".join(FEATURE_NAMES), "nuisance": "mjj_tev",
               "signal_region_lo_tev": float(lo), "signal_region_hi_tev": float(hi)},
    )  # fmt: skip
    write_splits(out_path, splits)
    write_json(
        preprocessing_path,
        {
            "features": list(FEATURE_NAMES),
            "mean": mean,
            "std": std,
            "fit_on": "signal-region background, training split",
            "signal_region_tev": [lo, hi],
        },
    )
    summary.update(
        n_train=len(train), n_val=len(val), n_test_background=len(test_bkg), n_test_signal=len(signal)
    )
    return summary
