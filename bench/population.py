"""A synthetic, deterministic population of CR-BIO documents for the search benchmark.

    from population import Population
    population = Population(patients=2000, docs_per_patient=10, seed=1)
    for plan in population.plans():          # every document, in date order
        xml = population.render(plan)        # CR-BIO 2024.01 CDA bytes

Documents follow the templates of the project's examples (fhir_examples/*.xml): the
CR-BIO 2024.01 header (patient with an INS-NIR, author, custodian, legal
authenticator, prescriber, general practitioner, order, service event, encounter),
a biochemistry chapter whose lab report act holds 7 to 10 results, in half of them a
haematology chapter with a haemogram battery (6 results and the panel), and the
PDF copy section with a tiny PDF. Results are LOINC-coded, with PQ values in UCUM
units, an interpretation and a reference range; dates spread over 2019-2025.

Everything is drawn from `random.Random` seeded by strings, so a (patients,
docs_per_patient, seed) triple always gives the same documents: the benchmark knows,
without reading the store, which Observations each search must answer
(`Population.expected`). All data are fictitious.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from xml.sax.saxutils import escape, quoteattr

try:
    from zoneinfo import ZoneInfo

    PARIS = ZoneInfo("Europe/Paris")
except Exception:  # no tz database: a fixed offset keeps the documents valid
    from datetime import timezone

    PARIS = timezone(timedelta(hours=1))  # type: ignore[assignment]

__all__ = ["GENERATOR_VERSION", "INS_NIR", "LOINC", "DocumentPlan", "Population", "Test"]

GENERATOR_VERSION = 1  # part of the cache key: change it whenever the documents change
INS_NIR = "1.2.250.1.213.1.4.8"
LOINC = "http://loinc.org"
START = datetime(2019, 1, 1, tzinfo=UTC)
DAYS = (datetime(2026, 1, 1, tzinfo=UTC) - START).days


@dataclass(frozen=True, slots=True)
class Test:
    code: str
    display: str
    label: str  # the narrative's name of the analysis
    unit: str  # UCUM
    low: float | None
    high: float | None
    decimals: int


BIOCHEMISTRY = (
    Test(
        "14749-6",
        "Glucose [Moles/Volume] Sérum/Plasma ; Numérique",
        "Glycémie (mmol/L)",
        "mmol/L",
        3.9,
        5.8,
        2,
    ),
    Test(
        "2345-7",
        "Glucose [Masse/Volume] Sérum/Plasma ; Numérique",
        "Glycémie (g/L)",
        "g/L",
        0.70,
        1.05,
        2,
    ),
    Test(
        "14682-9",
        "Créatinine [Moles/Volume] Sérum/Plasma ; Numérique",
        "Créatinine (µmol/L)",
        "umol/L",
        59,
        104,
        0,
    ),
    Test(
        "2160-0",
        "Créatinine [Masse/Volume] Sérum/Plasma ; Numérique",
        "Créatinine (mg/L)",
        "mg/L",
        6.7,
        11.7,
        1,
    ),
    Test(
        "2823-3",
        "Potassium [Moles/Volume] Sérum/Plasma ; Numérique",
        "Potassium",
        "mmol/L",
        3.5,
        5.1,
        1,
    ),
    Test(
        "2951-2", "Sodium [Moles/Volume] Sérum/Plasma ; Numérique", "Sodium", "mmol/L", 136, 145, 0
    ),
    Test(
        "1742-6",
        "Alanine aminotransférase [Activité catalytique/Volume] Sérum/Plasma ; Numérique",
        "ALAT (TGP)",
        "U/L",
        None,
        41,
        0,
    ),
    Test(
        "1920-8",
        "Aspartate aminotransférase [Activité catalytique/Volume] Sérum/Plasma ; Numérique",
        "ASAT (TGO)",
        "U/L",
        None,
        40,
        0,
    ),
    Test(
        "2324-2",
        "Gamma glutamyltransférase [Activité catalytique/Volume] Sérum/Plasma ; Numérique",
        "Gamma GT",
        "U/L",
        8,
        61,
        0,
    ),
    Test(
        "2093-3",
        "Cholestérol [Masse/Volume] Sérum/Plasma ; Numérique",
        "Cholestérol total",
        "g/L",
        1.50,
        2.00,
        2,
    ),
    Test(
        "2085-9",
        "Cholestérol des HDL [Masse/Volume] Sérum/Plasma ; Numérique",
        "Cholestérol HDL",
        "g/L",
        0.40,
        0.80,
        2,
    ),
    Test(
        "2571-8",
        "Triglycérides [Masse/Volume] Sérum/Plasma ; Numérique",
        "Triglycérides",
        "g/L",
        0.35,
        1.50,
        2,
    ),
    Test(
        "4548-4",
        "Hémoglobine A1c/Hémoglobine totale [Fraction massique] Sang ; Numérique",
        "Hémoglobine glyquée (HbA1c)",
        "%",
        4.0,
        6.0,
        1,
    ),
    Test(
        "1988-5",
        "Protéine C réactive [Masse/Volume] Sérum/Plasma ; Numérique",
        "Protéine C réactive (CRP)",
        "mg/L",
        None,
        5.0,
        1,
    ),
    Test(
        "3016-3",
        "Thyréostimuline [Unités/Volume] Sérum/Plasma ; Numérique",
        "TSH",
        "m[IU]/L",
        0.27,
        4.20,
        2,
    ),
    Test(
        "2885-2",
        "Protéines [Masse/Volume] Sérum/Plasma ; Numérique",
        "Protéines totales",
        "g/L",
        64,
        83,
        0,
    ),
)
HAEMOGRAM = (
    Test(
        "6690-2",
        "Leucocytes [Nombre/Volume] Sang ; Numérique ; Comptage automate",
        "Leucocytes",
        "10*9/L",
        4.0,
        10.0,
        1,
    ),
    Test(
        "789-8",
        "Érythrocytes [Nombre/Volume] Sang ; Numérique ; Comptage automate",
        "Hématies",
        "10*12/L",
        3.80,
        5.20,
        2,
    ),
    Test("718-7", "Hémoglobine [Masse/Volume] Sang ; Numérique", "Hémoglobine", "g/L", 120, 165, 0),
    Test(
        "4544-3",
        "Hématocrite [Fraction volumique] Sang ; Numérique ; Comptage automate",
        "Hématocrite",
        "%",
        36.0,
        46.0,
        1,
    ),
    Test(
        "30428-7",
        "Volume globulaire moyen [Volume d'entité] Érythrocytes ; Numérique",
        "VGM",
        "fL",
        80.0,
        100.0,
        1,
    ),
    Test(
        "777-3",
        "Plaquettes [Nombre/Volume] Sang ; Numérique ; Comptage automate",
        "Plaquettes",
        "10*9/L",
        150,
        400,
        0,
    ),
)
PANEL = ("58410-2", "Hémogramme [Panel] Sang ; Comptage automate")
TESTS = {t.code: t for t in (*BIOCHEMISTRY, *HAEMOGRAM)}


def _tiny_pdf() -> bytes:
    """A valid one-page PDF of a few hundred bytes (the copy section is mandatory)."""
    text = b"BT /F1 12 Tf 56 790 Td (Compte rendu d'examens biologiques - fictif) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R"
        b" >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


PDF_B64 = base64.b64encode(_tiny_pdf()).decode()


@dataclass(frozen=True, slots=True)
class Result:
    test: Test
    value: str
    interpretation: str  # N, H or L


@dataclass(frozen=True, slots=True)
class Person:
    rpps: str
    prefix: str
    given: str
    family: str


@dataclass(frozen=True, slots=True)
class Lab:
    finess: str
    name: str
    street: str
    number: str
    postcode: str
    city: str
    phone: str
    biologists: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class Patient:
    index: int
    nir: str
    ipp: str
    gender: str  # M or F
    family: str
    given: str
    birth: str  # YYYYMMDD
    lab: Lab
    doctor: Person  # prescriber and general practitioner


@dataclass(frozen=True, slots=True)
class DocumentPlan:
    patient: int
    number: int
    sampled: datetime  # collection time (Europe/Paris): the Observations' effective time
    biochemistry: tuple[Result, ...]
    haemogram: tuple[Result, ...]

    @property
    def observations(self) -> int:
        """Observations the conversion gives: each result, and the battery's panel."""
        return len(self.biochemistry) + (len(self.haemogram) + 1 if self.haemogram else 0)

    @property
    def results(self) -> tuple[Result, ...]:
        return self.biochemistry + self.haemogram


