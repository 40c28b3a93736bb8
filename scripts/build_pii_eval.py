"""Build the labelled PII evaluation set: real page text with its own personal data labelled, plus planted
values and hard negatives.

    python scripts/build_pii_eval.py --data DATA_DIR --output /tmp/pii_eval.jsonl [--seed 0] [--copies 2]

Carriers (real text, read only from ``--data``): the ScrapingHub article bodies and the trafilatura gold
snippets of ``extraction_dev`` (each page's ``with`` snippets joined by newlines), and the main text of every
HTML response in ``warc/`` (extracted with ``beam_curation.filters.text.extract``). The personal data the carriers already hold
(newsroom and company e-mail addresses, phone numbers, a crawler's IPs) was labelled by hand once; the table
below holds only a truncated SHA-1 of each value and its kind, so no address is copied into the repository.

Each carrier is used ``--copies`` times; every copy gets 1 to 4 planted positives (e-mail, IPv4/IPv6, phone
numbers from 40 regions in international, ``00``-prefixed, ``(0)``-trunk, E.164 and NANP national formats,
payment cards, IBANs) and 1 to 3 hard negatives (version and section numbers, private and documentation IPs,
dates, times, prices, ISBNs, order and invoice numbers, Luhn- and mod-97-failing look-alikes, file names and
fediverse handles), each inside a sentence inserted at a line or sentence boundary. Output: one JSON object
per document: ``id``, ``source``, ``text``, ``spans`` (``start``, ``end``, ``kind``, ``origin`` planted|real,
``format``) and ``negatives`` (``start``, ``end``, ``type``). Same data and seed give the same file.

Phone numbers are generated as libphonenumber-valid numbers of their region, so the phone recall measures how
well numbers are found in running text in their usual written forms, not whether a number exists.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import ipaddress
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import phonenumbers  # noqa: E402
from phonenumbers import PhoneNumberFormat, PhoneNumberType  # noqa: E402

# sha1(value)[:16] -> kind, for the personal data found in the carriers and checked by hand (9 e-mail
# addresses of newsrooms, organisations and companies, a crawler's 2 IPs, 4 phone numbers in international or
# NANP format and 9 national-format numbers of China, Korea and the Netherlands: "phone/national", found only
# when their region is in phone_regions). Look-alikes that are not personal data (fediverse handles, QQ account
# numbers, licence and record numbers) are simply absent.
REAL_PII: dict[str, str] = {
    "5fe477e437d7e137": "email", "2e645068668733f8": "email", "b7dab0127bed0085": "email",
    "5f4ea63dc6868fbc": "email", "6d96e49b1f7013a1": "email", "b34ade22c8a01e40": "email",
    "550db7527350b376": "email", "ca17091a361a45b8": "email", "39cbf349fa3cdb5e": "email",
    "af51be2c19424a97": "ip", "37f384d2cc2d22c0": "ip",
    "8ec1d7eb16e01d63": "phone", "a25f7ba7c8939cf9": "phone", "ea0da45c2a46cf36": "phone",
    "73ed9d35fbaf82b2": "phone",
    "3151338a01df3af5": "phone/national", "e5e8955467bd72a1": "phone/national", "8f98d4c05acd270b": "phone/national",
    "ba01eb57cc820579": "phone/national", "641f303d72d4f910": "phone/national", "32d4d2b6d3ab6e07": "phone/national",
    "be9e24a708f705b0": "phone/national", "838b87359def9213": "phone/national", "29a8089ce7cea775": "phone/national",
}


@dataclass
class Carrier:
    id: str
    source: str
    text: str


def load_carriers(data: Path) -> list[Carrier]:
    """Real text from extraction_dev and the WARC samples, in a fixed order."""
    carriers: list[Carrier] = []
    dev = data / "extraction_dev"
    with (dev / "scrapinghub_gold.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["articleBody"].strip():
                carriers.append(Carrier(f"scrapinghub/{row['id'][:16]}", "scrapinghub_gold", row["articleBody"]))
    with (dev / "trafilatura_gold.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = "\n".join(row["with"])
            if text.strip():
                carriers.append(Carrier(f"trafilatura/{row['id']}", "trafilatura_gold", text))
    carriers.extend(load_warc_texts(data / "warc"))
    return carriers


def load_warc_texts(folder: Path) -> list[Carrier]:
    from warcio.archiveiterator import ArchiveIterator

    from beam_curation.filters.text.extract import extract_text

    out = []
    for path in sorted(folder.glob("*.warc.gz")):
        if path.name.endswith((".wet.gz", ".wat.gz")):
            continue
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response":
                    continue
                if "html" not in (record.http_headers.get_header("Content-Type") or ""):
                    continue
                html = record.content_stream().read()
                url = record.rec_headers.get_header("WARC-Target-URI")
                text = extract_text(html, url=url)
                if text and text.strip():
                    rid = record.rec_headers.get_header("WARC-Record-ID").strip("<>").removeprefix("urn:uuid:")
                    out.append(Carrier(f"warc/{rid}", "warc", text))
    return out


def value_key(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


_WINDOW = re.compile(r"[^\s@]{1,64}@[^\s@]{3,128}|[+(]?\d[\d \t\u00a0().\-/]{5,40}|[0-9A-Fa-f:.]{6,45}")
_EDGE = re.compile(r"[\w+(]")


def label_real(text: str) -> list[tuple[int, int, str]]:
    """Spans of the hand-labelled real values (longest first, non-overlapping)."""
    if not REAL_PII:
        return []
    hits = []
    for m in _WINDOW.finditer(text):
        w, base = m.group(), m.start()
        for i in range(len(w)):
            if not _EDGE.match(w[i]):
                continue
            for j in range(len(w), i + 5, -1):
                if value_key(w[i:j]) in REAL_PII:
                    hits.append((base + i, base + j, REAL_PII[value_key(w[i:j])]))
                    break
    hits.sort(key=lambda h: (-(h[1] - h[0]), h[0]))
    kept: list[tuple[int, int, str]] = []
    for h in hits:
        if all(h[1] <= k[0] or h[0] >= k[1] for k in kept):
            kept.append(h)
    return sorted(kept)


# --- planted positives ----------------------------------------------------------------------------------

FIRST = ["john", "maria", "wei", "aisha", "olga", "kenji", "fatima", "lucas", "priya", "sven", "chloe", "ahmed",
         "ines", "tomasz", "nguyen", "sofia", "dmitri", "amara", "jose", "hannah", "mehmet", "yuki", "lea", "raj"]
LAST = ["smith", "garcia", "zhang", "khan", "ivanova", "tanaka", "haddad", "martin", "sharma", "larsen",
        "dubois", "hassan", "moreau", "kowalski", "tran", "rossi", "petrov", "okafor", "silva", "muller",
        "yilmaz", "sato", "fischer", "patel"]
DOMAINS = ["gmail.com", "yahoo.co.jp", "mail.ru", "web.de", "uni-heidelberg.de", "cs.washington.edu",
           "outlook.com", "orange.fr", "example-company.io", "company.com.br", "dept.ox.ac.uk", "gov.in",
           "xn--mnchen-3ya.de", "protonmail.ch", "fastmail.fm", "163.com", "naver.com", "bigpond.net.au",
           "mycompany.co.za", "startup.ai", "t-online.de", "libero.it", "sapo.pt", "seznam.cz"]
EMAIL_TEMPLATES = ["Contact: {v}", "Please write to {v} for details.", "E-Mail: {v}", "Send your CV to <{v}>.",
                   "Questions? Reach the author ({v}).", "mailto:{v}", "Kontakt: {v}, Tel. bitte nicht.",
                   "Pour nous joindre : {v}", "Correo electrónico: {v}.", "{v}", "email me at {v}, thanks",
                   "Reply-To: \"Support\" <{v}>"]
IP_TEMPLATES = ["The server at {v} stopped responding.", "Login from IP {v} was blocked.", "http://{v}/admin",
                "Ping {v} to check.", "Client address: {v}", "Die IP-Adresse {v} wurde gesperrt.",
                "Connected to {v}:8080 after 3 retries.", "({v})", "DNS: {v}, secondary none.",
                "adresse IP : {v}"]
IPV6_TEMPLATES = ["The server at {v} stopped responding.", "Login from {v} was blocked.", "http://[{v}]/admin",
                  "Client address: {v}", "Connect to [{v}]:443 now.", "Die IPv6-Adresse {v} ist global."]
PHONE_TEMPLATES = ["Call us on {v}.", "Tel.: {v}", "Phone: {v}", "Ring {v} for bookings, weekdays only.",
                   "Telefon {v} (Mo-Fr)", "Téléphone : {v}", "WhatsApp {v}", "Hotline {v}, 24/7.",
                   "Fax: {v}", "({v})", "tel:{v}", "Teléfono: {v}", "Contact {v} or visit us."]
PHONE_REGIONS = ["US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "PL", "RU",
                 "UA", "TR", "IN", "CN", "HK", "JP", "KR", "AU", "NZ", "BR", "MX", "AR", "ZA", "NG", "KE", "EG",
                 "AE", "SA", "IL", "SG", "MY", "ID", "PH", "IE"]
CARD_TEMPLATES = ["Card number: {v}", "Paid with {v}, exp 09/27.", "Kartennummer {v}", "CC {v} CVV 123",
                  "my card is {v} please refund"]
CARD_NETWORKS = [("visa", "4", 16), ("mastercard", "51", 16), ("mastercard", "2221", 16), ("amex", "34", 15),
                 ("amex", "37", 15), ("discover", "6011", 16), ("jcb", "3530", 16), ("unionpay", "62", 16),
                 ("diners", "36", 14)]
IBAN_TEMPLATES = ["IBAN: {v}", "Bitte überweisen Sie auf {v}.", "Account {v} (BIC on request)",
                  "Virement sur le compte {v}", "Bankverbindung: {v}, Verwendungszweck Rechnung"]
IBAN_COUNTRIES = {"DE": "n18", "FR": "n23", "ES": "n20", "IT": "a1n22", "NL": "a4n10", "BE": "n12", "AT": "n16",
                  "CH": "n17", "GB": "a4n14", "IE": "a4n14", "PL": "n24", "PT": "n21", "SE": "n20", "DK": "n14",
                  "FI": "n14", "NO": "n11", "CZ": "n20", "GR": "n23", "LU": "n16", "RO": "a4n16"}


def plant_email(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    style = rng.randrange(7)
    local = [f"{first}.{last}", f"{first}_{last}", f"{first[0]}{last}", f"{first}{rng.randrange(10, 99)}",
             f"{first}-{last}", f"{first}.{last}+news", f"{last.upper()}.{first.capitalize()}"][style]
    return f"{local}@{rng.choice(DOMAINS)}", f"email/style{style}"


def _public(ip: ipaddress._BaseAddress) -> bool:
    return ip.is_global and not ip.is_multicast and (ip.version == 4 or ip in ipaddress.ip_network("2000::/3"))


def plant_ip(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.65:
        while True:
            ip = ipaddress.IPv4Address(rng.getrandbits(32))
            if _public(ip):
                return str(ip), "ipv4"
    while True:
        value = (rng.choice([0x2, 0x3]) << 124) | rng.getrandbits(124)  # inside 2000::/3
        groups = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
        zero_from = rng.choice([None, 3, 4, 5])
        if zero_from is not None:
            for i in range(zero_from, min(8, zero_from + rng.randint(2, 3))):
                groups[i] = 0
        ip = ipaddress.IPv6Address(sum(g << (112 - 16 * i) for i, g in enumerate(groups)))
        if not _public(ip):
            continue
        form = rng.randrange(3)
        text = [ip.compressed, ip.exploded, ip.compressed.upper()][form]
        return text, f"ipv6/{['compressed', 'exploded', 'upper'][form]}"


def _random_valid_number(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    ptype = rng.choice([PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE])
    example = phonenumbers.example_number_for_type(region, ptype) or phonenumbers.example_number(region)
    national = str(example.national_number)
    for _ in range(200):
        keep = max(2, len(national) - rng.randint(4, 6))
        digits = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
        if phonenumbers.is_valid_number_for_region(number, region):
            return number
    return example


def plant_phone(rng: random.Random) -> tuple[str, str]:
    region = rng.choice(PHONE_REGIONS)
    number = _random_valid_number(rng, region)
    intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    style = rng.randrange(6)
    if region in ("US", "CA") and rng.random() < 0.5:
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)  # (415) 555-2671
        digits = str(number.national_number)
        forms = [national, f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
                 f"1-{digits[:3]}-{digits[3:6]}-{digits[6:]}"]
        k = rng.randrange(len(forms))
        return forms[k], f"phone/{region}/national{k}"
    if style == 0:
        return intl, f"phone/{region}/international"
    if style == 1:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164), f"phone/{region}/e164"
    if style == 2:
        return "00" + intl[1:], f"phone/{region}/00"
    if style == 3:
        return intl.replace(" ", "-"), f"phone/{region}/hyphens"
    if style == 4:
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        # Italy keeps its 0 abroad; Argentina's mobile "15" exists only in national dialling.
        if national.startswith("0") and region not in ("IT", "AR"):
            return f"+{number.country_code} (0){national[1:]}", f"phone/{region}/trunk0"
        return intl, f"phone/{region}/international"
    return intl.replace(" ", ".") if region not in ("US", "CA") else intl, f"phone/{region}/dots"


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def plant_card(rng: random.Random) -> tuple[str, str]:
    network, prefix, length = rng.choice(CARD_NETWORKS)
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    digits = body + luhn_digit(body)
    style = rng.randrange(3)
    if style == 0:
        return digits, f"card/{network}/bare"
    sep = " " if style == 1 else "-"
    if length == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]]), f"card/{network}/grouped"
    if length == 14:
        return sep.join([digits[:4], digits[4:10], digits[10:]]), f"card/{network}/grouped"
    return sep.join(digits[i:i + 4] for i in range(0, length, 4)), f"card/{network}/grouped"


def _iban_check(country: str, bban: str) -> str:
    number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{98 - number % 97:02d}"


def plant_iban(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(sorted(IBAN_COUNTRIES))
    spec = IBAN_COUNTRIES[country]
    bban = ""
    for kind, count in re.findall(r"([an])(\d+)", spec):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if kind == "a" else "0123456789"
        bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
    iban = country + _iban_check(country, bban) + bban
    if rng.random() < 0.6:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)), f"iban/{country}/grouped"
    return iban, f"iban/{country}/bare"


POSITIVES = {"email": (plant_email, EMAIL_TEMPLATES), "ip": (plant_ip, IP_TEMPLATES),
             "phone": (plant_phone, PHONE_TEMPLATES), "card": (plant_card, CARD_TEMPLATES),
             "iban": (plant_iban, IBAN_TEMPLATES)}
POSITIVE_WEIGHTS = {"email": 3, "ip": 3, "phone": 4, "card": 1.5, "iban": 1.5}


# --- hard negatives -------------------------------------------------------------------------------------

def _private_ip(rng: random.Random) -> str:
    r = rng.randrange(256)
    return rng.choice([f"10.{r}.{rng.randrange(256)}.{rng.randrange(1, 255)}", f"192.168.{r}.{rng.randrange(1, 255)}",
                       f"172.{rng.randint(16, 31)}.{r}.{rng.randrange(1, 255)}", f"127.0.0.{rng.randrange(1, 255)}",
                       f"169.254.{r}.{rng.randrange(1, 255)}", f"100.{rng.randint(64, 127)}.{r}.{rng.randrange(1, 255)}",
                       f"192.0.2.{r}", f"198.51.100.{r}", f"203.0.113.{r}", "255.255.255.0", "0.0.0.0",
                       f"224.0.0.{rng.randrange(256)}", f"fe80::{rng.getrandbits(16):x}:{rng.getrandbits(16):x}",
                       f"fd{rng.getrandbits(8):02x}:{rng.getrandbits(16):x}::1", f"2001:db8::{rng.getrandbits(16):x}",
                       "::1", f"198.18.{r}.1"])


def _version(rng: random.Random) -> str:
    a, b, c, d = rng.randint(1, 9), rng.randrange(20), rng.randrange(50), rng.randrange(200)
    return rng.choice([f"version {a}.{b}.{c}.{d}", f"v{a}.{b}.{c}.{d}", f"Release {a}.{b}.{c}.{d}",
                       f"firmware {a}.{b}.{c}.{d}", f"kernel {a}.{b}.{c}.{d}", f"section {a}.{b}.{c}.{d}",
                       f"§ {a}.{b}.{c}.{d}", f"build {a}.{b}.{c}.{d}", f"{a}.{b}.{c}.{d}.{rng.randrange(9)}",
                       f"Chrome {rng.randint(90, 130)}.0.{rng.randint(4000, 6999)}.{rng.randrange(200)}",
                       f"OID 1.3.6.1.4.1.{rng.randrange(60000)}", f"Version {a}.{b}.{c}.{d}-beta"])


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{m:02d}/{d:02d}/{y}", f"{d}. {m}. {y}",
                       f"{y}/{m:02d}/{d:02d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
                       f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
                       f"{y}-{m:02d}-{d:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                       f"{y}-{y + rng.randint(1, 30)}"])


def _price(rng: random.Random) -> str:
    n = rng.randint(1000, 99_999_999)
    return rng.choice([f"${n:,}.{rng.randrange(100):02d}", f"€ {n:,}".replace(",", ".") + f",{rng.randrange(100):02d}",
                       f"{n:,}".replace(",", " ") + " EUR", f"£{n:,}", f"{n:,} yen", f"USD {n / 100:,.2f}"])


def _isbn(rng: random.Random) -> str:
    body = "978" + "".join(str(rng.randrange(10)) for _ in range(9))
    check = (10 - sum(int(ch) * (1 if i % 2 == 0 else 3) for i, ch in enumerate(body)) % 10) % 10
    isbn13 = body + str(check)
    b10 = "".join(str(rng.randrange(10)) for _ in range(9))
    c10 = (11 - sum((10 - i) * int(ch) for i, ch in enumerate(b10)) % 11) % 11
    isbn10 = b10 + ("X" if c10 == 10 else str(c10))
    return rng.choice([f"ISBN {isbn13[:3]}-{isbn13[3]}-{isbn13[4:6]}-{isbn13[6:12]}-{isbn13[12]}",
                       f"ISBN-13: {isbn13}", f"ISBN {isbn10[0]}-{isbn10[1:4]}-{isbn10[4:9]}-{isbn10[9]}",
                       f"ISBN {isbn13}"])


def _order(rng: random.Random) -> str:
    return rng.choice([f"Order #{rng.randint(10**8, 10**9)}", f"Invoice No. {rng.randint(2000, 2030)}-{rng.randint(1, 99999):06d}",
                       f"tracking number 1Z{rng.randint(10**15, 10**16)}", f"Customer ID {rng.randint(10**9, 10**10 - 1)}",
                       f"SKU {rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(10, 99)}",
                       f"Ref. {rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                       f"case {rng.randint(1, 9)}:{rng.randint(10, 99)}-cv-{rng.randint(10000, 99999)}",
                       f"{rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)} views",
                       f"coordinates {rng.uniform(-80, 80):.4f}, {rng.uniform(-170, 170):.4f}",
                       f"{rng.randint(640, 3840)}x{rng.randint(480, 2160)} pixels",
                       f"MAC 00:1A:{rng.getrandbits(8):02X}:{rng.getrandbits(8):02X}:{rng.getrandbits(8):02X}:5E",
                       "std::vector<int> and Foo::Bar::baz()", f"score {rng.randint(0, 9)}-{rng.randint(0, 9)}"])


def _bad_card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
    bad = str((int(luhn_digit(body)) + rng.randint(1, 9)) % 10)
    digits = body + bad
    return " ".join(digits[i:i + 4] for i in range(0, 16, 4))


def _bad_iban(rng: random.Random) -> str:
    good, _ = plant_iban(rng)
    compact = good.replace(" ", "")
    broken = compact[:-1] + str((int(compact[-1], 36) + 1) % 10) if compact[-1].isdigit() else compact[:-1] + "0"
    return " ".join(broken[i:i + 4] for i in range(0, len(broken), 4))


def _not_email(rng: random.Random) -> str:
    return rng.choice([f"@{rng.choice(FIRST)}@mastodon.social", f"logo@2x.png", f"icon@3x.webp",
                       f"{rng.choice(FIRST)}@localhost", f"@{rng.choice(FIRST)}{rng.choice(LAST)}",
                       f"meet @ {rng.randint(1, 12)}pm", f"{rng.choice(FIRST)} [at] example [dot] org"])


NEGATIVES = {"version": _version, "private_ip": _private_ip, "date": _date, "price": _price, "isbn": _isbn,
             "order": _order, "bad_card": _bad_card, "bad_iban": _bad_iban, "not_email": _not_email}
NEGATIVE_TEMPLATES = ["See {v} for the changes.", "Updated: {v}", "{v}", "It was {v}, as reported.",
                      "Siehe {v}.", "({v})"]


def insertion_points(text: str) -> list[int]:
    """Offsets just after a line break or a sentence end followed by a space, plus both ends."""
    points = {0, len(text)}
    points.update(m.end() for m in re.finditer(r"\n|(?<=[.!?]) ", text))
    return sorted(points)


def plant(carrier: Carrier, rng: random.Random, copy: int) -> dict:
    text = carrier.text
    real = label_real(text)
    inserts: list[tuple[int, str, list[dict], list[dict]]] = []
    kinds = list(POSITIVE_WEIGHTS)
    weights = [POSITIVE_WEIGHTS[k] for k in kinds]
    items = [("pos", k) for k in rng.choices(kinds, weights, k=rng.randint(1, 4))]
    items += [("neg", rng.choice(sorted(NEGATIVES))) for _ in range(rng.randint(1, 3))]
    rng.shuffle(items)
    points = insertion_points(text)
    # never split a real value
    points = [p for p in points if all(not (s < p < e) for s, e, _ in real)]
    for role, kind in items:
        at = rng.choice(points)
        if role == "pos":
            make, templates = POSITIVES[kind]
            value, fmt = make(rng)
            if kind == "ip" and ":" in value:
                templates = IPV6_TEMPLATES
            template = rng.choice(templates)
        else:
            value, fmt = NEGATIVES[kind](rng), kind
            template = rng.choice(NEGATIVE_TEMPLATES)
        before, _, after = template.partition("{v}")
        pad_left = "" if at == 0 or text[at - 1] in "\n " else " "
        sentence = f"{pad_left}{before}{value}{after}" + ("\n" if at == 0 or text[at - 1] == "\n" else " ")
        start = len(pad_left) + len(before)
        label = {"start": start, "end": start + len(value)}
        if role == "pos":
            inserts.append((at, sentence, [dict(label, kind=kind, origin="planted", format=fmt)], []))
        else:
            inserts.append((at, sentence, [], [dict(label, type=kind, value=value)]))
    inserts.sort(key=lambda x: x[0])
    out, spans, negatives = [], [], []
    shift = last = 0
    for at, sentence, pos, neg in inserts:
        out.append(text[last:at])
        base = at + shift
        for p in pos:
            spans.append({**p, "start": base + p["start"], "end": base + p["end"]})
        for n in neg:
            negatives.append({**n, "start": base + n["start"], "end": base + n["end"]})
        out.append(sentence)
        shift += len(sentence)
        last = at
    out.append(text[last:])
    final = "".join(out)
    # real values: shift each by the insertions at or before its start
    for s, e, k in real:
        offset = sum(len(sentence) for at, sentence, _, _ in inserts if at <= s)
        kind, _, fmt = k.partition("/")
        spans.append({"start": s + offset, "end": e + offset, "kind": kind, "origin": "real",
                      "format": f"real/{fmt or 'standard'}"})
    spans.sort(key=lambda d: d["start"])
    negatives.sort(key=lambda d: d["start"])
    return {"id": f"{carrier.id}#{copy}", "source": carrier.source, "text": final, "spans": spans,
            "negatives": negatives}


def build(carriers: list[Carrier], seed: int, copies: int) -> list[dict]:
    docs = []
    for copy in range(copies):
        for i, carrier in enumerate(carriers):
            rng = random.Random(f"{seed}/{copy}/{carrier.id}")
            docs.append(plant(carrier, rng, copy))
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (extraction_dev/, warc/)")
    parser.add_argument("--output", type=Path, required=True, help="JSONL to write (.gz for gzip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=2, help="planted copies of each carrier")
    args = parser.parse_args()
    carriers = load_carriers(args.data)
    docs = build(carriers, args.seed, args.copies)
    opener = gzip.open if args.output.suffix == ".gz" else open
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with opener(args.output, "wt", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    n_spans = sum(len(d["spans"]) for d in docs)
    n_real = sum(1 for d in docs for s in d["spans"] if s["origin"] == "real")
    n_neg = sum(len(d["negatives"]) for d in docs)
    print(f"{len(docs)} documents from {len(carriers)} carriers: {n_spans} PII spans ({n_real} real), "
          f"{n_neg} hard negatives -> {args.output}")


if __name__ == "__main__":
    main()
