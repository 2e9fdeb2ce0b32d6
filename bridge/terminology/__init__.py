"""Terminology layer: the JDV Circuit de la biologie as a ConceptMap, the SMT, UCUM."""

from __future__ import annotations

from bridge.terminology.comparison import Comparison as Comparison
from bridge.terminology.comparison import compare as compare
from bridge.terminology.conceptmap import CODESYSTEM_URL as CODESYSTEM_URL
from bridge.terminology.conceptmap import CONCEPTMAP_URL as CONCEPTMAP_URL
from bridge.terminology.conceptmap import JdvIndex as JdvIndex
from bridge.terminology.conceptmap import Match as Match
from bridge.terminology.conversion import convert_observation as convert_observation
from bridge.terminology.jdv import JdvRow as JdvRow
from bridge.terminology.operations import parse_lookup as parse_lookup
from bridge.terminology.operations import parse_translate as parse_translate
from bridge.terminology.service import TerminologyService as TerminologyService
from bridge.terminology.smt import SmtClient as SmtClient
from bridge.terminology.smt import SmtCredentials as SmtCredentials
from bridge.terminology.store import SqliteTerminologyStore as SqliteTerminologyStore
from bridge.terminology.ucum import ucum_factor as ucum_factor

__all__ = [
    "CODESYSTEM_URL",
    "CONCEPTMAP_URL",
    "Comparison",
    "JdvIndex",
    "JdvRow",
    "Match",
    "SmtClient",
    "SmtCredentials",
    "SqliteTerminologyStore",
    "TerminologyService",
    "compare",
    "convert_observation",
    "parse_lookup",
    "parse_translate",
    "ucum_factor",
]
