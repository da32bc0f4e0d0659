"""The tools package's shared helpers: the checkout it works on and .env files."""

from __future__ import annotations

from pathlib import Path

import pytest

from era5_common.env import read_env_file
from era5_tools import repository_root

REPO = Path(__file__).resolve().parents[1]


def test_read_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n\nERA5_BUCKET=my-bucket\nexport AWS_REGION='eu-central-1'\n"
        'ERA5_PREFIX="a b"\nEMPTY=\nURL=http://x/?a=b#frag\n'
    )
    assert read_env_file(env) == {
        "ERA5_BUCKET": "my-bucket",
        "AWS_REGION": "eu-central-1",
        "ERA5_PREFIX": "a b",
        "EMPTY": "",
        "URL": "http://x/?a=b#frag",
    }
    assert read_env_file(tmp_path / "absent") == {}
    env.write_text("GOOD=1\nNOT A PAIR\n")
    with pytest.raises(ValueError, match=":2:"):
        read_env_file(env)


def test_repository_root_is_found_upward_and_only_in_a_checkout(tmp_path, monkeypatch):
    assert repository_root(REPO / "src" / "lib" / "era5_tools") == REPO
    monkeypatch.chdir(REPO / "deploy")
    assert repository_root() == REPO
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    with pytest.raises(FileNotFoundError, match="--root"):
        repository_root(tmp_path)
