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
        for target, anchor in re.findall(r"((?:docs/)?[\w/]*\.md)#([\w\-]+)", path.read_text(errors="ignore")):
            links.add((path, target, anchor))
    assert links
    missing = []
    for path, target, anchor in links:
        candidates = [ROOT / target, path.parent / target, ROOT / "docs" / Path(target).name]
        doc = next((c for c in candidates if c.is_file()), None)
        if doc is None or anchor not in _anchors(doc.read_text()):
            missing.append(f"{path.relative_to(ROOT)} -> {target}#{anchor}")
    assert not missing, missing
