"""Exports beside the store: FHIR Bulk Data export (`bulk`, `jobs`, `worker`, `service`)."""
