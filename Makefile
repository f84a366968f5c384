# Warrant - build, test, run. `make` builds ./warrant; `make test` runs every test.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread \
           -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
LDFLAGS += -pthread -pie -Wl,-z,relro,-z,now
LIBS    := -lmicrohttpd -lsqlite3 -lcrypto -lssl -largon2 -ljansson

SRC_LIB := $(wildcard common/*.c store/*.c keys/*.c token/*.c clients/*.c authz/*.c audit/*.c core/*.c http/*.c)
SRC_CLI := $(wildcard cli/*.c)
BUILD   ?= build
OBJ_LIB := $(SRC_LIB:%.c=$(BUILD)/%.o)
OBJ_CLI := $(SRC_CLI:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)

.PHONY: all test unit e2e run clean lint format bench deps

all: warrant

warrant: $(BUILD)/warrant
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/warrant: $(OBJ_LIB) $(OBJ_CLI)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/unit_tests: $(OBJ_LIB) $(UNIT_SRC)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(UNIT_SRC) $(OBJ_LIB) $(LIBS)

# The one test command: installs what is missing, builds, runs unit and end-to-end tests.
test:
	@scripts/test.sh

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

run:
	@scripts/run.sh

deps:
	@scripts/deps.sh

bench:
	@bench/run.sh

lint:
	clang-format --dry-run -Werror $(SRC_LIB) $(SRC_CLI) $(wildcard */*.h)

format:
	clang-format -i $(SRC_LIB) $(SRC_CLI) $(wildcard */*.h)

clean:
	rm -rf $(BUILD) build-* warrant

-include $(OBJ_LIB:.o=.d) $(OBJ_CLI:.o=.d)
