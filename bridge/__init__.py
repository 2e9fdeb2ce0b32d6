"""crbio-bridge: French CR-BIO lab reports (HL7 CDA R2) as FHIR R4."""

__version__ = "0.1.0"
