"""Reads template.yaml and resolves what the local stack and the invoker need from it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cfn_tools.yaml_loader import TAG_MAP, construct_mapping, multi_constructor

from creditwatch.paths import ROOT, TEMPLATE

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
STACK = "creditwatch-local"
# Resource types the local stack creates in moto; the rest (API, schedules, alarms, KMS keys) has no
# local twin.
DATA_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SSM::Parameter",
)


# What `!Ref AWS::NoValue` resolves to: dropped from the mapping or list that holds it.
NO_VALUE: Any = object()


class TemplateError(Exception):
    """The template asks for something the local tooling cannot resolve."""


@dataclass
class FunctionSpec:
    """A function of the template as Lambda would run it."""

    logical_id: str
    package_type: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]  # zip: layer contents (Lambda's /opt); image: folders the image copies in
    environment: dict[str, str]
    timeout: int
    memory: int

    @property
    def python_path(self) -> list[Path]:
        """sys.path entries Lambda would give the handler: task root, then /opt/python of each layer."""
        if self.package_type == "Image":
            return [self.code_dir, *self.layer_dirs]
        return [self.code_dir, *(d / "python" for d in self.layer_dirs)]

    def map_opt(self, value: str) -> str:
        """Rewrite an /opt/... path to the layer folder that holds it (layers are merged into /opt)."""
        if self.package_type == "Image" or not value.startswith("/opt/"):
            return value
        rest = value[len("/opt/") :]
        for layer in reversed(self.layer_dirs):  # later layers win, as in Lambda
            if (layer / rest).exists():
                return str(layer / rest)
        return value


class _CfnCLoader(yaml.CSafeLoader):
    """cfn_tools' loader (short-form intrinsics, ordered maps) on libyaml's parser."""


# cfn_tools' own loader is pure Python: 0.26 s for template.yaml against 0.04 s here, paid by every CLI
# command (the same document: tests/unit/test_template_parse.py).
_CfnCLoader.add_constructor(TAG_MAP, construct_mapping)
_CfnCLoader.add_multi_constructor("!", multi_constructor)


def load_template_yaml(text: str) -> dict[str, Any]:
    """A CloudFormation/SAM template parsed as cfn_tools parses it (`!Ref` as {"Ref": ...})."""
    doc: dict[str, Any] = yaml.load(text, Loader=_CfnCLoader)
    return doc


@functools.lru_cache(maxsize=4)
def _parse(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    """template.yaml parsed, cached per file version (mtime and size are the cache key, not read here)."""
    return load_template_yaml(path.read_text())


@dataclass
class Template:
    """template.yaml with parameters resolved and local names for its resources."""

    path: Path = TEMPLATE
    overrides: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None

    def __post_init__(self) -> None:
        stat = self.path.stat()
        # Shared by every Template of this file version in the process (the parse costs ~0.2 s): read only.
        self.doc: dict[str, Any] = _parse(self.path, stat.st_mtime_ns, stat.st_size)
        self.resources: dict[str, Any] = self.doc.get("Resources", {})
        self.parameters = {
            name: str(self.overrides.get(name, spec.get("Default", "")))
            for name, spec in self.doc.get("Parameters", {}).items()
        }
        self.parameters.setdefault("Environment", "dev")

    # ---- names ------------------------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        """The local name of a resource (what Ref gives for tables, buckets and queue names)."""
        res = self.resources[logical_id]
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::SecretsManager::Secret", "AWS::SSM::Parameter") and "Name" in props:
            return str(self.resolve(props["Name"]))
        name = f"{STACK}-{logical_id}"
        return name.lower() if res["Type"] == "AWS::S3::Bucket" else name

    def queue_url(self, logical_id: str) -> str:
        """URL of a local queue, as moto builds it."""
        base = (self.endpoint or "http://localhost:5000").rstrip("/")
        return f"{base}/{LOCAL_ACCOUNT}/{self.physical_name(logical_id)}"

    def ref(self, logical_id: str) -> str:
        """What `!Ref` returns for a parameter or resource, locally."""
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        pseudo = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id not in self.resources:
            raise TemplateError(f"unknown reference {logical_id}")
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(logical_id)
        if kind == "AWS::SecretsManager::Secret":
            return self.physical_name(logical_id)  # moto resolves a secret by name as well as by ARN
        if kind == "AWS::SNS::Topic":
            return self.get_att(logical_id, "TopicArn")
        return self.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        """What `!GetAtt` returns, locally."""
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        if kind == "AWS::SQS::Queue":
            return {
                "QueueName": name,
                "Arn": f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{name}",
                "QueueUrl": self.queue_url(logical_id),
            }[attribute]
        if kind == "AWS::SNS::Topic":
            return {"TopicName": name, "TopicArn": f"arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{name}"}[attribute]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}"
        return name

    # ---- intrinsic functions ------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve Ref, GetAtt, Sub, If, Join and Equals enough for environment values and names.

        `!Ref AWS::NoValue` drops the property or list item it stands for, as CloudFormation does.
        """
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not NO_VALUE}
        ((key, arg),) = value.items()
        if key == "Ref":
            return NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
        if key == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical, attribute)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

            def substitute(m: re.Match[str]) -> str:
                token = m.group(1)
                if token in extra:
                    return str(extra[token])
                if "." in token and not token.startswith("AWS::"):
                    logical, attribute = token.split(".", 1)
                    return self.get_att(logical, attribute)
                return self.ref(token)

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.resolve(items))
        if key == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if key == "Fn::Equals":
            a, b = self.resolve(arg)
            return str(a) == str(b)
        resolved = self.resolve(arg)
        return {} if resolved is NO_VALUE else {key: resolved}

    def condition(self, name: str) -> bool:
        """Evaluate a named condition."""
        spec = self.doc.get("Conditions", {})[name]
        return bool(self._cond(spec))

    def _cond(self, spec: Any) -> Any:
        if isinstance(spec, dict) and len(spec) == 1:
            ((key, arg),) = spec.items()
            if key == "Fn::And":
                return all(self._cond(a) for a in arg)
            if key == "Fn::Or":
                return any(self._cond(a) for a in arg)
            if key == "Fn::Not":
                return not self._cond(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(spec)

    # ---- functions ----------------------------------------------------------------------
    def data_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(logical id, type, properties) of every resource the local stack creates."""
        return [
            (lid, res["Type"], res.get("Properties", {}))
            for lid, res in self.resources.items()
            if res["Type"] in DATA_TYPES and ("Condition" not in res or self.condition(res["Condition"]))
        ]

    def functions(self) -> list[str]:
        """Logical ids of the template's functions."""
        return [lid for lid, res in self.resources.items() if res["Type"] == "AWS::Serverless::Function"]

    def function(self, logical_id: str) -> FunctionSpec:
        """Handler, code, layers and environment of a function, as `sam local invoke` resolves them."""
        res = self.resources.get(logical_id)
        if not res or res["Type"] != "AWS::Serverless::Function":
            raise TemplateError(
                f"{logical_id} is not a function of template.yaml; functions: {', '.join(self.functions())}"
            )
        globals_ = self.doc.get("Globals", {}).get("Function", {})
        props = {**globals_, **res.get("Properties", {})}
        env = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **res.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        package_type = props.get("PackageType", "Zip")
        if package_type == "Image":
            code_dir, layer_dirs = self._image_entry(res.get("Metadata", {}))
            # Every image function names its handler: the image of one job has no CMD of its own.
            command = props.get("ImageConfig", {}).get("Command")
            if not command:
                raise TemplateError(f"{logical_id}: an image function needs ImageConfig.Command")
            handler = str(command[0])
        else:
            handler = props["Handler"]
            code_dir = ROOT / props["CodeUri"]
            layer_dirs = [self._layer_dir(layer) for layer in props.get("Layers", [])]
        return FunctionSpec(
            logical_id=logical_id,
            package_type=package_type,
            handler=handler,
            code_dir=code_dir,
            layer_dirs=layer_dirs,
            environment={k: str(r) for k, r in ((k, self.resolve(v)) for k, v in env.items()) if r is not NO_VALUE},
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
        )

    def _layer_dir(self, layer: Any) -> Path:
        if isinstance(layer, dict) and "Ref" in layer:
            res = self.resources[layer["Ref"]]
            return ROOT / res["Properties"]["ContentUri"]
        raise TemplateError(f"only layers of this template can run locally, not {layer!r}")

    def _image_entry(self, metadata: dict[str, Any]) -> tuple[Path, list[Path]]:
        """Code folders of an image function, read from its Dockerfile with the template's build args."""
        dockerfile = ROOT / metadata["Dockerfile"]
        text = dockerfile.read_text()
        for name, value in metadata.get("DockerBuildArgs", {}).items():
            text = text.replace("${" + name + "}", str(value)).replace("$" + name, str(value))
        # COPY <src> ${LAMBDA_TASK_ROOT}/... lines say which project folders the image holds.
        dirs = [ROOT / m.group(1) for m in re.finditer(r"^COPY\s+(\S+)\s+\$\{LAMBDA_TASK_ROOT\}", text, re.M)]
        code = [d for d in dirs if d.is_dir() and "functions" in d.parts]
        others = [d for d in dirs if d.is_dir() and d not in code]
        if not code:
            raise TemplateError(f"{dockerfile} copies no function code into LAMBDA_TASK_ROOT")
        return code[0].parent, others
