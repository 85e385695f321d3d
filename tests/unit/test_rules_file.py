"""core.rules_file: an instance's copy of a rules file replaces the packaged one, is read again when
it changes, and a file that is not YAML is refused naming the file."""
from __future__ import annotations

import os

import pytest

from core.config import load_settings
from core.rules_file import load_rules_file, rules_file_path

pytestmark = pytest.mark.req("URS-FND-001")


class Refused(Exception):
    pass


def parse_names(data, source):  # type: ignore[no-untyped-def]
    if not isinstance(data, dict):
        raise Refused(f"{source}: expected a mapping")
    return sorted(data)


def parse_count(data, source):  # type: ignore[no-untyped-def]
    return len(data)


def test_the_instance_copy_replaces_the_packaged_file_and_is_read_again_when_it_changes(tmp_path):
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text("a: 1\nb: 2\n", encoding="utf-8")
    settings = load_settings({"instance_path": str(tmp_path / "instance")}, environ={})
    settings.instance.mkdir(parents=True, exist_ok=True)
    assert rules_file_path(settings, "rules.yaml", packaged) == packaged
    assert load_rules_file(settings, "rules.yaml", packaged, parse_names, Refused) == ["a", "b"]
    assert load_rules_file(None, "rules.yaml", packaged, parse_count, Refused) == 2  # one cache entry per parser

    own = settings.instance / "rules.yaml"
    own.write_text("c: 3\n", encoding="utf-8")
    assert load_rules_file(settings, "rules.yaml", packaged, parse_names, Refused) == ["c"]
    own.write_text("c: 3\nd: 4\n", encoding="utf-8")
    os.utime(own, (own.stat().st_atime, own.stat().st_mtime + 5))  # edited later: read again
    assert load_rules_file(settings, "rules.yaml", packaged, parse_names, Refused) == ["c", "d"]


def test_a_file_that_is_not_yaml_or_not_accepted_is_refused_naming_it(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(Refused, match=r"broken\.yaml: not valid YAML"):
        load_rules_file(None, "rules.yaml", broken, parse_names, Refused)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- a\n", encoding="utf-8")
    with pytest.raises(Refused, match=r"listed\.yaml: expected a mapping"):
        load_rules_file(None, "rules.yaml", listed, parse_names, Refused)
