"""Personal data in text: e-mail addresses, public IP addresses, phone numbers, payment cards and IBANs.

Detection is regular expressions plus a validator per kind; every span refers to the text it was found in.
Definitions and the decisions behind them (measured in ``scripts/eval_pii.py``):

- ``email``: ``local@domain`` with an ASCII dot-atom local part (``A-Z a-z 0-9 . _ % + -``, no leading,
  trailing or doubled dot) and at least two ASCII domain labels ending in a letter TLD or ``xn--`` label.
  Not e-mail: a fediverse handle ``@user@host`` (a public handle, like ``@name`` on Twitter), ``name@2x.png``
  style file names (TLDs that are file extensions), ``user@localhost``. Obfuscated forms (``john [at] x
  [dot] com``) and internationalised (non-ASCII) addresses are out of scope. DataTrove's and Dolma's
  patterns are looser (Dolma's takes any non-space run around ``@``); this one is stricter at the edges.
- ``ip``: dotted-quad IPv4 without leading zeros and IPv6 (validated by :mod:`ipaddress`); only *public*
  addresses count (``is_global``, not multicast; IPv6 inside global unicast ``2000::/3``), as DataTrove's
  ``only_remove_public_ips``: private, loopback, link-local, CGNAT, documentation (192.0.2.0/24,
  198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), benchmarking and reserved ranges are not personal data.
  A quad that is part of a longer dotted number (``1.2.3.4.5``), glued to a letter (``v1.2.3.4``), or preceded
  by a word that makes it a version or section number (``version 1.2.3.4``, ``firmware``, ``build``,
  ``kernel``, ``section``, ``§``, ``ISBN``, ...) is not an address. Addresses inside URLs are addresses.
- ``phone``: a number in international format (``+`` or ``00`` then a country code) valid for its region
  in libphonenumber's metadata (the ``phonenumbers`` package, Google's numbering-plan data for every
  region), or a national-format number of one of ``phone_regions`` (default: the NANP, ``US``) written
  with at least one separator or parenthesis. Digit groups must follow the region's grouping
  (libphonenumber's ``STRICT_GROUPING``), which is what keeps dates, IPs, ISBNs, prices and order numbers
  out. National numbers of other regions (``030 1234567`` in Germany) are found only when their region is
  listed. Dolma's regex is NANP-only; DataTrove has no phone detection.
- ``card`` (opt-in): 13 to 19 digits, bare or in groups separated by one consistent space or hyphen, with
  a card-network prefix (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and a valid Luhn
  check digit.
- ``iban`` (opt-in): a country code with the IBAN length of that country (the SWIFT IBAN registry), check
  digits, and a BBAN, bare or in groups of four separated by single spaces, with ISO 13616 mod-97 == 1.

Overlapping candidates are resolved by priority email > iban > card > ip > phone (an IBAN's digits are not
also a phone number).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

log = logging.getLogger(__name__)

PII_KINDS: tuple[str, ...] = ("email", "ip", "phone", "card", "iban")
DEFAULT_KINDS: tuple[str, ...] = ("email", "ip", "phone")
REPLACEMENTS: dict[str, str] = {"email": "<EMAIL>", "ip": "<IP>", "phone": "<PHONE>", "card": "<CARD>",
                                "iban": "<IBAN>"}
_PRIORITY = {"email": 0, "iban": 1, "card": 2, "ip": 3, "phone": 4}


class Span(NamedTuple):
    """A detected value: ``text[start:end]`` is it, ``kind`` one of :data:`PII_KINDS`."""

    start: int
    end: int
    kind: str


def signal_name(kind: str) -> str:
    """The signal column holding the count of ``kind`` (``pii_email``, ...)."""
    return f"pii_{kind}"


# --- e-mail ---------------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-@])"
    r"([A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{1,59}))"
    r"(?![A-Za-z0-9\-]|@)"
)
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff avif heic css js mjs json xml htm html php asp aspx jsp pdf "
    "txt csv mp3 mp4 webm wav ogg woff woff2 ttf eot map".split()
)


def _emails(text: str) -> Iterable[Span]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        tld = m.group(2).rsplit(".", 1)[-1].lower()
        if tld in _FILE_EXTENSIONS:
            continue
        yield Span(m.start(), m.end(), "email")


# --- IP addresses ---------------------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,7}"
    r"(?:[0-9A-Fa-f]{1,4}|(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])"
)
# Words that make the dotted number after them a version, section or catalogue number, not an address.
_NOT_ADDRESS_BEFORE = re.compile(
    r"(?:\b(?:version|versions|ver|release|build|firmware|revision|rev|kernel|patch|update|driver|bios|"
    r"section|sections|sec|chapter|ch|clause|article|art|paragraph|para|figure|fig|table|appendix|step|"
    r"item|rule|isbn|doi|oid|mib|no|nr|v)|§|#)\s*[.:#]?\s*$",
    re.IGNORECASE,
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast:
        return False
    return ip.version == 4 or ip in _GLOBAL_UNICAST


def _ips(text: str, public_only: bool) -> Iterable[Span]:
    if "." in text:
        for m in _IPV4.finditer(text):
            if _NOT_ADDRESS_BEFORE.search(text, max(0, m.start() - 24), m.start()):
                continue
            if public_only and not _is_public(m.group()):
                continue
            yield Span(m.start(), m.end(), "ip")
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            try:
                ip = ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            if public_only and not _is_public(str(ip)):
                continue
            yield Span(m.start(), m.end(), "ip")


# --- phone numbers --------------------------------------------------------------------------------------

# A run that could hold a phone number: optional + or 00 prefix, digits with spaces, dots, hyphens, slashes
# and parentheses, at least 6 digits, not glued to a word on either side. libphonenumber decides.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+@.\-/])(?:\+|\(?\b00)?\(?\d(?:[ \t\u00a0().\-/]{0,3}\d){5,19}\)?(?![\w@]|[.\-/]\d)"
)
_SEPARATOR = re.compile(r"[ \t\u00a0().\-/]")
# The groups of an IBAN written in fours, right before a candidate: its digits are the IBAN's, not a number.
_IBAN_GROUPS_BEFORE = re.compile(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4})* $")


def _inside_iban(text: str, start: int) -> bool:
    return start > 5 and text[start - 1] == " " and _IBAN_GROUPS_BEFORE.search(text, max(0, start - 40), start) is not None


def _phones(text: str, regions: Sequence[str]) -> Iterable[Span]:
    for cand in _PHONE_CANDIDATE.finditer(text):
        raw = cand.group()
        offset = cand.start()
        if _inside_iban(text, offset):
            continue
        idd = 1 if raw.startswith("(00") else 0 if raw.startswith("00") else -1
        if idd >= 0:
            # "0044 20 ..." as libphonenumber reads it from any region: " +44 20 ..." (same length).
            raw = raw[:idd] + " +" + raw[idd + 2:]
        found: list[Span] = []
        for region in regions or ("ZZ",):
            for match in PhoneNumberMatcher(raw, region, leniency=Leniency.STRICT_GROUPING):
                number = match.raw_string
                if not number.startswith("+") and not _SEPARATOR.search(number.strip("()")):
                    continue  # a bare national digit run is more often an order or reference number
                start = match.start - 1 if idd >= 0 and match.start == idd + 1 else match.start  # "00" is its
                if number.startswith("(") and number.count("(") > number.count(")"):
                    start += 1  # an opening parenthesis the number does not close is the sentence's
                found.append(Span(offset + start, offset + match.end, "phone"))
            if found:
                break
        yield from found


# --- payment cards --------------------------------------------------------------------------------------

# Not part of a longer run of digit groups (an IBAN's, an account's): no digit group right before it, no group
# of 4 digits right after it.
_CARD_CANDIDATE = re.compile(r"(?<![\w\-])(?<!\d[ \-])\d(?:[ \-]?\d){12,18}(?![\w]|-\d|[ \-]\d{4})")
_CARD_PREFIX = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}"  # Visa
    r"|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # American Express
    r"|(?:6011|65\d{2}|64[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|3(?:0[0-5]|[68]\d)\d{11,16}"  # Diners Club
    r"|62\d{14,17}"  # UnionPay
    r"|(?:50|5[6-9]|6[0-9])\d{10,17})$"  # Maestro
)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterable[Span]:
    for m in _CARD_CANDIDATE.finditer(text):
        raw = m.group()
        if _inside_iban(text, m.start()):
            continue
        seps = set(re.findall(r"[ \-]", raw))
        if len(seps) > 1:
            continue
        digits = re.sub(r"[ \-]", "", raw)
        if seps:
            groups = [len(g) for g in re.split(r"[ \-]", raw)]
            if not (all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4 or groups in ([4, 6, 5], [4, 6, 4])):
                continue
        if _CARD_PREFIX.match(digits) and luhn_valid(digits):
            yield Span(m.start(), m.end(), "card")


# --- IBAN -----------------------------------------------------------------------------------------------

# IBAN length by country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})\d{2}(?= ?[A-Z0-9])")


def iban_valid(iban: str) -> bool:
    """ISO 13616 check: country length, then the number with its first four characters moved to the end,
    letters as 10..35, is 1 mod 97."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _ibans(text: str) -> Iterable[Span]:
    for m in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(m.group(1))
        if length is None:
            continue
        chars = [*text[m.start():m.end()]]
        pos = m.end()
        grouped = text[pos:pos + 1] == " "
        count = 4
        while count < length and pos < len(text):
            ch = text[pos]
            if ch == " " and grouped and count % 4 == 0 and pos + 1 < len(text) and text[pos + 1] != " ":
                pos += 1
                continue
            if not ("A" <= ch <= "Z" or "0" <= ch <= "9"):
                break
            chars.append(ch)
            count += 1
            pos += 1
        if count != length or (pos < len(text) and text[pos].isalnum()):
            continue
        if iban_valid("".join(chars)):
            yield Span(m.start(), pos, "iban")


