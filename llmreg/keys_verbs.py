"""Verbs for signing keys: `llmreg keys new` creates the per-user key (0600, outside the
repository), `llmreg keys show` prints the public key and fingerprint to put in roles.yaml.
Keys are ed25519 in OpenSSH format, so a key made by `ssh-keygen -t ed25519` works too."""
from __future__ import annotations

import os


def _default_comment() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "user"
    return f"{user}@{socket.gethostname() or 'localhost'}"


def _git_work_tree(folder: str) -> str | None:
    """The git work tree holding `folder` (the nearest `.git` above it), if any."""
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def cmd_keys_new(args) -> int:
    from llmreg.cli.context import emit as _emit
    from llmreg.registry.errors import BadInput
    from llmreg.registry.keys import PASSPHRASE_ENV, default_key_path, write_new_key

    path = os.path.abspath(os.path.expanduser(getattr(args, "out", None) or default_key_path()))
    # A key inside the repository you work in is one `git add -A` away from being published.
    # (Only that one: a dotfiles repository at $HOME must not block ~/.config.)
    repo = _git_work_tree(os.getcwd())
    if repo is not None and os.path.commonpath([repo, path]) == repo:
        raise BadInput(f"key {path}: is inside the git repository {repo}, where a commit could publish it; "
                       "pass --out outside it (default: ~/.config/llmreg/signing_key)", field="out")
    passphrase = os.environ.get(PASSPHRASE_ENV) or None
    key = write_new_key(path, comment=getattr(args, "comment", None) or _default_comment(), passphrase=passphrase)
    public = key.public.openssh()
    data = {"path": path, "public_key": public, "fingerprint": key.fingerprint, "encrypted": bool(passphrase)}

    def text() -> str:
        protected = f", encrypted with ${PASSPHRASE_ENV}" if passphrase else ""
        return (f"created {path} (mode 0600{protected}) and {path}.pub\n"
                f"fingerprint {key.fingerprint}\n{public}\n"
                "next: an admin adds this line under your name in roles.yaml (signers), "
                "or point LLMREG_SIGNING_KEY at the file")

    _emit(args, data, text)
    return 0


def cmd_keys_show(args) -> int:
    from llmreg.cli.context import emit as _emit
    from llmreg.registry.keys import key_path, load_signing_key

    path, source = key_path(getattr(args, "key", None))
    key = load_signing_key(getattr(args, "key", None))
    public = key.public.openssh()
    data = {"path": path, "source": source, "public_key": public, "fingerprint": key.fingerprint}
    _emit(args, data, lambda: f"{public}\nfingerprint {key.fingerprint} (key {path}, from {source})")
    return 0


def add_verbs(sub, verb) -> None:
    """`keys new` and `keys show` (the lead wires this into llmreg.cli's verb table)."""
    import argparse

    from llmreg.cli.context import Parser as _Parser

    keys = sub.add_parser("keys", help="Create and show your signing key (ed25519, OpenSSH format).",
                          description="Create and show your signing key (ed25519, OpenSSH format).",
                          epilog="example:\n  llmreg keys new\n  llmreg keys show",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    keys_sub = keys.add_subparsers(dest="keys_verb", metavar="ACTION", parser_class=_Parser)
    keys_sub.required = True
    p = verb(keys_sub, "new", cmd_keys_new, "Create a signing key (0600) and its .pub; default "
             "$XDG_CONFIG_HOME/llmreg/signing_key. Encrypted when $LLMREG_KEY_PASSPHRASE is set.",
             "llmreg keys new --out ~/.config/llmreg/signing_key")
    p.add_argument("--out", default=None, help="where to write the private key (never overwritten)")
    p.add_argument("--comment", default=None, help="comment on the public key; default: user@host")
    p = verb(keys_sub, "show", cmd_keys_show, "Print the public key line and fingerprint of the signing key "
             "(--key, $LLMREG_SIGNING_KEY or the per-user default).", "llmreg keys show --json")
    p.add_argument("--key", default=None, help="private key file; default: $LLMREG_SIGNING_KEY or the per-user key")
