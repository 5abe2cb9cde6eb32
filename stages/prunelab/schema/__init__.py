"""The schema of ``params.yaml``, one module per section (``prunelab.schema.train.TRAIN``, ...),
so a stage runs the schema of the sections it reads and no other; ``every_section`` holds the
whole file's list of sections and its validation."""
