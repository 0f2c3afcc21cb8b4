# alfd: make build | test | bench | fuzz | run
GO ?= go
BIN := bin/alfd
# Packages that start goroutines; their tests run under the race detector.
RACE_PKGS := ./trap/... ./cmd/... ./infer/... ./learner ./learner/annotate ./classify ./flowmeter ./bpf ./internal/reload
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: build test vet bench bench-all fuzz run clean generate check-generate

# One static binary, to copy to a capture host as it is, stamped with its
# commit (alfd version) where git tells it: it may refuse a checkout
# another user owns, and then the binary goes without.
BUILD := CGO_ENABLED=0 $(GO) build -o $(BIN)
build:
	@$(BUILD) -buildvcs=auto ./cmd/alfd 2>/dev/null || $(BUILD) -buildvcs=false ./cmd/alfd

vet:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck ./...

# Every test; those that need root skip with a message when not root.
test: vet check-generate
	$(GO) test -race $(RACE_PKGS)
	$(GO) test $$($(GO) list ./... | grep -v -e '/trap' -e '/cmd/' -e '/infer' -e '/learner$$' -e '/learner/annotate$$' -e '/internal/reload$$' -e '/classify$$' -e '/flowmeter$$' -e '/bpf$$')
	# The Go paths that assembly replaces on amd64 (other architectures').
	$(GO) test -tags purego ./infer ./flowmeter ./features ./internal/quic

# One table of every stage beside its baseline (bench/README.md keeps it).
bench:
	$(GO) run ./bench/table -benchtime $(BENCHTIME)

# Every benchmark of every package, as go test prints them.
bench-all:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# A short run of every fuzz target (FUZZTIME each). Go 1.26's fuzzing
# coordinator may fail a run with "context deadline exceeded" as FUZZTIME
# ends (go.dev/issue/75804, fixed in Go 1.27): a failure that says only
# that and wrote no failing input to testdata/fuzz is said and passed over.
fuzz:
	@set -e; out=$$(mktemp); status=$$(mktemp); trap 'rm -f $$out $$status' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    inputs=$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$target; \
	    before=$$(ls $$inputs 2>/dev/null | wc -l); \
	    { $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg 2>&1; echo $$? >$$status; } | tee $$out; \
	    if [ "$$(cat $$status)" != 0 ]; then \
	      if [ "$$(ls $$inputs 2>/dev/null | wc -l)" = "$$before" ] && \
	        [ "$$(grep -c -e '^    ' $$out)" = 1 ] && grep -q '^    context deadline exceeded$$' $$out; then \
	        echo "(no failing input: the coordinator's race at the end of -fuzztime, go.dev/issue/75804)"; \
	      else exit 1; fi; \
	    fi; \
	  done; \
	done

# The eBPF programs: C in bpf/c, compiled by bpf2go into the committed
# bpf/alfd_bpfel.{go,o}. Needs clang, llvm and libbpf-dev.
generate:
	$(GO) generate ./bpf

# The eBPF objects are those their C source makes (checked when clang is
# installed; building and testing need no clang): regenerated, they must
# not change.
GENERATED := bpf/alfd_bpfel.go bpf/alfd_bpfel.o
check-generate:
	@if command -v clang >/dev/null; then \
	  before=$$(sha256sum $(GENERATED)) && $(GO) generate ./bpf && \
	  if [ "$$before" = "$$(sha256sum $(GENERATED))" ]; then echo "bpf: generated files are current"; \
	  else echo "bpf: the generated files were not those bpf/c makes: regenerated now; commit them" >&2; exit 1; fi; \
	else echo "bpf: clang is not installed; the generated files are not checked"; fi

# The main job, on data the project makes itself.
run: build
	./scripts/run.sh $(BIN)

clean:
	rm -rf bin
