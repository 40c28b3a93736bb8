"""A cheap guess of a page's languages from its raw HTML, to skip extraction of pages the keep-list removes.

CLD2 (`pycld2`, Apache-2.0) reads HTML directly, skipping markup, at about 80 MB/s: a couple of milliseconds
for a page that trafilatura takes tens of milliseconds to extract. Most pages of a crawl are then removed for
their language, so a run that keeps only some languages need not extract them.

The guess must never skip a page that fastText lid.176 would call a kept language on the extracted text (the
main text is a small part of the page, in any language). So it is conservative by construction:
- CLD2 runs in best-effort mode, which reports weak evidence too: a short English copyright line on a Chinese
  page shows up as `en` at a few percent, and trafilatura may extract exactly that line;
- a page is guessed only when CLD2 calls its result reliable, attributes at least 90% of the text to the
  languages it reports, and reports no unknown text; otherwise there is no guess and the page is extracted;
- a page is skipped only when no reported language is a kept language or a close relative of one (`GROUPS`:
  the languages lid.176 and CLD2 confuse, and those lid.176 knows and CLD2 does not, with the neighbours CLD2
  calls them);
- a keep-list with a language CLD2 cannot see at all (`UNPLACED`, or a code lid.176 does not have) turns the
  gate off.
Skipping is monotone in the keep-list: a larger keep-list skips a subset of the pages a smaller one skips.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Optional

# CLD2 codes that lid.176 spells otherwise.
LID_FROM_CLD2 = {"iw": "he", "jw": "jv", "zh-Hant": "zh"}

# Close relatives, in lid.176's codes. A page guessed as any member may be any other member by lid.176.
GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(g.split()) for g in (
    "es pt gl ca an ast mwl oc cbk",           # Ibero-Romance
    "fr oc wa ht",                             # Gallo-Romance, Haitian Creole
    "it co sc scn nap vec lmo eml pms rm",     # Italo-Romance
    "de als bar pfl lb nds frr li",            # continental West Germanic
    "nl af li vls fy nds frr",                 # Low Franconian, Frisian
    "en sco",
    "da no nn sv",
    "hr bs sr sh sl",
    "cs sk hsb dsb",
    "pl hsb dsb",
    "ru uk be rue bg mk sr ce cv av lez krc kv mhr mrj myv os sah tyv bxr xal ba tt kk ky tg mn",  # Cyrillic
    "id ms jv su min",
    "tl ceb war bcl ilo pam",
    "hi mr ne sa bh mai new gom dty",          # Devanagari
    "bn as bpy",
    "ar arz fa ur ps sd ug ckb azb lrc mzn pnb ku",  # Arabic script
    "zh wuu yue ja",                           # Han characters
    "tr az tk uz",
    "fi et vep",
    "he yi",
    "ka xmf",
))
# lid.176 languages CLD2 does not know and calls by no predictable neighbour: a keep-list with one has no gate.
UNPLACED = frozenset({"io", "jbo", "kw", "hif", "nah", "diq"})

MIN_ATTRIBUTED_PERCENT = 90
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")


@lru_cache(maxsize=1)
def _detected() -> frozenset[str]:
    """The languages CLD2 reports, in lid.176's codes."""
    import pycld2

    codes = {code for name, code in pycld2.LANGUAGES if name in pycld2.DETECTED_LANGUAGES}
    return frozenset(LID_FROM_CLD2.get(c, c) for c in codes)


@lru_cache(maxsize=None)
def related(language: str) -> frozenset[str]:
    """The language and every language in a group with it."""
    out = {language}
    for group in GROUPS:
        if language in group:
            out |= group
    return frozenset(out)


def guessable(language: str) -> bool:
    """CLD2 calls a page in this language by it or by a relative of it."""
    if language in UNPLACED:
        return False
    return language in _detected() or any(language in g and g & _detected() for g in GROUPS)


def gate_languages(keep: Iterable[str]) -> Optional[frozenset[str]]:
    """The keep-list as the gate uses it, or None when the gate cannot serve it (empty, or a language CLD2
    cannot see)."""
    keep = frozenset(keep)
    if not keep or not all(guessable(lang) for lang in keep):
        return None
    return keep


def guess_languages(html: str, utf8: Optional[bytes] = None) -> Optional[tuple[str, ...]]:
    """The languages CLD2 finds in a page's HTML (lid.176 codes, sorted), or None when it is not sure. `utf8`:
    the page's UTF-8 bytes when the caller has them (`decode_html_utf8`), else they are encoded here."""
    import pycld2

    data = html.encode("utf-8", "replace") if utf8 is None else utf8
    try:
        reliable, _, details = pycld2.detect(data, isPlainText=False, bestEffort=True)
    except pycld2.error:  # CLD2 refuses some code points that are valid UTF-8 (controls, non-characters)
        try:
            reliable, _, details = pycld2.detect(_INVALID.sub(" ", html).encode("utf-8", "replace"),
                                                 isPlainText=False, bestEffort=True)
        except pycld2.error:
            return None
    reported = [(code, percent) for _, code, percent, _ in details if percent > 0]
    if not reliable or not reported or sum(p for _, p in reported) < MIN_ATTRIBUTED_PERCENT:
        return None
    if any(code == "un" for code, _ in reported):
        return None
    return tuple(sorted({LID_FROM_CLD2.get(code, code) for code, _ in reported}))


def outside(guess: Optional[Iterable[str]], keep: Optional[frozenset[str]]) -> bool:
    """The page is confidently in none of the kept languages (nor a relative of one): extraction can be
    skipped. Never true without a guess or without a gate."""
    if guess is None or keep is None:
        return False
    return all(related(lang).isdisjoint(keep) for lang in guess)
