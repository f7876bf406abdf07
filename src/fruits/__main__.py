import sys

from fruits.cli.main import main

sys.exit(main())
