"""Data: IDX parsing, the two datasets, their sources and checksums, and the calibration draw."""
