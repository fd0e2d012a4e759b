# reference/broker/part.mk - mqws-broker: the epoll/TLS/WebSocket shell around
# the sans-IO core (reference/core). Included by the top Makefile.
#
#   make broker           build/bin/mqws-broker
#   make test-broker      transport tests (pytest) + hostile clients under ASan

BROKER_SRC := $(sort $(wildcard reference/broker/*.c))
BROKER_HDR := $(wildcard reference/broker/*.h reference/core/*.h)
LIBSSL     := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

BROKER_CORE_LIB := $(BUILD)/libmqws-core.a

CLANG_CHECK_SRC += $(BROKER_SRC)
TEST_STAGES += test-broker

.PHONY: broker broker-asan test-broker

broker: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-broker

$(BUILD)/bin/mqws-broker: $(BROKER_SRC) $(BROKER_HDR) $(BROKER_CORE_LIB) $(BUILD)/libmqws.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(BROKER_SRC) \
	  $(BROKER_CORE_LIB) $(BUILD)/libmqws.a $(LIBSSL) $(LDFLAGS)

# The same binary with AddressSanitizer + UndefinedBehaviorSanitizer, for the
# hostile-client tests.
broker-asan: deps-build
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" build-asan/bin/mqws-broker

test-broker: deps-test
	@ci/deps.sh broker-test
	@$(MAKE) --no-print-directory broker broker-asan
	$(PYTHON) -m pytest -q -p no:cacheprovider reference/broker/tests
