"""Load CloudFormation/SAM YAML (with short tags such as !Ref, !GetAtt, !Sub, !If).

Short tags become the long JSON form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``,
``{"Fn::Sub": ...}``), which is what CloudFormation, samtranslator and our own
tooling expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_FUNCTIONS = (
    "And Base64 Cidr Condition Equals FindInMap GetAZs If ImportValue Join Length "
    "Not Or Select Split Sub ToJsonString Transform"
).split()


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsic functions."""


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return {"Ref": _construct(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = _construct(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


def _function(name: str):
    key = "Condition" if name == "Condition" else f"Fn::{name}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return {key: _construct(loader, node)}

    return construct


CfnLoader.add_constructor("!Ref", _ref)
CfnLoader.add_constructor("!GetAtt", _get_att)
for _name in _FUNCTIONS:
    CfnLoader.add_constructor(f"!{_name}", _function(_name))


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
