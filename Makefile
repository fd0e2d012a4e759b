# mqws - MQTT over WebSocket: libmqws codecs, reference broker and client,
# conformance suite, vectors, fuzzers.
#
#   make              libmqws.a and libmqws.so in build/
#   make test         every test: vectors, codecs (plain, ASan+UBSan), broker core,
#                     broker, load generator, integration (paho, mosquitto, chromium),
#                     the conformance suite's own tests and the suite against mqws-broker
#   make run          the main job: reference broker + conformance suite, reports
#   make broker       build/bin/mqws-broker      make client   build/bin/mqws-client
#   make mqws-check   build/bin/mqws-check       make demo     the libmqws codec demo
#   make fuzz         libFuzzer targets, FUZZ_SECONDS each (clang)
#   make bench        codec benchmarks, then mqws-broker against mosquitto (figures, not tests)
#   make coverage     gcovr line coverage of the codec sources
#   make install PREFIX=/usr/local
#
# Targets that need Debian packages install the missing ones via ci/deps.sh.

CC       ?= cc
PREFIX   ?= /usr/local
PYTHON   ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
BUILD    ?= build

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wvla
STD      := -std=c11 -D_POSIX_C_SOURCE=200809L
OPT      ?= -O2 -g
INC      := -Ireference/include -Ireference/lib
CFLAGS_ALL = $(STD) $(OPT) $(WARN) $(INC) $(CFLAGS)
LIBCRYPTO := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)

LIB_SRC  := $(sort $(wildcard reference/lib/*.c))
# C sources beyond the library that must compile warning-free under clang too;
# each part's makefile appends its own.
CLANG_CHECK_SRC = $(LIB_SRC) $(TEST_SRC) $(TEST_SUP) reference/examples/*.c fuzz/*.c
LIB_HDR  := $(wildcard reference/include/mqws/*.h reference/lib/*.h)
TEST_SRC := $(sort $(wildcard reference/tests/test_*.c))
TEST_SUP := $(sort $(wildcard reference/tests/support/*.c))
TEST_LIBS = $(shell pkg-config --libs cmocka jansson 2>/dev/null || echo -lcmocka -ljansson) $(LIBCRYPTO)

.PHONY: test-install check-clang requirements test-unit-nodeps all lib deps-build deps-test test test-unit test-asan lint-vectors replay run \
        fuzz fuzz-build fuzz-seeds bench bench-codec coverage install clean help demo

all: lib

help:
	@sed -n '4,16p' Makefile | sed 's/^# \{0,1\}//'

deps-build:
	@ci/deps.sh build
deps-test:
	@ci/deps.sh build test

# Parts built on libmqws (broker, client, load generator, conformance suite)
# each keep their targets in a makefile beside their sources and append to
# TEST_STAGES, BENCH_STAGES and CLANG_CHECK_SRC.
TEST_STAGES  :=
BENCH_STAGES := bench-codec
# In this order: the core, the broker on it, the client, the load generator, the
# integration tests with independent clients, then the conformance suite.
PARTS := reference/core reference/broker reference/client reference/bench reference/integration conformance
include $(wildcard $(addsuffix /part.mk,$(PARTS)))

# ---------------------------------------------------------------- library
lib: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/libmqws.a $(BUILD)/libmqws.so

$(BUILD)/obj/%.o: reference/lib/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

$(BUILD)/libmqws.a: $(LIB_SRC:reference/lib/%.c=$(BUILD)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmqws.so: $(LIB_SRC:reference/lib/%.c=$(BUILD)/obj/%.o)
	$(CC) -shared -Wl,-soname,libmqws.so.0 -o $@ $^ $(LIBCRYPTO)

# ---------------------------------------------------------------- tests
$(BUILD)/tests/%: reference/tests/%.c $(TEST_SUP) $(BUILD)/libmqws.a $(wildcard reference/tests/support/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ireference/tests/support -o $@ $< $(TEST_SUP) $(BUILD)/libmqws.a $(TEST_LIBS)

TEST_BINS = $(TEST_SRC:reference/tests/%.c=$(BUILD)/tests/%)

# Runs every unit test binary from the project root (they read vectors/).
test-unit: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/libmqws.a $(TEST_BINS)
	@ci/run-tests.sh unit $(TEST_BINS)

# The same tests built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan SUITE=asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test-unit-nodeps

test-unit-nodeps:
	@$(MAKE) --no-print-directory $(BUILD)/libmqws.a $(TEST_BINS) \
	  CFLAGS="$(CFLAGS) $(LDFLAGS)"
	@ci/run-tests.sh $(SUITE) $(TEST_BINS)

lint-vectors: deps-test
	$(PYTHON) vectors/lint.py
	$(PYTHON) vectors/tools/fmt.py --check $(filter-out vectors/schema/%,$(wildcard vectors/*/*.json))
	$(PYTHON) ci/requirements.py --check

# Regenerates docs/requirements.md after vectors or tests change.
requirements:
	$(PYTHON) ci/requirements.py

# Seed corpora replayed through the plain (non-libFuzzer) driver.
replay: deps-test
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk replay PYTHON=$(PYTHON)

