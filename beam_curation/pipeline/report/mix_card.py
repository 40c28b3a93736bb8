"""The data card (README.md) of a mixture: Hugging Face metadata, what it was drawn from, and per group the
target, the tokens drawn and the repeats, from stats.json and manifest.json plus one streamed pass over the
`language` and `mix_count` columns of documents/."""

from __future__ import annotations

import posixpath
from collections import Counter
from typing import Any

import yaml

from beam_curation.pipeline.io.json_files import read_json
from beam_curation.pipeline.io.atomic import atomic_write
from beam_curation.pipeline.report.card import size_category


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def drawn_by_language(output: str) -> Counter:
    """Drawn documents (with repeats) per language, streamed from documents/."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.readers import open_path

    counts: Counter = Counter()
    found = FileSystems.match([posixpath.join(output, "documents", "*.parquet")])[0].metadata_list
    for meta in sorted(found, key=lambda m: m.path):
        with open_path(meta.path) as handle:
            parquet = pq.ParquetFile(handle)
            if "language" not in parquet.schema_arrow.names:
                continue
            for batch in parquet.iter_batches(batch_size=65_536, columns=["language", "mix_count"]):
                for language, n in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                    counts[language or "unknown"] += n
    return counts


def render_mix_card(output: str, stats: dict[str, Any], manifest: dict[str, Any]) -> str:
    languages = drawn_by_language(output)
    licences = sorted({r.get("license") or "unknown" for r in manifest["from"]}) or ["unknown"]
    meta = {
        "pretty_name": posixpath.basename(output.rstrip("/")) or "mixture",
        "language": sorted(lang for lang in languages if lang != "unknown"),
        "license": licences[0] if len(licences) == 1 else "other",
        "size_categories": [size_category(stats["kept"])],
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "documents/*.parquet"}]}],
    }
    counted = stats["tokens_counted_by"].get("column") or f"an estimate ({stats['tokens_counted_by']['estimate']})"
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {meta['pretty_name']}", "",
             f"A mixture drawn with `beam-curation mix` (config digest `{manifest['config_digest']}`, seed "
             f"{stats['seed']}, upsampling `{stats['upsample']}`): {stats['kept']:,} distinct documents, "
             f"{stats['drawn']:,} with repeats, {stats['tokens']:,} tokens (counted by {counted}). Each row of "
             "`documents/` is to be used `mix_count` times; `mix_group` names its group.", "",
             "## Drawn from", ""]
    lines += _table(["run", "config digest"], [[r["path"], r.get("config_digest")] for r in manifest["from"]])
    lines += ["", "## Groups", ""]
    lines += _table(["group", "where", "weight share", "budget", "target tokens", "available tokens", "tokens",
                     "share of the weighted tokens", "share of the mixture", "documents", "drawn"],
                    [[name, f"`{g['where']}`", g["share"], g["budget"], g["target_tokens"], g["available_tokens"],
                      g["tokens"], g.get("weighted_share"), g["token_share"], g["documents"], g["drawn"]]
                     for name, g in stats["groups"].items()])
    lines += ["", f"Documents in no group (left out): {stats['unmatched']['documents']:,} "
                  f"({stats['unmatched']['tokens']:,} tokens).", "", "## By language (drawn, with repeats)", ""]
    lines += _table(["language", "documents"], [[k, v] for k, v in sorted(languages.items(), key=lambda kv: -kv[1])])
    lines += ["", f"Licence of the text: that of its publishers ({', '.join(licences)} as the runs declare); "
                  "this card does not grant rights the sources did not.", ""]
    return "\n".join(lines)


def write_mix_card(output: str, stats: dict[str, Any], manifest: dict[str, Any]) -> str:
    path = posixpath.join(output, "README.md")
    text = render_mix_card(output, stats, manifest).encode()
    atomic_write(path, lambda handle: handle.write(text))
    return path


def is_mixture(output: str) -> bool:
    """A finished folder written by `mix` (its manifest says so)."""
    return read_json(posixpath.join(output, "manifest.json")).get("kind") == "mixture"


def rewrite_mix_card(output: str) -> str:
    """`report MIXTURE`: the card again, from the mixture's stats.json and manifest.json."""
    return write_mix_card(output, read_json(posixpath.join(output, "stats.json")),
                          read_json(posixpath.join(output, "manifest.json")))
