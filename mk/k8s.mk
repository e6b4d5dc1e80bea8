# Shipping checks (issue 6), included by the Makefile:
#   k8s-check    render every overlay; kubernetes-validate --strict for each supported Kubernetes version;
#                checkov on the rendered YAML and the Dockerfile; hadolint. Part of `make test` (~10 s warm).
#   image-smoke  build the real Dockerfile with buildah on a local Debian base and run the image as its non-root
#                user (render, emulator, a real run). Needs root, apt and ~0.7 GB; 2-2.5 min here, cold or
#                warm (the build alone varies 50-120 s with disk load), so it is NOT in `make test`: CI runs
#                it as its own step.
TEST_TARGETS += k8s-check

KUBECTL := .venv/bin/kubectl
K8S_OVERLAYS := $(sort $(notdir $(wildcard k8s/overlays/*)))
K8S_RENDERED := .build/k8s
# Kubernetes minors we support: podFailurePolicy is beta (on by default) in 1.30 and GA from 1.31.
K8S_VERSIONS := 1.30 1.31 1.32 1.33

# checkov conflicts with the project's dependencies: run it from uv's tool cache, never from .venv. Same
# cooldown as [tool.uv] exclude-newer in pyproject.toml, so its transitive pins do not float.
CHECKOV_VERSION := 3.3.30
CHECKOV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(UV) tool run --exclude-newer 2026-11-23T00:00:00Z --from checkov==$(CHECKOV_VERSION) \
	checkov --skip-download --compact --quiet
# Skipped for the Dockerfile, each for a reason:
#   CKV_DOCKER_2  no HEALTHCHECK: the container runs to completion under a CronJob and Kubernetes ignores
#                 HEALTHCHECK anyway (the emulator Deployment in overlays/local has its own probes).
#   CKV_DOCKER_7  "base image without a version tag": checkov cannot see through FROM $${BASE_IMAGE}; the ARG's
#                 default is pinned by digest (tests/test_manifests.py checks it).
# Nothing is skipped globally for the manifests: the few exemptions are `checkov.io/skipN` annotations on the
# exact resources that need them, reason included (overlays/dev and overlays/local, checkov-skips.patch.yaml).
CHECKOV_SKIP := CKV_DOCKER_2,CKV_DOCKER_7

.PHONY: k8s-check k8s-render k8s-validate k8s-checkov hadolint image-smoke

k8s-check: k8s-validate k8s-checkov hadolint ## Render, validate and lint every overlay and the Dockerfile

k8s-render: venv ## Render every overlay into .build/k8s/<overlay>.yaml
	@rm -rf $(K8S_RENDERED) && mkdir -p $(K8S_RENDERED)
	@for overlay in $(K8S_OVERLAYS); do \
		$(KUBECTL) kustomize k8s/overlays/$$overlay > $(K8S_RENDERED)/$$overlay.yaml \
			|| { echo "k8s-render: k8s/overlays/$$overlay does not build"; exit 1; }; \
		echo "rendered k8s/overlays/$$overlay"; \
	done

# --quiet prints only WARN and ERROR lines; a WARN (e.g. no schema for an apiVersion that a version removed)
# exits 0, so any output at all fails the check.
k8s-validate: k8s-render
	@for version in $(K8S_VERSIONS); do \
		out=$$(.venv/bin/kubernetes-validate --strict --quiet -k $$version $(K8S_RENDERED)/*.yaml 2>&1); rc=$$?; \
		if [ $$rc -ne 0 ] || [ -n "$$out" ]; then echo "$$out"; echo "k8s-validate: Kubernetes $$version FAILED"; exit 1; fi; \
		echo "kubernetes-validate --strict $$version: $(K8S_OVERLAYS) OK"; \
	done

# One process for everything (checkov starts slowly): the Dockerfile and every rendered overlay.
k8s-checkov: k8s-render
	$(CHECKOV) --framework dockerfile kubernetes --skip-check $(CHECKOV_SKIP) \
		-f Dockerfile $(addprefix -f $(K8S_RENDERED)/,$(addsuffix .yaml,$(K8S_OVERLAYS)))

hadolint: venv
	.venv/bin/hadolint Dockerfile

image-smoke: ## Build the Dockerfile with buildah on a local Debian base and run the image (root; ~2-2.5 min here)
	scripts/image_smoke.sh
