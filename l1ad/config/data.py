"""Config of the data stage (``data``): the three families, generated or read from the real files."""

from __future__ import annotations

from dataclasses import dataclass, field

from l1ad.config.section import Section


@dataclass
class DijetData(Section):
    """LHC Olympics R&D dijet features (REFERENCE.md section 1)."""

    source: str = "synthetic"  # "synthetic" or a path: features .h5 or prepared .npy/.h5 arrays
    n_background: int = 400_000  # generated QCD dijet events (all mjj); about 15% land in the SR
    n_signal: int = 20_000  # generated W' -> X Y events
    signal_region: tuple[float, float] = (3.3, 3.7)  # mjj window in TeV
    sidebands: tuple[tuple[float, float], ...] = ((2.4, 3.3), (3.7, 4.6))
    test_background_fraction: float = 0.2  # share of SR background held out for testing
    n_test_signal: int = 10_000  # SR signal events in the test set (all of them if fewer)

    def problems(self, where: str) -> list[str]:
        windows = [("signal_region", self.signal_region), *(("sidebands", w) for w in self.sidebands)]
        return [
            f"{where}.{name} must be an mjj window [lo, hi] in TeV with 0 <= lo < hi"
            for name, (lo, hi) in windows
            if not 0 <= lo < hi
        ]


@dataclass
class L1Data(Section):
    """CMS ADC2021 L1 objects (REFERENCE.md section 2)."""

    source: str = "synthetic"  # "synthetic" or a directory holding the ADC2021 .h5 files
    n_background: int = 300_000
    n_signal: int = 20_000  # per signal sample
    test_background_fraction: float = 0.4
    validation_fraction: float = 0.1  # of the background training share


@dataclass
class JetImageData(Section):
    """Jet images in the hls4ml LHC jet-dataset layout (REFERENCE.md section 3)."""

    source: str = "synthetic"  # "synthetic" or a path to a jetImage_*.h5 file
    image_size: int = 20  # pixels per side for the model (real 100x100 images are rebinned)
    n_qcd: int = 30_000
    n_wz: int = 30_000
    n_top: int = 10_000
    test_fraction: float = 0.3

    def problems(self, where: str) -> list[str]:
        return [f"{where}.image_size must be >= 4"] if self.image_size < 4 else []


@dataclass
class DataConfig(Section):
    """The three data families and how they are read."""

    dijet: DijetData = field(default_factory=DijetData)
    l1: L1Data = field(default_factory=L1Data)
    jet_images: JetImageData = field(default_factory=JetImageData)
    chunk_events: int = 100_000  # events per read chunk: bounds loader memory
    # generated background events per family of a deployed model (synthetic sources) on which the firmware's
    # trigger threshold is set: 1e6 leave ~25 events above a 1 kHz threshold (rate known to +-20%); 0: none,
    # the threshold is set on the test set's background (training/data/rate.py)
    rate_sample: int = 1_000_000
