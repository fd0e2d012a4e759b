# conformance/part.mk - the conformance suite (mqws-check). Included by the top Makefile.
#
#   make mqws-check              build/bin/mqws-check (a launcher for python3 -m mqws_conformance)
#   make test-conformance        the suite's own tests (byte layers, reports, CLI, proof target)
#   make test-conformance-broker the full suite against mqws-broker over ws:// and wss://
#   make run                     (prerequisite) the suite against mqws-broker, HTML report path printed

CONFORMANCE_DIR  := $(abspath conformance)
CONFORMANCE_SRC  := $(shell find conformance/mqws_conformance -name '*.py' 2>/dev/null)
CONFORMANCE_OUT   = $(BUILD)/conformance
# Known deviations of the reference broker: reported as such, and as 'fixed'
# once they pass; the file should shrink to {} as the broker is fixed.
CONFORMANCE_BASELINE := conformance/baselines/mqws-broker.json

TEST_STAGES += test-conformance test-conformance-broker

.PHONY: mqws-check test-conformance test-conformance-broker run-conformance

mqws-check: $(BUILD)/bin/mqws-check

$(BUILD)/bin/mqws-check: $(CONFORMANCE_SRC) conformance/part.mk
	@mkdir -p $(dir $@)
	@printf '%s\n' '#!/bin/sh' \
	  '# mqws-check: the MQTT over WebSocket conformance suite (conformance/).' \
	  'PYTHONPATH="$(CONFORMANCE_DIR)$${PYTHONPATH:+:$$PYTHONPATH}" \' \
	  'MQWS_VECTORS="$${MQWS_VECTORS:-$(abspath vectors)}" \' \
	  'exec $(PYTHON) -m mqws_conformance "$$@"' > $@
	@chmod +x $@
	@echo "built $@"

# pytest exits 5 when it collects nothing: that must fail the stage too.
test-conformance: deps-test
	@ci/deps.sh conformance
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqws-check
	@cd conformance && $(PYTHON) -m pyflakes mqws_conformance tests tools && echo "pyflakes: conformance/ clean"
	@cd conformance && $(PYTHON) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "test-conformance: no tests collected" >&2; exit 1; fi; exit $$rc
	@$(BUILD)/bin/mqws-check --list | tail -n 1

test-conformance-broker: deps-test
	@ci/deps.sh conformance
	@$(MAKE) --no-print-directory broker $(BUILD)/bin/mqws-check
	@$(PYTHON) conformance/tools/run_reference.py --broker $(BUILD)/bin/mqws-broker \
	  --check $(BUILD)/bin/mqws-check --out $(CONFORMANCE_OUT) --expect $(CONFORMANCE_BASELINE) --quiet

# The main job (make run): the suite against a fresh reference broker, all four
# report formats, the summary and the HTML reports' paths; its exit status is the suite's.
run-conformance: deps-build
	@ci/deps.sh conformance
	@$(MAKE) --no-print-directory broker $(BUILD)/bin/mqws-check
	@$(PYTHON) conformance/tools/run_reference.py --broker $(BUILD)/bin/mqws-broker \
	  --check $(BUILD)/bin/mqws-check --out $(CONFORMANCE_OUT) --expect $(CONFORMANCE_BASELINE) \
	  --html --quiet
