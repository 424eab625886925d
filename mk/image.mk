# The wfsh OCI image, assembled without a container engine from the static
# executables (scripts/image, google/go-containerregistry). See
# docs/kubernetes.md, "The wfsh image".

IMAGE_BINS := wfsh wfsh-full wfsh-plugin-gcp wfsh-plugin-kubernetes wfsh-plugin-notify wfsh-worker-kubernetes
IMAGE_TAG  ?= wfsh:latest
IMAGE_PUSH ?=

.PHONY: image

## image: bin/image (an OCI image layout) and bin/wfsh-image.tar (for
## `docker load`/`podman load`); IMAGE_PUSH=REG/wfsh:TAG also pushes it
image:
	$(call BUILD_WFSH,$(BIN))
	$(call BUILD_WFSH_FULL,$(BIN))
	$(GOBUILD) -o $(BIN)/ $(addprefix ./cmd/,$(filter-out wfsh wfsh-full,$(IMAGE_BINS)))
	$(GO) run ./scripts/image -o $(BIN)/image -tar $(BIN)/wfsh-image.tar -tag $(IMAGE_TAG) \
		-version "$$(git describe --tags --always 2>/dev/null || echo dev)" \
		-revision "$$(git rev-parse HEAD 2>/dev/null)" \
		$(if $(IMAGE_PUSH),-push $(IMAGE_PUSH)) \
		$(addprefix $(BIN)/,$(IMAGE_BINS))
