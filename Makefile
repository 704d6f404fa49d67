# newsletter - one plain Makefile.
#
#   make            build ./newsletter and ./newsletter-net (run
#                   contrib/install-deps first)
#   make demo       install dependencies, build, and show it working
#   make check      install test dependencies, build with sanitizers, run
#                   every test; ends with "N passed, N failed, N skipped"
#   make bench      the benchmarks in bench/
#   make install    PREFIX=/usr/local DESTDIR=
#   make valgrind   the end-to-end tests under valgrind
#   make fuzz       libFuzzer over every parser (FUZZ_SECONDS=60 each)
#   make deb        the Debian package, in build/deb/ (newsletter_*.deb)

PROG     = newsletter
# send and serve run in this one (cli/exec_net.c); it has every command.
NET      = newsletter-net
PREFIX  ?= /usr/local
CC      ?= cc
PKGS     = sqlite3 libsodium jansson inih libmicrohttpd libesmtp-1.0 gmime-3.0 \
           libcmark opendkim openssl
# What the front, $(PROG), links: none of the libraries of mailer/ and web/,
# whose loading was most of the start of every command.
FRONT_PKGS = sqlite3 libsodium jansson inih gmime-3.0
BUILD   ?= build/release

WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Werror
# CFLAGS, CPPFLAGS and LDFLAGS from the environment (dpkg-buildflags, in
# the package build) come first; ours are appended.
CPPFLAGS += -D_DEFAULT_SOURCE -D_GNU_SOURCE
OPT     ?= -O2 -g
ifeq ($(SANITIZE),1)
BUILD    = build/san
OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
ifeq ($(FUZZ),1)
BUILD    = build/fuzz
CC       = clang
OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
endif
# bounce/ and what it scans with (lib/) are the hot path of 'newsletter
# bounce' over many files (bench/bounce): -O3 there, in the release build,
# is 1.3 % fewer instructions over tests/bounce/*/messages.
ifeq ($(SANITIZE)$(FUZZ),)
HOT_OPT  = -O3
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
FRONT_LIBS := $(shell pkg-config --libs $(FRONT_PKGS) 2>/dev/null)
CFLAGS  += -std=c17 $(WARN) $(OPT) $(PKG_CFLAGS)
LDFLAGS += $(OPT)
FRONT_LDLIBS := $(LDLIBS) $(FRONT_LIBS)
LDLIBS  += $(PKG_LIBS)

