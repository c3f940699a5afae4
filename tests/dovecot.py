"""A real Dovecot IMAP server for tests and the benchmark, on a free loopback port.

Each instance has its own temporary config, passwd-file, Maildir root and a self-signed
certificate (IMAPS on one port, STARTTLS on the plain one). /etc/dovecot and the system
service are never used or touched. Dovecot will not run mail processes as root, so when we
are root the mail belongs to ``nobody``; as an ordinary user everything runs as that user.

    with Dovecot.start_new() as server:
        account = server.add_user()
        account.append(raw_mail)
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

HOST = "127.0.0.1"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
    )


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as conn:
                if conn.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not answer on {HOST}:{port} in {seconds} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def make_self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 that is also its own CA (trust it via ca_file)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@dataclass
class Account:
    """One mailbox user on the test server, with helpers for arranging mail."""

    server: Dovecot
    user: str
    password: str

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self.server.port

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        client = IMAPClient(HOST, self.server.port, ssl=False, timeout=30)
        client.normalise_times = False
        client.login(self.user, self.password)
        try:
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def append(
        self,
        raws: bytes | Iterable[bytes],
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: dt.datetime | None = None,
    ) -> None:
        """APPEND mail; ``when`` sets the INTERNALDATE (old mail in a newly connected box)."""
        items = [raws] if isinstance(raws, bytes) else list(raws)
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            if client.has_capability("MULTIAPPEND") and len(items) > 1 and when is None:
                for start in range(0, len(items), 500):
                    client.multiappend(
                        folder, [{"msg": raw, "flags": flags} for raw in items[start : start + 500]]
                    )
            else:
                for raw in items:
                    client.append(folder, raw, flags=flags, msg_time=when)

    def uids(self, folder: str = "INBOX", criteria: str | list[str] = "ALL") -> list[int]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search(criteria))

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
            return {
                uid: {f.decode() if isinstance(f, bytes) else f for f in data[b"FLAGS"]}
                for uid, data in fetched.items()
            }

    def recreate_folder(self, folder: str) -> None:
        """Delete and create a folder again: the server gives it a new UIDVALIDITY."""
        with self.client() as client:
            if folder.upper() == "INBOX":
                raise ValueError("INBOX cannot be deleted; use another folder")
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])


class Dovecot:
    """A private Dovecot instance; ``stop()`` ends it (by the process we started)."""

    def __init__(self, root: Path, *, tls: bool = True, fsync: bool = True) -> None:
        self.root = root
        self.tls = tls
        self.fsync = fsync
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.cert_file: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.users_file = root / "users"
        self.mail_root = root / "mail"
        self.log_file = root / "log" / "dovecot.log"
        self.conf_file = root / "dovecot.conf"
        self._users: dict[str, str] = {}
        self._free: list[str] = []

    # ----------------------------------------------------------------------- life cycle

    @classmethod
    def start_new(cls, *, tls: bool = True, fsync: bool = True) -> Dovecot:
        binary = dovecot_binary()
        if binary is None:
            raise FileNotFoundError(
                "dovecot is not installed; install the Debian package dovecot-imapd"
            )
        # Not under pytest's 0700 tmp dirs: dovecot's unprivileged processes need to reach it.
        root = Path(tempfile.mkdtemp(prefix="triage-dovecot-"))
        root.chmod(0o755)
        server = cls(root, tls=tls, fsync=fsync)
        try:
            server._start(binary)
        except BaseException:
            server.stop()
            raise
        return server

    def __enter__(self) -> Dovecot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ids(self) -> tuple[int, int, str, str]:
        """(mail uid, mail gid, login user, internal user)."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            login = "dovenull" if _user_exists("dovenull") else "nobody"
            internal = "dovecot" if _user_exists("dovecot") else "nobody"
            return nobody.pw_uid, nobody.pw_gid, login, internal
        me = pwd.getpwuid(os.geteuid())
        return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name

    def _start(self, binary: str) -> None:
        uid, gid, login_user, internal_user = self._ids()
        for sub in ("log", "state", "run"):
            (self.root / sub).mkdir(mode=0o755)
        self.mail_root.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(self.mail_root, uid, gid)
        self._grow_pool(100)
        tls_lines = "ssl = no"
        imaps = "  inet_listener imaps {\n    port = 0\n  }"
        if self.tls:
            self.cert_file, key = make_self_signed(self.root)
            tls_lines = (
                f"ssl = yes\nssl_cert = <{self.cert_file}\nssl_key = <{key}\n"
                "ssl_min_protocol = TLSv1.2"
            )
            imaps = (
                f"  inet_listener imaps {{\n    address = {HOST}\n    port = {self.tls_port}\n"
                "    ssl = yes\n  }"
            )
        self.conf_file.write_text(f"""\
# Written by tests/dovecot.py: a throw-away test instance, loopback only.
instance_name = triage-test-{uuid.uuid4().hex[:8]}
protocols = imap
listen = {HOST}
base_dir = {self.root / "run"}
state_dir = {self.root / "state"}
log_path = {self.log_file}
info_log_path = {self.root / "log" / "info.log"}
default_login_user = {login_user}
default_internal_user = {internal_user}
{tls_lines}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0 secs
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_fsync = {"optimized" if self.fsync else "never"}
mail_max_userip_connections = 200
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
{imaps}
}}
""")
        log = self.root / "log" / "stdio.log"
        with open(log, "ab") as stdio:
            # -F: stay in the foreground, so the process we started is the master we stop.
            self.proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.conf_file)],
                stdin=subprocess.DEVNULL,
                stdout=stdio,
                stderr=subprocess.STDOUT,
            )
        _wait_for_port(self.port, self.proc, self.log_file, 15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    # ----------------------------------------------------------------------- users

    def _write_users(self) -> None:
        lines = "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self._users.items())
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(lines)
        tmp.chmod(0o644)  # test credentials on loopback; the auth process must read them
        tmp.replace(self.users_file)

    def _grow_pool(self, count: int) -> None:
        for _ in range(count):
            user = f"u{uuid.uuid4().hex[:10]}"
            self._users[user] = uuid.uuid4().hex
            self._free.append(user)
        self._write_users()

    def add_user(self) -> Account:
        """A fresh, empty mailbox of its own.

        Users come from a pool written before the first login: dovecot notices a changed
        passwd-file at most once a second, so a user added just now might not log in yet.
        """
        if not self._free:
            self._grow_pool(50)
            time.sleep(1.1)
        user = self._free.pop()
        return Account(self, user, self._users[user])

    def kick(self, user: str) -> None:
        """Drop every IMAP connection of ``user`` (the listener must reconnect)."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        done = subprocess.run(
            [doveadm, "-c", str(self.conf_file), "kick", user],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode not in (0, 68):  # 68: nobody was connected
            raise RuntimeError(f"doveadm kick failed: {done.stderr}")

    def ssl_context(self) -> ssl.SSLContext:
        assert self.cert_file is not None
        return ssl.create_default_context(cafile=str(self.cert_file))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def serve_for_tests(*, tls: bool = True) -> Iterator[Dovecot]:
    """For a pytest fixture: a running server; without dovecot, skip (fail under CI=true)."""
    import pytest

    if dovecot_binary() is None:
        message = (
            "dovecot is not installed (Debian package dovecot-imapd; .ci/run installs "
            "it); the IMAP tests need a real server"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    server = Dovecot.start_new(tls=tls, fsync=False)
    try:
        yield server
    finally:
        server.stop()
