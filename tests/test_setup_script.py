"""setup.sh, the Gradescope image's build script, run against fake images.

Each test runs the real script with ``bash``, with PATH starting at a folder of fake commands (small
bash scripts): ``apt-get``, ``add-apt-repository`` and every Python name the script may look for.
A fake Python answers the script's version query and, for ``-m venv DIR``, makes DIR/bin/python and
DIR/bin/pip fakes; every fake records its calls to a log, so nothing is installed or downloaded.
A name the image lacks is a stub that fails as a missing command does (exit 127), so that the real
``python3.11`` or ``apt-get`` of the machine running the tests, further along PATH, stays out of reach.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.kit import KIT_ROOT

SETUP = KIT_ROOT / "grader" / "classroom" / "templates" / "setup.sh"
BASH = shutil.which("bash")
TORCH = "install -q --index-url https://download.pytorch.org/whl/cpu torch>=2.1,<3"
# Every name the script may run that an image may or may not have: all of them are faked.
FAKED = ("python3", *(f"python3.{minor}" for minor in range(6, 15)), "apt-get", "add-apt-repository")


def _bash_major():
    if BASH is None:
        return 0
    out = subprocess.run([BASH, "-c", "echo ${BASH_VERSINFO[0]}"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


pytestmark = [
    pytest.mark.timeout(60),
    # Gradescope's images are Linux with bash 4.4 or newer (mapfile); macOS's /bin/bash is 3.2.
    pytest.mark.skipif(sys.platform == "win32" or _bash_major() < 4, reason="needs bash 4.4+"),
]

LOG = 'printf "%s|%s|%s\\n" "@NAME@" "$PWD" "$*" >> "$FAKE_LOG"\n'

MISSING = """#!@BASH@
echo "@NAME@: command not found" >&2
exit 127
"""

# A fake Python @VERSION@. Its venv works once $FAKE_STATE/venv-@VERSION@ exists (its pythonX.Y-venv
# package installed); until then it leaves a half-made venv behind, as Ubuntu's does without ensurepip.
PYTHON = """#!@BASH@
""" + LOG + """case "$1 $2" in
    "-c "*version_info*) echo "@VERSION@"; exit 0 ;;
    "-m venv")
        mkdir -p "$3/bin"
        if [ ! -e "$FAKE_STATE/venv-@VERSION@" ]; then
            : > "$3/bin/python"
            echo "Error: ensurepip is not available" >&2
            exit 1
        fi
        for tool in python pip; do
            cp "$FAKE_STATE/venv-$tool" "$3/bin/$tool"
            chmod +x "$3/bin/$tool"
        done
        exit 0 ;;
esac
echo "fake @NAME@: unexpected arguments: $*" >&2
exit 2
"""

VENV_TOOL = "#!@BASH@\n" + LOG

# Installs the packages its catalog ($FAKE_STATE/apt) holds: each one's file is a snippet it sources.
# Like apt, it installs all of them or, when one is not there, none.
APT_GET = """#!@BASH@
""" + LOG + """case "$1" in
    update) exit 0 ;;
    install) shift ;;
    *) echo "fake apt-get: unexpected arguments: $*" >&2; exit 2 ;;
esac
packages=()
for arg in "$@"; do
    case "$arg" in -*) ;; *) packages+=("$arg") ;; esac
done
for package in "${packages[@]}"; do
    if [ ! -e "$FAKE_STATE/apt/$package" ]; then
        echo "E: Unable to locate package $package" >&2
        exit 100
    fi
done
for package in "${packages[@]}"; do
    . "$FAKE_STATE/apt/$package"
