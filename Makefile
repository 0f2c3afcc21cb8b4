# alfd: make build | test | bench | fuzz | run
GO ?= go
BIN := bin/alfd
# Packages that start goroutines; their tests run under the race detector.
RACE_PKGS := ./trap/... ./cmd/... ./infer/... ./learner ./classify ./flowmeter
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: build test vet bench fuzz run clean

build:
	$(GO) build -o $(BIN) ./cmd/alfd

vet:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck ./...

# Every test; those that need root skip with a message when not root.
test: vet
	$(GO) test -race $(RACE_PKGS)
	$(GO) test $$($(GO) list ./... | grep -v -e '/trap' -e '/cmd/' -e '/infer' -e '/learner$$' -e '/classify$$' -e '/flowmeter$$')

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The main job, on data the project makes itself.
run: build
	./scripts/run.sh $(BIN)

clean:
	rm -rf bin
