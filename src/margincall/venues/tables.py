"""Built-in, dated tier tables copied from ``docs/venues.md`` (each names its date and source).

Tier tables change often; a test vector must carry the table it was computed with, so every table here
has a name ``SYMBOL@DATE`` and a profile's default for a symbol is its newest table.
Rows: ``(floor, cap, mmr, max_leverage, maintenance_amount or None, imr or None)``.
"""

from __future__ import annotations

from decimal import Decimal

from margincall.math.hyperliquid import hyperliquid_mmr
from margincall.model.enums import TierBasis, TierMode
from margincall.model.tiers import TierSpec, TierTable

Row = tuple[str, str | None, str, str, str | None, str | None]


def _table(rows: list[Row], source: str, as_of: str, **kw: object) -> TierTable:
    specs = [TierSpec(f, c, m, lev, amt, imr) for f, c, m, lev, amt, imr in rows]
    return TierTable.build(specs, source=source, as_of=as_of, **kw)  # type: ignore[arg-type]


_FREQTRADE = (
    "Binance /fapi/v1/leverageBracket via freqtrade binance_leverage_tiers.json @3d9514d2 (docs/venues.md §3.1)"
)

BINANCE_USDM_BTCUSDT_2024 = _table(
    [
        ("0", "50000", "0.004", "125", "0", None),
        ("50000", "600000", "0.005", "100", "50", None),
        ("600000", "3000000", "0.0065", "75", "950", None),
        ("3000000", "12000000", "0.01", "50", "11450", None),
        ("12000000", "70000000", "0.02", "25", "131450", None),
        ("70000000", "100000000", "0.025", "20", "481450", None),
        ("100000000", "230000000", "0.05", "10", "2981450", None),
        ("230000000", "480000000", "0.10", "5", "14481450", None),
        ("480000000", "600000000", "0.125", "4", "26481450", None),
        ("600000000", "800000000", "0.15", "3", "41481450", None),
        ("800000000", "1200000000", "0.25", "2", "121481450", None),
        ("1200000000", "1800000000", "0.50", "1", "421481450", None),
    ],
    _FREQTRADE,
    "2024-10-24",
)

BINANCE_USDM_ETHUSDT_2024 = _table(
    [
        ("0", "50000", "0.004", "125", "0", None),
        ("50000", "600000", "0.005", "100", "50", None),
        ("600000", "3000000", "0.0065", "75", "950", None),
        ("3000000", "12000000", "0.01", "50", "11450", None),
        ("12000000", "50000000", "0.02", "25", "131450", None),
        ("50000000", "65000000", "0.025", "20", "381450", None),
        ("65000000", "150000000", "0.05", "10", "2006450", None),
        ("150000000", "320000000", "0.10", "5", "9506450", None),
        ("320000000", "400000000", "0.125", "4", "17506450", None),
        ("400000000", "530000000", "0.15", "3", "27506450", None),
        ("530000000", "800000000", "0.25", "2", "80506450", None),
        ("800000000", "1200000000", "0.50", "1", "280506450", None),
    ],
    _FREQTRADE,
    "2024-10-24",
)

_BINANCE_2021 = "Binance USDⓈ-M liquidation-price FAQ era tables ≈2020–21 (docs/venues.md §3.1)"

BINANCE_USDM_BTCUSDT_2021 = _table(
    [
        ("0", "50000", "0.004", "125", "0", None),
        ("50000", "250000", "0.005", "100", "50", None),
        ("250000", "1000000", "0.01", "50", "1300", None),
        ("1000000", "5000000", "0.025", "20", "16300", None),
        ("5000000", "20000000", "0.05", "10", "141300", None),
        ("20000000", "50000000", "0.10", "5", "1141300", None),
        ("50000000", "100000000", "0.125", "4", "2391300", None),
        ("100000000", "200000000", "0.15", "3", "4891300", None),
        ("200000000", "300000000", "0.25", "2", "24891300", None),
        ("300000000", "500000000", "0.50", "1", "99891300", None),
    ],
    _BINANCE_2021,
    "2021",
)

BINANCE_USDM_ETHUSDT_2021 = _table(
    [
        ("0", "10000", "0.005", "100", "0", None),
        ("10000", "100000", "0.0065", "75", "15", None),
        ("100000", "500000", "0.01", "50", "365", None),
        ("500000", "1000000", "0.02", "25", "5365", None),
        ("1000000", "2000000", "0.05", "10", "35365", None),
        ("2000000", "5000000", "0.10", "5", "135365", None),
        ("5000000", "10000000", "0.125", "4", "260365", None),
        ("10000000", "20000000", "0.15", "3", "510365", None),
        ("20000000", None, "0.25", "2", "2510365", None),
    ],
    _BINANCE_2021,
    "2021",
)

