import sys

from streammask.cli import main

sys.exit(main())
