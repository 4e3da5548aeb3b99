"""Runs the SAM transform offline (inside the SAM CLI's virtualenv) and prints the CloudFormation JSON.

Code locations become placeholder S3 URIs first, as `sam validate` does, because the transform only
accepts deployed locations.
"""

import json
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class _NoManagedPolicies:
    """Managed policies by name would need IAM; the template names none, so the map stays empty."""

    def load(self) -> dict[str, str]:
        return {}


def main() -> None:
    with open(sys.argv[1]) as fh:
        template = yaml_parse(fh.read())
    for res in template.get("Resources", {}).values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/creditwatch-drift:placeholder"
            else:
                props["CodeUri"] = "s3://placeholder/code.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://placeholder/layer.zip"
    json.dump(transform(template, {}, _NoManagedPolicies()), sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
