# Coffer: `make run` runs the system locally, `make test` runs every test.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
GO ?= go
MODULES := pkg pkg/client pkg/client/cmd/coffer services/auth services/files services/web e2e deployments/deploycheck
RUN_DIR := .run
# The release the binaries report (`coffer-files version`, /healthz): git describe, or, outside
# a git checkout, what pkg/version finds itself ("devel").
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/cofferhq/coffer/pkg/version.release=$(VERSION)

.PHONY: test-pgbouncer pgbouncer bench-scale
.PHONY: all build run up down test test-short vet lint fmt tidy tools node-deps bench bench-deps bench-micro fuzz soak mutate clean FORCE web browser web-check

all: build

## build: compile the services into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./services/auth/cmd/coffer-auth ./services/files/cmd/coffer-files ./services/web/cmd/coffer-web

## run: start PostgreSQL (unless DATABASE_URL is set), auth on :8081, files on :8082, the web page on :8083
run:
	@mkdir -p $(RUN_DIR)/bin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(RUN_DIR)/bin/ ./services/auth/cmd/coffer-auth ./services/files/cmd/coffer-files ./services/web/cmd/coffer-web ./e2e/cmd/coffer-dev
	@exec $(RUN_DIR)/bin/coffer-dev -dir $(RUN_DIR) -auth $(RUN_DIR)/bin/coffer-auth -files $(RUN_DIR)/bin/coffer-files -web $(RUN_DIR)/bin/coffer-web

## up: run docker-compose.yml (PostgreSQL, auth on :8081, file nodes on :8082 and :8083 sharing
## an S3-compatible store), generating its secrets in .secrets/ on first use; down: stop it
COMPOSE ?= docker compose
SECRETS := .secrets/auth_kek .secrets/link_key .secrets/s3_secret_key
up: $(SECRETS)
	@$(COMPOSE) version >/dev/null 2>&1 || { echo "make up needs Docker's Compose v2 plugin (the 'docker compose' command; set COMPOSE= to another v2 binary)" >&2; exit 1; }
	$(COMPOSE) up --build --detach --wait

down:
	$(COMPOSE) down

# The folder is private to you; the files inside are readable so the containers' non-root
# users can read them through the bind mount.
.secrets/%:
	@mkdir -p .secrets && chmod 700 .secrets
	head -c 32 /dev/urandom | base64 > $@ && chmod 644 $@

## tools: build the test-only servers into the git-ignored .cache/bin (versitygw, a real S3
## server; keep its version in step with pkg/s3test.Module). Tests build it too if missing.
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0
tools: .cache/bin/versitygw .cache/zitadel-op/server
.cache/bin/versitygw:
	@mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin GOWORK=off $(GO) install $(VERSITYGW)
# zitadel's example OpenID Provider, which the identity tests sign people in through (keep the
# version in step with e2e's ZitadelOPModule).
ZITADEL_OP := github.com/zitadel/oidc/v3/example/server@v3.53.0
.cache/zitadel-op/server:
	@mkdir -p .cache/zitadel-op
	GOBIN=$(CURDIR)/.cache/zitadel-op GOWORK=off $(GO) install $(ZITADEL_OP)

## node-deps: install the Node.js clients the end-to-end tests drive (npm tus-js-client) into
## the git-ignored e2e/node/node_modules, from the committed lock file, when missing.
node-deps: e2e/node/node_modules/.package-lock.json
e2e/node/node_modules/.package-lock.json: e2e/node/package-lock.json
	npm ci --prefix e2e/node --no-audit --no-fund

## web: rebuild the page (TypeScript in services/web/ui, built with Vite) into
## services/web/internal/assets/dist, which is committed so `go build` needs no Node.
web:
	cd services/web/ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build

## browser: what the browser tests (e2e/web_*_test.go) need: Debian's chromium, installed as
## root when missing, and e2e/browser's pinned playwright-core. Never `playwright install`.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "browser: /usr/bin/chromium is missing: apt-get install chromium as root" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	fi
	@if [ ! -d e2e/browser/node_modules/playwright-core ]; then cd e2e/browser && npm ci --no-audit --no-fund; fi

## The linter, pinned: a binary of another version is replaced.
STATICCHECK_VERSION := 0.8.2
STATICCHECK := $(CURDIR)/.cache/bin/staticcheck
.cache/bin/staticcheck: FORCE
	@mkdir -p .cache/bin
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))' || \
		GOBIN=$(CURDIR)/.cache/bin GOWORK=off $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION)
FORCE:

