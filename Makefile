# Warrant - build, test, run. `make` builds ./warrant; `make test` runs every test.
CC      ?= cc
CFLAGS  ?= -O2 -g -D_FORTIFY_SOURCE=2
# always on, whatever CFLAGS a caller gives (the sanitizer and fuzzing builds do)
WFLAGS  := -std=c11 -D_GNU_SOURCE -I/usr/include/postgresql -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread \
           -fstack-protector-strong -fPIE
LDFLAGS ?= -pthread -pie -Wl,-z,relro,-z,now
LIBS    := -lmicrohttpd -lsqlite3 -lpq -lcrypto -lssl -largon2 -ljansson -lcurl -lz

SRC_LIB := $(wildcard common/*.c store/*.c keys/*.c token/*.c clients/*.c authz/*.c audit/*.c core/*.c sched/*.c http/*.c)
SRC_CLI := $(wildcard cli/*.c)
BUILD   ?= build
# the owners' console's static files, embedded into the binary (http/console_assets.h)
CONSOLE_ASSETS := $(wildcard console/*.html console/*.js console/*.css console/*.svg)
OBJ_LIB := $(SRC_LIB:%.c=$(BUILD)/%.o) $(BUILD)/console_assets.o
OBJ_CLI := $(SRC_CLI:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)

FUZZ_SECONDS ?= 60
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
DOCDIR  := $(DESTDIR)$(PREFIX)/share/doc/warrant

.PHONY: all test unit e2e run clean lint format bench bench-pg bench-writer deps asan fuzz fuzz-build install uninstall

all: warrant

warrant: $(BUILD)/warrant
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/warrant: $(OBJ_LIB) $(OBJ_CLI)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/console_assets.c: $(CONSOLE_ASSETS) scripts/embed-assets.py
	@mkdir -p $(dir $@)
	python3 scripts/embed-assets.py $@ $(CONSOLE_ASSETS)

$(BUILD)/console_assets.o: $(BUILD)/console_assets.c http/console_assets.h
	$(CC) $(CFLAGS) $(WFLAGS) -I. -c -o $@ $<

$(BUILD)/unit_tests: $(OBJ_LIB) $(UNIT_SRC)
	$(CC) $(CFLAGS) $(WFLAGS) $(LDFLAGS) -o $@ $(UNIT_SRC) $(OBJ_LIB) $(LIBS)

# The one test command: installs what is missing, builds, runs unit and end-to-end tests.
test:
	@scripts/test.sh

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# The same program and unit tests under AddressSanitizer, UBSan and LeakSanitizer.
asan:
	$(MAKE) -s BUILD=build-asan CC=clang CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined -pthread -pie" \
		build-asan/warrant build-asan/unit_tests

# libFuzzer harnesses for every parser that sees network input; `make fuzz` runs each
# for FUZZ_SECONDS with its corpus under tests/fuzz/corpus/.
fuzz-build:
	$(MAKE) -s BUILD=build-fuzz CC=clang CFLAGS="$(SAN_FLAGS) -fsanitize=fuzzer-no-link" LDFLAGS="-pthread" \
		$(OBJ_LIB:$(BUILD)/%=build-fuzz/%)
	@for f in $(FUZZERS); do \
		clang $(SAN_FLAGS) $(WFLAGS) -fsanitize=fuzzer -o build-fuzz/$$f tests/fuzz/$$f.c \
			$(OBJ_LIB:$(BUILD)/%=build-fuzz/%) $(LIBS) -pthread || exit 1; \
	done

fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ_SECONDS)

run:
	@scripts/run.sh

deps:
	@scripts/deps.sh

# SQLite (bench/run.sh), then one node on SQLite beside one on PostgreSQL (bench/pg.sh;
# BENCH_PG=0 leaves it out)
bench:
	@bench/run.sh
	@[ "$${BENCH_PG:-1}" = 0 ] || bench/pg.sh

# one node on SQLite beside one on a throwaway local PostgreSQL (see docs/performance.md)
bench-pg:
	@bench/pg.sh

# the writer's cost per audit row at several batch sizes (see docs/performance.md)
bench-writer: $(OBJ_LIB)
	$(CC) $(CFLAGS) $(WFLAGS) -o $(BUILD)/writer_cost bench/writer_cost.c $(OBJ_LIB) $(LIBS)
	@for k in issued issued+ledger introspected; do for b in 1 4 16 64; do \
		$(BUILD)/writer_cost bench/out/writer_cost.db $$b 100000 $$k; done; done

# style (.clang-format, clang-format 14), layering and function length: what `make test` checks
lint:
	@scripts/lint.sh && scripts/layers.sh && scripts/function-length.sh

format:
	clang-format -i $$(git ls-files -- '*.c' '*.h' | grep -vE '^tests/' ; git ls-files -- 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]')

install: $(BUILD)/warrant
	install -d $(BINDIR) $(MANDIR) $(DOCDIR)
	install -m 0755 $(BUILD)/warrant $(BINDIR)/warrant
	install -m 0644 docs/warrant.1 $(MANDIR)/warrant.1
	install -m 0644 docs/warrant.service docs/warrant.conf.example $(DOCDIR)/

uninstall:
	rm -f $(BINDIR)/warrant $(MANDIR)/warrant.1
	rm -f $(DOCDIR)/warrant.service $(DOCDIR)/warrant.conf.example
	-rmdir $(DOCDIR) 2>/dev/null

clean:
	rm -rf $(BUILD) build-* warrant

-include $(OBJ_LIB:.o=.d) $(OBJ_CLI:.o=.d)
