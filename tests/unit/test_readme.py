"""The README stays true: the two commands first, every setting documented."""
from pathlib import Path

from core.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_every_setting_is_documented():
    missing = [name for name, _, _ in Settings.documentation() if f"`{name}`" not in README]
    assert missing == []


def test_documented_files_exist():
    root = Path(__file__).resolve().parents[2]
    for line in README.splitlines():
        if line.startswith("- `docs/"):
            for part in line.split("`")[1::2]:
                if part.startswith("docs/"):
                    assert (root / part).exists(), part
