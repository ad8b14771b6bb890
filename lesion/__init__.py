"""Shared code every stage imports: the I/O contract, image preprocessing, metrics, calibration."""
