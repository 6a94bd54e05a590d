"""Find a function of the SAM template and load its handler — the very file Lambda runs.

``sam local invoke`` needs Docker; here the handler module is loaded by path in this process.
The template says where the code is (``CodeUri`` + ``Handler``), which environment the function
gets (``Globals`` merged with its own ``Environment``) and its timeout. Intrinsic functions are
resolved as far as a local run allows: ``!Ref`` of a parameter takes its default, pseudo
parameters take local values, and a value that needs a deployed resource (``!GetAtt``, a table
name) is left out, so the caller's environment (or ``--env``) supplies it.

Without a template (a fresh checkout before the SAM work lands, or a trimmed copy), the
conventional layout ``functions/<snake_name>/app.py`` with ``lambda_handler`` is used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .context import LOCAL_ACCOUNT, LOCAL_REGION

__all__ = ["FunctionNotFound", "FunctionSpec", "find_function", "load_handler", "project_root", "snake_name"]

Handler = Callable[[Any, Any], Any]
_UNRESOLVED = object()
_PSEUDO = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "lambda-connect-local",
    "AWS::URLSuffix": "amazonaws.com",
}
_TAGS = ("Ref", "Sub", "GetAtt", "If", "Join", "Select", "Split", "Not", "Equals", "And", "Or", "FindInMap",
         "ImportValue", "Base64", "Condition", "GetAZs", "Cidr", "Length", "ToJsonString",
         # the functions of a template's Rules section
         "Contains", "EachMemberEquals", "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll")
_load_lock = threading.Lock()


class FunctionNotFound(LookupError):
    """No function of that name in the template nor under ``functions/``."""


@dataclass(frozen=True)
class FunctionSpec:
    """What Lambda would run for one function."""

    name: str
    code_dir: Path
    handler: str = "app.lambda_handler"
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: int = 3
    memory_mb: int = 128

    @property
    def module_path(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding ``template.yaml`` or
    ``functions/``; the package's own checkout when none is found."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "template.yaml").is_file() or (candidate / "functions").is_dir():
            return candidate
    return Path(__file__).resolve().parents[4]


def snake_name(name: str) -> str:
    """``SinkTaskFunction``, ``sink-task`` and ``sink_task`` all become ``sink_task``."""
    base = re.sub(r"Function$", "", name) if name != "Function" else name
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base)
    return re.sub(r"[^a-zA-Z0-9]+", "_", base).strip("_").lower()


def _loader(*, native: bool = True) -> type:
    """A YAML loader reading CloudFormation's short-form tags; on libyaml's parser when PyYAML has
    it (``native``), which reads the template in a tenth of the pure-Python parser's time and
    builds the same objects (a test holds the two to equal results)."""
    import yaml

    base = yaml.CSafeLoader if native and getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader

    class CfnLoader(base):  # type: ignore[misc, valid-type]
        """Reads CloudFormation short-form tags into their long form."""

    def construct(tag: str) -> Callable[[Any, Any], Any]:
        long = "Ref" if tag == "Ref" else "Condition" if tag == "Condition" else f"Fn::{tag}"

        def build(loader: Any, node: Any) -> Any:
            if isinstance(node, yaml.ScalarNode):
                value: Any = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {long: value}

        return build

    for tag in _TAGS:
        CfnLoader.add_constructor(f"!{tag}", construct(tag))
    return CfnLoader


#: The last template read per path, with the file's (mtime_ns, size) when read: ``up`` and the
#: demo look up two functions at every start, and a template is only read again once it changed.
_templates: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
_loader_class: list[type] = []
_template_lock = threading.Lock()


def _read_template(path: Path) -> dict[str, Any]:
    """The template as a dict (shared between callers: read it, never change it)."""
    try:
        import yaml  # noqa: F401 - checked here, so a missing PyYAML is named with the file
    except ImportError as e:  # pragma: no cover - PyYAML comes with the dev and local extras
        raise FunctionNotFound(f"reading {path} needs PyYAML: pip install pyyaml") from e
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _template_lock:
        cached = _templates.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if not _loader_class:
            _loader_class.append(_loader())
        loader = _loader_class[0]
    data = _parse_template(path.read_text(encoding="utf-8"), loader)
    with _template_lock:
        _templates[path] = (stamp, data)
    return data


def _parse_template(text: str, loader: type) -> dict[str, Any]:
    import yaml

    data = yaml.load(text, Loader=loader)
    return data if isinstance(data, dict) else {}


class _Resolver:
    """Resolves the intrinsic functions a local run can know."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        params = template.get("Parameters") or {}
        self.values: dict[str, str] = {k: str(v["Default"]) for k, v in params.items()
                                       if isinstance(v, dict) and "Default" in v}
        self.values.update(_PSEUDO)
        self.values.update(overrides)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, dict) and len(value) == 1:
            (kind, arg), = value.items()
            if kind == "Ref":
                return self.values.get(str(arg), _UNRESOLVED)
            if kind == "Fn::Sub" and isinstance(arg, str):
                return self._sub(arg)
            if kind == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = arg[1] if isinstance(arg[1], list) else [arg[1]]
                resolved = [self.resolve(p) for p in parts]
                if any(r is _UNRESOLVED for r in resolved):
                    return _UNRESOLVED
                return str(arg[0]).join(resolved)
        return _UNRESOLVED

    def _sub(self, text: str) -> Any:
        missing = False

        def repl(m: re.Match[str]) -> str:
            nonlocal missing
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in self.values:
                return self.values[name]
            missing = True
            return ""

        out = re.sub(r"\$\{([^}]+)\}", repl, text)
        return _UNRESOLVED if missing else out