# The second compiler: every C source must be warning-free under clang too.
check-clang:
	@if command -v clang >/dev/null; then \
	  for f in $(CLANG_CHECK_SRC); do \
	    clang $(STD) $(WARN) $(INC) -Ireference/tests/support -fsyntax-only $$f || exit 1; \
	  done; echo "clang: library, tests, examples and fuzzers compile without warnings"; \
	else echo "clang not installed: skipping the clang warning check"; fi

# Installs into a scratch prefix and builds the demo against it through pkg-config:
# catches a header or symbol that is used but not installed.
INSTALL_CHECK = $(abspath $(BUILD))/install-check
test-install: lib
	@rm -rf $(INSTALL_CHECK)
	@$(MAKE) --no-print-directory install PREFIX=$(INSTALL_CHECK) >/dev/null
	@PKG_CONFIG_PATH=$(INSTALL_CHECK)/lib/pkgconfig; export PKG_CONFIG_PATH; \
	  $(CC) $(STD) $(WARN) reference/examples/demo.c -o $(INSTALL_CHECK)/demo \
	    $$(pkg-config --cflags mqws) $$(pkg-config --libs --static mqws) && \
	  LD_LIBRARY_PATH=$(INSTALL_CHECK)/lib $(INSTALL_CHECK)/demo >/dev/null && \
	  echo "install: headers, libmqws.so and mqws.pc build and run the demo"
	@# every exported symbol carries the prefix and is declared in a public header
	@syms=$$(nm -D --defined-only $(BUILD)/libmqws.so | awk '$$2 ~ /[TDBR]/ {print $$3}'); \
	  for sym in $$syms; do \
	    case $$sym in mqws_*) ;; *) echo "exported without the mqws_ prefix: $$sym"; exit 1;; esac; \
	    grep -qw "$$sym" reference/include/mqws/*.h || { echo "exported but in no public header: $$sym"; exit 1; }; \
	  done; echo "symbols: $$(echo $$syms | wc -w) exported, all mqws_ and declared in reference/include/mqws/"

# The codec stages first, then each part's own (TEST_STAGES, from the part
# makefiles included below), in order; the first failure stops the run.
test: deps-test
	@$(MAKE) --no-print-directory lint-vectors
	@$(MAKE) --no-print-directory check-clang
	@$(MAKE) --no-print-directory test-install
	@$(MAKE) --no-print-directory replay
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-asan
	@for stage in $(TEST_STAGES); do $(MAKE) --no-print-directory $$stage || exit 1; done

# ---------------------------------------------------------------- fuzzing
fuzz-build:
	@ci/deps.sh build fuzz
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk build PYTHON=$(PYTHON)

fuzz-seeds:
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk seeds PYTHON=$(PYTHON)

fuzz: fuzz-build
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk run FUZZ_SECONDS=$(FUZZ_SECONDS) PYTHON=$(PYTHON)

# ---------------------------------------------------------------- benchmarks
bench:
	@for stage in $(BENCH_STAGES); do $(MAKE) --no-print-directory $$stage || exit 1; done

bench-codec: deps-build
	@ci/deps.sh bench
	@$(MAKE) --no-print-directory $(BUILD)/bench_codec OPT="-O2 -g"
	@$(BUILD)/bench_codec

$(BUILD)/bench_codec: reference/bench/bench_codec.c $(BUILD)/libmqws.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmqws.a -lwslay $(LIBCRYPTO)

# ---------------------------------------------------------------- coverage
coverage: deps-test
	@ci/deps.sh coverage
	@rm -rf build-cov
	@$(MAKE) --no-print-directory BUILD=build-cov SUITE=coverage OPT="-O0 -g --coverage" \
	  CFLAGS="--coverage" test-unit-nodeps
	gcovr -r . --filter reference/lib/ --object-directory build-cov/obj --print-summary \
	  --txt build-cov/coverage.txt
	@cat build-cov/coverage.txt | tail -n 15

# ---------------------------------------------------------------- main job
# make run: builds, starts mqws-broker on free loopback ports (ws and wss), runs
# the conformance suite against it (conformance/part.mk), prints the summary and
# where the reports are, stops the broker. make demo: the libmqws codec demo.
run: run-conformance

demo: lib
	@$(MAKE) --no-print-directory $(BUILD)/mqws-demo
	@$(BUILD)/mqws-demo

$(BUILD)/mqws-demo: reference/examples/demo.c $(BUILD)/libmqws.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmqws.a $(LIBCRYPTO)

# ---------------------------------------------------------------- install
install: lib
	install -d $(DESTDIR)$(PREFIX)/include/mqws $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 reference/include/mqws/*.h $(DESTDIR)$(PREFIX)/include/mqws/
	install -m 644 $(BUILD)/libmqws.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libmqws.so $(DESTDIR)$(PREFIX)/lib/libmqws.so.0
	ln -sf libmqws.so.0 $(DESTDIR)$(PREFIX)/lib/libmqws.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' reference/mqws.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqws.pc

clean:
	rm -rf build build-asan build-cov build-fuzz
