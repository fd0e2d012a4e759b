# mqws-client: command-line MQTT publisher/subscriber over tcp, tls, ws and wss.
#   make client     builds build/bin/mqws-client
CLIENT_SRC := reference/client/mqws_client.c
LIBSSL := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
CLANG_CHECK_SRC += $(CLIENT_SRC)

.PHONY: client
client: lib
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-client

$(BUILD)/bin/mqws-client: $(CLIENT_SRC) $(BUILD)/libmqws.a $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(CLIENT_SRC) $(BUILD)/libmqws.a $(LIBSSL)

# The same client with AddressSanitizer + UndefinedBehaviorSanitizer: the
# integration tests run it (it parses whatever a server sends).
.PHONY: client-asan
client-asan: lib
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  CFLAGS="-fsanitize=address,undefined" build-asan/bin/mqws-client
