"""beam-curation: web-scale pretraining-data curation on Apache Beam.

`beam_curation.filters` holds the pure per-document logic (no Beam); `beam_curation.pipeline` wires it into a
Beam graph, with its I/O, runners and command line (`beam-curation`, or `python -m beam_curation`).
"""
