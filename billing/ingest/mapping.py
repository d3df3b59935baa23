"""Account mapping: attribution for rows whose tags name no project.

A research group's cloud accounts, Azure resource groups, Slurm accounts and storage
allocations each belong to a project; the admin keeps that table (`AccountMapping`). At import
the whole table is one dict per kind, read once; a row pays for a lookup only when its tags gave
no project, and identical account values are looked up once per import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from billing.account_values import normalise_account

# The kinds, most specific first: the first that matches attributes the row.
KINDS = ("slurm_account", "storage_path", "resource_group", "sub_account", "billing_account")
# Where each kind's value is in a FOCUS file: a provider or converter column (an extension), or
# a FOCUS column. A resource group is also read from an Azure resource id when the column is absent.
EXTENSION_COLUMNS = {"slurm_account": "x_slurmaccount", "storage_path": "x_storagepath",
                     "resource_group": "x_resourcegroupname"}  # fmt: skip
NULLS = frozenset({"", "null", "NULL"})

Accounts = tuple[str, str, str, str, str]  # in KINDS order


def resource_group_of(resource_id: str) -> str:
    """The resource group named in an Azure resource id (`…/resourceGroups/NAME/…`), else ""."""
    parts = resource_id.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            return parts[i + 1]
    return ""


@dataclass(frozen=True)
class MappedAccount:
    label: str  # kind:value, recorded on the charge
    project: str
    fund_org: str


@dataclass
class AccountMap:
    """kind -> normalised value -> (project code, fund/org override). Plain data, picklable."""

    entries: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.entries.values())

    def find(self, accounts: Sequence[str]) -> MappedAccount | None:
        for kind, value in zip(KINDS, accounts, strict=True):
            if not value:
                continue
            table = self.entries.get(kind)
            if not table:
                continue
            key = normalise_account(kind, value)
            hit = table.get(key)
            if hit is not None:
                return MappedAccount(f"{kind}:{key}", hit[0], hit[1])
        return None

    @classmethod
    def load(cls) -> AccountMap:
        from billing.models import AccountMapping

        entries: dict[str, dict[str, tuple[str, str]]] = {}
        rows = AccountMapping.objects.filter(enabled=True).values_list(
            "kind", "match_value", "project__code", "fund_org"
        )
        for kind, value, code, fund in rows:
            entries.setdefault(kind, {})[value] = (code, fund)
        return cls(entries)


def account_reader(names: Sequence[str], dedicated: dict[str, int]) -> Callable[[list[str]], Accounts]:
    """A function from a line's cells to its account values (in KINDS order) for a file's header.

    `names` is the header; `dedicated` maps charge fields (sub_account_id…) to cell indexes.
    """
    lowered = {n.lower(): i for i, n in enumerate(names)}
    missing = len(names)  # the "" each row gets appended
    slurm = lowered.get(EXTENSION_COLUMNS["slurm_account"], missing)
    path = lowered.get(EXTENSION_COLUMNS["storage_path"], missing)
    group = lowered.get(EXTENSION_COLUMNS["resource_group"])
    resource = dedicated.get("resource_id", missing)
    sub = dedicated.get("sub_account_id", missing)
    billing = dedicated.get("billing_account_id", missing)

    def read(cells: list[str]) -> Accounts:
        values = [cells[slurm], cells[path], cells[group] if group is not None else resource_group_of(cells[resource]),
                  cells[sub], cells[billing]]  # fmt: skip
        return tuple("" if v in NULLS else v for v in values)  # type: ignore[return-value]

    return read
