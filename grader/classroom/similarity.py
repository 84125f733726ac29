"""Near-copies in a class: fingerprints of each submission's code, compared pair by pair.

As MOSS does it (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003): the code is read as Python tokens (``tokenize``; it never runs),
every name becomes one token ``N``, every number ``0`` and every string ``S``, while keywords and
operators stay; comments, docstrings and layout are dropped. Each run of K tokens is hashed and, of
every W hashes in a row, the smallest is kept: the fingerprints. Two runs of K + W - 1 tokens or more
in common always share a fingerprint. Renaming variables changes no token, and fingerprints are a set,
so reordering functions changes nothing either.

Code every student starts from (the kit's ``exercises/``) is no one's work: its fingerprints are taken
out. A pair is a near-copy when at least THRESHOLD of the smaller set's fingerprints are in the other.
The kit's ``solutions/`` is compared too when it is there (a teacher may delete it). Stdlib only.
"""

import functools
import hashlib
import io
import keyword
import tokenize
from dataclasses import dataclass
from pathlib import Path

K = 20  # tokens per hashed run: about two lines of code
W = 4  # hashes per window: runs of K + W - 1 = 23 tokens in common are always seen
# A pair is flagged when this share of the smaller set of fingerprints is also in the other set.
# Measured with K = 20, W = 4 and exercises/ left out (tests/test_similarity.py, test_the_measured_figures):
#   honest solutions of the core and LayerNorm1d written apart (tests/similarity/: 5, and solutions/), each pair
#     and each against solutions/: 10 % to 37 %, but 57 % to 63 % between those that type the lecture's
#     code as it goes (lecture, lecture2, solutions/, which is the lecture's code where it can be).
#   solutions/ with one of the 52 valid alternatives of tests/variants applied: 96 % to 100 % (copies).
#   copies of solutions/ and of each honest one, names renamed, classes and functions in reverse order,
#     comments removed and others added, every 20th / 10th assignment rewritten in two lines:
#     86 % to 91 % / 81 % to 90 %; every 5th: 74 % to 85 %; every 3rd: 63 % to 78 % (some missed).
# 70 %: 7 points above the highest honest pair, 11 below the lowest copy with every 10th line rewritten.
THRESHOLD = 0.70
MIN_FINGERPRINTS = 50  # a smaller set says too little (tokenizer.py alone has 68, once exercises/ is out)
MAX_FINGERPRINTS = 20000  # per submission; the whole reference has about 1,100
MAX_FILE_BYTES = 2**20  # read of one file: as much as the upload's reading parses (upload.py)
MAX_READ_BYTES = 8 * 2**20  # in all: code takes ~1.2 s a MB to fingerprint here, comments 50 times less
# Comments and layout cost nothing here: code is counted in tokens, and past this many fingerprints a
# submission is not compared but flagged (TOO_LARGE), never compared on a part of its code that a
# padding of it could choose.
NAMED_COPIES = 5  # flags per submission; report.html lists every pair
REFERENCE = "the kit's solutions"
FLAG_START = "near-copy of "  # every copy flag starts so (and no other flag does)
_NAME, _NUMBER, _STRING = "N", "0", "S"
_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)  # Python 3.12 and later
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, None}


def tokens(source):
    """The code's tokens, normalised: names ``N``, numbers ``0``, strings ``S`` (an f-string too, which
    Python 3.12 splits into tokens); keywords and operators as written; comments, docstrings (a string
    that is a statement of its own) and layout dropped. Code that cannot be read to its end gives the
    tokens up to where it stops."""
    found, last, pending, depth = [], None, None, 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if depth:  # inside an f-string
                depth += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
                continue
            if pending is not None:  # a string: dropped if it is a whole statement
                if tok.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT):
                    found.append(pending)
                pending = None
            string = tok.type in (tokenize.STRING, _FSTRING_START)
            if string and last in _STATEMENT_START:
                pending = _STRING
            elif tok.type not in _DROPPED:
                found.append(_word(tok))
            depth = int(tok.type == _FSTRING_START)
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                last = tokenize.STRING if string else tok.type
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        pass
    return found


def _word(tok):
    if tok.type == tokenize.NAME:
        return tok.string if keyword.iskeyword(tok.string) else _NAME
    if tok.type == tokenize.NUMBER:
        return _NUMBER
    if tok.type in (tokenize.STRING, _FSTRING_START):
        return _STRING
    return tok.string


def fingerprints(source, k=K, w=W):
    """The winnowed hashes of the code's K-token runs, as a set of ints."""
    words = tokens(source)
    hashes = [_hash(" ".join(words[i:i + k])) for i in range(len(words) - k + 1)]
    windows = range(max(len(hashes) - w + 1, 1)) if hashes else ()  # code shorter than a window: one
    return {min(hashes[i:i + w]) for i in windows}


