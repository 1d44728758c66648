# Thin aliases: every target is one lab script or one pipeline call. The lab env file (written by lab-up) tells the
# Dagger SDK where the CLI and the engine are, and names the lab's images, registries and kubeconfig.
SHELL := /bin/bash
LAB_ENV ?= $(or $(LAB_HOME),$(HOME)/.graphmemory-lab)/state/lab.env
NODE_MODULES := node_modules/.package-lock.json
with-lab = set -a && . $(LAB_ENV) && set +a &&
# The pipeline in library mode (ci/run.ts, bundled by ci/pipeline.mjs): the module's functions with `dagger call`'s
# names, against the lab
pipeline = $(with-lab) $(traced) node ci/pipeline.mjs $(if $(filter-out undefined,$(origin COMPONENTS)),--components=$(COMPONENTS))
# The run's trace (Dagger's spans and the deploy's phases) goes to OTEL_EXPORTER_OTLP_ENDPOINT when set, else to the
# lab's collector (Jaeger, LAB_OTLP_ENDPOINT); docs/pipeline.md, "Tracing a run"
traced = OTEL_EXPORTER_OTLP_ENDPOINT="$${OTEL_EXPORTER_OTLP_ENDPOINT:-$${LAB_OTLP_ENDPOINT:-}}"
# Credentials of the lab's release registry, as secret references (the value never appears on a command line)
release-auth = --username $$LAB_RELEASE_USER --password file:$$LAB_RELEASE_PASSWORD_FILE
# The lab's signing key (lab/components/signing.mjs), as secret references: what `ci` and a deploy from source sign with
signing = --signing-key file:$$LAB_SIGNING_KEY_FILE --signing-password file:$$LAB_SIGNING_PASSWORD_FILE
# The lab cluster as the deployer identity (RBAC-bound to the application namespaces), never the admin
cluster-auth = --kubeconfig file:$$KUBECONFIG_DEPLOYER
# The environment deploy, plan, rollback and history act on
ENV ?= prod
# Extra kustomize components rendered into the environment (folders of k8s/components, comma-separated). Unset: the
# lab's default, LAB_DEPLOY_COMPONENTS in lab.env (lab-real-node: the application's pods on the lab's real node, data
# on its volumes; dev, staging and prod fit there at once: docs/lab-kubernetes.md; lab-backup: the backups to the
# lab's object store). COMPONENTS= (empty): none, the pods go to the kwok nodes.
deploy-components = $(if $(filter-out undefined,$(origin COMPONENTS)),$(COMPONENTS),$$LAB_DEPLOY_COMPONENTS)
# An environment deployed to the kwok nodes before moves to the real node's volumes (lab/components/storage.mjs)
prepare-env = $(with-lab) node lab/components/storage.mjs prepare --components "$(deploy-components)"
# What `make ci` published, pulled by digest into Docker for the compose checks
IMAGES_JSON := .ci-out/ci/images.json
with-published = $(with-lab) POSTGRES_IMAGE=$$LAB_IMAGE_POSTGRES REDIS_IMAGE=$$LAB_IMAGE_REDIS node lab/with-images.mjs $(IMAGES_JSON) --

.PHONY: help bench deps lab-up lab-down lab-status ci test test-ts test-services smoke deploy plan rollback history backup backups restore logs promote verify lint smoke-monitoring smoke-tracing dashboards repro bench-lab bench-cluster bench-services bench-pipeline bench-deploy bench-gate bench-metrics bench-availability bench-pod-ready bench-hpa bench-dr bench-dashboards bench-crashloop

.DEFAULT_GOAL := help

## help: this list: every target with one line
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -E 's/^## ([^:]+): /\1\t/' | awk -F'\t' '{ printf "  %-17s %s\n", $$1, $$2 }'

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NODE_MODULES)

## lab-up: build (or reuse) and start the air-gapped lab: Docker, registries, base images, Dagger engine, Kubernetes
lab-up: deps
	node lab/up.mjs

## lab-down: stop everything the lab started (caches and data stay)
lab-down: deps
	node lab/down.mjs

## lab-status: one line per lab component
lab-status: deps
	node lab/status.mjs

## ci: the whole pipeline: build, test, scan, SBOM, then publish, sign and attest the three services in the lab's release registry (the lab's key)
ci: deps
	$(pipeline) ci $(release-auth) $(signing)

# One `make test` at a time on a machine: two would share, and trip over, one lab. A second one waits for the first,
# saying so, up to TEST_LOCK_WAIT seconds; the lock is the kernel's (flock), let go when its holder exits or dies.
TEST_LOCK ?= /tmp/graphmemory-make-test.lock
TEST_LOCK_WAIT ?= 3600
test-suites = $(MAKE) --no-print-directory lab-up test-ts test-services ci smoke smoke-monitoring smoke-tracing