# --- the detector ---------------------------------------------------------------------------------------


class PiiDetector:
    """Finds personal data of the configured kinds; one instance per worker (holds compiled state only)."""

    def __init__(self, kinds: Sequence[str] = DEFAULT_KINDS, *, phone_regions: Sequence[str] = ("US",),
                 public_ips_only: bool = True) -> None:
        unknown = set(kinds) - set(PII_KINDS)
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {list(PII_KINDS)}")
        for region in phone_regions:
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {region!r} (ISO 3166-1 alpha-2, e.g. US, DE, GB)")
        self.kinds = tuple(k for k in PII_KINDS if k in kinds)
        self.phone_regions = tuple(phone_regions)
        self.public_ips_only = public_ips_only

    def find(self, text: str) -> list[Span]:
        """Non-overlapping spans over ``text``, sorted by start."""
        candidates: list[Span] = []
        kinds = self.kinds
        if "email" in kinds:
            candidates.extend(_emails(text))
        if "iban" in kinds:
            candidates.extend(_ibans(text))
        if "card" in kinds:
            candidates.extend(_cards(text))
        if "ip" in kinds:
            candidates.extend(_ips(text, self.public_ips_only))
        if "phone" in kinds:
            candidates.extend(_phones(text, self.phone_regions))
        return _resolve(candidates)

    def counts(self, spans: Iterable[Span]) -> dict[str, float]:
        """``pii_<kind>`` -> count, for every configured kind (0.0 when none)."""
        return count_by_kind(spans, self.kinds)


