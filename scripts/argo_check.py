"""`make argo-check`: render k8s/argo and hold every object to its schema; exit 1 on any problem.

Argo objects (WorkflowTemplate, CronWorkflow) are checked against Argo's own API as hera's generated models
state it, strictly (an unknown field fails, where the models alone would drop it); every other object, and the
launcher pod Argo would build from each container template, against the Kubernetes schemas with
kubernetes-validate --strict for each Kubernetes version given on the command line. tests/argo.py does the work.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.argo import ARGO_DIR, K8S_VERSIONS, render, schema_problems  # noqa: E402


def main(versions: list[str]) -> int:
    """Print each problem, or one summary line; 0 only when there is none."""
    docs = render(ARGO_DIR)
    problems = schema_problems(docs, tuple(versions or K8S_VERSIONS))
    for problem in problems:
        print(f"argo-check: {problem}")
    if problems:
        return 1
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(Counter(doc["kind"] for doc in docs).items()))
    print(f"argo-check: k8s/argo OK ({kinds}); Argo schema strict; kubernetes-validate --strict {' '.join(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