LIB_SRC   = $(wildcard lib/*.c)
STORE_SRC = $(wildcard store/*.c)
# cli/exec_net.c is the front's send and serve, cmd_send.c and
# cmd_serve.c newsletter-net's; the rest of cli/ is in both.
CLI_NET_SRC   = cli/cmd_send.c cli/cmd_serve.c
CLI_FRONT_SRC = cli/exec_net.c
CLI_SRC   = $(filter-out $(CLI_NET_SRC) $(CLI_FRONT_SRC),$(wildcard cli/*.c))
# mailer/, web/ and bounce/ sit between cli/ and store/; unit tests and
# fuzz harnesses link everything but cli/.
BOUNCE_SRC = $(wildcard bounce/*.c)
PART_SRC  = $(wildcard mailer/*.c) $(wildcard web/*.c) $(BOUNCE_SRC)
FRONT_CORE_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(STORE_SRC:%.c=$(BUILD)/%.o) \
            $(BOUNCE_SRC:%.c=$(BUILD)/%.o)
CORE_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(STORE_SRC:%.c=$(BUILD)/%.o) \
            $(PART_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
CLI_NET_OBJ   = $(CLI_NET_SRC:%.c=$(BUILD)/%.o)
CLI_FRONT_OBJ = $(CLI_FRONT_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Small programs the end-to-end tests run (not installed).
TOOL_SRC  = $(wildcard tests/tools/*.c)
TOOL_BIN  = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
FUZZ_SRC  = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  = $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all deps demo check test unit tools bench bounce-eval install clean valgrind fuzz fuzz-build browser-deps deb

all: $(PROG) $(NET)

$(PROG): $(BUILD)/$(PROG)
	cp $< $@

$(NET): $(BUILD)/$(NET)
	cp $< $@

# The front: everything but mailer/ and web/, linked with FRONT_PKGS alone.
# Each program finds the other beside it ($(BUILD)/ and ./ alike).
$(BUILD)/$(PROG): $(FRONT_CORE_OBJ) $(CLI_OBJ) $(CLI_FRONT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(FRONT_LDLIBS)

$(BUILD)/$(NET): $(CORE_OBJ) $(CLI_OBJ) $(CLI_NET_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/bounce/%.o $(BUILD)/lib/%.o: CFLAGS += $(HOT_OPT)

# Plain make only builds: it says what to do when a library is missing.
$(BUILD)/.deps-ok:
	@pkg-config --exists $(PKGS) || { \
	  echo "missing development libraries ($(PKGS))."; \
	  echo "run 'contrib/install-deps' as root (Debian 12), or 'make demo'."; exit 1; }
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -o $@ $< $(CORE_OBJ) $(LDLIBS) -lcriterion

$(BUILD)/tests/tools/%: tests/tools/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -o $@ $< $(CORE_OBJ) $(LDLIBS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -fsanitize=fuzzer -o $@ $< $(CORE_OBJ) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

# libFuzzer over every parser of outside input, FUZZ_SECONDS each.
fuzz:
	$(MAKE) FUZZ=1 fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS)

deps:
	contrib/install-deps

demo: deps
	$(MAKE) all
	contrib/demo

unit: $(UNIT_BIN) $(TOOL_BIN)

tools: $(TOOL_BIN)

# The README's test command.
check:
	contrib/install-deps --test
	$(MAKE) browser-deps
	$(MAKE) all
	$(MAKE) SANITIZE=1 build/san/$(PROG) build/san/$(NET) unit
	$(MAKE) FUZZ=1 fuzz-build
	NEWSLETTER=build/san/$(PROG) UNIT_DIR=build/san/tests tests/run

test: check

# playwright-core for the real-browser test (it drives Debian's chromium and
# downloads no browser); from package-lock.json, once.
browser-deps:
	@[ -d tests/browser/node_modules/playwright-core ] || \
	  (cd tests/browser && npm ci --no-audit --no-fund)

valgrind: all tools
	NEWSLETTER_WRAP="valgrind -q --trace-children=yes --suppressions=$(CURDIR)/tests/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  NEWSLETTER=./$(PROG) UNIT_DIR= tests/run

bench: all
	bench/import
	bench/enroll
	bench/web
	bench/send
	bench/bounce

# Each labelled bounce source in tests/bounce/: recipients found, verdict
# agreement, false hard verdicts, per source.
bounce-eval: all
	tests/bounce-eval

# newsletter-net is no command of its own: the front runs it from
# ../libexec/newsletter/, relative to where the front is (cli/exec_net.c).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/$(PROG) \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(PROG) $(DESTDIR)$(PREFIX)/bin/$(PROG)
	install -m 0755 $(NET) $(DESTDIR)$(PREFIX)/libexec/$(PROG)/$(NET)
	install -m 0644 contrib/$(PROG).1 $(DESTDIR)$(PREFIX)/share/man/man1/$(PROG).1

# The Debian package (debian/), built with dpkg-buildpackage from a copy of
# the tree's files (tracked and untracked, not ignored) in build/deb/src, so
# that it compiles afresh with dpkg-buildflags' hardening and its 'clean'
# leaves this tree's build/ alone. The .deb, .buildinfo and .changes land
# in build/deb/.
deb:
	rm -rf build/deb
	mkdir -p build/deb/src
	git ls-files -z --cached --others --exclude-standard | \
	  tar -c --null -T - -f - | tar -x -f - -C build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	rm -rf build/deb/src
	@ls build/deb/*.deb

clean:
	rm -rf build $(PROG) $(NET)

# (not build/deb: a package build's own tree)
-include $(shell find build -path build/deb -prune -o -name '*.d' -print 2>/dev/null)
