"""The project stands alone: no pointers at material users do not have, and every docs link resolves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_FILES = [
    p
    for p in ROOT.rglob("*")
    if p.is_file()
    and p.suffix in {".py", ".md", ".yaml", ".ipynb", ".sh", ".toml", ".txt", ".cfg", ".json"}
    and not {".venv", ".git", "experiments", "__pycache__"} & set(p.relative_to(ROOT).parts)
    and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
]


def _anchors(markdown: str) -> set:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_no_references_to_internal_material():
    this = Path(__file__).resolve()
    offenders = []
    for path in TEXT_FILES:
        if path.resolve() == this:
            continue
        text = path.read_text(errors="ignore")
        for pattern in (r"\bSPEC\b", r"\bissue \d+", r"\.\./shared", r"/work/shared"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders


def test_every_docs_link_points_at_an_existing_heading():
    links = set()
    for path in TEXT_FILES:
        for target, anchor in re.findall(r"((?:\.\./|docs/)?[\w/]*\.md)#([\w\-]+)", path.read_text(errors="ignore")):
            links.add((path, target, anchor))
    assert links
    missing = []
    for path, target, anchor in links:
        candidates = [path.parent / target, ROOT / target, ROOT / "docs" / Path(target).name]
        doc = next((c for c in candidates if c.is_file()), None)
        if doc is None or anchor not in _anchors(doc.read_text()):
            missing.append(f"{path.relative_to(ROOT)} -> {target}#{anchor}")
    assert not missing, missing


# --- the README and the docs pages: length, links, figures, commands

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 250
FIGURE_MAX_BYTES = 200_000


class _Parsed(BaseException):
    """Raised once argparse has accepted a command line: the command is not run."""


def test_readme_stays_short_and_opens_with_the_results():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[0] == "Does it reproduce the paper?", headings


def test_every_linked_file_and_figure_exists_and_figures_are_small():
    missing, too_big = [], []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for image, target in re.findall(r"(!?)\[[^\]]*\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file = (doc.parent / target.split("#")[0]).resolve()
            if not file.exists():
                missing.append(f"{doc.relative_to(ROOT)} -> {target}")
            elif image and file.stat().st_size > FIGURE_MAX_BYTES:
                too_big.append(f"{doc.relative_to(ROOT)} -> {target} ({file.stat().st_size} bytes)")
    assert not missing, missing
    assert not too_big, too_big


def test_every_figure_in_docs_figures_is_indexed_with_its_command():
    import yaml

    folder = ROOT / "docs" / "figures"
    pngs = sorted(p.name for p in folder.glob("*.png"))
    if not pngs:
        return
    entries = yaml.safe_load((folder / "figures.yaml").read_text(encoding="utf-8"))
    assert sorted(entries) == pngs
    index = (folder / "README.md").read_text(encoding="utf-8")
    for name, entry in entries.items():
        assert entry["command"].startswith("python scripts/make_figures.py ") and entry["machine"] and entry["drawn"]
        assert f"]({name})" in index and entry["command"] in index


def _expand_braces(token: str) -> list[str]:
    """bash's brace expansion of one token: `a/{x,y}.yaml` -> `a/x.yaml`, `a/y.yaml`."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", token)
    if not match:
        return [token]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _expand_braces(token[: match.start()] + choice + token[match.end() :])
    ]


def _fenced_commands():
    """(doc, tokens) of every `python ...` / `bash ...` command in the shell blocks of the README and the docs."""
    import shlex

    for doc in DOCS:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S):
            for line in re.sub(r"\\\n", " ", block).splitlines():  # continued lines joined
                tokens = [t for token in shlex.split(line, comments=True) for t in _expand_braces(token)]
                command: list[str] = []
                for token in [*tokens, "&&"]:
                    if token in {"&&", "||", ";", "|"}:
                        while command and re.fullmatch(r"[A-Z_]+=\S*", command[0]):
                            command.pop(0)
                        if command and command[0] in {"python", "python3", "bash"}:
                            yield doc, command
                        command = []
                    else:
                        command.append(token)


def _program_main(tokens):
    """The main() that `python SCRIPT.py` / `python -m gibo.MODULE` runs, or None for another program."""
    import importlib

    if tokens[1] == "-m":
        if not tokens[2].startswith("gibo"):
            return None
        module = importlib.import_module(tokens[2])
        return getattr(module, "main", None) or importlib.import_module(f"{tokens[2]}.cli").main
    from tests.helpers import load_script

    return load_script(tokens[1].removesuffix(".py")).main


def test_every_command_in_readme_and_docs_names_existing_files_and_parses(monkeypatch, capsys):
    """Each `python` command's arguments are accepted by its parser (nothing is run: parsing stops it); each
    `bash` script exists and passes `bash -n`; every repository path a command names exists."""
    import argparse
    import subprocess

    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        parse_args(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    commands = list(_fenced_commands())
    assert len(commands) > 20
    failures = []
    for doc, tokens in commands:
        where = f"{doc.relative_to(ROOT)}: {' '.join(tokens)}"
        for token in tokens[1:]:
            if re.match(r"(configs|scripts|benchmarks|notebooks|tests)(/|$)", token) and not (ROOT / token).exists():
                failures.append(f"{where}: no such file {token}")
        if tokens[0] == "bash":
            script = ROOT / tokens[1]
            if not script.is_file() or subprocess.run(["bash", "-n", str(script)]).returncode != 0:
                failures.append(f"{where}: not a valid script")
            continue
        if tokens[1] == "-m" and tokens[2] in {"venv", "pytest"}:
            continue
        if tokens[1] != "-m" and not (ROOT / tokens[1]).is_file():
            failures.append(f"{where}: no such script")
            continue
        main = _program_main(tokens)
        argv = tokens[3:] if tokens[1] == "-m" else tokens[2:]
        try:
            main(argv)
        except _Parsed:
            continue
        except SystemExit as error:
            failures.append(f"{where}: refused ({error.code}): {capsys.readouterr().err.strip()[-300:]}")
            continue
        failures.append(f"{where}: ran without parsing its arguments with argparse")
    assert not failures, "\n".join(failures)


def test_every_inline_python_command_names_an_existing_program():
    """`python X.py ...` and `python -m gibo.X ...` written inline in the README and the docs name a script of the
    repository or a module of the package."""
    import importlib.util

    missing = []
    for doc in DOCS:
        for command in re.findall(r"`(python3? [^`]+)`", doc.read_text(encoding="utf-8")):
            tokens = command.split()
            if tokens[1] == "-m":
                if tokens[2].startswith("gibo") and importlib.util.find_spec(tokens[2]) is None:
                    missing.append(f"{doc.relative_to(ROOT)}: {command}")
            elif tokens[1].endswith(".py") and not (ROOT / tokens[1]).is_file():
                missing.append(f"{doc.relative_to(ROOT)}: {command}")
    assert not missing, missing
