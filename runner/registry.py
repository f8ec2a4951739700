"""Block discovery through the ``runner.blocks`` entry point group; built-ins register the same way."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import distributions

from runner.block import KIND_CLASSES, KINDS, Block

GROUP = "runner.blocks"
BUILTIN_DIST = "bot-runner"
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
                f"block '{self.name}' from {self.dist} is not a subclass of "
                f"{base.__name__ if base else 'Block'} ({self.target})"
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
        """Read the entry points of every installed distribution (imports no block).

        A package with broken metadata is reported in ``problems`` and skipped; on a name clash
        the built-in block wins, then the package found first on sys.path.
        """
        entries: dict[str, BlockEntry] = {}
        problems: list[str] = []
        seen: set[str] = set()
        for distribution in distributions():
            try:
                points = [ep for ep in distribution.entry_points if ep.group == group]
            except Exception as exc:
                where = getattr(distribution, "_path", "a package")
                problems.append(f"{where}: unreadable entry points, skipped ({type(exc).__name__}: {exc})")
                continue
            if not points:
                continue
            # Parsed once: each `distribution.version` would parse the whole METADATA file again (40 times, 45 ms).
            # With the importlib_metadata backport loaded (litellm loads it), a missing key raises KeyError.
            metadata = distribution.metadata
            dist = _normalise((metadata.get_all("Name") or [""])[0] or "") or "?"
            if dist in seen:
                continue  # shadowed by an earlier copy on sys.path, as importlib.metadata does
            seen.add(dist)
            version = (metadata.get_all("Version") or ["?"])[0] or "?"
            for ep in points:
                problem = _add(entries, BlockEntry(ep.name, ep.value, dist, version))
                if problem:
                    problems.append(problem)
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
        """Known names close to ``name``, best first: a typo in the name or the kind, or the wrong kind."""
        kind, _, tail = name.partition(".")
        if kind not in KINDS:
            kind = next(iter(difflib.get_close_matches(kind, KINDS, n=1, cutoff=0.6)), kind)
        same_kind = {n.split(".", 1)[1]: n for n in self.names() if n.startswith(kind + ".")}
        close = [same_kind[t] for t in difflib.get_close_matches(tail, list(same_kind), n=2, cutoff=0.6)]
        return close or [n for n in self.names() if n.split(".", 1)[1] == tail]


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _add(entries: dict[str, BlockEntry], entry: BlockEntry) -> str | None:
    """Add one entry point; returns a problem to report, if any."""
    if not NAME_PATTERN.match(entry.name):
        return (
            f"{entry.dist}: block name '{entry.name}' is not '<kind>.<snake_name>' with kind one of {', '.join(KINDS)}"
        )
    known = entries.get(entry.name)
    if known is None:
        entries[entry.name] = entry
        return None
    if (known.dist, known.target) == (entry.dist, entry.target):
        return None
    if entry.dist == BUILTIN_DIST:
        entries[entry.name] = entry
        known, entry = entry, known
    return f"block '{entry.name}' is registered by both {known.dist} and {entry.dist}; using {known.dist}'s"