def _from_template(root: Path, template_path: Path, name: str, parameters: Mapping[str, str]) -> FunctionSpec | None:
    template = _read_template(template_path)
    resources = template.get("Resources") or {}
    functions = {k: v for k, v in resources.items()
                 if isinstance(v, dict) and v.get("Type") == "AWS::Serverless::Function"}
    wanted = snake_name(name)
    logical = next((k for k in functions if k == name), None) or next(
        (k for k, v in functions.items()
         if snake_name(k) == wanted
         or snake_name(Path(str((v.get("Properties") or {}).get("CodeUri", ""))).name) == wanted),
        None,
    )
    if logical is None:
        return None
    resolver = _Resolver(template, parameters)
    glob = ((template.get("Globals") or {}).get("Function")) or {}
    props = functions[logical].get("Properties") or {}
    env: dict[str, str] = {}
    for source in (glob, props):
        for key, raw in (((source.get("Environment") or {}).get("Variables")) or {}).items():
            value = resolver.resolve(raw)
            if value is not _UNRESOLVED:
                env[key] = value
            else:
                env.pop(key, None)

    def number(key: str, default: int) -> int:
        raw = props.get(key, glob.get(key, default))
        value = resolver.resolve(raw)
        try:
            return int(value) if value is not _UNRESOLVED else default
        except ValueError:
            return default

    code_uri = str(props.get("CodeUri", f"functions/{wanted}/"))
    return FunctionSpec(
        name=logical,
        code_dir=(template_path.parent / code_uri).resolve(),
        handler=str(props.get("Handler", glob.get("Handler", "app.lambda_handler"))),
        environment=env,
        timeout_seconds=number("Timeout", 3),
        memory_mb=number("MemorySize", 128),
    )


def find_function(name: str, root: Path | None = None, *, parameters: Mapping[str, str] | None = None) -> FunctionSpec:
    """The function called ``name`` (logical id, ``snake_name`` or CodeUri folder) in ``root``'s
    ``template.yaml``, else ``functions/<snake_name>/app.py``. ``parameters`` override template
    parameter defaults (as ``sam --parameter-overrides``)."""
    root = root or project_root()
    template_path = root / "template.yaml"
    if template_path.is_file():
        spec = _from_template(root, template_path, name, parameters or {})
        if spec is not None:
            return spec
    code_dir = root / "functions" / snake_name(name)
    if (code_dir / "app.py").is_file():
        return FunctionSpec(name=name, code_dir=code_dir.resolve(), timeout_seconds=300, memory_mb=1024)
    raise FunctionNotFound(
        f"no function {name!r} in {template_path if template_path.is_file() else root / 'functions'}"
    )


def load_handler(spec: FunctionSpec, environment: Mapping[str, str] | None = None) -> Handler:
    """Load ``spec``'s handler module from its file, as a fresh module, and return the handler.

    The function's environment is put into ``os.environ`` first (and stays: handlers build their
    clients from it at import, and some read it again per invocation, as they would in Lambda).
    Each call loads a new module object, so two runtimes in one process never share one
    container's cached objects.
    """
    path = spec.module_path
    if not path.is_file():
        raise FunctionNotFound(f"handler file {path} of function {spec.name} does not exist")
    with _load_lock:
        os.environ.update({**spec.environment, **(environment or {})})
        module_name = f"lambda_connect_local_{snake_name(spec.name)}_{uuid.uuid4().hex[:8]}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise FunctionNotFound(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
    handler = getattr(module, spec.handler_name, None)
    if not callable(handler):
        raise FunctionNotFound(f"{path} has no callable {spec.handler_name}")
    return handler