BYBIT_LINEAR_BTCUSDT_2026 = _table(
    [
        ("0", "2000000", "0.005", "100", "0", "0.01"),
        ("2000000", "2600000", "0.0056", "90", "1200", "0.0111"),
        ("2600000", "3200000", "0.0063", "80", "3020", "0.0125"),
        ("3200000", "3800000", "0.0067", "75", "4300", "0.0133"),
        ("3800000", "4400000", "0.0071", "70", "5820", "0.0143"),
        ("4400000", "5000000", "0.0077", "65", "8460", "0.0154"),
        ("5000000", "5600000", "0.0091", "55", "15460", "0.0182"),
        ("5600000", "8500000", "0.01", "50", "20500", "0.02"),
        ("8500000", "10000000", "0.013", "45", "46000", "0.0222"),
        ("10000000", "14000000", "0.015", "40", "66000", "0.025"),
        ("14000000", "20000000", "0.016", "35", "80000", "0.0286"),
        ("20000000", "28000000", "0.02", "30", "160000", "0.0333"),
        ("28000000", "38000000", "0.025", "25", "300000", "0.04"),
        ("38000000", "50000000", "0.029", "20", "452000", "0.05"),
        ("50000000", "55000000", "0.03", "19", "502000", "0.0526"),
        ("55000000", "60000000", "0.035", "18", "777000", "0.0556"),
        ("60000000", "65000000", "0.036", "17", "837000", "0.0588"),
        ("65000000", "70000000", "0.038", "16", "967000", "0.0625"),
        ("70000000", "75000000", "0.04", "15", "1107000", "0.0667"),
        ("75000000", "80000000", "0.045", "14", "1482000", "0.0714"),
    ],
    "Bybit margin-parameters page (tiers 1–20), IMR from 2026-08-05 API snapshot (docs/venues.md §4.1)",
    "2026-08-05",
    cap_inclusive=True,
)


def _hyperliquid(lower_max: str, boundary: str, upper_max: str) -> TierTable:
    """Two-tier Hyperliquid table: MMR = 1/(2 × max leverage), deduction derived (docs/venues.md §7)."""
    lo, hi = Decimal(lower_max), Decimal(upper_max)
    return TierTable.build(
        [TierSpec(0, boundary, hyperliquid_mmr(lo), lo), TierSpec(boundary, None, hyperliquid_mmr(hi), hi)],
        source="Hyperliquid docs trading/margin-tiers, mainnet page snapshot (docs/venues.md §7)",
        as_of="2026",
    )


HYPERLIQUID_BTC = _hyperliquid("40", "150000000", "20")
HYPERLIQUID_ETH = _hyperliquid("25", "100000000", "15")
HYPERLIQUID_SOL = _hyperliquid("20", "70000000", "10")

#: dYdX v4 large-cap liquidity tier: IMF 5 %, MMF 3 % (funding.mdx table; docs/venues.md §8).
DYDX_LARGE_CAP = TierTable.build(
    [TierSpec(0, None, "0.03", "20", None, "0.05")],
    source="dYdX v4 docs liquidity tiers: Large-Cap IMF 5 % / MMF 3 % (docs/venues.md §8)",
    as_of="2026",
)

# OKX ETH-USDT perpetual position tiers (2021-06): by contracts, whole position at the tier rate;
# tier ≥ 4: +12,000 contracts and +0.5 % MMR and IMR per tier (docs/venues.md §5).
_okx_rows: list[Row] = [
    ("0", "3000", "0.004", "125", None, "0.008"),
    ("3000", "6000", "0.005", "100", None, "0.01"),
    ("6000", "12000", "0.01", "66.66", None, "0.015"),
]
for _n in range(4, 11):
    _floor = 12000 * (_n - 3)
    _mmr = Decimal("0.01") + Decimal("0.005") * (_n - 3)
    _imr = Decimal("0.015") + Decimal("0.005") * (_n - 3)
    _okx_rows.append(
        (str(_floor), str(_floor + 12000), str(_mmr), str((1 / _imr).quantize(Decimal("0.01"))), None, str(_imr))
    )
OKX_ETH_USDT_SWAP_2021 = _table(
    _okx_rows,
    "OKEx position tiers announcement 2021-06 (support.okexcn.com …/4402607424781; docs/venues.md §5)",
    "2021-06",
    mode=TierMode.WHOLE_POSITION,
    basis=TierBasis.CONTRACTS,
    cap_inclusive=True,
)
