"""Reading inputs, writing outputs and annotation files, planning shards into tasks."""
