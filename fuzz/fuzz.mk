# fuzz/fuzz.mk - libFuzzer targets, seed corpora and corpus replay for libmqws.
# Run from the project root (the top Makefile does):
#
#   make -f fuzz/fuzz.mk build    clang -fsanitize=fuzzer,address,undefined targets in build-fuzz/
#   make -f fuzz/fuzz.mk seeds    seed corpora from vectors/ in build-fuzz/corpus/<target>/
#                                 and OSS-Fuzz style zips in build-fuzz/seed-zips/
#   make -f fuzz/fuzz.mk run      each target FUZZ_SECONDS seconds; exec/s summary; fails on a crash
#   make -f fuzz/fuzz.mk replay   gcc build without libFuzzer (fuzz/replay_main.c), replays
#                                 the seed corpora (and fuzz/regressions/<target>/); no clang needed
#   make -f fuzz/fuzz.mk time     build-fuzz/time/<target>: the fuzzing build's target with
#                                 fuzz/tools/time_main.c instead of libFuzzer's main; times
#                                 fixed inputs (per-input cost, exec per CPU-second)
#
# Variables: FUZZ_SECONDS (60), FUZZ_TARGETS (all), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_CC (clang), REPLAY_CC (gcc), REPLAY_OPT (-O2 -g), PYTHON (/usr/bin/python3).

PYTHON       ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
REPLAY_CC    ?= gcc
REPLAY_OPT   ?= -O2 -g
FUZZ_ARGS    ?=
FZ           := build-fuzz

ALL_TARGETS  := fuzz_handshake fuzz_frame fuzz_mqtt_packet_v311 fuzz_mqtt_packet_v5 fuzz_stream
FUZZ_TARGETS ?= $(ALL_TARGETS)

# libFuzzer takes one dictionary per target.
dict_fuzz_handshake        := fuzz/dict/handshake.dict
dict_fuzz_frame            := fuzz/dict/frame.dict
dict_fuzz_mqtt_packet_v311 := fuzz/dict/mqtt.dict
dict_fuzz_mqtt_packet_v5   := fuzz/dict/mqtt.dict
dict_fuzz_stream           := fuzz/dict/stream.dict

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wpointer-arith -Wcast-qual -Wvla
STD       := -std=c11 -D_POSIX_C_SOURCE=200809L
INC       := -Ireference/include -Ireference/lib
LIBCRYPTO := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)

LIB_SRC   := $(sort $(wildcard reference/lib/*.c))
LIB_HDR   := $(wildcard reference/include/mqws/*.h reference/lib/*.h)
FUZZ_HDR  := fuzz/fuzz_common.h fuzz/fuzz_mqtt_packet_impl.h reference/tests/support/transport.h

# ------------------------------------------------------------------ libFuzzer build
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_FLAGS := $(STD) -g -O1 $(WARN) $(INC) $(SAN)
FUZZ_OBJ   := $(LIB_SRC:reference/lib/%.c=$(FZ)/obj/%.o)
FUZZ_BINS  := $(FUZZ_TARGETS:%=$(FZ)/%)

.PHONY: build seeds run replay replay-build list time
.DELETE_ON_ERROR:

build: $(FUZZ_BINS)
	@echo "fuzz: built $(notdir $(FUZZ_BINS)) in $(FZ)/"

$(FZ)/obj/%.o: reference/lib/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# A target's own code (event logs, hashes, the invariant checks) is compiled without
# coverage instrumentation, only ASan+UBSan: the library's edges and comparisons guide
# the fuzzer, and the bookkeeping loops do not pay a callback per compared byte.
$(FZ)/harness/%.o: fuzz/%.c $(FUZZ_HDR) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ_BINS): $(FZ)/%: $(FZ)/harness/%.o $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIBCRYPTO) -lpthread

# ------------------------------------------------------------------ timing driver
# libFuzzer's runtime without its main() provides the coverage callbacks.
FUZZ_RT_DIR := $(shell $(FUZZ_CC) --print-runtime-dir 2>/dev/null)
TIME_BINS   := $(FUZZ_TARGETS:%=$(FZ)/time/%)

$(FZ)/time/time_main.o: fuzz/tools/time_main.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@

$(TIME_BINS): $(FZ)/time/%: $(FZ)/harness/%.o $(FZ)/time/time_main.o $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FZ)/time/time_main.o $< $(FUZZ_OBJ) \
	  $(FUZZ_RT_DIR)/libclang_rt.fuzzer_no_main-x86_64.a -lstdc++ $(LIBCRYPTO) -lpthread

time: $(TIME_BINS)
	@echo "fuzz: timing drivers in $(FZ)/time/ (usage: $(FZ)/time/TARGET [-r ROUNDS] FILE...)"

# ------------------------------------------------------------------ seeds
# Always regenerated: the vectors change under it and it takes well under a second.
seeds:
	@$(PYTHON) fuzz/tools/make_seeds.py --vectors vectors --out $(FZ)/corpus \
	  --zip-dir $(FZ)/seed-zips

# ------------------------------------------------------------------ fuzzing
# Working corpus (new inputs) in build-fuzz/work/<target>, seeds read from
# build-fuzz/corpus/<target>, crash files in build-fuzz/artifacts/<target>/.
run: build seeds
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" FZ=$(FZ) \
	  $(foreach t,$(FUZZ_TARGETS),DICT_$(t)=$(dict_$(t))) \
	  fuzz/tools/run_fuzzers.sh $(FUZZ_TARGETS)

# ------------------------------------------------------------------ replay (no libFuzzer)
REPLAY_FLAGS := $(STD) $(REPLAY_OPT) $(WARN) $(INC)
REPLAY_OBJ   := $(LIB_SRC:reference/lib/%.c=$(FZ)/replay/obj/%.o)
REPLAY_BINS  := $(FUZZ_TARGETS:%=$(FZ)/replay/%)

$(FZ)/replay/obj/%.o: reference/lib/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(REPLAY_CC) $(REPLAY_FLAGS) -c $< -o $@

$(REPLAY_BINS): $(FZ)/replay/%: fuzz/%.c fuzz/replay_main.c $(REPLAY_OBJ) $(FUZZ_HDR) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(REPLAY_CC) $(REPLAY_FLAGS) -o $@ $< fuzz/replay_main.c $(REPLAY_OBJ) $(LIBCRYPTO) -lpthread

replay-build: $(REPLAY_BINS)

replay: replay-build seeds
	@set -e; total=0; \
	for t in $(FUZZ_TARGETS); do \
	  dirs="$(FZ)/corpus/$$t"; \
	  if [ -d fuzz/regressions/$$t ] && [ -n "$$(ls -A fuzz/regressions/$$t)" ]; then \
	    dirs="$$dirs fuzz/regressions/$$t"; fi; \
	  out=$$($(FZ)/replay/$$t $$dirs) || { echo "$$out"; echo "replay: $$t FAILED"; exit 1; }; \
	  echo "$$t: $$out" | tr '\n' ' '; echo; \
	  n=$$(echo "$$out" | awk '/^replayed/ {s += $$2} END {print s+0}'); total=$$((total + n)); \
	done; \
	echo "replay: $$total inputs through $(words $(FUZZ_TARGETS)) targets, no invariant violated"

list:
	@echo $(ALL_TARGETS)
