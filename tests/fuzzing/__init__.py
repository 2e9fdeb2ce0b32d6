"""The fuzz target the project keeps: valid CR-BIO documents, mutated, through `convert`.

Seeds are the project's example documents (fhir_examples/*.xml) and, when present, the
ANS corpus (../shared/corpus). `mutations` changes them at the XML level (elements
deleted, duplicated, moved, nested thousands deep; attributes made empty, blank, huge,
exotic; wrong xsi:type, missing roots) and at the byte level. `target` runs one input
through `bridge.mapping.convert` and says what happened: a valid Bundle, a refusal
(a `DocumentError`, by code), an invalid Bundle, or a crash (anything else).

`tests/test_fuzz.py` runs a short, fixed sample with every `make test`;
`make fuzz` (`python -m tests.fuzzing`) runs 100,000 inputs or more on every core and
saves each input that crashes or gives invalid FHIR for reproduction.
"""
