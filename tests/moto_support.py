"""Helpers for tests that run moto in server mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from era5_common.env import patched_environ
from era5_tools.s3proxy import CREDENTIALS as S3PROXY_CREDENTIALS


def reset_moto(endpoint: str) -> None:
    """Empty every moto backend behind a server.

    moto keeps its backends per process, not per server: state left by one test's server
    (a Glue table, a bucket) would show through the next test's server otherwise.
    """
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


#: moto's test credentials (the S3 proxy's, which the job measurements use).
CREDENTIALS = S3PROXY_CREDENTIALS


@contextlib.contextmanager
def threaded_moto() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1, empty at start and at end; its endpoint."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    reset_moto(endpoint)
    try:
        yield endpoint
    finally:
        reset_moto(endpoint)
        server.stop()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 and the environment pointing boto3 at it; its endpoint."""
    from era5_common import storage

    changes = {**CREDENTIALS, "AWS_PROFILE": None}
    try:
        with (
            threaded_moto() as endpoint,
            patched_environ({**changes, "AWS_ENDPOINT_URL": endpoint}),
        ):
            storage.use_endpoint(endpoint)
            yield endpoint
    finally:
        storage._local.s3 = storage._local.s3_exclusive = None


def _refers_to(node: Any, names: set[str]) -> bool:
    """Whether a template fragment refers to one of ``names`` (``Ref`` or ``Fn::Sub``)."""
    if isinstance(node, list):
        return any(_refers_to(x, names) for x in node)
    if not isinstance(node, dict):
        return False
    if node.get("Ref") in names:
        return True
    sub = node.get("Fn::Sub")
    text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) else None
    if text is not None and any("${" + n + "}" in text for n in names):
        return True
    return any(_refers_to(v, names) for v in node.values())


def change_sets_see_parameters(monkeypatch: Any) -> None:
    """Make moto's change sets list the resources a parameter change modifies.

    CloudFormation's change set marks Modify every resource whose properties refer to a
    parameter that changes (ChangeSource ParameterReference). moto 5's ``ChangeSet.diff``
    (moto/cloudformation/models.py) compares the templates alone, so a change of
    parameters only shows no change at all, although executing it updates the resources.
    This adds those resources, found by ``Ref`` and ``Fn::Sub`` as CloudFormation does
    (those that exist: a resource whose condition is false is not modified).
    The server runs in this process (ThreadedMotoServer), so patching the class reaches it.
    """
    from moto.cloudformation import models

    template_diff = models.ChangeSet.diff

    def diff(self: Any) -> list[Any]:
        changes = template_diff(self)
        resource_map = self.stack.resource_map
        applied = getattr(resource_map, "input_parameters", None) or {}
        changed = {k for k, v in self.parameters.items() if applied.get(k) != v}
        old = resource_map._resource_json_map
        listed = {c.logical_resource_id for c in changes}
        for name, resource in self.template_dict["Resources"].items():
            if name not in old or name in listed or not _refers_to(resource, changed):
                continue
            # A resource whose condition is false does not exist to be modified.
            condition = resource.get("Condition")
            if condition and not resource_map.lazy_condition_map[condition]:
                continue
            changes.append(models.Change("Modify", name, resource["Type"]))
        return changes

    monkeypatch.setattr(models.ChangeSet, "diff", diff)


def fail_change_sets(monkeypatch: Any, reason: str) -> None:
    """Make every change set moto creates end FAILED with ``reason``.

    moto marks a change set FAILED only when it changes nothing; CloudFormation also
    fails one whose template or parameters it cannot use (an unknown export, a
    transform), with the reason in ``StatusReason``.
    """
    from moto.cloudformation import models

    create = models.CloudFormationBackend.create_change_set

    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        change_set_id, stack_id = create(self, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = reason
        return change_set_id, stack_id

    monkeypatch.setattr(models.CloudFormationBackend, "create_change_set", failing)


def language_extensions(monkeypatch: Any) -> None:
    """Make moto's CloudFormation apply the template's AWS::LanguageExtensions transform.

    moto 5 knows no transform: it would take the stack's ``Fn::ForEach::GlueJobs`` for a
    resource. CloudFormation unrolls the loops before anything else sees the template;
    here tests/cfn_support.py's :func:`expand` does it at the same point, where moto parses
    a stack's or a change set's template (moto/cloudformation/models.py).
    """
    from cfn_support import expand
    from moto.cloudformation import models

    parse = models.Stack.parse_template
    monkeypatch.setattr(models.Stack, "parse_template", staticmethod(lambda t: expand(parse(t))))
    parse_change_set = models.ChangeSet._parse_template

    def change_set_template(self: Any) -> None:
        parse_change_set(self)
        self.template_dict = expand(self.template_dict)

    monkeypatch.setattr(models.ChangeSet, "_parse_template", change_set_template)
