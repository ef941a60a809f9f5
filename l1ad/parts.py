"""FPGA parts l1ad knows: the capacity of each device, in the units its resource figures use.

A bottom-layer module (nothing else of l1ad is imported): the config refuses a ``firmware.part``
whose device is not in ``PART_CAPACITY``, the resource estimate turns counts into percentages of
the part with it, and the L1 budget (``firmware/budget.py``) into fractions of the part.

Figures: AMD/Xilinx product selection tables, UltraScale+ (DS890 overview), UltraScale (DS890),
7 series (DS180: Virtex-7 XC7VX690T) and Zynq-7000 (DS190); the same figures appear as
"Available" in Vivado HLS synthesis reports. ``bram`` counts 18 Kb blocks (BRAM18): twice the
datasheets' 36 Kb block count, the unit HLS reports (``BRAM_18K``) use.
"""

from __future__ import annotations

PART_CAPACITY: dict[str, dict[str, int]] = {
    "xcvu9p": {"lut": 1_182_240, "ff": 2_364_480, "dsp": 6_840, "bram": 4_320},
    "xcvu13p": {"lut": 1_728_000, "ff": 3_456_000, "dsp": 12_288, "bram": 5_376},
    "xcku115": {"lut": 663_360, "ff": 1_326_720, "dsp": 5_520, "bram": 4_320},
    # Virtex-7 690T, the part of the CMS Level-1 Global Trigger boards (1,470 BRAM36 = 2,940 BRAM18)
    "xc7vx690t": {"lut": 433_200, "ff": 866_400, "dsp": 3_600, "bram": 2_940},
    "xc7z020": {"lut": 53_200, "ff": 106_400, "dsp": 220, "bram": 280},
}

# Yosys ``synth_xilinx -family`` of each device: UltraScale+ (xcup), UltraScale (xcu), 7 series (xc7)
YOSYS_FAMILY: dict[str, str] = {
    "xcvu9p": "xcup",
    "xcvu13p": "xcup",
    "xcku115": "xcu",
    "xc7vx690t": "xc7",
    "xc7z020": "xc7",
}


def device_of(part: str) -> str:
    """The device of a part name: the text before the first '-', lower case (``xcvu9p-flga2104-2L-e``
    -> ``xcvu9p``)."""
    return part.lower().split("-")[0]


def part_capacity(part: str) -> dict[str, int] | None:
    """Capacity of ``part`` (e.g. ``xcvu9p-flga2104-2L-e``) from the table above, None when unknown."""
    return PART_CAPACITY.get(device_of(part))


def known_devices() -> list[str]:
    """The devices of the table, sorted."""
    return sorted(PART_CAPACITY)


def yosys_family(part: str) -> str | None:
    """The Yosys ``synth_xilinx`` family of ``part`` (``xcvu9p-flga2104-2L-e`` -> ``xcup``), None when unknown."""
    return YOSYS_FAMILY.get(device_of(part))
