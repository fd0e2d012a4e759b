#!/bin/bash -eu
# OSS-Fuzz build script for mqws: $CC/$CFLAGS/$LIB_FUZZING_ENGINE/$OUT come from the
# base-builder image; works for libFuzzer, AFL++ and honggfuzz, and for ASan, UBSan and MSan.
#
# MSan note: every linked library must be instrumented. libmqws uses libcrypto only for
# SHA-1 (Sec-WebSocket-Accept); the system libcrypto is not instrumented, so an MSan
# build may report false positives in mqws_hs_accept_key until OpenSSL is built with
# MSan too (the usual OSS-Fuzz recipe for OpenSSL users).

cd "$SRC/mqws"
INC="-Ireference/include -Ireference/lib"
STD="-std=c11 -D_POSIX_C_SOURCE=200809L"
CRYPTO=$(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)

B="${WORK:-/tmp}/mqws-build"   # $WORK: OSS-Fuzz's scratch directory
mkdir -p "$B"
objs=()
for src in reference/lib/*.c; do
  obj="$B/$(basename "${src%.c}").o"
  $CC $CFLAGS $STD $INC -c "$src" -o "$obj"
  objs+=("$obj")
done

declare -A dict=(
  [fuzz_handshake]=handshake [fuzz_frame]=frame [fuzz_mqtt_packet_v311]=mqtt
  [fuzz_mqtt_packet_v5]=mqtt [fuzz_stream]=stream
)
for t in fuzz_handshake fuzz_frame fuzz_mqtt_packet_v311 fuzz_mqtt_packet_v5 fuzz_stream; do
  $CC $CFLAGS $STD $INC -c "fuzz/$t.c" -o "$B/$t.o"
  # link with the C++ driver ($CXX): the fuzzing engines are C++ libraries
  $CXX $CXXFLAGS "$B/$t.o" "${objs[@]}" $LIB_FUZZING_ENGINE $CRYPTO -lpthread -o "$OUT/$t"
  cp "fuzz/dict/${dict[$t]}.dict" "$OUT/$t.dict"
done

# $OUT/<target>_seed_corpus.zip from the JSON vectors
python3 fuzz/tools/make_seeds.py --vectors vectors --out "$B/corpus" --zip-dir "$OUT"
