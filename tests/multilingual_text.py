"""Multilingual test text shared by the tokenisation and signal tests: hand-made strings in many
scripts, real web sentences in 75 languages (langid_dev) and real pages extracted from ../shared/data.
"""

from __future__ import annotations

import gzip
import json

from conftest import shared_data

SCRIPTS = {
    "arabic_harakat": "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ، قُلْ هُوَ اللَّهُ أَحَدٌ.",
    "devanagari": "हिन्दी भारत की राजभाषा है। क्षत्रिय, ज्ञान और श्रृंगार!",
    "bengali_tamil": "বাংলা ভাষা আমার মাতৃভাষা। தமிழ் மொழி பழமையானது.",
    "thai": "ภาษาไทยเป็นภาษาราชการของประเทศไทย ผู้ใหญ่ลี้ตีกลอง",
    "hebrew_points": "בְּרֵאשִׁית בָּרָא אֱלֹהִים",
    "korean": "한국어는 대한민국의 공용어입니다. 가각 각 (conjoining jamo)",
    "cjk": "日本語のテキスト。東京は大きい！中文文本，简体字与繁體字。",
    "fractions": "Add ¼ cup and 3½ tsp; x² + y³ = z⁴, ① ② ⅓ ⅞ ¹⁄₂",
    "emoji": "Great 😀👍🏽 🇫🇷 👨‍👩‍👧 ✔️ ok!! #tag ...",
    "controls": "unit\x1fsep record\x1eend a\x1cb !\x1d! \x0bvt\x0cff\u2028ls\u00a0nbsp",
    "connectors": "snake_case __init__ a‿b ⁀x ＿full＿width",
    "newer_than_python": "\U0001e030\U0001e031 word \U0001e032x \u0cf3 \U00011f00",
    "mixed_latin_marks": "cafe\u0301 nai\u0308ve Zoë's re-entry—“quoted” «ça» (1999) 4.5% $3.88",
}


def langid_documents() -> dict[str, str]:
    """The first 40 dev sentences of each of the 75 languages, one document per language."""
    path = shared_data("langid_dev", "lingua_sentences_dev.tsv")
    by_lang: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            lang, _, sentence = line.rstrip("\n").partition("\t")
            if len(by_lang.setdefault(lang, [])) < 40:
                by_lang[lang].append(sentence)
    return {lang: "\n".join(s) for lang, s in by_lang.items()}


# Dev pages (by id) in languages other than German and English per lid.176 on trafilatura's text, and
# German or English pages whose WordPunct tokens differ between re and nltk; chosen when this was written.
EXTRACTION_IDS = """
020d0ccd36d141cc 9aa31a6f12ab3e7f fb1ed913c4ae4e0d 1ea375509e1aef08 e3ace56ad8fd3032 e54c3ca4898d434f
8d6148906f13f6a4 2539cd982f3cd324 9c8e58cc8438d83e 36792b463b076f77 048f696952326413 0acd83019fe73113
75eb9b9958b1cd84 ba530ece35ce2d63 73abdda07d237f68 231c47033a91e9d5 6fd56911129afe5a 36be1067337e443e
11ea381ad92b5448 20b2b64916b00b25 21486419bb109c5a 23aaecd14171f96c c4a3637c6696f238 f105de6e63ca91ea
ff0f958ade714ebf 150cfb13a6b8b1de
""".split()
INDONESIAN_WITH_ARABIC = "21486419bb109c5a"


def extracted_pages() -> dict[str, str]:
    """Real multilingual page texts: the dev pages above and the Common Crawl WARC samples' pages."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    folder = shared_data("extraction_dev")
    pages: dict[str, str] = {}
    for gold in ("trafilatura_gold.jsonl", "scrapinghub_gold.jsonl"):
        for line in (folder / gold).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"][:16] in EXTRACTION_IDS:
                html = gzip.open(folder / row["html_file"], "rb").read()
                pages[row["id"][:16]] = trafilatura.extract(html, url=row["url"]) or ""
    for name in ("CC-MAIN-2020-34_sample_resiliparse.warc.gz", "CC-MAIN-2024-22_whirlwind.warc.gz"):
        with shared_data("warc", name).open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    pages[url] = trafilatura.extract(record.content_stream().read(), url=url) or ""
    return pages