## test: bring the lab up, then run every suite: TypeScript (vitest), services (pytest), the pipeline, compose smoke (+ monitoring); one run at a time on a machine
test:
	@flock -n $(TEST_LOCK) true || echo "make test: another make test is running on this machine (it holds $(TEST_LOCK)) and would share the lab; waiting up to $(TEST_LOCK_WAIT) s for it to end"
	@flock -E 75 -w $(TEST_LOCK_WAIT) $(TEST_LOCK) $(test-suites); rc=$$?; \
	  if [ $$rc = 75 ]; then echo "make test: another make test still holds $(TEST_LOCK) after $(TEST_LOCK_WAIT) s: wait for it or stop it (\`fuser -v $(TEST_LOCK)\` names it), then run make test again" >&2; fi; \
	  exit $$rc

## test-ts: the vitest suites (lab, adapters, pipeline) against the running lab
test-ts:
	$(with-lab) npx vitest run

## test-services: the services' pytest suites on this machine, against real Postgres and Redis
test-services:
	services/run_tests.sh

## smoke: the images `make ci` published, pulled by digest: size and user checks, then the compose stack end to end
smoke:
	$(with-published) $$LAB_SMOKE_PYTHON services/smoke/compose_smoke.py

## deploy: the main job: ENV (default prod) from source through ci's gate (tests, scan, SBOM, signed attestations), verified, then plan, apply, rollout, rollback on failure; then scripts/health-check of the environment
deploy: lab-up
	@$(with-lab) echo "deploy $(ENV): namespace graphmemory-$(ENV) on $$LAB_KUBE_API as $$(basename $$KUBECONFIG_DEPLOYER .kubeconfig); images built in the engine at $$_EXPERIMENTAL_DAGGER_RUNNER_HOST, pushed to $$LAB_RELEASE_REGISTRY"
	$(prepare-env) graphmemory-$(ENV)
	$(pipeline) deploy --env $(ENV) $(cluster-auth) --secrets file:$$LAB_DEPLOY_SECRETS/$(ENV).yaml $(release-auth) $(signing)
	$(pipeline) history --env $(ENV) $(cluster-auth)
	$(with-lab) scripts/health-check --namespace graphmemory-$(ENV) --kubeconfig $$KUBECONFIG_DEPLOYER --ca $$LAB_INGRESS_CA

## lint: the monitoring files checked by promtool, amtool, the collector and against the services' real /metrics
lint: deps
	$(pipeline) lint

## smoke-tracing: the compose stack with tracing on: one dashboard page load is one trace in Jaeger across the four services, Redis and (a keyed write) Postgres
smoke-tracing:
	$(with-published) $$LAB_SMOKE_PYTHON services/smoke/tracing_smoke.py

## smoke-monitoring: the compose stack with Prometheus, Alertmanager and the collector: an alert seen end to end
smoke-monitoring:
	$(with-published) $$LAB_SMOKE_PYTHON services/smoke/monitoring_smoke.py

## dashboards: regenerate monitoring/grafana/dashboards/*.json from their TypeScript source
dashboards: deps
	npx tsx monitoring/grafana/generate.ts

## repro: rerun a GitHub job locally at its commit: JOB=<workflow>/<job> [SHA=<commit>] [MATRIX=key=value] (the lab offline, dagger call online)
repro: deps
	npx tsx ci/cli/repro.ts $(JOB) $(if $(SHA),--sha $(SHA)) $(if $(MATRIX),--matrix $(MATRIX))

## plan: what deploying would change in ENV (the images running there, or IMAGES=name=ref@sha256:...,...)
plan: deps
	$(pipeline) plan --env $(ENV) $(cluster-auth) $(if $(IMAGES),--images $(IMAGES))

## rollback: restore the previous good release of ENV (or TO=<release number>)
rollback: deps
	$(pipeline) rollback --env $(ENV) $(cluster-auth) $(if $(TO),--to $(TO)) $(release-auth)

## verify: what each image carries (signature, SBOM, scan, tests, provenance) and whether ENV admits it: IMAGES=name=ref@sha256:...,... (default: what `make ci` published)
verify: deps
	$(pipeline) verify --images "$(or $(IMAGES),$$(node -p 'Object.values(require("./$(IMAGES_JSON)")).join(",")'))" --env $(ENV) $(release-auth)

## history: the releases of ENV, newest first
history: deps
	$(pipeline) history --env $(ENV) $(cluster-auth)

