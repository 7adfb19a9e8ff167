"""A throw-away PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temp dir, listening on a Unix socket
there only (no TCP port), run as the `postgres` user when the tests run as root (the server refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SUPERUSER = "postgres"
# One role that must give a password (scram), for the wrong-credentials test; every other local login is trusted.
PASSWORD_ROLE = "zhclip_password"
HBA = f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n"
# Stops the server once its stdin closes: when `stop` closes it, or when the test process dies however it dies
# (a killed xdist worker would otherwise leave a server running). Its own session: a group kill spares it.
WATCHDOG = (
    "import shutil, subprocess, sys; sys.stdin.buffer.read(); "
    "subprocess.run(sys.argv[2:], capture_output=True); shutil.rmtree(sys.argv[1], ignore_errors=True)"
)


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
        stop = self.command("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(self.dir), *stop], stdin=subprocess.PIPE, start_new_session=True
        )

    def command(self, program: str, *args: str | Path) -> list[str]:
        command = [str(self.bindir / program), *map(str, args)]
        return command if self.user is None else ["runuser", "-u", self.user, "--", *command]

    def run(self, program: str, *args: str | Path) -> str:
        done = subprocess.run(self.command(program, *args), capture_output=True, text=True, cwd=self.dir)
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
        self.watchdog.stdin.close()
        self.watchdog.wait(timeout=60)


def _run_as() -> str | None:
    """The user to run the server as: `postgres` when we are root, else ourselves (None)."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam(SUPERUSER).pw_name
    except KeyError:
        raise RuntimeError(f"running as root and there is no {SUPERUSER!r} user to run the server as") from None
