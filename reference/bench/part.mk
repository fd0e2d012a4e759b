# Load generator and the broker benchmark (mqws-broker against Debian mosquitto).
#   make loadgen        builds build/bin/mqws-loadgen
#   make test-loadgen   its command line, exit codes and counts (pytest; a stage of make test)
#   make bench-broker   the A/B comparison (also a stage of `make bench`);
#                       BENCH_REPS=3 repetitions, BENCH_ONLY=name,name to pick configs
LOADGEN_SRC := reference/bench/loadgen.c reference/bench/loadgen_conn.c \
               reference/bench/loadgen_stats.c
LOADGEN_HDR := reference/bench/loadgen.h
LOADGEN_TEST_SRC := reference/bench/tests/test_loadgen_hist.c
CLANG_CHECK_SRC += $(LOADGEN_SRC) $(LOADGEN_TEST_SRC)
BENCH_STAGES += bench-broker
TEST_STAGES += test-loadgen
BENCH_REPS ?= 3
BENCH_ONLY ?=

.PHONY: loadgen bench-broker test-loadgen

loadgen: lib
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-loadgen

$(BUILD)/bin/mqws-loadgen: $(LOADGEN_SRC) $(LOADGEN_HDR) $(BUILD)/libmqws.a $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(LOADGEN_SRC) $(BUILD)/libmqws.a $(LIBCRYPTO) -lm

# The broker is built by its own part; without it the stage measures mosquitto alone.
bench-broker: deps-build
	@ci/deps.sh broker-bench
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-loadgen
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-broker 2>/dev/null || \
	  echo "bench-broker: mqws-broker cannot be built here; measuring mosquitto alone"
	@$(PYTHON) reference/bench/run_bench.py --bin $(BUILD)/bin --reps $(BENCH_REPS) \
	  $(if $(BENCH_ONLY),--only $(BENCH_ONLY)) --json-out $(BUILD)/bench/broker.json

# The histogram's own test links loadgen_stats.c alone (cmocka, as the unit tests).
$(BUILD)/tests/test_loadgen_hist: $(LOADGEN_TEST_SRC) reference/bench/loadgen_stats.c $(LOADGEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(LOADGEN_TEST_SRC) reference/bench/loadgen_stats.c \
	  $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

# Functional checks, no figures: against mqws-broker (skipped when it cannot be
# built) and a deliberately lossy broker in the test, which must be caught.
test-loadgen: deps-test
	@ci/deps.sh loadgen-test
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-loadgen $(BUILD)/tests/test_loadgen_hist
	@ci/run-tests.sh loadgen $(BUILD)/tests/test_loadgen_hist
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-broker >/dev/null 2>&1 || \
	  echo "test-loadgen: mqws-broker cannot be built here; its cases are skipped"
	MQWS_BIN=$(abspath $(BUILD))/bin $(PYTHON) -m pytest -q -p no:cacheprovider reference/bench/tests
