#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: the bundle is unpacked
# in /autograder/source (the kit in /autograder/source/kit), and the build can reach the internet.
# AUTOGRADER_ROOT lets the kit's tests run it outside Gradescope (tests/test_setup_script.py).
#
# The kit needs Python 3.10 or newer. Gradescope lets each autograder choose its base image (OS,
# version, variant) on the Configure Autograder page; the default is Ubuntu 22.04 (Python 3.10), the
# previous default was Ubuntu 18.04 (Python 3.6), and rebuilding or duplicating an autograder keeps
# the base image it had, so an older one may still be on 18.04 or 20.04 (Python 3.8). Fedora and
# CentOS images exist too, without apt-get. Source: Gradescope's autograder docs, "Base Images",
# https://github.com/gradescope/autograder_samples/blob/master/docs/base_images.md
#
# So: the newest Python 3.10+ already here (with its venv module, which Ubuntu packages apart), else
# one from the image's own apt archive, else one from the deadsnakes PPA (Ubuntu 20.04 and 18.04),
# else stop here, at build time, saying why, rather than fail on every submission.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"
export DEBIAN_FRONTEND=noninteractive  # no prompts (tzdata's, for one) during the build
cd "$ROOT/source"

CHOSEN=""          # the Python the venv was made with
CHOSEN_VERSION=""  # its X.Y
APT_UPDATED=0

# Prints the X.Y of the Python named $1; fails when there is none that runs.
py_version() {
    command -v "$1" >/dev/null 2>&1 || return 1
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

# Succeeds when the version X.Y in $1 is 3.10 or newer.
supported() {
    [[ $1 =~ ^([0-9]+)\.([0-9]+)$ ]] || return 1
    ((BASH_REMATCH[1] > 3 || (BASH_REMATCH[1] == 3 && BASH_REMATCH[2] >= 10)))
}

have_apt() {
    command -v apt-get >/dev/null 2>&1
}

apt_install() {
    if ((APT_UPDATED == 0)); then
        apt-get update -q >/dev/null || return 1
        APT_UPDATED=1
    fi
    apt-get install -y -q "$@" >/dev/null
}

# Makes $VENV with the Python $1 (version $2), installing its venv package when it lacks one.
make_venv() {
    rm -rf "$VENV"
    if "$1" -m venv "$VENV" >/dev/null 2>&1; then
        return 0
    fi
    have_apt || return 1
    echo "setup.sh: $1 -m venv failed; installing python$2-venv"
    apt_install "python$2-venv" || return 1
    rm -rf "$VENV"
    "$1" -m venv "$VENV"
}

# Makes $VENV with the newest supported Python here (python3.13 ... python3.10, or python3 when it
# is 3.10 or newer), or with the next newest when one's venv cannot be made; fails when none can.
find_python() {
    local py v line
    local -a found=() newest_first=()
    for py in python3.13 python3.12 python3.11 python3.10 python3; do
        if v="$(py_version "$py")" && supported "$v"; then
            found+=("$v $py")
        fi
    done
    ((${#found[@]})) || return 1
    mapfile -t newest_first < <(printf '%s\n' "${found[@]}" | sort -s -t. -k1,1nr -k2,2nr)
    for line in "${newest_first[@]}"; do
        v="${line%% *}"
        py="${line#* }"
        if make_venv "$py" "$v"; then
            CHOSEN="$py"
            CHOSEN_VERSION="$v"
            return 0
        fi
    done
    return 1
}

install_from_deadsnakes() {
    have_apt || return 1
    echo "setup.sh: no Python 3.10+ in this image's archive; adding the deadsnakes PPA"
    apt_install software-properties-common || return 1
    add-apt-repository -y ppa:deadsnakes/ppa || return 1
    APT_UPDATED=0
    local v
    for v in 3.12 3.11 3.10; do
        if apt_install "python$v" "python$v-venv"; then
            return 0
        fi
    done
    return 1
}

no_python() {
    local has="no python3" image="this image" v
    if v="$(py_version python3)"; then
        has="Python $v"
    fi
    if [[ -r /etc/os-release ]]; then
        # shellcheck disable=SC1091  # the image's own file
        image="this image ($(. /etc/os-release && echo "${PRETTY_NAME:-${NAME:-unknown OS}}"))"
    fi
    echo "setup.sh: the kit needs Python 3.10 or newer, but $image has $has, and no Python 3.10+" \
        "could be installed: choose the Ubuntu 22.04 (or newer) base image in the assignment's" \
        "autograder settings (Configure Autograder), then rebuild the autograder." >&2
    exit 1
}

find_python \
    || { have_apt && apt_install python3 python3-venv && find_python; } \
    || { install_from_deadsnakes && find_python; } \
    || no_python
echo "setup.sh: using Python $CHOSEN_VERSION ($(command -v "$CHOSEN")) for $VENV"

# The CPU build of torch: Gradescope's machines have no GPU, and the CUDA build is several GB.
# GPTKIT_TORCH pins a version (e.g. "torch==2.5.1"), so that every rebuild grades with the same torch.
"$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu "${GPTKIT_TORCH:-torch>=2.1,<3}"
"$VENV/bin/pip" install -q -r requirements.txt
# Tiny Shakespeare, downloaded and checked against its sha256 once, here, into the kit, where
# run_autograder finds it; with GPTKIT_DATA set, that file is copied (and checked) instead.
(cd kit && env -u GPTKIT_DATA "$VENV/bin/python" -m grader data ${GPTKIT_DATA:+--from "$GPTKIT_DATA"})
