# reference/core/part.mk - the broker's sans-IO core (build/libmqws-core.a) and its
# cmocka tests, run plain (test-core) and under ASan+UBSan (test-core-asan).

CORE_SRC      := $(sort $(wildcard reference/core/*.c))
CORE_HDR      := $(wildcard reference/core/*.h)
CORE_TEST_SRC := $(sort $(wildcard reference/core/tests/test_*.c))
CORE_TEST_SUP := $(filter-out $(CORE_TEST_SRC),$(sort $(wildcard reference/core/tests/*.c)))
CORE_TEST_HDR := $(wildcard reference/core/tests/*.h)
CORE_TEST_BINS = $(CORE_TEST_SRC:reference/core/tests/%.c=$(BUILD)/core-tests/%)

# core.h is included as "core.h" by the core and the broker shell.
INC += -Ireference/core
CLANG_CHECK_SRC += $(CORE_SRC) $(CORE_TEST_SRC) $(CORE_TEST_SUP)
TEST_STAGES += test-core test-core-asan

.PHONY: core-lib test-core test-core-asan test-core-nodeps

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
	@$(MAKE) --no-print-directory $(CORE_TEST_BINS) CFLAGS="$(CFLAGS) $(LDFLAGS)"
	@ci/run-tests.sh $(SUITE) $(CORE_TEST_BINS)
