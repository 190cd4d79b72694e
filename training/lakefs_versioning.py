"""Dataset versions as lakeFS commits, through the high-level ``lakefs`` SDK.

One branch per run (``run-<run_id>``, from the repository's default branch or a given
commit), objects uploaded under their logical paths, one commit per dataset version (the
version id is the full lakeFS commit id), one tag per registered release. Reads always go
through a commit id, never a branch, so they are reproducible.

Settings (environment): ``LAKEFS_HOST`` (``/api/v1`` is appended when missing),
``LAKEFS_ACCESS_KEY_ID``, ``LAKEFS_SECRET_ACCESS_KEY``, ``LAKEFS_REPOSITORY``; optional
``LAKEFS_STORAGE_NAMESPACE`` (e.g. ``s3://bucket/llm-registry``) creates the repository
when it does not exist. Whether objects move through pre-signed URLs follows the server's
storage configuration, as the SDK does by default.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import lakefs
import urllib3
from lakefs.exceptions import (
    BadRequestException,
    ConflictException,
    NotAuthorizedException,
    NotFoundException,
    ServerException,
    api_exception_handler,
)

from training.data_versioning import (
    LAKEFS_OPTIONAL_ENV,
    LAKEFS_REQUIRED_ENV,
    ConfigError,
    DataVersioning,
    DataVersioningError,
    NoSessionError,
    NothingToCommitError,
    PathNotInVersionError,
    TagConflictError,
    UnknownTagError,
    UnknownVersionError,
    local_source,
    normalize_logical_path,
    select_entries,
    validate_message,
    validate_metadata,
    validate_run_id,
    validate_tag,
)

_CHUNK = 8 << 20
_DELETE_BATCH = 1000  # lakeFS deletes at most 1000 paths per request


@dataclass(frozen=True)
class LakeFSSettings:
    host: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    repository: str
    storage_namespace: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, reason: str | None = None) -> LakeFSSettings:
        missing = [name for name in LAKEFS_REQUIRED_ENV if not env.get(name)]
        if missing:
            why = reason or "lakeFS is selected"
            raise ConfigError(
                f"{missing[0]} is not set ({why}; missing: {', '.join(missing)}); "
                "set it, or unset every LAKEFS_* variable to use DVC/local"
            )
        return cls(
            host=env["LAKEFS_HOST"],
            access_key_id=env["LAKEFS_ACCESS_KEY_ID"],
            secret_access_key=env["LAKEFS_SECRET_ACCESS_KEY"],
            repository=env["LAKEFS_REPOSITORY"],
            storage_namespace=env.get(LAKEFS_OPTIONAL_ENV[0]) or None,
        )

    @property
    def api_url(self) -> str:
        # lakefs_sdk joins request paths straight onto the host, so it must end in /api/v1.
        base = self.host.rstrip("/")
        return base if base.endswith("/api/v1") else base + "/api/v1"


class LakeFSDataVersioning(DataVersioning):
    """``DataVersioning`` on a lakeFS repository (see the module docstring)."""

    backend = "lakefs"
    BRANCH_PREFIX = "run-"

    def __init__(self, settings: LakeFSSettings, client: lakefs.Client | None = None) -> None:
        self.settings = settings
        self._client = client or lakefs.Client(
            host=settings.api_url, username=settings.access_key_id, password=settings.secret_access_key
        )
        self._repository: lakefs.Repository | None = None
        self._pre_sign = False
        self._branch: str | None = None

    @property
    def session(self) -> str | None:
        return self._branch

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _server(self, doing: str) -> Iterator[None]:
        """Turn SDK and transport failures into one clear line naming the setting to check."""
        try:
            yield
        except NotAuthorizedException as exc:
            raise ConfigError(
                f"lakeFS at {self.settings.api_url} refused the credentials while {doing} ({exc.status_code}); "
                "check LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY"
            ) from exc
        except ServerException as exc:
            raise DataVersioningError(f"lakeFS failed while {doing}: {exc}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise ConfigError(f"cannot reach lakeFS at {self.settings.api_url} while {doing}: {exc}; check LAKEFS_HOST") from exc

    def _repo(self) -> lakefs.Repository:
        if self._repository is not None:
            return self._repository
        name = self.settings.repository
        repo = lakefs.Repository(name, client=self._client)
        with self._server(f"opening repository {name!r}"):
            try:
                props = repo.properties
            except NotFoundException:
                if not self.settings.storage_namespace:
                    raise ConfigError(
                        f"LAKEFS_REPOSITORY {name!r} does not exist on {self.settings.api_url}; create it "
                        "(lakectl repo create) or set LAKEFS_STORAGE_NAMESPACE so it is created"
                    ) from None
                repo.create(storage_namespace=self.settings.storage_namespace, exist_ok=True)
                props = repo.properties
            storage_id = getattr(props, "storage_id", None) or ""
            self._pre_sign = bool(self._client.storage_config_by_id(storage_id).pre_sign_support)
        self._repository = repo
        return repo

    def _session_branch(self) -> lakefs.Branch:
        if self._branch is None:
            raise NoSessionError("no session is open; call begin(run_id) first")
        return self._repo().branch(self._branch)

    def _require_commit(self, version_id: str) -> lakefs.Reference:
        """The Reference for ``version_id`` once it is known to be a full commit id."""
        if not isinstance(version_id, str) or not version_id:
            raise UnknownVersionError(f"version id {version_id!r} is empty; pass a lakeFS commit id")
        ref = self._repo().commit(version_id)
        with self._server(f"reading commit {version_id}"):
            try:
                commit = ref.get_commit()
            except (NotFoundException, BadRequestException):
                raise UnknownVersionError(
                    f"version {version_id!r} is not a commit in lakeFS repository {self.settings.repository!r}"
                ) from None
        if commit.id != version_id:
            raise UnknownVersionError(
                f"version {version_id!r} is a branch, tag or relative reference (now commit {commit.id}); "
                "pass the full commit id, which never moves"
            )
        return ref

    # -- port ------------------------------------------------------------------------
    def begin(self, run_id: str, base: str | None = None) -> str:
        name = self.BRANCH_PREFIX + validate_run_id(run_id)
        repo = self._repo()
        source = self._require_commit(base).id if base is not None else repo.properties.default_branch
        with self._server(f"creating branch {name!r}"):
            repo.branch(name).create(source, exist_ok=True)
        self._branch = name
        return name

    def put(self, local_path: str | Path, logical_path: str) -> None:
        logical = normalize_logical_path(logical_path)
        branch = self._session_branch()
        path, files = local_source(local_path)
        uploads = [(logical, path)] if files is None else [(f"{logical}/{rel}", file) for rel, file in files]
        with self._server(f"uploading {logical!r} to branch {self._branch!r}"):
            for target, source in uploads:
                with open(source, "rb") as src, branch.object(target).writer(mode="wb", pre_sign=self._pre_sign) as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            # The logical path must hold exactly what was put: drop what an earlier put left there.
            wanted = {target for target, _ in uploads}
            stale = [o.path for o in branch.objects(prefix=logical)
                     if (o.path == logical or o.path.startswith(logical + "/")) and o.path not in wanted]
            for start in range(0, len(stale), _DELETE_BATCH):
                branch.delete_objects(stale[start:start + _DELETE_BATCH])

    def commit(self, message: str, metadata: Mapping[str, str] | None = None) -> str:
        validate_message(message)
        meta = validate_metadata(metadata)
        branch = self._session_branch()
        with self._server(f"committing branch {self._branch!r}"):
            try:
                ref = branch.commit(message=message, metadata=meta or None)
            except BadRequestException as exc:
                if "no changes" in str(exc.body).lower():
                    raise NothingToCommitError(
                        f"nothing to commit on branch {self._branch!r}; put() data first"
                    ) from None
                raise
        return ref.id

    def tag(self, version_id: str, tag: str) -> None:
        validate_tag(tag)
        self._require_commit(version_id)
        with self._server(f"creating tag {tag!r}"):
            try:
                self._repo().tag(tag).create(version_id)
            except ConflictException:
                existing = self.resolve_tag(tag)
                if existing != version_id:
                    raise TagConflictError(
                        f"tag {tag!r} already points at {existing}; tags never move, choose a new tag name"
                    ) from None

    def resolve_tag(self, tag: str) -> str:
        validate_tag(tag)
        repo = self._repo()
        # tags_api.get_tag, not Reference.get_commit: the latter would also resolve a branch.
        with self._server(f"reading tag {tag!r}"):
            try:
                with api_exception_handler():
                    ref = self._client.sdk_client.tags_api.get_tag(repo.id, tag)
            except NotFoundException:
                raise UnknownTagError(
                    f"tag {tag!r} does not exist in lakeFS repository {self.settings.repository!r}; tag a version first"
                ) from None
        return ref.commit_id

    def version_of(self, logical_path: str) -> str:
        logical = normalize_logical_path(logical_path)
        branch = self._session_branch()
        with self._server(f"reading the head of branch {self._branch!r}"):
            head = branch.head.id
            ref = self._repo().commit(head)
            present = ref.object(logical).exists() or any(True for _ in ref.objects(prefix=logical + "/", max_amount=1))
        if not present:
            raise PathNotInVersionError(
                f"logical_path {logical_path!r} has not been committed on branch {self._branch!r}; put and commit it first"
            )
        return head

    def _entries(self, version_id: str, logical: str) -> list[tuple[str, Any]]:
        ref = self._require_commit(version_id)
        with self._server(f"listing {logical or '/'} at {version_id}"):
            listing = [(o.path, ref.object(o.path)) for o in ref.objects(prefix=logical or None)]
        return select_entries(listing, logical)

    def _read_entry(self, handle: Any, out: IO[bytes]) -> None:
        with self._server(f"reading {handle.path} at {handle.ref}"):
            try:
                with handle.reader(mode="rb", pre_sign=self._pre_sign) as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            except NotFoundException as exc:
                raise PathNotInVersionError(f"{handle.path} vanished from {handle.ref}") from exc