def _resolve(candidates: list[Span]) -> list[Span]:
    """Keep, by kind priority then position, the candidates that overlap none kept before."""
    if len(candidates) < 2:
        return candidates
    kept: list[Span] = []
    for span in sorted(candidates, key=lambda s: (_PRIORITY[s.kind], s.start, -s.end)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    kept.sort()
    return kept


@lru_cache(maxsize=16)
def _detector(kinds: tuple[str, ...], phone_regions: tuple[str, ...], public_ips_only: bool) -> PiiDetector:
    return PiiDetector(kinds, phone_regions=phone_regions, public_ips_only=public_ips_only)


def find_pii(text: str, kinds: Sequence[str] = DEFAULT_KINDS, *, phone_regions: Sequence[str] = ("US",),
             public_ips_only: bool = True) -> list[Span]:
    """Spans of personal data in ``text`` (see the module docstring for what counts)."""
    return _detector(tuple(kinds), tuple(phone_regions), public_ips_only).find(text)


def redact(text: str, spans: Iterable[Span]) -> str:
    """``text`` with every span replaced by its placeholder (``<EMAIL>``, ...); spans must not overlap."""
    parts: list[str] = []
    last = 0
    for span in sorted(spans):
        if span.start < last:
            raise ValueError(f"overlapping spans at {span.start}")
        parts.append(text[last:span.start])
        parts.append(REPLACEMENTS[span.kind])
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


def count_by_kind(spans: Iterable[Span], kinds: Sequence[str] = DEFAULT_KINDS) -> dict[str, float]:
    """``pii_<kind>`` -> number of spans of that kind (float64 signals, as the other counts)."""
    counts = {signal_name(k): 0.0 for k in kinds}
    for span in spans:
        key = signal_name(span.kind)
        if key in counts:
            counts[key] += 1.0
    return counts
