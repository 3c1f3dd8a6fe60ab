import sys

from elk_provision.cli import main

sys.exit(main())