## test: vet, lint, then unit, integration and end-to-end tests against real PostgreSQL and S3
## (and the web page in headless chromium)
## In CI the unit and integration packages run under the race detector (they are where goroutines
## meet); the end-to-end tests drive built binaries, so -race there would only slow them.
## .ci/run sets RACE=-race; make test alone runs without it, to stay within its time budget.
UNIT_MODULES := $(filter-out e2e,$(MODULES))
RACE ?=
test: vet lint tools node-deps browser pgbouncer
	$(GO) test $(RACE) -count=1 -timeout 15m $(addprefix ./,$(addsuffix /...,$(UNIT_MODULES)))
	$(GO) test -count=1 -timeout 25m ./e2e/...

## test-pgbouncer: the end-to-end suite once more with both services behind PgBouncer in
## transaction pooling mode (Debian's pgbouncer, installed when missing); .ci/run runs it
test-pgbouncer: tools node-deps browser pgbouncer
	COFFER_E2E_PGBOUNCER=1 $(GO) test -count=1 -timeout 40m ./e2e/...

pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

## vet, also with the faultinject tag the fault suite builds the file service with.
vet:
	$(GO) vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	$(GO) vet -tags faultinject $(addprefix ./,$(addsuffix /...,$(MODULES)))

## lint: staticcheck over every module (soak tests included); any finding fails. A finding
## that is right to keep is silenced where it stands: //lint:ignore CHECK reason
lint: .cache/bin/staticcheck
	@for m in $(MODULES); do echo "staticcheck $$m"; (cd $$m && $(STATICCHECK) -tags soak ./...) || exit 1; done
	@for m in $(MODULES); do if grep -rqs --include='*.go' '^//go:build faultinject' $$m; then \
		echo "staticcheck -tags faultinject $$m"; (cd $$m && $(STATICCHECK) -tags faultinject ./...) || exit 1; fi; done

## web-check: the committed page (services/web/internal/assets/dist) is what its source builds
## to: rebuild it, then no file may differ, be gone or be new. CI runs it (.ci/run).
web-check: web
	git diff --exit-code -- services/web/internal/assets/dist
	@test -z "$$(git status --porcelain -- services/web/internal/assets/dist)" || \
		{ git status --porcelain -- services/web/internal/assets/dist; echo "web-check: the committed build lacks these files: run make web and commit" >&2; exit 1; }

fmt:
	gofmt -l -w $(MODULES)

tidy:
	for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

## bench: Coffer against its peers on this machine, in one run (docs/PERFORMANCE.md): real
## PostgreSQL, file nodes on disk and S3 (versitygw), nginx, a bare Go http.ServeFile and tusd,
## all loaded by wrk; writes .run/bench/results.md and results.json and prints the table.
## BENCH_QUICK=1 runs small sizes in a couple of minutes. Installs nginx-light and wrk (Debian)
## if missing. Not part of make test.
TUSD := github.com/tus/tusd/v2/cmd/tusd@v2.9.1
BENCH_DIR := $(RUN_DIR)/bench
bench: tools .cache/bin/tusd bench-deps
	@mkdir -p $(BENCH_DIR)/bin
	$(GO) build -o $(BENCH_DIR)/bin/ ./services/auth/cmd/coffer-auth ./services/files/cmd/coffer-files ./e2e/cmd/coffer-bench
	$(BENCH_DIR)/bin/coffer-bench -dir $(BENCH_DIR) -auth $(BENCH_DIR)/bin/coffer-auth -files $(BENCH_DIR)/bin/coffer-files \
		-tusd .cache/bin/tusd -versitygw .cache/bin/versitygw

.cache/bin/tusd:
	@mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin GOWORK=off $(GO) install $(TUSD)

bench-deps:
	@command -v wrk >/dev/null && { command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light wrk; }

## bench-scale: a primary with two streaming replicas, PgBouncer, four file nodes on S3:
## statements per download on each server, 4 KiB GETs with and without replicas, the
## revocation fence's cost, 256 parallel resumable uploads (docs/SCALING.md). Not in make test.
bench-scale: tools pgbouncer
	COFFER_BENCH_SCALE=1 $(GO) test -count=1 -timeout 20m -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -v ./e2e/

## bench-micro: the Go micro-benchmarks, each beside its baseline (compare runs with benchstat)
bench-micro: tools
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(addprefix ./,$(addsuffix /...,$(MODULES)))

