"""The fixed output schemas: documents/' leading columns, duplicates/ and errors/.

The columns of signals/ are the columns each enabled stage declares (beam_curation.pipeline.stages, in stage
order) plus those of the dedup decision, fixed by the run plan before the run starts (beam_curation.pipeline.plan),
never a function of the data, so every shard of a run has the same schema. The passthrough columns of
documents/ and removed/ are the run's union (beam_curation.pipeline.io.passthrough).
"""

from __future__ import annotations

import pyarrow as pa


DOCUMENT_FIELDS = [pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("url", pa.string()),
                   pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
DUPLICATES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("cluster_id", pa.string()),
                               pa.field("cluster_size", pa.int64()), pa.field("keep", pa.bool_())])
# With `dedup.against`: the removal reason and, when the keeper is an earlier run's, its output folder (null:
# this run's), what rehydration and cluster-to-id mapping across runs need. Additive: the first four as above.
DUPLICATES_AGAINST_SCHEMA = DUPLICATES_SCHEMA.append(pa.field("reason", pa.string())).append(
    pa.field("keeper_run", pa.string()))
ERROR_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("stage", pa.string()),
                          pa.field("error", pa.string()), pa.field("input", pa.string())])
