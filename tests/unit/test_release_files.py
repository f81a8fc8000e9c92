"""Cloud Build pipelines, the CI image and the source upload filter say what the README says."""

import re
from pathlib import Path

import yaml

from infra.deploy.steps import SOURCE_PATHS

REPO = Path(__file__).resolve().parents[2]
SUBSTITUTION = re.compile(r"\$\{(_[A-Z_]+)\}")


def pipeline(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def test_the_main_pipeline_tests_deploys_staging_smokes_then_asks_for_production():
    build = pipeline("cloudbuild.yaml")
    ids = [step["id"] for step in build["steps"]]
    assert ids == ["check-substitutions", "ci-image", "test", "deploy-staging", "smoke-staging",
                   "request-production"]  # fmt: skip
    assert build["options"]["substitutionOption"] == "MUST_MATCH"
    assert "substitutions" not in build  # required: no defaults, no placeholders
    steps = {step["id"]: step for step in build["steps"]}
    assert steps["test"]["args"] == ["test"]
    assert steps["deploy-staging"]["args"][0] == "deploy"
    assert steps["smoke-staging"]["secretEnv"] == ["DRGERO_SMOKE_TOKEN"]


def test_production_is_its_own_approved_pipeline():
    build = pipeline("cloudbuild.production.yaml")
    assert [step["id"] for step in build["steps"]] == [
        "check-substitutions", "ci-image", "deploy-production", "smoke-production"]  # fmt: skip
    assert "substitutions" not in build


def test_every_substitution_is_checked_and_every_image_is_pinned():
    for name in ("cloudbuild.yaml", "cloudbuild.production.yaml"):
        text = (REPO / name).read_text()
        build = yaml.safe_load(text)
        used = set(SUBSTITUTION.findall(text))
        checked = set(SUBSTITUTION.findall(build["steps"][0]["args"][1]))
        assert used and used == checked, name
        for step in build["steps"]:
            image = step["name"]
            assert image == "drgero-ci" or re.search(r":\d[\w.-]*$", image), (name, image)
            assert not image.endswith(":latest")
    dockerfile = (REPO / "infra/ci/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12\.\d+-slim-bookworm$", dockerfile, re.M)
    assert "CLOUD_SDK_VERSION=528.0.0" in dockerfile and "cloud-firestore-emulator" in dockerfile


def test_the_upload_holds_the_code_the_functions_run_and_nothing_else():
    lines = [
        line
        for line in (REPO / ".gcloudignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "/*"  # everything is ignored ...
    kept = sorted(line[2:].rstrip("/") for line in lines if line.startswith("!/"))
    assert kept == sorted(SOURCE_PATHS)  # ... but what the release label digests
    for path in ("tests", "simulator", "bench", "devstack", "infra", "docs"):
        assert path not in kept