## fuzz: run every Fuzz target in the workspace for FUZZTIME each (make test runs only their
## seed corpora). One worker each (FUZZ_PARALLEL): the machine is shared and small.
FUZZTIME ?= 20s
FUZZ_PARALLEL ?= 1
fuzz:
	@for d in $$(grep -rl --include='*_test.go' '^func Fuzz' services pkg e2e | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$d/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "== $$f ($$d, $(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel $(FUZZ_PARALLEL) ./$$d || exit 1; \
		done; \
	done

## soak: mixed traffic against a file node for SOAK_DURATION, reporting errors, memory,
## threads, open files and goroutines at start and end (build tag soak; not in make test)
SOAK_DURATION ?= 3m
soak:
	COFFER_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -timeout 60m -run '^TestSoak$$' -v ./e2e/

## mutate: mutation testing (gremlins v0.6.0) of the security-critical packages, each with its
## own tests; fails if a package is below MUTATE_MCOVER % mutator coverage or MUTATE_EFFICACY %
## test efficacy. Mutants shown to be equivalent are listed in docs/SECURITY.md. Not part of
## make test (it runs each package's tests once per mutant: tens of minutes).
GREMLINS := $(CURDIR)/.cache/bin/gremlins
MUTATE_MCOVER ?= 85
MUTATE_EFFICACY ?= 95
# A mutant's time limit is this multiple of the (cached-build) coverage run: at a load of 10 its
# compile alone took longer than 3× and such mutants were TIMED OUT (counted nowhere).
MUTATE_TIMEOUT_COEFFICIENT ?= 10
# module:package pairs. Of internal/api only the link, share and CORS code is mutated.
MUTATE_TARGETS ?= pkg:./accesstoken services/files:./internal/tokenauth services/files:./internal/linktoken \
	services/files:./internal/api services/auth:./internal/auth services/auth:./internal/keys services/auth:./internal/postgres
MUTATE_API_EXCLUDE := (^|/)(admin|audit|download|errors|files|folders|headers|health|idempotency|json|metrics|middleware|openapi|ranges|requests|retention|routes|server|text|upload|uploads|webhooks|zip)[a-z_]*\.go$$
# Of the auth domain only sign-in, authorize, refresh and clients (accounts, admin, audit,
# identity, invitations, upstream and users are other areas).
MUTATE_AUTH_EXCLUDE := (^|/)(account|admin|audit|identity|invitations|upstream|users)[a-z_]*\.go$$
$(GREMLINS):
	@mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin GOWORK=off $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
# gremlins runs each mutant in a copy of the module under $TMPDIR/gremlins-N/wd-M, where the
# services' `replace ... => ../../pkg` must still resolve: without it every mutant fails to
# build and counts as KILLED. GOWORK=off: the copy lies under this checkout, so go would find
# go.work above it and test the unmutated module instead (every mutant LIVED). Set DATABASE_URL
# (a throwaway server) for the packages tested against PostgreSQL: without it each mutant's test
# binary starts a cluster of its own, and one that a mutant crashes is left running.
# GOFLAGS=-count=1: a cached coverage run takes ~0 s, and gremlins times every mutant out after
# a multiple of it (every mutant TIMED OUT).
mutate: $(GREMLINS) tools
	@mkdir -p $(RUN_DIR)/mutate/tmp && ln -sfn $(CURDIR)/pkg $(RUN_DIR)/mutate/tmp/pkg; failed=""; \
	for t in $(MUTATE_TARGETS); do \
		mod=$${t%%:*}; pkg=$${t#*:}; ex=""; [ "$$pkg" = ./internal/api ] && ex='$(MUTATE_API_EXCLUDE)'; \
		[ "$$t" = services/auth:./internal/auth ] && ex='$(MUTATE_AUTH_EXCLUDE)'; \
		out=$(CURDIR)/$(RUN_DIR)/mutate/$$(echo $$mod$${pkg#.} | tr / _).json; \
		echo "== $$mod $$pkg"; \
		(cd $$mod && GOWORK=off GOFLAGS=-count=1 TMPDIR=$(CURDIR)/$(RUN_DIR)/mutate/tmp $(GREMLINS) unleash $$pkg --workers 1 --timeout-coefficient $(MUTATE_TIMEOUT_COEFFICIENT) -o $$out \
			$${ex:+--exclude-files "$$ex"} --threshold-mcover $(MUTATE_MCOVER) --threshold-efficacy $(MUTATE_EFFICACY)) \
			|| failed="$$failed $$mod/$$pkg"; \
	done; \
	if [ -n "$$failed" ]; then echo "mutate: below target:$$failed"; exit 1; fi

clean:
	rm -rf bin $(RUN_DIR)
