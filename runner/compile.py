"""Compile a bot file: load it, check every step against its block (phase 1), check the pipeline
as a whole (phase 2), and produce the snapshot and its ``config_id``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runner.block import Block, BlockConfig, SecretSpec
from runner.durations import format_duration, parse_duration
from runner.errors import ConfigError, ConfigIssue, Path, sort_issues
from runner.messages import describe
from runner.registry import BlockEntry, BlockLoadError, Registry
from runner.secrets import is_reference, literal_secrets, secret_kind, secret_tokens
from runner.snapshot import config_id
from runner.spec import USES_PATTERN, BotHeader, StepSpec
from runner.yaml_source import Document, load_yaml

if TYPE_CHECKING:
    from runner.risk import HouseRules

USES = re.compile(USES_PATTERN)


@dataclass
class StepInfo:
    """A pipeline step as far as it compiled; ``config`` is None when its ``with:`` is invalid. ``index`` is its
    place in the pipeline that runs, ``path`` where it is written: ``pipeline[i]`` of the bot file, or
    ``risk[i]`` of a risk file for a house rule."""

    index: int
    id: str | None
    uses: str | None
    entry: BlockEntry | None = None
    block: type[Block] | None = None
    config: BlockConfig | None = None
    every: int | None = None
    on_error: str = "skip_cycle"
    timeout: int | None = None
    """Seconds one try of the step's per-cycle call may take (None: no limit)."""
    retries: int = 0
    backoff: int = 1
    """Seconds before the first retry; doubles each time."""
    path: Path = ()

    def __post_init__(self) -> None:
        self.path = self.path or ("pipeline", self.index)

    @property
    def house(self) -> bool:
        """Whether this step is a house rule from a risk file."""
        return self.path[:1] == ("risk",)

    @property
    def kind(self) -> str | None:
        return self.block.kind if self.block else None


@dataclass
class CompileContext:
    """What the phase-2 checks see: the document, the header, the steps and the registry."""

    doc: Document
    header: BotHeader | None
    steps: list[StepInfo]
    registry: Registry
    hidden: set[Path] = field(default_factory=set)
    every: int | None = None
    risk: Document | None = None
    """The risk file whose house rules run in this pipeline; paths under ``risk`` are positions in it."""

    def document(self, path: Path) -> Document:
        """The file a path points into: the risk file for ``risk[...]``, else the bot file."""
        return self.risk if self.risk is not None and path[:1] == ("risk",) else self.doc

    def issue(self, path: Path, message: str, hint: str = "", at_key: bool = False) -> ConfigIssue:
        return self.document(path).issue(path, message, hint, at_key)

    def raw(self, path: Path) -> Any:
        """The value as written at ``path`` of its file (None when there is none)."""
        node: Any = self.document(path).data
        for key in path:
            if isinstance(node, dict) and isinstance(key, str):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                node = node[key]
            else:
                return None
        return node

    def position(self, path: Path) -> tuple[int, int]:
        """Line and column of ``path`` in its file."""
        return self.document(path).position(path)

    def step(self, step_id: str) -> StepInfo | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class CompiledBot:
    """A bot file that compiled: the spec, its steps with their configs, and the snapshot."""

    file: str
    spec: BotHeader
    steps: tuple[StepInfo, ...]
    every: int
    snapshot: dict[str, Any]
    config_id: str
    risk_file: str | None = None
    """The risk file whose house rules this bot runs, if any."""


def compile_file(path: str | FsPath, registry: Registry | None = None, risk: HouseRules | None = None) -> CompiledBot:
    """Compile the bot file at ``path`` (with the house rules of ``risk``); raises ConfigError listing every
    problem."""
    return compile_text(read_text(path), str(path), registry, risk)


def read_text(path: str | FsPath) -> str:
    """A config file's text; raises ConfigError if it is not UTF-8 and OSError if it cannot be read."""
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", problem)]) from None


def compile_text(
    text: str, file: str = "<bot>", registry: Registry | None = None, risk: HouseRules | None = None
) -> CompiledBot:
    """Compile bot file text (with the house rules of ``risk``); raises ConfigError listing every problem, in
    file order."""
    registry = registry or Registry.discover()
    try:
        return _compile(text, file, registry, risk)
    except ConfigError as exc:
        raise ConfigError(hide_secrets(exc.issues, text if risk is None else f"{text}\n{risk.text}")) from None


