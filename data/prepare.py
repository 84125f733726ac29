"""Get Tiny Shakespeare, the lecture's data set, into data/tinyshakespeare/input.txt.

    python data/prepare.py                 # download it (about 1 MB)
    python data/prepare.py --from PATH     # no internet? copy an input.txt you already have

Either way its sha256 is checked before it is saved, so a wrong or half-downloaded file is never
used. The same thing is available as ``python -m grader data``; ``--help`` lists the options.
"""

import sys
from pathlib import Path

# Work from a plain checkout too: make the kit root (the folder above data/) importable first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.data import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