FAMILIES = (
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "PERRIN",
)
MALE = (
    "JEAN",
    "PIERRE",
    "MICHEL",
    "ANDRE",
    "PHILIPPE",
    "LUCIEN",
    "NICOLAS",
    "JULIEN",
    "LOUIS",
    "HUGO",
    "THOMAS",
    "ANTOINE",
    "PAUL",
    "BERNARD",
    "ALAIN",
    "MATHIEU",
)
FEMALE = (
    "MARIE",
    "CAMILLE",
    "SOPHIE",
    "LOUISE",
    "JEANNE",
    "CLAIRE",
    "ELISE",
    "NATHALIE",
    "ISABELLE",
    "CHLOE",
    "EMMA",
    "LEA",
    "MANON",
    "JULIE",
    "ANNE",
    "CATHERINE",
)
CITIES = (
    ("69003", "LYON", "69"),
    ("38000", "GRENOBLE", "38"),
    ("75011", "PARIS", "75"),
    ("13006", "MARSEILLE", "13"),
    ("31000", "TOULOUSE", "31"),
    ("44000", "NANTES", "44"),
)


def _nir(index: int, rng: random.Random, gender: str, birth: datetime, department: str) -> str:
    """A well-formed NIR (13 digits and its key), unique per patient index."""
    commune = 1 + (index // 1000) % 999
    order = index % 1000
    body = f"{1 if gender == 'M' else 2}{birth:%y%m}{department}{commune:03d}{order:03d}"
    assert len(body) == 13, body
    return body + f"{97 - int(body) % 97:02d}"


def _value(test: Test, rng: random.Random) -> Result:
    low = test.low if test.low is not None else 0.0
    high = test.high if test.high is not None else low * 2 + 1
    amount = max(0.0, low + (high - low) * rng.uniform(-0.25, 1.25))
    value = f"{amount:.{test.decimals}f}"
    amount = float(value)
    if test.high is not None and amount > test.high:
        flag = "H"
    elif test.low is not None and amount < test.low:
        flag = "L"
    else:
        flag = "N"
    return Result(test, value, flag)


class Population:
    """`patients` patients, `docs_per_patient` documents each, drawn from `seed`."""

    def __init__(self, patients: int, docs_per_patient: int, seed: int = 1) -> None:
        self.patients = patients
        self.docs_per_patient = docs_per_patient
        self.seed = seed

    @property
    def key(self) -> str:
        """Names the population (cache files, PostgreSQL schema check)."""
        return f"p{self.patients}-d{self.docs_per_patient}-s{self.seed}-g{GENERATOR_VERSION}"

    @cached_property
    def labs(self) -> tuple[Lab, ...]:
        rng = random.Random(f"{self.seed}:labs")
        labs = []
        for n, (postcode, city, _) in enumerate(CITIES):
            biologists = tuple(
                Person(
                    f"8100{n:02d}{b:05d}",
                    rng.choice(("M", "MME")),
                    rng.choice(MALE + FEMALE).title(),
                    rng.choice(FAMILIES),
                )
                for b in range(3)
            )
            labs.append(
                Lab(
                    f"{postcode[:2]}0{n:03d}{rng.randrange(1000):03d}",
                    f"Laboratoire de biologie médicale {city.title()} {n + 1}",
                    "Rue de la République",
                    str(1 + n * 7),
                    postcode,
                    city,
                    f"+3347{n:02d}00{rng.randrange(10000):04d}",
                    biologists,
                )
            )
        return tuple(labs)

    @cached_property
    def doctors(self) -> tuple[Person, ...]:
        rng = random.Random(f"{self.seed}:doctors")
        return tuple(
            Person(
                f"8102{d:07d}",
                rng.choice(("M", "MME")),
                rng.choice(MALE + FEMALE).title(),
                rng.choice(FAMILIES),
            )
            for d in range(max(10, self.patients // 40))
        )

    def patient(self, index: int) -> Patient:
        rng = random.Random(f"{self.seed}:patient:{index}")
        gender = rng.choice("MF")
        birth = datetime(1935, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        lab = rng.choice(self.labs)
        department = next(c[2] for c in CITIES if c[1] == lab.city)
        return Patient(
            index,
            _nir(index, rng, gender, birth, department),
            f"IPP-{self.seed}-{index:07d}",
            gender,
            rng.choice(FAMILIES),
            rng.choice(MALE if gender == "M" else FEMALE),
            f"{birth:%Y%m%d}",
            lab,
            rng.choice(self.doctors),
        )

    def document(self, patient: int, number: int) -> DocumentPlan:
        rng = random.Random(f"{self.seed}:document:{patient}:{number}")
        day = START + timedelta(days=rng.randrange(DAYS))
        sampled = datetime(
            day.year,
            day.month,
            day.day,
            rng.randrange(7, 11),
            rng.randrange(0, 60, 5),
            tzinfo=PARIS,
        )
        tests = rng.sample(BIOCHEMISTRY, rng.randint(7, 10))
        tests.sort(key=BIOCHEMISTRY.index)
        haemogram = HAEMOGRAM if rng.random() < 0.5 else ()
        return DocumentPlan(
            patient,
            number,
            sampled,
            tuple(_value(t, rng) for t in tests),
            tuple(_value(t, rng) for t in haemogram),
        )

    def plans(self) -> list[DocumentPlan]:
        """Every document, in the order a server would receive them (by date)."""
        plans = [
            self.document(p, n) for p in range(self.patients) for n in range(self.docs_per_patient)
        ]
        plans.sort(key=lambda d: (d.sampled, d.patient, d.number))
        return plans

    def expected(
        self, plans: list[DocumentPlan] | None = None
    ) -> dict[tuple[int, str], list[datetime]]:
        """(patient index, LOINC code) → effective times of its Observations, newest first."""
        found: dict[tuple[int, str], list[datetime]] = {}
        for plan in plans if plans is not None else self.plans():
            codes = [r.test.code for r in plan.results] + ([PANEL[0]] if plan.haemogram else [])
            for code in codes:
                found.setdefault((plan.patient, code), []).append(plan.sampled)
        for dates in found.values():
            dates.sort(reverse=True)
        return found

    # Rendering ---------------------------------------------------------------------

    def document_id(self, plan: DocumentPlan) -> str:
        return f"BENCH-{self.seed}-{plan.patient:07d}-{plan.number:03d}"

    def render(self, plan: DocumentPlan) -> bytes:
        patient = self.patient(plan.patient)
        return _render(self, plan, patient).encode("utf-8")


# CDA text ------------------------------------------------------------------------------

LOINC_OID = "2.16.840.1.113883.6.1"
RPPS = "1.2.250.1.71.4.2.1"
FINESS = "1.2.250.1.71.4.2.2"
LOCAL = "1.2.250.1.999.77"  # the fictitious laboratory information system's ids


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S%z")


def _addr(lab: Lab) -> str:
    return (
        f"<addr><houseNumber>{lab.number}</houseNumber><streetName>{escape(lab.street)}"
        f"</streetName><postalCode>{lab.postcode}</postalCode><city>{lab.city}</city></addr>"
    )


def _person(person: Person, *, suffix: str = "DR") -> str:
    return (
        f"<name><prefix>{person.prefix}</prefix><given>{escape(person.given)}</given>"
        f"<family>{escape(person.family)}</family><suffix>{suffix}</suffix></name>"
    )


def _organization(lab: Lab, tag: str = "representedOrganization", *, sector: bool = False) -> str:
    industry = (
        '<standardIndustryClassCode code="AMBULATOIRE" displayName="Ambulatoire" '
        'codeSystem="1.2.250.1.213.1.1.4.9"/>'
        if sector
        else ""
    )
    return (
        f'<{tag}><id root="{FINESS}" extension="{lab.finess}"/><name>{escape(lab.name)}</name>'
        f'<telecom value="tel:{lab.phone}" use="WP"/>{_addr(lab)}{industry}</{tag}>'
    )


def _biologist(lab: Lab, person: Person, *, sector: bool = False) -> str:
    return (
        f'<id root="{RPPS}" extension="{person.rpps}"/>'
        '<code code="G15_10/SM03" displayName="Médecin - Biologie médicale (SM)" '
        'codeSystem="1.2.250.1.213.1.1.4.5"/>'
        f'{_addr(lab)}<telecom value="tel:{lab.phone}" use="WP"/>'
        f"<assignedPerson>{_person(person)}</assignedPerson>"
        f"{_organization(lab, sector=sector)}"
    )


def _doctor(doctor: Person, lab: Lab) -> str:
    return (
        f'<associatedEntity classCode="PROV"><id root="{RPPS}" extension="{doctor.rpps}"/>'
        '<code code="G15_10/SM26" displayName="Médecin - Qualifié en Médecine Générale (SM)" '
        f'codeSystem="1.2.250.1.213.1.1.4.5"/>{_addr(lab)}'
        f"<associatedPerson>{_person(doctor)}</associatedPerson></associatedEntity>"
    )


def _range(result: Result) -> str:
    test = result.test
    bounds = ""
    if test.low is not None:
        bounds += f'<low value="{test.low:.{test.decimals}f}" unit="{test.unit}"/>'
    if test.high is not None:
        bounds += f'<high value="{test.high:.{test.decimals}f}" unit="{test.unit}"/>'
    return (
        '<referenceRange typeCode="REFV"><observationRange classCode="OBS" moodCode="EVN.CRT">'
        f'<value xsi:type="IVL_PQ">{bounds}</value><interpretationCode code="N" '
        'displayName="Normal" codeSystem="2.16.840.1.113883.5.83"/></observationRange>'
        "</referenceRange>"
    )


INTERPRETATION = {"N": "Normal", "H": "Haut", "L": "Bas"}


def _observation(result: Result, when: str, ref: str) -> str:
    test = result.test
    return (
        '<observation classCode="OBS" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.3.1.6"/>'
        '<templateId root="1.2.250.1.213.1.1.3.80"/>'
        f"<code code={quoteattr(test.code)} displayName={quoteattr(test.display)} "
        f'codeSystem="{LOINC_OID}" codeSystemName="LOINC"><originalText>'
        f'<reference value="#{ref}"/></originalText></code>'
        f'<statusCode code="completed"/><effectiveTime value="{when}"/>'
        f'<value xsi:type="PQ" value="{result.value}" unit="{test.unit}"/>'
        f'<interpretationCode code="{result.interpretation}" '
        f'displayName="{INTERPRETATION[result.interpretation]}" '
        'codeSystem="2.16.840.1.113883.5.83"/>'
        f"{_range(result)}</observation>"
    )


def _table(rows: list[tuple[str, Result]], head: str = "Analyse") -> str:
    def bounds(t: Test) -> str:
        low = "" if t.low is None else f"{t.low:.{t.decimals}f}"
        high = "" if t.high is None else f"{t.high:.{t.decimals}f}"
        return f"{low} - {high}" if low and high else (f"&lt; {high}" if high else f"&gt; {low}")

    body = "".join(
        f'<tr><td><content ID="{ref}">{escape(r.test.label)}</content></td>'
        f"<td>{r.value.replace('.', ',')} {escape(r.test.unit)}</td>"
        f"<td>{bounds(r.test).replace('.', ',')}</td></tr>"
        for ref, r in rows
    )
    return (
        f'<table border="0"><thead><tr><th>{head}</th><th>Résultat</th>'
        f"<th>Valeurs de référence</th></tr></thead><tbody>{body}</tbody></table>"
    )


HEMO_HEAD = '<content ID="hemo">Hémogramme</content>'


def _chapters(plan: DocumentPlan, when: str) -> Iterator[str]:
    rows = [(f"bio-{n}", r) for n, r in enumerate(plan.biochemistry)]
    observations = "".join(
        f'<entryRelationship typeCode="COMP">{_observation(r, when, ref)}</entryRelationship>'
        for ref, r in rows
    )
    yield (
        '<component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>'
        '<templateId root="1.2.250.1.213.1.1.2.70"/>'
        f'<code code="18719-5" displayName="Biochimie" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><title>BIOCHIMIE SANGUINE</title>'
        f"<text>{_table(rows)}<paragraph>Résultats validés par le biologiste.</paragraph></text>"
        '<entry typeCode="DRIV"><templateId root="1.3.6.1.4.1.19376.1.3.1"/>'
        '<templateId root="1.2.250.1.213.1.1.3.21"/><act classCode="ACT" moodCode="EVN">'
        f'<code code="18719-5" displayName="Biochimie" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><statusCode code="completed"/>'
        f"{observations}</act></entry></section></component>"
    )
    if not plan.haemogram:
        return
    rows = [(f"hemo-{n}", r) for n, r in enumerate(plan.haemogram)]
    components = "".join(f"<component>{_observation(r, when, ref)}</component>" for ref, r in rows)
    yield (
        '<component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>'
        '<templateId root="1.2.250.1.213.1.1.2.70"/>'
        f'<code code="18723-7" displayName="Hématologie" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><title>HÉMATOLOGIE</title>'
        f"<text>{_table(rows, head=HEMO_HEAD)}</text>"
        '<entry typeCode="DRIV"><templateId root="1.3.6.1.4.1.19376.1.3.1"/>'
        '<templateId root="1.2.250.1.213.1.1.3.21"/><act classCode="ACT" moodCode="EVN">'
        f'<code code="18723-7" displayName="Hématologie" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><statusCode code="completed"/>'
        '<entryRelationship typeCode="COMP"><organizer classCode="BATTERY" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.3.1.4"/>'
        '<templateId root="1.2.250.1.213.1.1.3.78"/>'
        f'<code code="{PANEL[0]}" displayName="{PANEL[1]}" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"><originalText><reference value="#hemo"/></originalText>'
        f'</code><statusCode code="completed"/><effectiveTime value="{when}"/>'
        f"{components}</organizer></entryRelationship></act></entry></section></component>"
    )


def _pdf_section(doc_id: str) -> str:
    return (
        '<component><section><templateId root="1.2.250.1.213.1.1.2.243"/>'
        f'<id root="{LOCAL}.5" extension="{doc_id}-PDF"/>'
        f'<code code="55108-5" displayName="Copie du document" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><title>Copie PDF du compte rendu</title><text><paragraph>'
        '<content ID="copie-pdf-titre">Copie PDF du document</content></paragraph>'
        '<renderMultiMedia referencedObject="copie-pdf"/></text><entry>'
        '<organizer classCode="CLUSTER" moodCode="EVN">'
        '<templateId root="1.2.250.1.213.1.1.3.18"/>'
        f'<id root="{LOCAL}.6" extension="{doc_id}-PDF-1"/>'
        f'<code code="55107-7" displayName="Document attaché" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><statusCode code="completed"/><component>'
        '<observation classCode="OBS" moodCode="EVN">'
        '<templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.13"/>'
        '<templateId root="1.2.250.1.213.1.1.3.48"/>'
        '<templateId root="1.2.250.1.213.1.1.3.48.18"/>'
        f'<id root="{LOCAL}.6" extension="{doc_id}-PDF-2"/>'
        f'<code code="69764-9" displayName="Type de document" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><text><reference value="#copie-pdf-titre"/></text>'
        '<statusCode code="completed"/><effectiveTime nullFlavor="NA"/>'
        f'<value xsi:type="CD" code="55108-5" displayName="Copie du document" '
        f'codeSystem="{LOINC_OID}" codeSystemName="LOINC"/></observation></component>'
        '<component><observationMedia classCode="OBS" moodCode="EVN" ID="copie-pdf">'
        f'<value mediaType="application/pdf" representation="B64">{PDF_B64}</value>'
        "</observationMedia></component></organizer></entry></section></component>"
    )


def _render(population: Population, plan: DocumentPlan, patient: Patient) -> str:
    lab, doctor = patient.lab, patient.doctor
    biologist = lab.biologists[(plan.patient + plan.number) % len(lab.biologists)]
    doc_id = population.document_id(plan)
    sampled = plan.sampled
    when = _ts(sampled)
    received = _ts(sampled + timedelta(minutes=40))
    validated = _ts(sampled + timedelta(hours=2, minutes=20))
    issued = _ts(sampled + timedelta(hours=2, minutes=25))
    prescribed = f"{sampled - timedelta(days=3):%Y%m%d}"
    city = next(c for c in CITIES if c[1] == lab.city)
    names = (
        "<name>"
        f'<family qualifier="BR">{patient.family}</family><given>{patient.given}</given>'
        f'<given qualifier="BR">{patient.given}</given>'
        f'<family qualifier="CL">{patient.family}</family>'
        f'<given qualifier="CL">{patient.given}</given></name>'
    )
    gender = "Masculin" if patient.gender == "M" else "Féminin"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!-- crbio-bridge search benchmark: synthetic CR-BIO 2024.01 document. "
        "All data are fictitious. -->\n"
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:lab="urn:oid:1.3.6.1.4.1.19376.1.3.2" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        '<templateId root="2.16.840.1.113883.2.8.2.1"/>'
        '<templateId root="1.2.250.1.213.1.1.1.1"/><templateId root="1.3.6.1.4.1.19376.1.3.3"/>'
        '<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>'
        f'<id root="{LOCAL}.1" extension="{doc_id}"/>'
        f'<code code="11502-2" displayName="CR d\'examens biologiques" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><title>Compte rendu d\'examens biologiques</title>'
        f'<effectiveTime value="{issued}"/>'
        '<confidentialityCode code="N" displayName="Normal" codeSystem="2.16.840.1.113883.5.25"/>'
        '<languageCode code="fr-FR"/>'
        f'<setId root="{LOCAL}.2" extension="{doc_id}"/><versionNumber value="1"/>'
        "<recordTarget><patientRole>"
        f'<id root="{INS_NIR}" extension="{patient.nir}"/>'
        f'<id root="{LOCAL}.3" extension="{patient.ipp}"/>'
        f"<addr><postalCode>{city[0]}</postalCode><city>{city[1]}</city></addr>"
        f'<patient classCode="PSN">{names}'
        f'<administrativeGenderCode code="{patient.gender}" displayName="{gender}" '
        'codeSystem="2.16.840.1.113883.5.1"/>'
        f'<birthTime value="{patient.birth}"/></patient></patientRole></recordTarget>'
        f'<author><time value="{issued}"/><assignedAuthor>{_biologist(lab, biologist)}'
        "</assignedAuthor></author>"
        "<custodian><assignedCustodian>"
        f"{_organization(lab, 'representedCustodianOrganization')}"
        "</assignedCustodian></custodian>"
        f'<legalAuthenticator><time value="{validated}"/><signatureCode code="S"/>'
        f"<assignedEntity>{_biologist(lab, biologist, sector=True)}</assignedEntity>"
        "</legalAuthenticator>"
        '<participant typeCode="REF"><templateId root="1.3.6.1.4.1.19376.1.3.3.1.6"/>'
        f'<time xsi:type="IVL_TS"><high value="{prescribed}"/></time>'
        f"{_doctor(doctor, lab)}</participant>"
        '<participant typeCode="INF"><functionCode code="PCP" displayName="Médecin traitant" '
        'codeSystem="2.16.840.1.113883.5.88"/><time nullFlavor="NA"/>'
        f"{_doctor(doctor, lab)}</participant>"
        f'<inFulfillmentOf><order><id root="{LOCAL}.4" extension="DEM-{doc_id}"/></order>'
        "</inFulfillmentOf>"
        f'<documentationOf><serviceEvent><id root="{LOCAL}.7" extension="SE-{doc_id}"/>'
        f'<code code="18719-5" displayName="Biochimie" codeSystem="{LOINC_OID}" '
        'codeSystemName="LOINC"/><lab:statusCode code="completed"/>'
        f'<effectiveTime><low value="{received}"/><high value="{validated}"/></effectiveTime>'
        '<performer typeCode="PRF"><templateId root="1.3.6.1.4.1.19376.1.3.3.1.7"/>'
        f'<time><high value="{validated}"/></time>'
        f"<assignedEntity>{_biologist(lab, biologist, sector=True)}</assignedEntity>"
        "</performer></serviceEvent></documentationOf>"
        f'<componentOf><encompassingEncounter><id root="{LOCAL}.8" extension="VIS-{doc_id}"/>'
        '<code code="AMB" displayName="Ambulatoire (hors établissement)" '
        'codeSystem="2.16.840.1.113883.5.4"/>'
        f'<effectiveTime><low value="{when}"/></effectiveTime><location><healthCareFacility>'
        '<code code="SA25" displayName="Laboratoire de biologie médicale" '
        f'codeSystem="1.2.250.1.71.4.2.4"/><location><name>{escape(lab.name)}</name>'
        f"{_addr(lab)}</location></healthCareFacility></location></encompassingEncounter>"
        "</componentOf>"
        f"<component><structuredBody>{''.join(_chapters(plan, when))}{_pdf_section(doc_id)}"
        "</structuredBody></component></ClinicalDocument>\n"
    )