## backup: back ENV up now (its backup CronJob's Job: Postgres and the graph to the object store, verified)
backup: deps
	$(pipeline) backup --env $(ENV) $(cluster-auth)

## backups: the backups of ENV, newest first (name, time, size, status)
backups: deps
	$(pipeline) backups --env $(ENV) $(cluster-auth)

## restore: restore ENV from FROM (default latest; a name from `make backups`), under its lock, verified first; NAMESPACE=<fresh, deployed namespace> for a drill
restore: deps
	$(pipeline) restore --env $(ENV) $(cluster-auth) --from $(or $(FROM),latest) $(if $(NAMESPACE),--namespace $(NAMESPACE))

## logs: search the logs kept 30 days (VictoriaLogs, LogsQL): Q='request_id:"abc"' in ENV's namespace (SINCE=1h LIMIT=100; URL=http://127.0.0.1:<port> for another store, e.g. a compose stack's)
logs: deps
	@test -n "$$Q" || { echo "make logs: no query: give Q='<LogsQL>', e.g. make logs ENV=dev Q='level:=error' ('*' for every line)" >&2; exit 2; }
	$(with-lab) node scripts/logs.mjs $(if $(URL),--url "$$URL",--namespace graphmemory-$(ENV)) --since $(or $(SINCE),1h) --limit $(or $(LIMIT),100) -- "$$Q"

## promote: deploy to TO exactly the digests running in FROM (dev → staging → prod), no rebuild
promote: deps
	$(prepare-env) graphmemory-$(TO)
	$(pipeline) promote --from $(FROM) --to $(TO) $(cluster-auth) --secrets file:$$LAB_DEPLOY_SECRETS/$(TO).yaml $(release-auth)

## bench-lab: measure warm lab-up (add ARGS=--cold or ARGS=--cold-builds for cold figures)
bench-lab: deps
	node bench/lab.mjs $(ARGS)

## bench-cluster: measure control-plane start and a 3-replica rollout (restarts the lab cluster)
bench-cluster: deps
	node bench/cluster.mjs

## bench-metrics: what /metrics scraping, the access log and the metrics middleware cost the API (wrk; the images `make ci` published)
bench-metrics:
	$(with-published) node bench/metrics-cost.mjs $(ARGS)

## bench-pipeline: `ci` against a plain docker/trivy/push baseline: warm, one-line change (ARGS=--cold: from empty caches)
bench-pipeline: deps
	$(with-lab) node bench/pipeline.mjs $(ARGS)

## bench-gate: what the release gate costs on the warm path: ci and a no-change deploy from source, before and after
bench-gate: deps
	$(with-lab) node bench/gate.mjs $(ARGS)

## bench-availability: zero downtime measured: requests to the API and dashboard while dev deploys, rolls back, loses pods, is promoted (ARGS=--rate 10 ...)
bench-availability: deps
	$(with-lab) npx tsx bench/availability.ts $(ARGS)

## bench-dr: the disaster-recovery drill timed on the real node (copy of dev with backups, namespace and claims deleted, redeployed, restored from the latest backup): prints RPO and RTO
bench-dr: deps
	$(with-lab) npx tsx bench/dr.mjs

## bench-deploy: deploy, no-change deploy, one-service update, rollback and promote against kubectl apply + rollout status
bench-deploy: deps
	$(with-lab) npx tsx bench/deploy.ts

## bench-pod-ready: pod start to Ready per workload on the real node, where the time goes (ARGS: --namespace N, --restart)
bench-pod-ready: deps
	$(with-lab) npx tsx bench/pod-ready.ts $(ARGS)

## bench-dashboards: every panel query of each dashboard at once against a live Prometheus (ARGS: --namespace N, --rounds R)
bench-dashboards: deps
	$(with-lab) npx tsx bench/dashboards.ts $(ARGS)

## bench-crashloop: PodCrashLooping end to end on the real node, the repository's rules unchanged (12-16 min; ARGS: --namespace N)
bench-crashloop: deps
	$(with-lab) npx tsx bench/crashloop.ts $(ARGS)

## bench-hpa: the API's HPA under a bounded load: seconds from load start to 3 Ready replicas and from load stop to 1
bench-hpa: deps
	$(with-lab) npx tsx bench/hpa.ts $(ARGS)

## bench: the quick benchmarks: warm lab-up, deploy against kubectl, the published images (bench-pipeline is long)
bench: bench-lab bench-deploy bench-services

## bench-services: image sizes and start-to-ready times of the images `make ci` published
bench-services:
	$(with-published) node bench/services.mjs
