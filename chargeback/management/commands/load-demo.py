"""`openchargeback load-demo`: the demo organization, its rules, a user per role and sample data.

The command's name in the style of the others (`copy-database`, `export-journal`); `load_demo`
stays as an alias, so `make demo` and older scripts keep working.
"""

from chargeback.management.commands.load_demo import Command

__all__ = ["Command"]
