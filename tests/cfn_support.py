"""Evaluate the CloudFormation template as CloudFormation would, for the tests.

First the ``AWS::LanguageExtensions`` transform, as far as the template uses it
(:func:`expand`: ``Fn::ForEach`` in Conditions, Resources and Outputs), then only the
intrinsic functions deploy/cloudformation/stack.yaml uses (Ref, Fn::Sub, Fn::GetAtt,
Fn::If, Fn::Join, Fn::FindInMap, Fn::Equals, Fn::Not); anything else is an error, so a
new function in the template makes the tests say so rather than pass on a half-resolved
value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

_SUB = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_FOR_EACH = "Fn::ForEach::"
#: The sections Fn::ForEach may stand in (CloudFormation's Fn::ForEach reference).
_LOOP_SECTIONS = ("Conditions", "Resources", "Outputs")


def expand(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template as the ``AWS::LanguageExtensions`` transform hands it on.

    Every ``Fn::ForEach::<Loop>: [Identifier, [values...], {OutputKey: OutputValue}]``
    becomes one ``OutputKey: OutputValue`` per value, where the identifier is replaced as
    CloudFormation's Fn::ForEach reference and RFC 0009 (cfn-language-discussion) say:
    in the output key as an implicit ``Fn::Sub`` (``${Id}``, or ``&{Id}`` for the value's
    letters and digits only); in the value through ``Ref: Id``, ``Fn::Sub`` (a string left
    without placeholders is no function any more) and ``Ref: {Fn::Sub: ...}``; never in
    the condition name of an ``Fn::If``. Collections must be literal lists here, and a
    key that comes out twice is an error, as it is for CloudFormation. A template
    without the transform comes back as it is (a copy).
    """
    out = copy.deepcopy(dict(template))
    transform = out.pop("Transform", None)
    transforms = transform if isinstance(transform, list) else [transform] if transform else []
    if transforms not in ([], [LANGUAGE_EXTENSIONS]):
        raise NotImplementedError(f"transform {transform!r}")
    for section in _LOOP_SECTIONS:
        if not transforms and any(k.startswith(_FOR_EACH) for k in out.get(section) or {}):
            raise ValueError(f"Fn::ForEach in {section} without {LANGUAGE_EXTENSIONS}")
        if section in out:
            out[section] = _expand_mapping(out[section], {})
    return out


def _expand_mapping(node: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A section or an output value's object: its loops unrolled, its values expanded."""
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in out:
            raise ValueError(f"Fn::ForEach makes {key} twice")
        out[key] = value

    for key, value in node.items():
        if key.startswith(_FOR_EACH):
            identifier, collection, fragment = value
            if not isinstance(collection, list) or not all(isinstance(v, str) for v in collection):
                raise NotImplementedError(f"{key}: only a literal list of strings")
            for item in collection:
                inner = {**names, identifier: item}
                for out_key, out_value in _expand_mapping(
                    {_sub_key(k, inner): v for k, v in fragment.items()}, inner
                ).items():
                    put(out_key, out_value)
        else:
            put(key, _expand_value(value, names))
    return out


def _sub_key(key: str, names: Mapping[str, str]) -> str:
    if key.startswith(_FOR_EACH):
        return key
    text = _replace(key, names)
    if not re.fullmatch(r"[A-Za-z0-9]+", text):
        raise ValueError(f"Fn::ForEach output key {key!r} gives {text!r}: not alphanumeric")
    return text


def _replace(text: str, names: Mapping[str, str]) -> str:
    for name, value in names.items():
        text = text.replace("${" + name + "}", value)
        text = text.replace("&{" + name + "}", re.sub(r"[^A-Za-z0-9]", "", value))
    return text


def _expand_value(node: Any, names: Mapping[str, str]) -> Any:
    if isinstance(node, list):
        return [_expand_value(x, names) for x in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), *_ = node.items()
        if key == "Ref":
            if isinstance(arg, str):
                return names.get(arg, node)
            target = _expand_value(arg, names)  # Ref: {Fn::Sub: Name${Id}} names a parameter
            return (
                names.get(target, {"Ref": target}) if isinstance(target, str) else {"Ref": target}
            )
        if key == "Fn::Sub":
            text, extra = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
            text = _replace(text, names)
            if extra is not None:
                return {"Fn::Sub": [text, _expand_value(extra, names)]}
            return text if not _SUB.search(text) else {"Fn::Sub": text}
        if key == "Fn::If":
            condition, yes, no = arg
            return {"Fn::If": [condition, _expand_value(yes, names), _expand_value(no, names)]}
    return _expand_mapping(node, names)


class Resolver:
    """A template with its parameters: resolved resources, conditions and outputs.

    The template is taken as :func:`expand` gives it; ``self.template`` is that.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        stack_name: str = "era5-contours",
        region: str = "eu-west-1",
        account: str = "123456789012",
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.template = expand(template)
        declared = self.template.get("Parameters") or {}
        unknown = set(parameters) - set(declared)
        if unknown:
            raise KeyError(f"parameters the template does not declare: {sorted(unknown)}")
        self.values: dict[str, Any] = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in declared.items()
        }
        self.values.update(
            {
                "AWS::StackName": stack_name,
                "AWS::Region": region,
                "AWS::AccountId": account,
                "AWS::Partition": "aws",
            }
        )
        self.mappings = self.template.get("Mappings") or {}
        self.attributes = dict(attributes or {})
        self.conditions = {
            name: self._condition(body)
            for name, body in (self.template.get("Conditions") or {}).items()
        }

    def _condition(self, body: Any) -> bool:
        (function, args), *_ = body.items()
        if function == "Fn::Equals":
            return self.value(args[0]) == self.value(args[1])
        if function == "Fn::Not":
            return not self._condition(args[0])
        raise NotImplementedError(function)

    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function evaluated."""
        if isinstance(node, list):
            return [self.value(x) for x in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), *_ = node.items()
            if key == "Ref":  # a parameter, or a resource's physical id
                return self.values[arg] if arg in self.values else self.attributes[arg]
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                local = {k: self.value(v) for k, v in extra.items()}

                def lookup(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in local:
                        return str(local[name])
                    if "." in name and not name.startswith("AWS::"):
                        return self.attributes[name]
                    return str(self.values[name])

                return _SUB.sub(lookup, text)
            if key == "Fn::GetAtt":
                return self.attributes[".".join(arg)]
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.conditions[name] else no)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(x) for x in self.value(items))
            if key == "Fn::FindInMap":
                mapping, first, second = (self.value(x) for x in arg)
                return self.mappings[mapping][first][second]
            if key.startswith("Fn::") or key == "Condition":
                raise NotImplementedError(key)
        return {k: self.value(v) for k, v in node.items()}

    def resources(self) -> dict[str, dict[str, Any]]:
        """Logical id -> resolved properties, of the resources whose condition holds."""
        out = {}
        for name, resource in self.template["Resources"].items():
            condition = resource.get("Condition")
            if condition and not self.conditions[condition]:
                continue
            out[name] = self.value(resource.get("Properties") or {})
        return out