def hide_secrets(issues: list[ConfigIssue], text: str) -> list[ConfigIssue]:
    """Every issue with anything in ``text`` that looks like key material replaced by <hidden>, whichever
    check wrote the message: a key can hide in a step id, a symbol, a mapping key or a YAML tag."""
    secrets = secret_tokens(text)
    if not secrets:
        return issues

    def clean(value: str) -> str:
        for secret in secrets:
            value = value.replace(secret, "<hidden>")
        return value

    return [replace(i, path=clean(i.path), message=clean(i.message), hint=clean(i.hint)) for i in issues]


def _compile(text: str, file: str, registry: Registry, risk: HouseRules | None) -> CompiledBot:
    from runner.checks import CHECKS

    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [
                doc.issue(
                    (),
                    "a bot file is a mapping with bot, version, symbols and pipeline",
                    "see bots/noop.yaml for the smallest bot",
                )
            ]
        )
    issues: list[ConfigIssue] = []
    hidden: set[Path] = set()
    for path, kind in literal_secrets(doc.data):
        hidden.add(path)
        issues.append(
            doc.issue(
                path,
                f"literal secret in the bot file: this looks like {kind} (value hidden)",
                "reference it instead, e.g. ${env:HL_PRIVATE_KEY} or ${keystore:hl-main}",
            )
        )

    header = validate_model(BotHeader, doc.data, (), doc, hidden, issues)
    raw_steps = doc.data.get("pipeline")
    steps = [
        compile_step(i, raw, doc, registry, hidden, issues)
        for i, raw in enumerate(raw_steps if isinstance(raw_steps, list) else [])
    ]
    if risk is not None:
        steps = with_house_rules(steps, risk.steps)
    ctx = CompileContext(doc, header, steps, registry, hidden, risk=risk.doc if risk else None)
    for step in steps:
        # A house rule read its files when its risk file loaded, relative to that file.
        if step.block is not None and step.config is not None and not step.house:
            issues.extend(step.block.include(step, ctx))
    for check in CHECKS:
        issues.extend(check(ctx))
    for step in steps:
        if step.block is not None and step.config is not None:
            issues.extend(step.block.check(step, ctx))
    if issues or header is None or ctx.every is None:
        raise ConfigError(sort_issues(issues))
    return _finish(file, header, steps, ctx.every, risk.file if risk else None)


def with_house_rules(steps: list[StepInfo], house: Iterable[StepInfo]) -> list[StepInfo]:
    """The bot's steps with (copies of) the house rules inserted before its first executor, after its own
    validators; every step's ``index`` is its place in the result."""
    at = next((i for i, s in enumerate(steps) if s.kind == "executor"), len(steps))
    combined = [*steps[:at], *(replace(h) for h in house), *steps[at:]]
    for index, step in enumerate(combined):
        step.index = index
    return combined


