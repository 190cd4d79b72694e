"""The fake's own REST behaviour where the contract suite does not reach it."""
from __future__ import annotations

import base64
import json

import urllib3

from .lakefs_fake_server import FakeLakeFS

AUTH = {"Authorization": "Basic " + base64.b64encode(b"key:secret").decode()}


def _call(server: FakeLakeFS, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    return urllib3.request(method, server.url + "/api/v1" + path, headers=headers, body=body, retries=False)


def test_requests_without_basic_auth_are_refused() -> None:
    with FakeLakeFS() as server:
        resp = _call(server, "GET", "/config")
        assert resp.status == 401 and json.loads(resp.data)["message"]
        assert _call(server, "GET", "/config", AUTH).status == 200


def test_unimplemented_routes_answer_501_and_are_recorded() -> None:
    with FakeLakeFS() as server:
        resp = _call(server, "POST", "/repositories/r/refs/a/merge/b", AUTH, b"{}")
        assert resp.status == 501
        assert server.unhandled == ["POST /api/v1/repositories/r/refs/a/merge/b"]


def test_ranges_staging_and_commits_follow_lakefs_semantics() -> None:
    with FakeLakeFS() as server:
        create = json.dumps({"name": "repo1", "storage_namespace": "mem://r"}).encode()
        assert _call(server, "POST", "/repositories", AUTH, create).status == 201
        up = _call(server, "POST", "/repositories/repo1/branches/main/objects?path=a.txt", AUTH, b"0123456789")
        assert up.status == 201 and json.loads(up.data)["size_bytes"] == 10
        stat = _call(server, "GET", "/repositories/repo1/refs/main/objects/stat?path=a.txt", AUTH)
        assert json.loads(stat.data)["checksum"] == json.loads(up.data)["checksum"] == "781e5e245d69b566979b86e28d23f2c7"
        # staged data is visible on the branch, not at its committed head
        head = json.loads(_call(server, "GET", "/repositories/repo1/branches/main", AUTH).data)["commit_id"]
        assert _call(server, "GET", f"/repositories/repo1/refs/{head}/objects?path=a.txt", AUTH).status == 404
        part = _call(server, "GET", "/repositories/repo1/refs/main/objects?path=a.txt", {**AUTH, "Range": "bytes=2-4"})
        assert part.status == 206 and part.data == b"234" and part.headers["Content-Range"] == "bytes 2-4/10"
        past = _call(server, "GET", "/repositories/repo1/refs/main/objects?path=a.txt", {**AUTH, "Range": "bytes=10-"})
        assert past.status == 416 and past.headers["Content-Range"] == "bytes */10"
        commit = _call(server, "POST", "/repositories/repo1/branches/main/commits", AUTH, b'{"message": "m"}')
        assert commit.status == 201 and json.loads(commit.data)["parents"] == [head]
        again = _call(server, "POST", "/repositories/repo1/branches/main/commits", AUTH, b'{"message": "m"}')
        assert again.status == 400 and "no changes" in json.loads(again.data)["message"]
        branch = json.dumps({"name": "run-1", "source": "main"}).encode()
        created = _call(server, "POST", "/repositories/repo1/branches", AUTH, branch)
        assert created.status == 201 and created.data.decode() == json.loads(commit.data)["id"]
        listed = json.loads(_call(server, "GET", "/repositories/repo1/branches?amount=1", AUTH).data)
        assert [r["id"] for r in listed["results"]] == ["main"] and listed["pagination"]["has_more"] is True
        assert _call(server, "POST", "/repositories/repo1/branches", AUTH, branch).status == 409
