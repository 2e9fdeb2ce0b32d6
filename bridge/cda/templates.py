"""templateIds of the CR-BIO and BIO-TROD volets, with their ANS / IHE names.

Most CR-BIO elements carry two ids: the IHE PaLM one and the French (CI-SIS)
one. Readers accept either; the tuples below list both.
Sources: ANS CI-SIS volet CR-BIO 2024.01, volet Modèles de contenus CDA,
IHE PaLM Laboratory Report (XD-LAB).
"""

from __future__ import annotations

# Document level -----------------------------------------------------------
CR_BIO = "1.2.250.1.213.1.1.1.55"  # FR CR-BIO (extension 2021.01 / 2023.01 / 2024.01)
BIO_TROD = "1.2.250.1.213.1.1.1.59"  # FR BIO-TROD (tests rapides d'orientation diagnostique)
CI_SIS = "1.2.250.1.213.1.1.1.1"  # conformité CI-SIS
IHE_XD_LAB = "1.3.6.1.4.1.19376.1.3.3"  # IHE PaLM Laboratory Report
IHE_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"  # IHE Scanned Document: CDA R2 niveau 1 (N1)

# Sections -----------------------------------------------------------------
CHAPTER_SECTION = ("1.3.6.1.4.1.19376.1.3.3.2.1", "1.2.250.1.213.1.1.2.70")  # FR-CR-BIO-Chapitre
SUB_CHAPTER_SECTION = ("1.3.6.1.4.1.19376.1.3.3.2.2", "1.2.250.1.213.1.1.2.71")  # Sous-Chapitre
COMMENT_SECTION = ("1.2.250.1.213.1.1.2.73",)  # FR-Commentaire-non-code
PDF_COPY_SECTION = ("1.2.250.1.213.1.1.2.243",)  # FR-Document-PDF-copie
SECOND_LINE_LAB_SECTION = ("1.2.250.1.213.1.1.2.60",)  # FR-Resultats-...-seconde-intention

# Entries ------------------------------------------------------------------
LAB_REPORT_DATA_PROCESSING = (  # FR-Resultats-examens-de-biologie-medicale (act)
    "1.3.6.1.4.1.19376.1.3.1",
    "1.2.250.1.213.1.1.3.21",
)
LAB_BATTERY = ("1.3.6.1.4.1.19376.1.3.1.4", "1.2.250.1.213.1.1.3.78")  # FR-Batterie-...
LAB_ISOLATE = ("1.3.6.1.4.1.19376.1.3.1.5", "1.2.250.1.213.1.1.3.79")  # FR-Isolat-microbiologique
LAB_OBSERVATION = (  # FR-Resultat-examens-de-biologie-element-clinique-pertinent
    "1.3.6.1.4.1.19376.1.3.1.6",
    "1.2.250.1.213.1.1.3.80",
)
SPECIMEN_COLLECTION = ("1.3.6.1.4.1.19376.1.3.1.2", "1.2.250.1.213.1.1.3.77")  # FR-Prelevement
SPECIMEN_RECEIVED = ("1.3.6.1.4.1.19376.1.3.1.3", "1.2.250.1.213.1.1.3.107")
COMMENT = (  # FR-Commentaire-ER
    "2.16.840.1.113883.10.20.1.40",
    "1.3.6.1.4.1.19376.1.5.3.1.4.2",
    "1.2.250.1.213.1.1.3.32",
)
ATTACHED_DOCUMENT = ("1.2.250.1.213.1.1.3.18",)  # FR-Document-attache

# Document codes (LOINC) -----------------------------------------------------
CR_BIO_CODE = "11502-2"
BIO_TROD_CODE = "96173-0"
PDF_COPY_CODE = "55108-5"
COMMENT_CODE = "48767-8"
