"""Reliability and security checks of material search and training: the machinery behind `make reliability`
(long runs, `benchmarks/reliability/run.py`) and its fast versions in `tests/reliability/`.

One module per kind of check: `library` (building and comparing libraries), `corpus` (hostile and odd
files), `faults` (SIGKILL loops), `load` (concurrent clients on loopback), `fuzz` (OpenAPI fuzzing),
`report` (the summary table).
"""
