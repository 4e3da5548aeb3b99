"""The template's functions by kind, read from template.yaml: a new job is checked without being listed here."""

from __future__ import annotations

from creditwatch.local.template import Template

# The rollout's own functions: the deployment hooks (run once per deployment, no reservation, no alias) and
# the probe (no reservation). Fixed by the rollout, not by the jobs.
DEPLOY_HOOKS = ("PreTrafficHookFunction", "PostTrafficHookFunction")
ROLLOUT_FUNCTIONS = (*DEPLOY_HOOKS, "ProbeFunction")


def service_functions(template: Template) -> list[str]:
    """Every function but the rollout's: the API's, the zip jobs and the image jobs."""
    missing = set(ROLLOUT_FUNCTIONS) - set(template.functions())
    assert not missing, f"{missing} left template.yaml: update ROLLOUT_FUNCTIONS"
    return [lid for lid in template.functions() if lid not in ROLLOUT_FUNCTIONS]


def image_jobs(template: Template) -> dict[str, str]:
    """Logical id -> job (`DockerBuildArgs.JOB`, the package `creditwatch_<job>`) of every image function."""
    return {
        lid: template.resources[lid]["Metadata"]["DockerBuildArgs"]["JOB"]
        for lid in template.functions()
        if template.resources[lid]["Properties"].get("PackageType") == "Image"
    }
