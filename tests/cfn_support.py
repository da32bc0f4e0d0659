"""Evaluate the CloudFormation template as CloudFormation would, for the tests.

Only the intrinsic functions deploy/cloudformation/stack.yaml uses (Ref, Fn::Sub,
Fn::GetAtt, Fn::If, Fn::Join, Fn::Equals, Fn::Not); anything else is an error, so a new
function in the template makes the tests say so rather than pass on a half-resolved
value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SUB = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


class Resolver:
    """A template with its parameters: resolved resources, conditions and outputs."""

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
        self.template = template
        declared = template.get("Parameters") or {}
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
        self.attributes = dict(attributes or {})
        self.conditions = {
            name: self._condition(body) for name, body in (template.get("Conditions") or {}).items()
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
