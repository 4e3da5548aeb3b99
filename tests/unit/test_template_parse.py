"""template.yaml is read through libyaml: the same document cfn_tools' own (pure Python) loader gives."""

from __future__ import annotations

from cfn_tools import load_yaml

from creditwatch.local.template import load_template_yaml
from creditwatch.paths import TEMPLATE


def test_the_libyaml_loader_gives_cfn_tools_document_for_template_yaml() -> None:
    text = TEMPLATE.read_text()
    assert load_template_yaml(text) == load_yaml(text)
