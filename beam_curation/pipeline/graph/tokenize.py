"""The `tokenize` job: documents/*.parquet -> tokenized shards in a seeded order, sized by tokens per file.

The order is global and stable: every document copy (a mixture's `mix_count` copies of a document, else one)
has the key (hash of seed, copy and id; id; copy), and the output is the documents sorted by it, cut into
files at token offsets: a document goes to file floor(start / tokens_per_file), where `start` is the number
of tokens before it in the order. Every step is deterministic, so the files are the same on any runner and
any worker count, and no step holds all documents:

1. Tokenize: one input file per task, encoded in batches (`encode_batch`), each copy keyed.
2. Offsets: the keys fall into BUCKETS ranges of the hash; per bucket only (key, token count) pairs are
   grouped and sorted, and the bucket's first offset is the sum of the smaller buckets' totals (a side input
   of BUCKETS numbers).
3. Files: each copy's ids are joined to its file number, and each file's copies are sorted by key and written
   by the format's writer (`beam_curation.pipeline.io.megatron` / `dolma_tokens`) into the work folder,
   named by the file number; the driver renames them to consecutive parts (a document longer than a file
   leaves a number unused).

Memory: a worker holds one input file's batch, one bucket's (key, count) pairs (documents / BUCKETS), or
one output file's documents (about tokens_per_file ids).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np

from beam_curation.filters.tokenized import shuffle_key, with_eod

BUCKET_BITS = 10
BUCKETS = 1 << BUCKET_BITS
EMPTY = "empty"  # tagged output: documents whose encoding is empty (no text, or nothing the tokenizer keeps)

# (shuffle hash, document id, copy number): the total order of the output
Key = tuple[int, str, int]


@dataclass(frozen=True)
class TokenizeJob:
    """What every worker of the job needs, resolved on the driver."""

    source: str  # the folder read (--from); `src` in Dolma's metadata is relative to it
    tokenizer: str  # tokenizer.json, local or any Beam filesystem
    eod_id: int
    dtype: str  # numpy dtype name of the stored ids
    format: str  # megatron | dolma
    seed: int
    tokens_per_file: int
    work: str  # where the files and the summary go, named by file number
    count_column: Optional[str] = None  # a mixture's copies per document, when its documents have one
    batch_size: int = 512


def bucket_of(key: Key) -> int:
    return key[0] >> (63 - BUCKET_BITS)


def shard_prefix(work: str, number: int) -> str:
    return posixpath.join(work, f"{number:010d}")


class TokenizeFile(beam.DoFn):
    """One documents/*.parquet file -> (key, (ids as bytes, src, row)) per document copy."""

    def __init__(self, job: TokenizeJob):
        self.job = job
        self.tokenizer = None

    def setup(self) -> None:
        from tokenizers import Tokenizer

        from beam_curation.pipeline.io.readers import open_path

        with open_path(self.job.tokenizer) as handle:
            self.tokenizer = Tokenizer.from_str(handle.read().decode("utf-8"))

    def process(self, path: str) -> Iterator[Any]:
        import pyarrow.parquet as pq

        from beam_curation.pipeline.io.readers import open_path

        job, dtype = self.job, np.dtype(self.job.dtype).newbyteorder("<")
        src = posixpath.relpath(path, job.source) if path.startswith(job.source.rstrip("/") + "/") else path
        columns = ["id", "text", *([job.count_column] if job.count_column else [])]
        row = 0
        with open_path(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=job.batch_size, columns=columns):
                ids = batch.column("id").to_pylist()
                texts = batch.column("text").to_pylist()
                counts = batch.column(job.count_column).to_pylist() if job.count_column else [1] * len(ids)
                encoded = self.tokenizer.encode_batch([text or "" for text in texts])
                for doc_id, encoding, count in zip(ids, encoded, counts):
                    tokens = with_eod(encoding.ids, job.eod_id)
                    if not tokens or not count:
                        if not tokens:
                            yield beam.pvalue.TaggedOutput(EMPTY, doc_id)
                        row += 1
                        continue
                    blob = np.asarray(tokens, dtype=dtype).tobytes()
                    for copy in range(int(count)):
                        yield (shuffle_key(job.seed, doc_id, copy), doc_id, copy), (blob, src, row)
                    row += 1


def _sizes(element: tuple[Key, tuple[bytes, str, int]], itemsize: int) -> tuple[int, tuple[Key, int]]:
    key, (blob, _, _) = element
    return bucket_of(key), (key, len(blob) // itemsize)


def _assign_files(element: tuple[int, Iterable[tuple[Key, int]]], totals: dict[int, int],
                  tokens_per_file: int) -> Iterator[tuple[Key, int]]:
    """A bucket's copies in key order -> (key, file number) from each copy's global token offset."""
    bucket, entries = element
    start = sum(n for b, n in totals.items() if b < bucket)
    for key, n in sorted(entries):
        yield key, start // tokens_per_file
        start += n


def _by_file(element: tuple[Key, dict[str, list]]) -> Iterator[tuple[int, tuple[Key, tuple[bytes, str, int]]]]:
    key, joined = element
    (number,) = joined["file"]
    for payload in joined["doc"]:  # one per key (ids and copies are unique)
        yield number, (key, payload)


class WriteShard(beam.DoFn):
    """One output file's copies -> the format's pair of files, and a summary line."""

    def __init__(self, job: TokenizeJob):
        self.job = job

    def process(self, element: tuple[int, Iterable[tuple[Key, tuple[bytes, str, int]]]]) -> Iterator[str]:
        from beam_curation.pipeline.io.dolma_tokens import write_memmap
        from beam_curation.pipeline.io.megatron import write_indexed_dataset

        number, entries = element
        entries = sorted(entries, key=lambda entry: entry[0])
        dtype = np.dtype(self.job.dtype).newbyteorder("<")
        documents = [np.frombuffer(blob, dtype=dtype) for _, (blob, _, _) in entries]
        prefix = shard_prefix(self.job.work, number)
        if self.job.format == "megatron":
            files = write_indexed_dataset(prefix, documents, dtype)
        else:
            files = write_memmap(prefix, documents, [key[1] for key, _ in entries],
                                 [src for _, (_, src, _) in entries], [row for _, (_, _, row) in entries], dtype)
        yield json.dumps({"file": number, "files": [posixpath.basename(f) for f in files],
                          "documents": len(entries), "repeats": sum(1 for key, _ in entries if key[2] > 0),
                          "tokens": int(sum(len(d) for d in documents))}, sort_keys=True)


def build(p: beam.Pipeline, files: list[str], job: TokenizeJob) -> None:
    """The job over `files` (documents/*.parquet); its summary lines go to `<work>/summary.jsonl`."""
    itemsize = np.dtype(job.dtype).itemsize
    tokenized = (p
                 | "Files" >> beam.Create(sorted(files))
                 | "Spread" >> beam.Reshuffle()
                 | "Tokenize" >> beam.ParDo(TokenizeFile(job)).with_outputs(EMPTY, main="docs"))
    docs = tokenized.docs
    sizes = docs | "Sizes" >> beam.Map(_sizes, itemsize)
    totals = (sizes
              | "Counts" >> beam.MapTuple(lambda bucket, entry: (bucket, entry[1]))
              | "BucketTotals" >> beam.CombinePerKey(sum))
    assigned = (sizes
                | "GroupBuckets" >> beam.GroupByKey()
                | "AssignFiles" >> beam.FlatMap(_assign_files, beam.pvalue.AsDict(totals), job.tokens_per_file))
    shards = ({"doc": docs, "file": assigned}
              | "Join" >> beam.CoGroupByKey()
              | "ByFile" >> beam.FlatMap(_by_file)
              | "GroupFiles" >> beam.GroupByKey()
              | "Write" >> beam.ParDo(WriteShard(job)))
    empty = (tokenized[EMPTY]
             | "CountEmpty" >> beam.combiners.Count.Globally()
             | "EmptyLine" >> beam.Map(lambda n: json.dumps({EMPTY: n})))
    ((shards, empty)
     | "Summaries" >> beam.Flatten()
     | "WriteSummary" >> beam.io.WriteToText(posixpath.join(job.work, "summary"), file_name_suffix=".jsonl",
                                             num_shards=1, shard_name_template=""))
