"""Turn HTML bytes of any charset into text, the way a browser would decide.

Order: byte-order mark, charset from the transport (HTTP Content-Type), `<meta charset>` / http-equiv in the
first 4 KB, strict UTF-8, then detection: a detected multi-byte East-Asian or Cyrillic encoding is trusted,
otherwise windows-1252, the web's default for unlabelled pages (single-byte guesses on short text are noise).
Decoding never fails: undecodable bytes become U+FFFD, so a page with a few broken bytes still yields its text.
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Labels that pages declare but that browsers read as a superset (WHATWG encoding standard).
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
            "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030", "x-sjis": "shift_jis"}


_TRUSTED_GUESSES = {codecs.lookup(n).name for n in (
    "gb18030", "big5", "shift_jis", "euc_jp", "iso2022_jp", "euc_kr", "cp949", "cp1251", "koi8_r", "koi8_u",
    "cp866", "iso8859_5", "cp1256", "iso8859_6", "cp1255", "iso8859_8", "cp1253", "iso8859_7", "cp874", "tis_620",
    "utf_16", "utf_32")}


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_:.\-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _normalise_label(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(data: bytes | str, declared: str | None = None) -> str:
    """Decode HTML bytes to str; `declared` is a transport charset (e.g. from HTTP headers)."""
    return decode_html_utf8(data, declared)[0]


def decode_html_utf8(data: bytes | str, declared: str | None = None) -> tuple[str, bytes | None]:
    """`decode_html`, and the text's UTF-8 bytes when they are the input (decoded strictly as UTF-8), else None:
    a caller that needs them (CLD2) need not encode the page again."""
    if isinstance(data, str):
        return data, None
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="replace"), None
    candidates = [_normalise_label(declared)]
    match = _META_CHARSET.search(data[:4096])
    if match:
        candidates.append(_normalise_label(match.group(1).decode("ascii", "ignore")))
    for name in candidates:
        if name:
            try:
                return data.decode(name), data if name == "utf-8" else None
            except (UnicodeDecodeError, LookupError):
                continue
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError:
        pass
    guessed = _normalise_label(_detect(data))
    if guessed in _TRUSTED_GUESSES:
        return data.decode(guessed, errors="replace"), None
    return data.decode("cp1252", errors="replace"), None


def _detect(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - trafilatura depends on it
        return None
    best = from_bytes(data[:200_000]).best()
    return best.encoding if best else None
