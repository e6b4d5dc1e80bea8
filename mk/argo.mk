# Argo Workflows (issue 12, docs/argo.md), included by the Makefile:
#   argo-check   render k8s/argo; the WorkflowTemplates and the CronWorkflow against Argo's own schema (hera's
#                models, unknown fields fail), every other object and the launcher pod Argo would build
#                against the Kubernetes schemas (kubernetes-validate --strict, each version in K8S_VERSIONS).
#                Part of `make test` (~5 s); tests/test_argo.py runs the steps against the emulator.
TEST_TARGETS += argo-check

.PHONY: argo-check

argo-check: venv ## Validate k8s/argo against Argo's schema (hera) and the Kubernetes schemas
	$(RUN) python scripts/argo_check.py $(K8S_VERSIONS)
