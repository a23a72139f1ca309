"""Run the real `umbra` CLI in this interpreter (the test's venv), whatever PATH says."""

import sys

from umbra.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
