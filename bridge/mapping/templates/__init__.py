"""One module per CDA template; importing this package registers every mapper.

The listing of this folder is the list of supported templates.
"""

from __future__ import annotations

from bridge.mapping.templates import (  # noqa: F401 - imported for their @maps registrations
    attached_document,
    battery_organizer,
    comment,
    isolate_organizer,
    lab_observation,
    lab_report_act,
    media,
    specimen,
    unknown_entry,
)
