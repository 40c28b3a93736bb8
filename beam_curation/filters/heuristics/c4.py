"""C4's line filter (Raffel et al. 2020) as DataTrove's ``C4QualityFilter`` applies it, as a pure transform.

Each line of ``text.splitlines()`` is stripped and then, in this order:
1. dropped if any whitespace-separated word is longer than ``max_word_length`` (``too_long_word``);
2. cleaned of Wikipedia-style citations ``[12]``, ``[]``, ``[edit]``, ``[citation needed]`` (no re-strip);
3. dropped if it does not end in ``. ? ! " '`` or ends in ``...`` (``no_terminal_punct``; FineWeb turns
   this off);
4. dropped if it had fewer than ``min_words_per_line`` words before citation removal (``too_few_words``);
5. flagged if it contains "lorem ipsum" (case-insensitive): DataTrove drops the whole document;
6. dropped if it contains "javascript" (case-insensitive) (``javascript``);
7. flagged if it contains ``{``: DataTrove drops the whole document;
8. dropped if it contains a cookie/terms-of-use phrase (``policy``);
otherwise kept, and its sentences (spaCy's sentencizer, as DataTrove counts them) are added up.
The output text is the kept lines joined by ``\\n``, stripped. A flagged line (5, 7) is kept in the
output; the signals say the document must go (DataTrove stops at the first flagged line, so only
that line's flag is set; "lorem ipsum" wins on a line that has both).

With ``split_paragraph=False`` the units are sentences of the whole text instead of lines, joined by spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from beam_curation.filters.text.word_tokens import EnglishWordTokenizer, default_tokenizer

# The signals this group computes, in the order it returns them (declared so that a run's columns are
# known without tokenising anything; tests/pipeline/test_configs.py checks them against the computed ones).
SIGNAL_NAMES = (
    "c4_lines",
    "c4_lines_kept",
    "c4_too_long_word",
    "c4_no_terminal_punct",
    "c4_too_few_words",
    "c4_javascript",
    "c4_policy",
    "c4_citations",
    "c4_lorem_ipsum",
    "c4_curly_bracket",
    "c4_num_sentences",
)


CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
LINE_DROP_REASONS = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


@dataclass(frozen=True)
class C4LineResult:
    """Line-filtered text, what was removed (spans over the ORIGINAL text) and the document signals."""

    text: str
    removed: list[tuple[int, int, str]] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    word_count: int = 0
    """Words (DataTrove's English words) of ``text``, so later filters need not tokenize it again."""


def c4_filter_lines(
    text: str,
    *,
    split_paragraph: bool = True,
    remove_citations: bool = True,
    filter_no_terminal_punct: bool = True,
    min_words_per_line: int = 3,
    max_word_length: int = 1000,
    filter_lorem_ipsum: bool = True,
    filter_javascript: bool = True,
    filter_curly_bracket: bool = True,
    filter_policy: bool = True,
    tokenizer: EnglishWordTokenizer | None = None,
    prefetch: bool = True,
) -> C4LineResult:
    """Apply C4's line rules to ``text`` (defaults are DataTrove's; FineWeb uses ``filter_no_terminal_punct=False``).

    Signals: ``c4_lines`` (units seen), ``c4_lines_kept``, one count per line-drop reason
    (``c4_too_long_word`` ...), ``c4_citations`` (citations removed from kept lines), ``c4_lorem_ipsum`` and
    ``c4_curly_bracket`` (0/1: DataTrove drops the document; only the one it meets first is set, so that
    the removal reason is DataTrove's too), ``c4_num_sentences`` (sentences in kept
    lines; DataTrove drops the document below ``min_num_sentences``, 5 by default).
    ``prefetch=False`` skips tokenizing all of ``text`` up front (when its words were just computed
    with the same ``tokenizer``, every chunk is cached already).
    The document-level rules are left to the caller: C4 keeps a document when
    ``c4_lorem_ipsum == 0 and c4_curly_bracket == 0 and c4_num_sentences >= 5``.
    """
    tokenizer = tokenizer or default_tokenizer()
    counts = dict.fromkeys(LINE_DROP_REASONS, 0)
    removed: list[tuple[int, int, str]] = []
    kept: list[str] = []
    lorem = curly = 0
    citations = sentences = words = 0
    units = _lines_with_offsets(text) if split_paragraph else _sentences_with_offsets(text, tokenizer)
    if prefetch:  # tokenize every chunk of the document in one spaCy call; lines then hit the cache
        tokenizer.chunks(text.split())
    for start, raw in units:
        line = raw.strip()
        offset = start + len(raw) - len(raw.lstrip())
        chunks = line.split()
        reason = None
        if max_word_length != -1 and len(line) > max_word_length and max(map(len, chunks)) > max_word_length:
            reason = "too_long_word"
        else:
            cited = CITATION.findall(line) if remove_citations and "[" in line else ()
            if cited:
                spans = [(offset + m.start(), offset + m.end(), "citation") for m in CITATION.finditer(line)]
                line = CITATION.sub("", line)
            if filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                reason = "no_terminal_punct"
            elif len(chunks) < min_words_per_line:
                reason = "too_few_words"
            else:
                lowered = line.lower()
                if filter_lorem_ipsum and "lorem ipsum" in lowered and not (lorem or curly):
                    lorem = 1
                if filter_javascript and "javascript" in lowered:
                    reason = "javascript"
                else:
                    if filter_curly_bracket and "{" in line and not (lorem or curly):
                        curly = 1
                    if filter_policy and any(p in lowered for p in POLICY_SUBSTRINGS):
                        reason = "policy"
        if reason is not None:
            counts[reason] += 1
            removed.append((start, start + len(raw), reason))
            continue
        if cited:
            citations += len(cited)
            removed.extend(spans)
            chunks = line.split()
        line_sentences, line_words = tokenizer.line_stats(line, chunks)
        sentences += line_sentences if split_paragraph else 1
        words += line_words
        kept.append(line)
    signals: dict[str, float] = {
        "c4_lines": float(len(units)),
        "c4_lines_kept": float(len(kept)),
        **{f"c4_{reason}": float(n) for reason, n in counts.items()},
        "c4_citations": float(citations),
        "c4_lorem_ipsum": float(lorem),
        "c4_curly_bracket": float(curly),
        "c4_num_sentences": float(sentences),
    }
    out = ("\n" if split_paragraph else " ").join(kept).strip()
    return C4LineResult(text=out, removed=removed, signals=signals, word_count=words)


def _lines_with_offsets(text: str) -> list[tuple[int, str]]:
    """``text.splitlines()`` with each line's start offset in ``text``."""
    out = []
    pos = 0
    for with_end, line in zip(text.splitlines(keepends=True), text.splitlines()):
        out.append((pos, line))
        pos += len(with_end)
    return out


def _sentences_with_offsets(text: str, tokenizer: EnglishWordTokenizer) -> list[tuple[int, str]]:
    """The whole text cut at spaCy sentence starts, each piece with its start offset (pieces cover ``text``)."""
    starts = [0]
    pos = 0
    pending_break = False
    for match in re.finditer(r"\S+|\s+", text):
        piece = match.group()
        if piece.isspace():
            if piece != " " and pos and pending_break:  # a whitespace token after a final mark starts a sentence
                starts.append(match.start())
                pending_break = False
            pos = match.end()
            continue
        tokens, classes = tokenizer.chunks([piece])[0]
        at = match.start()
        for token, cls in zip(tokens, classes):
            at = text.index(token, at)
            if cls == "i":
                pending_break = True
            elif cls == "p" and pending_break:
                starts.append(at)
                pending_break = False
            at += len(token)
        pos = match.end()
    starts = sorted(set(starts))
    ends = starts[1:] + [len(text)]
    return [(a, text[a:b]) for a, b in zip(starts, ends)]
