#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd /autograder/source
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip >/dev/null
python3 -m venv /autograder/venv
# The CPU build of torch: Gradescope's machines have no GPU, and the CUDA build is several GB.
/autograder/venv/bin/pip install -q --index-url https://download.pytorch.org/whl/cpu "torch>=2.1,<3"
/autograder/venv/bin/pip install -q -r requirements.txt
# Tiny Shakespeare, downloaded and checked against its sha256 once, here.
(cd kit && /autograder/venv/bin/python -m grader data)
