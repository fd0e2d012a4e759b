# reference/core/part.mk - the broker's sans-IO core (build/libmqws-core.a) and its
# cmocka tests, run plain (test-core) and under ASan+UBSan (test-core-asan, which
# also replays the fuzz regressions); make fuzz-core runs the libFuzzer target
# FUZZ_SECONDS (clang).

CORE_SRC      := $(sort $(wildcard reference/core/*.c))
CORE_HDR      := $(wildcard reference/core/*.h)
CORE_TEST_SRC := $(sort $(wildcard reference/core/tests/test_*.c))
CORE_TEST_SUP := reference/core/tests/fake.c
CORE_FUZZ_SRC := reference/core/tests/fuzz_core.c
CORE_TEST_HDR := $(wildcard reference/core/tests/*.h)
CORE_TEST_BINS = $(CORE_TEST_SRC:reference/core/tests/%.c=$(BUILD)/core-tests/%)

# core.h is included as "core.h" by the core and the broker shell.
INC += -Ireference/core
CLANG_CHECK_SRC += $(CORE_SRC) $(CORE_TEST_SRC) $(CORE_TEST_SUP) $(CORE_FUZZ_SRC)
TEST_STAGES += test-core test-core-asan

.PHONY: core-lib test-core test-core-asan test-core-nodeps fuzz-core

core-lib: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/libmqws-core.a

$(BUILD)/core/%.o: reference/core/%.c $(CORE_HDR) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

$(BUILD)/libmqws-core.a: $(CORE_SRC:reference/core/%.c=$(BUILD)/core/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/core-tests/%: reference/core/tests/%.c $(CORE_TEST_SUP) $(CORE_TEST_HDR) \
                       $(BUILD)/libmqws-core.a $(BUILD)/libmqws.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_TEST_SUP) $(BUILD)/libmqws-core.a $(BUILD)/libmqws.a \
	  $(TEST_LIBS)

test-core: deps-test
	@$(MAKE) --no-print-directory $(CORE_TEST_BINS)
	@ci/run-tests.sh core $(CORE_TEST_BINS)

test-core-asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan SUITE=core-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test-core-nodeps

test-core-nodeps:
	@$(MAKE) --no-print-directory $(CORE_TEST_BINS) $(BUILD)/core-tests/fuzz_core-replay \
	  CFLAGS="$(CFLAGS) $(LDFLAGS)"
	@ci/run-tests.sh $(SUITE) $(CORE_TEST_BINS)
	@$(BUILD)/core-tests/fuzz_core-replay reference/core/tests/fuzz-regressions

# The fuzz target with fuzz/replay_main.c instead of libFuzzer.
$(BUILD)/core-tests/fuzz_core-replay: $(CORE_FUZZ_SRC) fuzz/replay_main.c fuzz/fuzz_common.h \
                                      $(BUILD)/libmqws-core.a $(BUILD)/libmqws.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ifuzz -o $@ $(CORE_FUZZ_SRC) fuzz/replay_main.c \
	  $(BUILD)/libmqws-core.a $(BUILD)/libmqws.a $(LIBCRYPTO)

# libFuzzer run (clang); new crashes go to build-fuzz/core-artifacts/.
fuzz-core:
	@ci/deps.sh build fuzz
	@mkdir -p build-fuzz/core-corpus build-fuzz/core-artifacts
	clang $(STD) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN) \
	  $(INC) $(CORE_FUZZ_SRC) $(CORE_SRC) $(LIB_SRC) $(LIBCRYPTO) -o build-fuzz/fuzz_core
	build-fuzz/fuzz_core -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/dict/mqtt.dict \
	  -artifact_prefix=build-fuzz/core-artifacts/ build-fuzz/core-corpus \
	  reference/core/tests/fuzz-regressions
