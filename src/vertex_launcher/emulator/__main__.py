"""``python -m vertex_launcher.emulator [options]``."""

import sys

from vertex_launcher.emulator import main

if __name__ == "__main__":
    sys.exit(main())
