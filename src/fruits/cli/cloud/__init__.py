"""`fruits cloud ...`: the pipeline on AWS EMR in an EU region (bucket, upload, cluster, steps, logs, cost).

`parser` defines the sub-commands; their handlers are grouped by concern: `storage` (init, upload), `cluster`
(up, submit, run), `monitoring` (status, logs, report, down), `doctor` and `teardown` (destroy). `clients` builds the AWS clients
at the edge and hands them to the handlers; the library functions in `fruits.cloud` receive them.
"""

from .parser import add_parser

__all__ = ["add_parser"]
