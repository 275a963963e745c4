# BSec — plain Makefile.  `make` builds build/bsec; `make check` runs every
# test (unit tests plain and under ASan+UBSan, fuzz smoke runs, system
# tests) and ends with "N passed, N failed"; `make demo` runs a local
# consortium.  Missing Debian packages are installed by scripts/deps.sh.

CC      ?= gcc
FUZZCC  ?= clang
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
B       := build

PKGS    := libsodium openssl sqlite3 libevent libevent_openssl libevent_pthreads jansson
WARN    := -Wall -Wextra -Wstrict-prototypes -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -MMD -MP
CFLAGS  += $(if $(WERROR),-Werror,)
LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsodium -lssl -lcrypto -lsqlite3 -levent -levent_openssl -levent_pthreads -ljansson) -lpthread -lm

LIB_SRC := $(sort $(shell find src -name '*.c' ! -path 'src/cli/main.c'))
MAIN    := src/cli/main.c
TEST_SRC:= $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC:= $(sort $(wildcard fuzz/fuzz_*.c))

OBJ      = $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC))
TESTS    = $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))
AOBJ     = $(patsubst %.c,$(B)/asan/%.o,$(LIB_SRC))
ATESTS   = $(patsubst tests/unit/%.c,$(B)/asan/tests/%,$(TEST_SRC))
FOBJ     = $(patsubst %.c,$(B)/fuzzobj/%.o,$(LIB_SRC))
FUZZERS  = $(patsubst fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all deps check test unit asan fuzz fuzz-build demo bench clean system chaos tls-check
all: deps $(B)/bsec

deps:
	$(Q)scripts/deps.sh

$(B)/bsec: $(B)/obj/src/cli/main.o $(B)/libbsec.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libbsec.a: $(OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libbsec.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(B)/libbsec.a -lcmocka $(LDLIBS)

# ASan + UBSan build of the library and unit tests
$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/ASAN $<"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

$(B)/asan/libbsec.a: $(AOBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/asan/bsec: $(B)/asan/src/cli/main.o $(B)/asan/libbsec.a
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/asan/tests/%: tests/unit/%.c $(B)/asan/libbsec.a
	@mkdir -p $(dir $@)
	@echo "  TEST/ASAN $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(ASAN_FLAGS) -Isrc -o $@ $< $(B)/asan/libbsec.a -lcmocka $(LDLIBS)

# libFuzzer harnesses (clang)
$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	$(Q)$(FUZZCC) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

$(B)/fuzzobj/libbsec.a: $(FOBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/fuzz/%: fuzz/%.c $(B)/fuzzobj/libbsec.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZCC) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -o $@ $< $(B)/fuzzobj/libbsec.a $(LDLIBS)

# The portal's web app is embedded with .incbin (src/portal/portal_assets.c).
PORTAL_WEB := $(wildcard src/portal/web/*)
$(B)/obj/src/portal/portal_assets.o $(B)/asan/src/portal/portal_assets.o $(B)/fuzzobj/src/portal/portal_assets.o: $(PORTAL_WEB)

# ---- Byzantine test binary (tests only, docs/reliability.md) ----------
# build/byz/bsec: the node module compiled with -DBSEC_BYZANTINE (the
# misbehaviours of src/node/byzantine.c), linked before libbsec.a so its
# objects replace the honest ones.  build/bsec never contains them.
BYZ_SRC := $(sort $(wildcard src/node/*.c))
BYZ_OBJ  = $(patsubst %.c,$(B)/byz/%.o,$(BYZ_SRC))

$(B)/byz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/BYZ  $<"
	$(Q)$(CC) $(CFLAGS) -DBSEC_BYZANTINE -c -o $@ $<

$(B)/byz/bsec: $(B)/obj/src/cli/main.o $(BYZ_OBJ) $(B)/libbsec.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY:

unit: deps $(TESTS)
asan: deps $(ATESTS) $(B)/asan/bsec
fuzz-build: deps $(FUZZERS)

# Everything; the summary line comes from scripts/check.sh.
check: deps $(B)/bsec $(B)/byz/bsec $(TESTS) $(ATESTS) $(FUZZERS)
	$(Q)scripts/check.sh

FUZZ_SECONDS ?= 300
fuzz: deps $(FUZZERS)
	$(Q)scripts/fuzz.sh $(FUZZ_SECONDS)

# Fault injection over a real devnet (tests/chaos, docs/reliability.md);
# the JSON report goes to build/chaos-report.json.  CHAOS_ARGS adds options
# (e.g. --no-netns, --asan, --faults kill,split).
CHAOS_SECONDS ?= 600
CHAOS_SEED ?= 1
CHAOS_ARGS ?=
chaos: deps $(B)/bsec $(B)/byz/bsec
	$(Q)python3 tests/chaos/chaos.py --seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED) --byzantine \
		--bench-rate 30 --report $(B)/chaos-report.json $(CHAOS_ARGS)

# testssl.sh against a devnet's node API and peer port (and portal).
tls-check: deps $(B)/bsec
	$(Q)scripts/deps.sh tls
	$(Q)scripts/tls_check.sh

demo: deps $(B)/bsec
	$(Q)scripts/demo.sh

QUICK ?= 0
bench: deps $(B)/bsec
	$(Q)scripts/bench.sh $(QUICK)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
