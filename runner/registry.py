"""Block discovery through the ``runner.blocks`` entry point group; built-ins register the same way."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points

from runner.block import KIND_CLASSES, KINDS, Block

GROUP = "runner.blocks"
NAME_PATTERN = re.compile(r"^(source|indicator|planner|validator|executor)\.[a-z][a-z0-9_]*$")


class BlockLoadError(Exception):
    """A registered block could not be imported or does not honour the block contract."""


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """A registered block: its name and where its class lives, not yet imported."""

    name: str
    target: str
    dist: str
    version: str

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[0]

    def load(self) -> type[Block]:
        """Import the block class and check it against its registered name."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj = getattr(import_module(module_name), attr) if attr else import_module(module_name)
        except Exception as exc:
            raise BlockLoadError(
                f"block '{self.name}' from {self.dist} {self.version} failed to import "
                f"({self.target}): {type(exc).__name__}: {exc}"
            ) from exc
        base = KIND_CLASSES.get(self.kind)
        if not (isinstance(obj, type) and base is not None and issubclass(obj, base)):
            raise BlockLoadError(
                f"block '{self.name}' from {self.dist} is not a {base.__name__ if base else 'block'} "
                f"subclass ({self.target})"
            )
        return obj


@dataclass
class Registry:
    """Every installed block by name."""

    entries: dict[str, BlockEntry]
    problems: list[str] = field(default_factory=list)
    _loaded: dict[str, type[Block]] = field(default_factory=dict, repr=False)

    @classmethod
    def discover(cls, group: str = GROUP) -> Registry:
        """Read the entry points of every installed distribution (imports no block)."""
        entries: dict[str, BlockEntry] = {}
        problems: list[str] = []
        for ep in entry_points(group=group):
            name, target = ep.name, ep.value
            dist = re.sub(r"[-_.]+", "-", ep.dist.name).lower() if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if not NAME_PATTERN.match(name):
                problems.append(
                    f"{dist}: block name '{name}' is not '<kind>.<snake_name>' with kind one of {', '.join(KINDS)}"
                )
                continue
            known = entries.get(name)
            if known is not None:
                if (known.dist, known.target) != (dist, target):
                    problems.append(
                        f"block '{name}' is registered by both {known.dist} and {dist}; using {known.dist}'s"
                    )
                continue
            entries[name] = BlockEntry(name, target, dist, version)
        return cls(dict(sorted(entries.items())), problems)

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> BlockEntry | None:
        return self.entries.get(name)

    def load(self, name: str) -> type[Block]:
        """The block class for ``name``; raises KeyError for unknown names, BlockLoadError for broken ones."""
        if name not in self._loaded:
            self._loaded[name] = self.entries[name].load()
        return self._loaded[name]

    def suggest(self, name: str) -> list[str]:
        """Known names close to ``name``, best first."""
        kind, _, tail = name.partition(".")
        same_kind = {n.split(".", 1)[1]: n for n in self.names() if n.startswith(kind + ".")}
        close = [same_kind[t] for t in difflib.get_close_matches(tail, list(same_kind), n=2, cutoff=0.6)]
        if not close:  # right name, wrong kind (indicator.dca), or a typo in the kind
            close = [n for n in self.names() if n.split(".", 1)[1] == tail]
        return close or difflib.get_close_matches(name, self.names(), n=2, cutoff=0.6)
