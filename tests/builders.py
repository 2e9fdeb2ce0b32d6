"""Small CR-BIO documents built in the tests, around the entries a test is about."""

from __future__ import annotations

from bridge.mapping import Conversion, convert

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:lab="urn:oid:1.3.6.1.4.1.19376.1.3.2">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.3.3"/>
  <templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>
  <id root="{doc_root}"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques</title>
  <effectiveTime value="20250312101500+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="{doc_root}.0"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole>
    <id root="1.2.250.1.213.1.4.10" extension="{ins}"/>
    <id root="1.2.3.4.5" extension="IPP-77"/>
    <patient>
      <name><family qualifier="BR">TESTARD</family><given>ANNE MARIE</given>
        <given qualifier="BR">ANNE</given><family qualifier="CL">DUPRE</family>
        <given qualifier="CL">ANNE</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19800214"/>
    </patient>
  </patientRole></recordTarget>
  <author><time value="20250312101500+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
    <assignedPerson><name><given>Jean</given><family>BIOLO</family></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1LAB0001"/>
      <name>Laboratoire Test</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1LAB0001"/><name>Laboratoire Test</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator><time value="20250312101500+0100"/><signatureCode code="S"/>
    <assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
      <assignedPerson><name><given>Jean</given><family>BIOLO</family></name></assignedPerson>
    </assignedEntity></legalAuthenticator>
  {extra_header}
  <documentationOf><serviceEvent>
    <lab:statusCode code="{report_status}"/>
    <performer typeCode="PRF"><assignedEntity>
      <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
      <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1LAB0001"/>
        <name>Laboratoire Test</name></representedOrganization>
    </assignedEntity></performer>
  </serviceEvent></documentationOf>
  {related}
  <component><structuredBody>{sections}</structuredBody></component>
</ClinicalDocument>
"""

CHAPTER = """<component><section>
  <templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/><templateId root="1.2.250.1.213.1.1.2.70"/>
  <code code="{chapter}" codeSystem="2.16.840.1.113883.6.1" displayName="{chapter_name}"/>
  <title>{chapter_name}</title>
  <text>{narrative}</text>
  <entry typeCode="DRIV">
    <templateId root="1.3.6.1.4.1.19376.1.3.1"/><templateId root="1.2.250.1.213.1.1.3.21"/>
    <act classCode="ACT" moodCode="EVN">
      <code code="{chapter}" codeSystem="2.16.840.1.113883.6.1"/>
      <statusCode code="completed"/>
      {act_content}
    </act>
  </entry>
</section></component>"""

RESULT = """<entryRelationship typeCode="COMP"><observation classCode="OBS" moodCode="EVN">
  <templateId root="1.3.6.1.4.1.19376.1.3.1.6"/><templateId root="1.2.250.1.213.1.1.3.80"/>
  {code}
  <statusCode code="{status}"/>
  <effectiveTime value="{time}"/>
  {value}
  {rest}
</observation></entryRelationship>"""

NARRATIVE = '<content ID="label-1">Glucose à jeun</content><content ID="label-2">Second</content>'
GLUCOSE_CODE = (
    '<code code="40193-5" codeSystem="2.16.840.1.113883.6.1" '
    'displayName="Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique">'
    '<originalText><reference value="#label-1"/></originalText></code>'
)


def result(
    value: str = '<value xsi:type="PQ" value="5.30" unit="mmol/L"/>',
    *,
    code: str = GLUCOSE_CODE,
    status: str = "completed",
    time: str = "20250312081500+0100",
    rest: str = "",
) -> str:
    """One FR-Resultat-examens-de-biologie-element-clinique-pertinent in an entryRelationship."""
    return RESULT.format(code=code, status=status, time=time, value=value, rest=rest)


def document(
    *act_content: str,
    ins: str = "280029912345678",
    doc_root: str = "1.2.250.1.213.1.1.9.999.1",
    chapter: str = "18719-5",
    chapter_name: str = "Biochimie",
    report_status: str = "completed",
    extra_header: str = "",
    related: str = "",
    extra_sections: str = "",
    narrative: str = NARRATIVE,
) -> bytes:
    section = CHAPTER.format(
        chapter=chapter,
        chapter_name=chapter_name,
        act_content="\n".join(act_content),
        narrative=narrative,
    )
    return HEADER.format(
        ins=ins,
        doc_root=doc_root,
        report_status=report_status,
        extra_header=extra_header,
        related=related,
        sections=section + extra_sections,
    ).encode("utf-8")


def convert_document(*act_content: str, **options: str) -> Conversion:
    return convert(document(*act_content, **options))
