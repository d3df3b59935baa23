"""`openchargeback -c FILE`: settings from a file, read before Django starts.

FILE is this product's environment file (the `.env` format of .env.example) or the `config.yaml`
of the older, YAML-configured OpenChargeback. Either way its values become environment variables
that are not already set: the environment always wins over the file.

From the YAML, the runtime settings are mapped (`database.path` → an SQLite DATABASE_URL,
`smtp` → EMAIL_*, `output` → the data directory and the mail folder, `dev_mode` → email written
to files, …); the business rules (`tag_mapping`, `review`, `imports`, `journal`) are the
database's, loaded by `openchargeback import-config`. Anything else is named on one stderr line.
Relative paths are taken from the folder the YAML file is in. `${VAR}` is replaced by the
variable's value; a value naming an unset variable is left out (and named).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULE_KEYS = ("tag_mapping", "review", "imports", "journal")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigFileError(Exception):
    """A -c file that cannot be used; the message names the file."""


@dataclass
class ConfigFile:
    path: Path
    yaml: bool
    values: dict[str, str] = field(default_factory=dict)  # the settings the file gives
    unmapped: list[str] = field(default_factory=list)  # keys with no setting here
    has_rules: bool = False  # a YAML with rules for import-config


def config_apply(path: Path) -> ConfigFile:
    """Read FILE and set the environment variables it gives that are not set already."""
    if not path.is_file():
        raise ConfigFileError(f"{path}: no such file")
    if path.suffix.lower() in (".yaml", ".yml"):
        config = _from_yaml(path)
    else:
        # Read by the settings module itself, like the default .env (which it then replaces).
        os.environ["OPENCHARGEBACK_ENV_FILE"] = str(path.resolve())
        return ConfigFile(path=path, yaml=False)
    for name, value in config.values.items():
        os.environ.setdefault(name, value)
    return config


def _from_yaml(path: Path) -> ConfigFile:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path}: cannot be read as YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: not an OpenChargeback config.yaml (the top level is not a mapping)")
    config = ConfigFile(path=path, yaml=True, has_rules=any(k in data for k in RULE_KEYS))
    # The older tool had no close step: its `generate` billed the month as it stood. With its
    # config, `generate` closes an open month first (still refused while `periods check` blocks).
    config.values["OPENCHARGEBACK_GENERATE_CLOSES_OPEN"] = "true"
    mapper = _Mapper(config, path.resolve().parent)
    for key, value in data.items():
        handler = getattr(mapper, f"map_{key}", None) if isinstance(key, str) else None
        if key in RULE_KEYS:
            continue
        if handler is None:
            config.unmapped.append(str(key))
        else:
            handler(value)
    return config


class _Mapper:
    """One method per top-level key of the old config.yaml."""

    def __init__(self, config: ConfigFile, folder: Path) -> None:
        self.config, self.folder = config, folder

    def _set(self, key: str, name: str, value: Any) -> None:
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        missing = [v for v in VARIABLE.findall(text) if v not in os.environ]
        if missing:
            self.config.unmapped.append(f"{key} (${{{missing[0]}}} is not set)")
            return
        if text:
            self.config.values[name] = VARIABLE.sub(lambda m: os.environ[m[1]], text)

    def _path(self, value: Any) -> str:
        return str((self.folder / os.path.expanduser(str(value))).resolve())

    def _section(self, key: str, value: Any, known: dict[str, str]) -> None:
        if not isinstance(value, dict):
            self.config.unmapped.append(key)
            return
        for name, item in value.items():
            if name in known:
                self._set(f"{key}.{name}", known[name], item)
            else:
                self.config.unmapped.append(f"{key}.{name}")

    def map_dev_mode(self, value: Any) -> None:
        self.dev_mode = bool(value)
        if self.dev_mode:
            # Email is written to files: no SMTP host, whatever the smtp block says.
            self.config.values["EMAIL_HOST"] = ""

    def map_database(self, value: Any) -> None:
        if isinstance(value, dict) and value.get("path"):
            self.config.values["DATABASE_URL"] = f"sqlite:///{self._path(value['path'])}"
            self.config.unmapped += [f"database.{k}" for k in value if k != "path"]
        else:
            self.config.unmapped.append("database")

    def map_smtp(self, value: Any) -> None:
        known = {
            "host": "EMAIL_HOST", "port": "EMAIL_PORT", "use_tls": "EMAIL_USE_TLS",
            "username": "EMAIL_HOST_USER", "password": "EMAIL_HOST_PASSWORD",
        }  # fmt: skip
        if getattr(self, "dev_mode", False) and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "host"}
        self._section("smtp", value, known)

    def map_email(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.config.unmapped.append("email")
            return
        sender = value.get("from_address")
        if sender and value.get("from_name"):
            sender = f"{value['from_name']} <{sender}>"
        self._set("email.from_address", "DEFAULT_FROM_EMAIL", sender)
        self.config.unmapped += [f"email.{k}" for k in value if k not in ("from_address", "from_name")]

    def map_output(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.config.unmapped.append("output")
            return
        stored = [self._path(value[k]) for k in ("pdf_dir", "journal_dir") if value.get(k)]
        if stored:
            # Statements and journals are kept under one data directory: the folder holding both.
            self.config.values["OPENCHARGEBACK_DATA_DIR"] = os.path.commonpath(stored)
        if value.get("email_dir"):
            self.config.values["EMAIL_FILE_PATH"] = self._path(value["email_dir"])
        self.config.unmapped += [f"output.{k}" for k in value if k not in ("pdf_dir", "journal_dir", "email_dir")]

    def map_logging(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.config.unmapped.append("logging")
            return
        if value.get("level"):
            self._set("logging.level", "LOG_LEVEL", value["level"])
        if str(value.get("format", "")).lower() == "json":
            self.config.values["LOG_FORMAT"] = "json"
        elif value.get("format"):
            self.config.unmapped.append("logging.format")
        self.config.unmapped += [f"logging.{k}" for k in value if k not in ("level", "format")]

    def map_web(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.config.unmapped.append("web")
            return
        known = {"host": "OPENCHARGEBACK_SERVE_HOST", "port": "OPENCHARGEBACK_SERVE_PORT", "secret_key": "SECRET_KEY"}
        for name, item in value.items():
            if name in known:
                self._set(f"web.{name}", known[name], item)
            elif name == "session_lifetime_hours" and isinstance(item, int | float):
                self.config.values["SESSION_COOKIE_AGE"] = str(int(item * 3600))
            else:
                self.config.unmapped.append(f"web.{name}")
