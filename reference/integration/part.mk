# reference/integration/part.mk - integration tests with independent clients:
# mqws-client, paho-mqtt (ws/wss), mosquitto_pub/sub (tcp) and MQTT.js in headless
# chromium, against mqws-broker and Debian mosquitto on loopback ports.
#
#   make test-integration
#
# The browser packages (npm mqtt, playwright-core; chromium itself is Debian's)
# are installed from reference/integration/browser/package-lock.json by npm ci.

TEST_STAGES += test-integration
INTEGRATION_DIR := reference/integration
INTEGRATION_NPM := $(INTEGRATION_DIR)/browser

.PHONY: test-integration integration-npm

integration-npm:
	@if [ ! -f $(INTEGRATION_NPM)/node_modules/.package-lock.json ] || \
	    [ $(INTEGRATION_NPM)/package-lock.json -nt $(INTEGRATION_NPM)/node_modules/.package-lock.json ]; then \
	  echo "npm ci in $(INTEGRATION_NPM)"; \
	  cd $(INTEGRATION_NPM) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; \
	fi

test-integration: deps-test
	@ci/deps.sh integration
	@$(MAKE) --no-print-directory client client-asan $(if $(wildcard reference/broker/part.mk),broker)
	@$(MAKE) --no-print-directory integration-npm
	MQWS_CLIENT=$(abspath build-asan/bin/mqws-client) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning $(INTEGRATION_DIR)
