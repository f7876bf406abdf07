"""Entry script of the EMR step: `spark-submit ... s3://BUCKET/code/fruits_emr_entry.py INPUT OUTPUT [flags]`.

spark-submit needs a Python file as the application; this one runs `fruits run` with the step's arguments in
the cluster's venv (where the bootstrap action installed the fruits wheel). The exit code is fruits's: a user
error (2) or a bug (1) fails the step, so EMR shows it.
"""

import sys

if __name__ == "__main__":
    from fruits.cli.main import main

    sys.exit(main(["run", *sys.argv[1:]]))