done
"""

# Adding the deadsnakes PPA makes its packages ($FAKE_STATE/ppa) installable.
ADD_APT_REPOSITORY = """#!@BASH@
""" + LOG + """[ "$*" = "-y ppa:deadsnakes/ppa" ] || { echo "fake add-apt-repository: unexpected $*" >&2; exit 2; }
for package in "$FAKE_STATE"/ppa/*; do
    [ -e "$package" ] && cp "$package" "$FAKE_STATE/apt/"
done
exit 0
"""


def _fake(text, **subs):
    subs.setdefault("BASH", BASH)
    for key, value in subs.items():
        text = text.replace(f"@{key}@", value)
    return text


# What installing a package does: snippets the fake apt-get sources.
def python_appears(name):
    return f'cp "$FAKE_STATE/later/{name}" "$FAKE_BIN/{name}"\n'


def venv_works(version):
    return f': > "$FAKE_STATE/venv-{version}"\n'


def command_appears(name):
    return f'cp "$FAKE_STATE/later/{name}" "$FAKE_BIN/{name}"\n'


NOTHING = ":\n"


@dataclass
class Image:
    pythons: dict                                # name -> X.Y, there from the start
    venv: set = field(default_factory=set)       # the X.Y whose venv works from the start
    apt: dict = field(default_factory=dict)      # package -> snippet, in the image's own archive
    ppa: dict = field(default_factory=dict)      # package -> snippet, once the deadsnakes PPA is added
    later: dict = field(default_factory=dict)    # python name -> X.Y that a package may install


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    calls: list                                  # (command, working folder, arguments)
    root: object
    bin: object

    def of(self, command):
        return [args for name, _, args in self.calls if name == command]


def run_setup(tmp_path, image):
    root, bin_dir, state = tmp_path / "autograder", tmp_path / "bin", tmp_path / "state"
    (root / "source" / "kit").mkdir(parents=True)
    (root / "source" / "requirements.txt").write_text("pytest>=8.0\n")
    for folder in (bin_dir, state / "apt", state / "ppa", state / "later"):
        folder.mkdir(parents=True)

    def write(path, text):
        path.write_text(text)
        path.chmod(0o755)

    for name in FAKED:
        write(bin_dir / name, _fake(MISSING, NAME=name))
    for name, version in image.pythons.items():
        write(bin_dir / name, _fake(PYTHON, NAME=name, VERSION=version))
    for name, version in image.later.items():
        write(state / "later" / name, _fake(PYTHON, NAME=name, VERSION=version))
    write(bin_dir / "apt-get", _fake(APT_GET, NAME="apt-get"))
    write(state / "later" / "add-apt-repository", _fake(ADD_APT_REPOSITORY, NAME="add-apt-repository"))
    for tool in ("python", "pip"):
        write(state / f"venv-{tool}", _fake(VENV_TOOL, NAME=tool))
    for version in image.venv:
        (state / f"venv-{version}").touch()
    for folder, packages in (("apt", image.apt), ("ppa", image.ppa)):
        for package, snippet in packages.items():
            (state / folder / package).write_text(snippet)

    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    for name in FAKED:  # the fakes shadow whatever this machine has
        assert shutil.which(name, path=path) == str(bin_dir / name)
    env = dict(os.environ, PATH=path, AUTOGRADER_ROOT=str(root), FAKE_STATE=str(state),
               FAKE_BIN=str(bin_dir), FAKE_LOG=str(tmp_path / "calls.log"))
    proc = subprocess.run([BASH, str(SETUP)], env=env, capture_output=True, text=True, timeout=50)
    log = tmp_path / "calls.log"
    calls = [tuple(line.split("|", 2)) for line in log.read_text().splitlines()] if log.exists() else []
    return Run(proc, calls, root, bin_dir)


def assert_built_with(run, name, version):
    """The venv was made by ``name`` and has torch (CPU), the requirements and the data in it."""
    out = run.proc.stdout + run.proc.stderr
    assert run.proc.returncode == 0, out
    venv = run.root / "venv"
    chosen = [line for line in run.proc.stdout.splitlines() if line.startswith("setup.sh: using Python")]
    assert chosen == [f"setup.sh: using Python {version} ({run.bin / name}) for {venv}"], out
    assert run.of(name)[-1] == f"-m venv {venv}"
    assert (venv / "bin" / "pip").is_file()
    source = str(run.root / "source")
    after_venv = [call for call in run.calls if call[0] in ("pip", "python")]
    assert after_venv == [("pip", source, TORCH),
                          ("pip", source, "install -q -r requirements.txt"),
                          ("python", str(run.root / "source" / "kit"), "-m grader data")], out


def test_a_supported_python3_is_used_as_it_is(tmp_path):
    image = Image(pythons={"python3": "3.12", "python3.10": "3.10"}, venv={"3.12", "3.10"})
    run = run_setup(tmp_path, image)
    assert_built_with(run, "python3", "3.12")  # the newest, though python3.10 is looked for first
    assert run.of("apt-get") == [] and run.of("add-apt-repository") == []
    assert not any(args.startswith("-m venv") for args in run.of("python3.10"))


def test_an_old_image_gets_python_from_the_deadsnakes_ppa(tmp_path):
    # Ubuntu 20.04: Python 3.8, no add-apt-repository until software-properties-common is installed;
    # deadsnakes has no python3.12 here (say), so python3.11 it is.
    image = Image(pythons={"python3": "3.8"}, venv={"3.8"},
                  apt={"python3": NOTHING, "python3-venv": NOTHING,
                       "software-properties-common": command_appears("add-apt-repository")},
                  ppa={"python3.11": python_appears("python3.11"), "python3.11-venv": venv_works("3.11")},
                  later={"python3.11": "3.11"})
    run = run_setup(tmp_path, image)
    assert_built_with(run, "python3.11", "3.11")
    assert run.of("add-apt-repository") == ["-y ppa:deadsnakes/ppa"]
    apt = run.of("apt-get")
    assert "install -y -q python3.11 python3.11-venv" in apt
    added = [i for i, call in enumerate(run.calls) if call[0] == "add-apt-repository"][0]
    after = [args for name, _, args in run.calls[added:] if name == "apt-get"]
    assert after[0] == "update -q" and after[-1] == "install -y -q python3.11 python3.11-venv"
    assert run.of("python3") and "-m venv" not in " ".join(run.of("python3"))  # 3.8 was never used


def test_an_image_with_no_way_to_python_310_fails_the_build_saying_why(tmp_path):
    # Ubuntu 18.04: Python 3.6, and (say) nothing newer from the PPA.
    image = Image(pythons={"python3": "3.6"}, venv={"3.6"},
                  apt={"python3": NOTHING, "python3-venv": NOTHING,
                       "software-properties-common": command_appears("add-apt-repository")})
    run = run_setup(tmp_path, image)
    out = run.proc.stdout + run.proc.stderr
    assert run.proc.returncode != 0, out
    message = run.proc.stderr.strip().splitlines()[-1]
    assert message.startswith("setup.sh: ") and "Python 3.6" in message and "3.10" in message, out
    assert "Ubuntu 22.04" in message and "base image" in message, out
    assert run.of("add-apt-repository") == ["-y ppa:deadsnakes/ppa"]  # it did try
    assert "using Python" not in out and run.of("pip") == [] and not (run.root / "venv" / "bin" / "pip").exists()


def test_a_missing_venv_module_is_installed(tmp_path):
    # Ubuntu 22.04 without python3-venv: `python3.10 -m venv` fails until python3.10-venv is installed.
    image = Image(pythons={"python3": "3.10", "python3.10": "3.10"},
                  apt={"python3.10-venv": venv_works("3.10")})
    run = run_setup(tmp_path, image)
    assert_built_with(run, "python3.10", "3.10")
    assert run.of("apt-get") == ["update -q", "install -y -q python3.10-venv"]
    assert run.of("python3.10").count(f"-m venv {run.root / 'venv'}") == 2  # failed, then made
    assert run.of("add-apt-repository") == []