def validate_model(
    model: type[BaseModel], data: Any, prefix: Path, doc: Document, hidden: set[Path], issues: list[ConfigIssue]
) -> Any:
    """``data`` as ``model``, or None with its problems added to ``issues`` at their places in ``doc``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(_translate(exc, model, prefix, doc, hidden))
        return None


def _translate(
    exc: ValidationError, model: type[BaseModel], prefix: Path, doc: Document, hidden: set[Path]
) -> Iterable[ConfigIssue]:
    for error in exc.errors(include_url=False):
        loc = _data_loc(_get(doc.data, prefix), error["loc"], error["type"])
        error["loc"] = loc
        path = (*prefix, *loc)
        if path in hidden and error["type"] != "extra_forbidden":
            continue  # already reported as a literal secret; advice about its value would be about the secret
        show = secret_kind(error.get("input")) is None
        message, hint = describe(error, model, show_input=show)
        yield doc.issue(path, message, hint, at_key=error["type"] == "extra_forbidden")


def compile_step(
    index: int,
    raw: Any,
    doc: Document,
    registry: Registry,
    hidden: set[Path],
    issues: list[ConfigIssue],
    section: str = "pipeline",
) -> StepInfo:
    """Phase 1 for one step written at ``section[index]``: its own shape, its block, its ``with:``."""
    path: Path = (section, index)
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    info = StepInfo(index, raw_id if isinstance(raw_id, str) else None, None, path=path)
    spec: StepSpec | None = validate_model(StepSpec, raw, path, doc, hidden, issues)
    # A wrong id or every: must not hide what is wrong with the block and its config.
    uses = spec.uses if spec else _raw_field(raw, "uses", str)
    settings = spec.with_ if spec else _raw_field(raw, "with", dict)
    if spec is not None and spec.every:
        info.every = parse_duration(spec.every)
    if spec is not None:
        info.on_error, info.retries, info.backoff = spec.on_error, spec.retries, parse_duration(spec.backoff)
        info.timeout = parse_duration(spec.timeout) if spec.timeout else None
    if uses is None or not USES.match(uses):
        return info
    info.uses = uses
    entry = registry.get(uses)
    if entry is None:
        close = registry.suggest(uses)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "run `runner blocks` to list them"
        issues.append(doc.issue((*path, "uses"), f"unknown block '{uses}'", hint))
        return info
    info.entry = entry
    try:
        info.block = registry.load(uses)
    except BlockLoadError as exc:
        issues.append(doc.issue((*path, "uses"), str(exc), "reinstall the package that provides it"))
        return info
    before = len(issues)
    config = validate_model(info.block.Config, settings or {}, (*path, "with"), doc, hidden, issues)
    if config is not None:
        issues.extend(_secret_fields(config, (*path, "with"), hidden, doc))
        if len(issues) == before and spec is not None:
            info.config = config
    return info


def _raw_field(raw: Any, key: str, kind: type) -> Any:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, kind) else None


def _secret_fields(config: BlockConfig, prefix: Path, hidden: set[Path], doc: Document) -> Iterable[ConfigIssue]:
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        path = (*prefix, info.alias or name)
        if value is None or path in hidden or not any(isinstance(m, SecretSpec) for m in info.metadata):
            continue
        if not is_reference(value):
            hidden.add(path)
            yield doc.issue(
                path, "a credential must be a reference (value hidden)", "write ${env:NAME} or ${keystore:NAME}"
            )


def _data_loc(data: Any, loc: tuple[int | str, ...], kind: str) -> tuple[int | str, ...]:
    """The part of a pydantic error location that exists in the YAML: pydantic inserts tags such as
    'function-after[...]' for annotated unions; a missing or unknown key is kept as the last part."""
    kept: list[int | str] = []
    for i, part in enumerate(loc):
        found, child = _child(data, part)
        if found:
            data = child
        elif not (i == len(loc) - 1 and kind in ("missing", "extra_forbidden")):
            continue
        kept.append(part)
    return tuple(kept)


def _child(data: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(data, dict):
        return part in data, data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return True, data[part]
    return False, None


def _get(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _finish(file: str, header: BotHeader, steps: list[StepInfo], every: int, risk_file: str | None) -> CompiledBot:
    pipeline: list[dict[str, Any]] = []
    house: list[dict[str, Any]] = []
    blocks: dict[str, str] = {}
    for step in steps:
        assert step.config is not None and step.entry is not None and step.uses is not None
        item: dict[str, Any] = {
            "id": step.id,
            "uses": step.uses,
            "with": step.config.model_dump(mode="json", by_alias=True),
        }
        if step.every:
            item["every"] = format_duration(step.every)
        # Failure settings are written only when set: older snapshots, and their config_ids, stay as they were.
        if step.on_error != "skip_cycle":
            item["on_error"] = step.on_error
        if step.timeout is not None:
            item["timeout"] = format_duration(step.timeout)
        if step.retries:
            item["retries"] = step.retries
        if step.backoff != 1:
            item["backoff"] = format_duration(step.backoff)
        (house if step.house else pipeline).append(item)
        blocks[step.uses] = f"{step.entry.dist} {step.entry.version}"
    # mode and description are left out: a backtest, a paper and a live run of the same file are
    # one deployment, and editing prose does not change what the bot does.
    snapshot = {
        "bot": header.bot,
        "version": header.version,
        "every": format_duration(every),
        "account": header.account.model_dump(mode="json"),
        "symbols": list(header.symbols),
        "pipeline": pipeline,
        "blocks": dict(sorted(blocks.items())),
    }
    if house:
        snapshot["risk"] = house  # only with house rules: a bot run without them keeps its config_id
    return CompiledBot(file, header, tuple(steps), every, snapshot, config_id(snapshot), risk_file)
