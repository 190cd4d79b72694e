"""An in-process fake of the lakeFS REST API subset that training.lakefs_versioning uses.

Paths, payloads and status codes follow lakeFS's OpenAPI spec (api/swagger.yml) as compiled
into lakefs-sdk 1.88 (``lakefs_sdk/api/*.py``); the high-level ``lakefs`` 0.16 wrapper drives
it. It keeps everything in memory, accepts HTTP Basic auth with any key pair (401 without
one), and answers 501 to any route it does not implement, recording it in ``unhandled`` so
a test notices when the SDK starts calling something new. It is NOT a lakeFS server: no
merges, diffs, ref expressions (``~``, ``^``, ``@``), pre-signed URLs or garbage
collection, and it has never been compared against a real lakeFS server.

Implemented (all under ``/api/v1``)::

    GET    /config
    POST   /repositories                                       create repository
    GET    /repositories/{repo}
    POST   /repositories/{repo}/branches                       create branch (201, text body)
    GET    /repositories/{repo}/branches                       list branches
    GET    /repositories/{repo}/branches/{branch}
    POST   /repositories/{repo}/branches/{branch}/objects      raw-body upload (?path=)
    POST   /repositories/{repo}/branches/{branch}/objects/delete
    POST   /repositories/{repo}/branches/{branch}/commits
    GET    /repositories/{repo}/commits/{ref}                  any branch, tag or commit id
    POST   /repositories/{repo}/tags
    GET    /repositories/{repo}/tags/{tag}
    GET    /repositories/{repo}/refs/{ref}/objects             download (?path=, Range)
    HEAD   /repositories/{repo}/refs/{ref}/objects             exists
    GET    /repositories/{repo}/refs/{ref}/objects/stat
    GET    /repositories/{repo}/refs/{ref}/objects/ls          list (prefix, after, amount, delimiter)
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_REPO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_BRANCH_NAME = re.compile(r"^\w[-\w]*$")
_MAX_AMOUNT = 1000


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class _Entry:
    address: str
    checksum: str
    size: int
    mtime: int
    content_type: str
    metadata: dict[str, str]


@dataclass
class _Commit:
    id: str
    parents: list[str]
    committer: str
    message: str
    creation_date: int
    metadata: dict[str, str]
    tree: dict[str, _Entry]

    def as_json(self) -> dict[str, Any]:
        meta_range = hashlib.sha256(json.dumps(sorted((p, e.address) for p, e in self.tree.items())).encode()).hexdigest()
        return {
            "id": self.id, "parents": self.parents, "committer": self.committer, "message": self.message,
            "creation_date": self.creation_date, "meta_range_id": meta_range, "metadata": self.metadata,
            "generation": len(self.parents), "version": 1,
        }


@dataclass
class _Branch:
    head: str
    staged: dict[str, _Entry | None] = field(default_factory=dict)  # None marks a deletion


@dataclass
class _Repo:
    id: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, _Branch] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "creation_date": self.creation_date, "default_branch": self.default_branch,
                "storage_namespace": self.storage_namespace, "read_only": False}


class FakeLakeFS:
    """Start with ``with FakeLakeFS() as server:``; point the SDK at ``server.url``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._counter = itertools.count()
        self.requests: list[tuple[str, str]] = []  # (method, route template) in call order
        self.unhandled: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeLakeFS:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-lakefs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLakeFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- state helpers (call with the lock held) -------------------------------------
    def _repo(self, name: str) -> _Repo:
        repo = self._repos.get(name)
        if repo is None:
            raise _HttpError(404, f"repository not found: {name}")
        return repo

    def _branch(self, repo: _Repo, name: str) -> _Branch:
        branch = repo.branches.get(name)
        if branch is None:
            raise _HttpError(404, f"branch not found: {name}")
        return branch

    @staticmethod
    def _resolve(repo: _Repo, ref: str) -> tuple[_Commit, _Branch | None]:
        if any(ch in ref for ch in "~^@"):
            raise _HttpError(400, f"fake lakeFS does not support ref expressions: {ref}")
        if ref in repo.branches:
            branch = repo.branches[ref]
            return repo.commits[branch.head], branch
        if ref in repo.tags:
            return repo.commits[repo.tags[ref]], None
        if ref in repo.commits:
            return repo.commits[ref], None
        raise _HttpError(404, f"not found: reference {ref}")

    def _view(self, repo: _Repo, ref: str) -> dict[str, _Entry]:
        """Objects visible at ``ref``: a commit's tree, or a branch head plus its staging."""
        commit, branch = self._resolve(repo, ref)
        tree = dict(commit.tree)
        if branch is not None:
            for path, entry in branch.staged.items():
                if entry is None:
                    tree.pop(path, None)
                else:
                    tree[path] = entry
        return tree

    def _new_commit(self, repo: _Repo, parents: list[str], message: str, metadata: dict[str, str],
                    tree: dict[str, _Entry], committer: str) -> _Commit:
        now = int(time.time())
        seed = json.dumps([repo.id, parents, message, metadata, sorted((p, e.address) for p, e in tree.items()),
                           now, next(self._counter)])
        commit = _Commit(id=hashlib.sha256(seed.encode()).hexdigest(), parents=parents, committer=committer,
                         message=message, creation_date=now, metadata=metadata, tree=tree)
        repo.commits[commit.id] = commit
        return commit

    @staticmethod
    def _stats(path: str, entry: _Entry) -> dict[str, Any]:
        return {"path": path, "path_type": "object", "physical_address": entry.address, "checksum": entry.checksum,
                "size_bytes": entry.size, "mtime": entry.mtime, "metadata": entry.metadata,
                "content_type": entry.content_type}

    @staticmethod
    def _page(items: list[Any], key: Any, after: str, amount: int) -> tuple[list[Any], dict[str, Any]]:
        after_items = [item for item in items if key(item) > after] if after else items
        page = after_items[:amount]
        has_more = len(after_items) > amount
        return page, {"has_more": has_more, "next_offset": key(page[-1]) if page and has_more else "",
                      "results": len(page), "max_per_page": amount}

    # -- request dispatch ------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
               user: str) -> tuple[int, dict[str, str], bytes, str]:
        """Return (status, headers, body, route template)."""
        parts = [unquote(p) for p in path.split("/") if p]
        if parts[:2] != ["api", "v1"]:
            raise _HttpError(404, f"no such path: {path}")
        parts = parts[2:]
        with self._lock:
            for route_method, template, func in _ROUTES:
                params = _match(template, parts)
                if params is not None and route_method == method:
                    self.requests.append((method, template))
                    status, out_headers, out_body = func(self, params, query, headers, body, user)
                    return status, out_headers, out_body, template
            self.unhandled.append(f"{method} /api/v1/{'/'.join(parts)}")
        raise _HttpError(501, f"fake lakeFS: endpoint not implemented: {method} {path}")

    # -- endpoints -------------------------------------------------------------------
    def get_config(self, p, q, h, body, user):
        storage = {
            "blockstore_type": "mem", "blockstore_namespace_example": "mem://example-bucket/",
            "blockstore_namespace_ValidityRegex": "^mem://", "pre_sign_support": False,
            "pre_sign_support_ui": False, "import_support": False, "import_validity_regex": "^mem://",
            "pre_sign_multipart_upload": False,
        }
        return _json(200, {"version_config": {"version": "fake-lakefs"}, "storage_config": storage})

    def create_repository(self, p, q, h, body, user):
        spec = _body_json(body)
        name, namespace = spec.get("name"), spec.get("storage_namespace")
        if not isinstance(name, str) or not _REPO_NAME.match(name):
            raise _HttpError(400, f"invalid repository name: {name!r}")
        if not namespace:
            raise _HttpError(400, "storage_namespace is required")
        if name in self._repos:
            raise _HttpError(409, f"repository already exists: {name}")
        repo = _Repo(id=name, storage_namespace=namespace, default_branch=spec.get("default_branch") or "main",
                     creation_date=int(time.time()))
        first = self._new_commit(repo, [], "Repository created", {}, {}, "")
        repo.branches[repo.default_branch] = _Branch(head=first.id)
        self._repos[name] = repo
        return _json(201, repo.as_json())

    def get_repository(self, p, q, h, body, user):
        return _json(200, self._repo(p["repo"]).as_json())

    def create_branch(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        spec = _body_json(body)
        name, source = spec.get("name"), spec.get("source")
        if not isinstance(name, str) or not _BRANCH_NAME.match(name):
            raise _HttpError(400, f"invalid branch name: {name!r}")
        if name in repo.branches or name in repo.tags:
            raise _HttpError(409, f"branch already exists: {name}")
        commit, _ = self._resolve(repo, str(source))
        repo.branches[name] = _Branch(head=commit.id)
        return 201, {"Content-Type": "text/html"}, commit.id.encode()

    def list_branches(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        prefix = q.get("prefix", "")
        refs = [{"id": n, "commit_id": b.head} for n, b in sorted(repo.branches.items()) if n.startswith(prefix)]
        page, pagination = self._page(refs, lambda r: r["id"], q.get("after", ""), _amount(q))
        return _json(200, {"pagination": pagination, "results": page})

    def get_branch(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        return _json(200, {"id": p["branch"], "commit_id": self._branch(repo, p["branch"]).head})

    def upload_object(self, p, q, headers, body, user):
        repo = self._repo(p["repo"])
        branch = self._branch(repo, p["branch"])
        path = q.get("path")
        if not path:
            raise _HttpError(400, "path is required")
        if (headers.get("Content-Type") or "").startswith("multipart/"):
            raise _HttpError(400, "fake lakeFS accepts raw-body uploads only (what the lakefs wrapper sends)")
        if headers.get("If-None-Match") == "*" and path in self._view(repo, p["branch"]):
            raise _HttpError(412, f"object exists: {path}")
        address = f"{repo.storage_namespace.rstrip('/')}/data/{uuid.uuid4().hex}"
        repo.blobs[address] = body
        metadata = {k[len("x-lakefs-meta-"):]: v for k, v in headers.items() if k.lower().startswith("x-lakefs-meta-")}
        entry = _Entry(address=address, checksum=hashlib.md5(body).hexdigest(), size=len(body), mtime=int(time.time()),
                       content_type=headers.get("Content-Type") or "application/octet-stream", metadata=metadata)
        branch.staged[path] = entry
        return _json(201, self._stats(path, entry))

    def delete_objects(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        branch = self._branch(repo, p["branch"])
        paths = _body_json(body).get("paths") or []
        if len(paths) > _MAX_AMOUNT:
            raise _HttpError(400, f"too many paths: {len(paths)} > {_MAX_AMOUNT}")
        view = self._view(repo, p["branch"])
        for path in paths:
            if path in view:
                branch.staged[path] = None
        return _json(200, {"errors": []})

    def commit(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        branch = self._branch(repo, p["branch"])
        spec = _body_json(body)
        message = spec.get("message")
        if not isinstance(message, str):
            raise _HttpError(400, "message is required")
        metadata = spec.get("metadata") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise _HttpError(400, "metadata values must be strings")
        if not branch.staged and not spec.get("allow_empty"):
            raise _HttpError(400, "commit: no changes")
        tree = self._view(repo, p["branch"])
        commit = self._new_commit(repo, [branch.head], message, metadata, tree, user)
        branch.head, branch.staged = commit.id, {}
        return _json(201, commit.as_json())

    def get_commit(self, p, q, h, body, user):
        commit, _ = self._resolve(self._repo(p["repo"]), p["ref"])
        return _json(200, commit.as_json())

    def create_tag(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        spec = _body_json(body)
        tag, ref = spec.get("id"), spec.get("ref")
        if not isinstance(tag, str) or not tag or any(ch in tag for ch in " ~^:@"):
            raise _HttpError(400, f"invalid tag id: {tag!r}")
        commit, _ = self._resolve(repo, str(ref))
        if (tag in repo.tags and not spec.get("force")) or tag in repo.branches:
            raise _HttpError(409, f"tag already exists: {tag}")
        repo.tags[tag] = commit.id
        return _json(201, {"id": tag, "commit_id": commit.id})

    def get_tag(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        if p["tag"] not in repo.tags:
            raise _HttpError(404, f"tag not found: {p['tag']}")
        return _json(200, {"id": p["tag"], "commit_id": repo.tags[p["tag"]]})

    def _object(self, p, q) -> tuple[_Repo, str, _Entry]:
        repo = self._repo(p["repo"])
        path = q.get("path")
        if not path:
            raise _HttpError(400, "path is required")
        entry = self._view(repo, p["ref"]).get(path)
        if entry is None:
            raise _HttpError(404, f"object not found: {path}")
        return repo, path, entry

    def get_object(self, p, q, headers, body, user):
        repo, _, entry = self._object(p, q)
        data = repo.blobs[entry.address]
        out = {"Content-Type": entry.content_type, "ETag": f'"{entry.checksum}"', "Accept-Ranges": "bytes"}
        wanted = headers.get("Range")
        if not wanted:
            return 200, out, data
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
        if not match:
            raise _HttpError(400, f"bad range: {wanted}")
        start = int(match.group(1))
        if start >= len(data):
            raise _HttpError(416, "requested range not satisfiable", {"Content-Range": f"bytes */{len(data)}"})
        end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
        out["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return 206, out, data[start:end + 1]

    def head_object(self, p, q, h, body, user):
        _, _, entry = self._object(p, q)
        return 200, {"Content-Type": entry.content_type, "ETag": f'"{entry.checksum}"',
                     "X-Fake-Length": str(entry.size)}, b""

    def stat_object(self, p, q, h, body, user):
        _, path, entry = self._object(p, q)
        return _json(200, self._stats(path, entry))

    def list_objects(self, p, q, h, body, user):
        repo = self._repo(p["repo"])
        view = self._view(repo, p["ref"])
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        rows: dict[str, dict[str, Any]] = {}
        for path in sorted(view):
            if not path.startswith(prefix):
                continue
            cut = path.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = path[:cut + len(delimiter)]
                rows.setdefault(common, {"path": common, "path_type": "common_prefix", "physical_address": "",
                                         "checksum": "", "mtime": 0})
            else:
                rows[path] = self._stats(path, view[path])
        page, pagination = self._page(sorted(rows.values(), key=lambda r: r["path"]), lambda r: r["path"],
                                      q.get("after", ""), _amount(q))
        return _json(200, {"pagination": pagination, "results": page})


_ROUTES: list[tuple[str, tuple[str, ...], Any]] = [
    ("GET", ("config",), FakeLakeFS.get_config),
    ("POST", ("repositories",), FakeLakeFS.create_repository),
    ("GET", ("repositories", "{repo}"), FakeLakeFS.get_repository),
    ("POST", ("repositories", "{repo}", "branches"), FakeLakeFS.create_branch),
    ("GET", ("repositories", "{repo}", "branches"), FakeLakeFS.list_branches),
    ("GET", ("repositories", "{repo}", "branches", "{branch}"), FakeLakeFS.get_branch),
    ("POST", ("repositories", "{repo}", "branches", "{branch}", "objects"), FakeLakeFS.upload_object),
    ("POST", ("repositories", "{repo}", "branches", "{branch}", "objects", "delete"), FakeLakeFS.delete_objects),
    ("POST", ("repositories", "{repo}", "branches", "{branch}", "commits"), FakeLakeFS.commit),
    ("GET", ("repositories", "{repo}", "commits", "{ref}"), FakeLakeFS.get_commit),
    ("POST", ("repositories", "{repo}", "tags"), FakeLakeFS.create_tag),
    ("GET", ("repositories", "{repo}", "tags", "{tag}"), FakeLakeFS.get_tag),
    ("GET", ("repositories", "{repo}", "refs", "{ref}", "objects"), FakeLakeFS.get_object),
    ("HEAD", ("repositories", "{repo}", "refs", "{ref}", "objects"), FakeLakeFS.head_object),
    ("GET", ("repositories", "{repo}", "refs", "{ref}", "objects", "stat"), FakeLakeFS.stat_object),
    ("GET", ("repositories", "{repo}", "refs", "{ref}", "objects", "ls"), FakeLakeFS.list_objects),
]


def _match(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(template) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(template, parts):
        if want.startswith("{"):
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _body_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise _HttpError(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _HttpError(400, "body must be a JSON object")
    return data


def _amount(query: dict[str, str]) -> int:
    raw = query.get("amount")
    amount = int(raw) if raw and raw.lstrip("-").isdigit() else 100
    return _MAX_AMOUNT if amount < 0 or amount > _MAX_AMOUNT else amount


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects
    disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall
    server_state: FakeLakeFS

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return None
        try:
            key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return key if key and secret else None

    def _dispatch(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            user = self._user()
            if user is None:
                raise _HttpError(401, "error authenticating request")
            status, headers, payload, _ = self.server_state.handle(
                self.command, split.path, query, self.headers, body, user)
        except _HttpError as exc:
            status, headers, payload = exc.status, {"Content-Type": "application/json", **exc.headers}, \
                json.dumps({"message": exc.message}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch
