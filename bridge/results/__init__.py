"""Result views over the store: series with comparability verdicts, conversions, $lastn.

Every path that shows results (the FHIR operations, the clinician's pages, the
command line) calls these functions; none computes a verdict or a conversion itself.
"""

from __future__ import annotations

from bridge.results.definitions import publish as publish
from bridge.results.lastn import lastn as lastn
from bridge.results.series import series as series
from bridge.results.units import convert_unit as convert_unit

__all__ = ["convert_unit", "lastn", "publish", "series"]