def _hash(text):
    # Not hash(): it differs from one process to the next, and the reader runs in a process of its own.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")


TOO_LARGE = "too much code to compare for near-copies: read it yourself"


def package_fingerprints(package):
    """The fingerprints of a prepared submission (grader/classroom/submissions.py): its submission.py
    when it was one file or a notebook, else every ``.py`` file of its folder; None when there are more
    than MAX_FINGERPRINTS (see TOO_LARGE)."""
    from grader.impl import SINGLE_FILE, SINGLE_FILE_MARK

    package = Path(package)
    return folder_fingerprints(package, [SINGLE_FILE] if (package / SINGLE_FILE_MARK).is_file() else None)


def folder_fingerprints(folder, files=None):
    """The fingerprints of the ``.py`` files in ``folder`` (or of ``files``, paths in it), as a sorted
    list, or None past MAX_FINGERPRINTS or MAX_READ_BYTES. A link is never followed."""
    folder = Path(folder)
    paths = sorted(folder.rglob("*.py")) if files is None else [folder / f for f in files]
    found, left = set(), MAX_READ_BYTES
    for path in paths:
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            code = f.read(MAX_FILE_BYTES)
        left -= len(code)
        found |= fingerprints(code.decode("utf-8", "replace"))
        if len(found) > MAX_FINGERPRINTS or left < 0:
            return None
    return sorted(found)


@functools.lru_cache(maxsize=4)
def kit_fingerprints(kit_root=None):
    """(the reference's fingerprints or None without solutions/, the fingerprints of exercises/), from
    the kit's own files, read in the teacher's process."""
    from grader.impl import KIT_ROOT

    root = Path(kit_root or KIT_ROOT)
    base = set(folder_fingerprints(root / "exercises") or ()) if (root / "exercises").is_dir() else set()
    reference = set(folder_fingerprints(root / "solutions") or ()) if (root / "solutions").is_dir() else None
    return reference, base


@dataclass(frozen=True)
class Pair:
    """Two submissions (or one and REFERENCE) and how much they share."""

    first: str
    second: str
    share: float  # of the smaller set's fingerprints, those also in the other set
    shared: int  # fingerprints in both
    smaller: int  # fingerprints in the smaller set
    reference: bool = False  # second is the kit's solutions, not a submission

    @property
    def percent(self):
        return self.shared * 100 // self.smaller if self.smaller else 0  # rounded down: 69.9 % is 69 %


def copy_pairs(graded_list, kit_root=None):
    """The near-copies among the graded submissions and against the kit's solutions, most alike first."""
    reference, base = kit_fingerprints(kit_root)
    sets = {g.name: set(g.fingerprints) - base for g in graded_list}
    sets = {name: found for name, found in sets.items() if len(found) >= MIN_FINGERPRINTS}
    names = sorted(sets)
    pairs = [_compared(a, sets[a], b, sets[b]) for i, a in enumerate(names) for b in names[i + 1:]]
    if reference is not None and len(reference - base) >= MIN_FINGERPRINTS:
        reference = reference - base
        pairs += [_compared(a, sets[a], REFERENCE, reference, True) for a in names]
    return sorted((p for p in pairs if p.share >= THRESHOLD), key=lambda p: (-p.share, p.first, p.second))


def _compared(a, first, b, second, reference=False):
    smaller = min(len(first), len(second))
    shared = len(first & second)
    return Pair(a, b, shared / smaller if smaller else 0.0, shared, smaller, reference)


def flag_text(other, pair):
    return f"{FLAG_START}{other} ({pair.percent} % shared)"


def copy_flags(graded_list, kit_root=None):
    """{name: [flag, ...]}: each near-copy's flags, most alike first, for every submission in
    ``graded_list`` (an empty list for one that is no near-copy); past NAMED_COPIES, one flag counts the rest."""
    flags = {g.name: [] for g in graded_list}
    for pair in copy_pairs(graded_list, kit_root):
        flags[pair.first].append(flag_text(pair.second, pair))
        if not pair.reference:
            flags[pair.second].append(flag_text(pair.first, pair))
    for name, found in flags.items():
        if len(found) > NAMED_COPIES:
            rest = len(found) - NAMED_COPIES + 1
            flags[name] = found[:NAMED_COPIES - 1] + [f"{FLAG_START}{rest} more (report.html lists them)"]
    return flags


def mark_copies(graded_list, kit_root=None):
    """Set each submission's copy flags from the whole list, in place of those it had (a shard's, an
    earlier run's); its other flags stay. Returns the submissions whose flags changed (their graded.json
    is to be written again: reports.write_graded)."""
    flags = copy_flags(graded_list, kit_root)
    changed = []
    for graded in graded_list:
        kept = [f for f in graded.flags if not f.startswith(FLAG_START)] + flags[graded.name]
        if kept != graded.flags:
            graded.flags = kept
            changed.append(graded)
    return changed
