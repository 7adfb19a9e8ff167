"""A throw-away PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temp dir, listening on a Unix socket
there only (no TCP port), run as the `postgres` user when the tests run as root (the server refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

SUPERUSER = "postgres"
# One role that must give a password (scram), for the wrong-credentials test; every other local login is trusted.
PASSWORD_ROLE = "zhclip_password"
HBA = f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n"


def server_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (`pg_config --bindir` of the newest), None if absent."""
    for version in sorted(Path("/usr/lib/postgresql").glob("*"), key=lambda p: int(p.name), reverse=True):
        if (version / "bin" / "pg_ctl").is_file():
            return version / "bin"
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class Server:
    """A running server; `url(db)` names one of its databases the way `--db` takes it."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="zhclip-pg-"))  # short: a socket path has ~100 characters
        self.data = self.dir / "data"
        self.user = _run_as()
        if self.user is not None:
            shutil.chown(self.dir, self.user)
        self.run("initdb", "-D", self.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
        (self.data / "pg_hba.conf").write_text(HBA)
        options = f"-k {self.dir} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self.run("pg_ctl", "-D", self.data, "-o", options, "-l", self.dir / "log", "-w", "start")

    def run(self, program: str, *args: str | Path) -> str:
        command = [str(self.bindir / program), *map(str, args)]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def url(self, database: str = SUPERUSER, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@/{database}?host={self.dir}"

    def sql(self, statements: Sequence[str], database: str = SUPERUSER) -> None:
        import psycopg

        with psycopg.connect(host=str(self.dir), user=SUPERUSER, dbname=database, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _run_as() -> str | None:
    """The user to run the server as: `postgres` when we are root, else ourselves (None)."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam(SUPERUSER).pw_name
    except KeyError:
        raise RuntimeError(f"running as root and there is no {SUPERUSER!r} user to run the server as") from None
