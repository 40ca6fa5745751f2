"""Stress tests: the probability that a calculator scenario is liquidated within a horizon under a price model
(bootstrap, GBM, Merton jump-diffusion), and the safe-leverage advisor across venues."""

from margincall.stress.advisor import Advice, VenueAdvice, advise
from margincall.stress.models import BootstrapModel, GBMModel, MertonModel, PriceModel, StressInputError, duration
from margincall.stress.run import StressResult, run_stress

__all__ = ["Advice", "BootstrapModel", "GBMModel", "MertonModel", "PriceModel", "StressInputError", "StressResult",
           "VenueAdvice", "advise", "duration", "run_stress"]
