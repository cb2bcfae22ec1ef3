# pam_totp: top-level build. No autotools, no CMake: one file to read.
#
#   make            build core, the PAM module and the tools
#   make check      build and run every test (unit, pam, ...)
#   make install    DESTDIR=, PREFIX= (default /usr), PAMDIR= (multiarch PAM dir)
#   make clean

PREFIX    ?= /usr
DESTDIR   ?=
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
PAM_LIBDIR := $(shell pkg-config --variable=libdir pam 2>/dev/null)
# The module directory libpam searches: /lib/<multiarch>/security on Debian.
PAMDIR    ?= $(if $(PAM_LIBDIR),$(PAM_LIBDIR)/security,$(if $(MULTIARCH),/lib/$(MULTIARCH)/security,/lib/security))
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man

CXX       ?= g++
CXXSTD    := -std=c++20
WARNINGS  := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC
OPT       ?= -O2 -g
CXXFLAGS  ?=
LDFLAGS   ?=
ALL_CXXFLAGS := $(CXXSTD) $(OPT) $(WARNINGS) $(HARDEN) -fvisibility=hidden -I. $(CXXFLAGS)
ALL_LDFLAGS  := -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)

SANITIZE_PRELOAD_LIBS :=
ifeq ($(SANITIZE),1)
ALL_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LDFLAGS  += -fsanitize=address,undefined
SANITIZE_PRELOAD_LIBS := -Wl,--no-as-needed -lcrypt
endif

CORE_LIBS := -loath -lcrypt -lqrencode
PAM_LIBS  := -lpam

BUILD     := build
MAN_PAGES := $(wildcard man/*.1 man/*.5 man/*.8)
CORE_SRCS := $(wildcard core/*.cpp)
CORE_OBJS := $(CORE_SRCS:%.cpp=$(BUILD)/%.o)
CORE_LIB  := $(BUILD)/libpamtotp_core.a

MODULE     := $(BUILD)/pam_totp.so
MODULE_SRCS := $(wildcard pam_module/*.cpp)
MODULE_OBJS := $(MODULE_SRCS:%.cpp=$(BUILD)/%.o)

ENROLL     := $(BUILD)/totp-enroll
ENROLL_SRCS := $(wildcard enroll_tool/*.cpp)
ENROLL_OBJS := $(ENROLL_SRCS:%.cpp=$(BUILD)/%.o)

UNIT_SRCS  := $(wildcard tests/unit/test_*.cpp)
UNIT_BINS  := $(UNIT_SRCS:%.cpp=$(BUILD)/%)
UNIT_HELP  := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.cpp))
UNIT_HOBJS := $(UNIT_HELP:%.cpp=$(BUILD)/%.o)

PAM_TEST_SRCS := $(wildcard tests/pam/test_*.cpp)
PAM_TEST_BINS := $(PAM_TEST_SRCS:%.cpp=$(BUILD)/%)
PAM_TEST_HELP := $(filter-out $(PAM_TEST_SRCS),$(wildcard tests/pam/*.cpp))
PAM_TEST_HOBJS := $(PAM_TEST_HELP:%.cpp=$(BUILD)/%.o)

.PHONY: all demo bench deb rpm lint fuzz check-faults check-crash check-packaging check check-unit check-pam check-cli check-e2e check-man check-install install clean
.DELETE_ON_ERROR:
# Keep the objects of the test programs: they are intermediate files to make.
.SECONDARY:

all: $(CORE_LIB) $(MODULE) $(ENROLL)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# -z defs: every symbol resolved at link time, so a missing library is a
# build error here rather than a dlopen failure in sshd at login time.
$(MODULE): $(MODULE_OBJS) $(CORE_LIB) pam_module/pam_totp.map
	$(CXX) $(ALL_CXXFLAGS) -shared -o $@ $(MODULE_OBJS) $(CORE_LIB) $(ALL_LDFLAGS) \
	  -Wl,-z,defs -Wl,--version-script=pam_module/pam_totp.map $(PAM_LIBS) $(CORE_LIBS)

$(ENROLL): $(ENROLL_OBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) -pie -o $@ $(ENROLL_OBJS) $(CORE_LIB) $(ALL_LDFLAGS) $(CORE_LIBS)

# --- tests -----------------------------------------------------------------

PAM_LOGIN := $(BUILD)/pam_login
# Under ASan, libcrypt must be loaded at start-up: ASan's crypt_r interceptor
# resolves the real function once, and finds nothing when the module pulls
# libcrypt in later with dlopen.
$(PAM_LOGIN): $(BUILD)/tests/tools/pam_login.o
	$(CXX) $(ALL_CXXFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PAM_LIBS) $(SANITIZE_PRELOAD_LIBS)

$(BUILD)/tests/unit/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_HOBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $^ -o $@ $(ALL_LDFLAGS) -lcmocka $(CORE_LIBS)

$(BUILD)/tests/pam/test_%: $(BUILD)/tests/pam/test_%.o $(PAM_TEST_HOBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $^ -o $@ $(ALL_LDFLAGS) -lcmocka $(PAM_LIBS) $(CORE_LIBS) -ldl

check: check-unit check-pam check-cli check-e2e check-faults check-man check-install check-packaging

# Real sshd + ssh and a console login on a pty, each in a private mount
# namespace so that /etc (pam.d, passwd, shadow) on the host never changes.
check-e2e: $(ENROLL) $(MODULE)
ifeq ($(SANITIZE),1)
	@echo "== tests/e2e skipped under SANITIZE=1: sshd and login cannot load an ASan module" \
	  "(check-pam and check-cli run it under ASan)"
else
	@echo "== tests/e2e"
	TOTP_ENROLL=$(abspath $(ENROLL)) PAM_TOTP_MODULE=$(abspath $(MODULE)) \
	  TESTS_DATA=$(CURDIR)/tests/data /usr/bin/python3 tests/e2e/run.py
endif

# mandoc -Tlint reports any warning (and exits non-zero) for the man pages.
check-man:
	@echo "== mandoc -Tlint $(MAN_PAGES)"; mandoc -Tlint -W warning $(MAN_PAGES) && echo "ok - man pages lint clean"

# totp-enroll through a pipe and a pseudo-terminal (python3-pexpect), the QR
# decoded with zbarimg, and one enrollment joined to a login via pam_login.
check-cli: $(ENROLL) $(MODULE) $(PAM_LOGIN)
	@echo "== tests/cli"
	TOTP_ENROLL=$(abspath $(ENROLL)) PAM_TOTP_MODULE=$(abspath $(MODULE)) PAM_LOGIN=$(abspath $(PAM_LOGIN)) \
	  TESTS_DATA=$(CURDIR)/tests/data /usr/bin/python3 tests/cli/run.py

check-install: all
	@echo "== make install"; sh tests/build/check-install.sh $(BUILD)

print-%:
	@echo $($*)

# Each cmocka binary runs from the tests/data directory's parent so that data
# files are found by relative path; TESTS_DATA tells them where.
check-unit: $(UNIT_BINS)
	@set -e; total=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; TESTS_DATA=$(CURDIR)/tests/data $$t; \
	done

# The module through the real libpam (pam_start_confdir). PAM_TOTP_MODULE
# names the built module; the tests write their own service files.
check-pam: $(PAM_TEST_BINS) $(MODULE)
	@set -e; for t in $(PAM_TEST_BINS); do \
	  echo "== $$t"; PAM_TOTP_MODULE=$(abspath $(MODULE)) TESTS_DATA=$(CURDIR)/tests/data $$t; \
	done
ifneq ($(SANITIZE),1)
	@echo "== valgrind $(BUILD)/tests/pam/test_valgrind"
	PAM_TOTP_MODULE=$(abspath $(MODULE)) TESTS_DATA=$(CURDIR)/tests/data valgrind -q --error-exitcode=99 \
	  --leak-check=full --errors-for-leak-kinds=definite $(BUILD)/tests/pam/test_valgrind
endif

# --- hardening: fuzzing, fault injection, crash safety ----------------------

FUZZ_SECONDS ?= 60
FAULTINJECT  := $(BUILD)/faultinject.so

# libFuzzer targets (clang, ASan+UBSan) in $(BUILD)/fuzz; FUZZ_SECONDS each.
fuzz:
	tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

$(FAULTINJECT): tests/faults/faultinject.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror -fPIC -shared -o $@ $< -ldl

# LD_PRELOAD fault injection (open, read, write, fsync, rename, malloc):
# every failure denies or fails cleanly. Not with SANITIZE=1: the shim's
# malloc and ASan's collide.
check-faults: $(ENROLL) $(MODULE) $(PAM_LOGIN) $(FAULTINJECT)
ifneq ($(SANITIZE),1)
	@echo "== tests/faults"
	TOTP_ENROLL=$(abspath $(ENROLL)) PAM_TOTP_MODULE=$(abspath $(MODULE)) PAM_LOGIN=$(abspath $(PAM_LOGIN)) \
	  FAULTINJECT=$(abspath $(FAULTINJECT)) /usr/bin/python3 tests/faults/run.py
endif

# SIGKILL during state updates and enrollments (1000 kills), then every
# file parses and nothing used becomes usable again. Not in `make check`
# (it takes minutes); .ci/run runs it.
check-crash: $(ENROLL) $(MODULE) $(PAM_LOGIN)
	@echo "== tests/crash"
	TOTP_ENROLL=$(abspath $(ENROLL)) PAM_TOTP_MODULE=$(abspath $(MODULE)) PAM_LOGIN=$(abspath $(PAM_LOGIN)) \
	  /usr/bin/python3 tests/crash/run.py

# --- benchmarks ------------------------------------------------------------

BENCH_LOGINS := $(BUILD)/bench_logins
BENCH_LOAD_ONCE := $(BUILD)/bench_load_once
# libcrypt kept loaded, as in sshd (linked) and in every stack with pam_unix
# (which links it): no real login process loads it for pam_totp alone.
$(BENCH_LOGINS): $(BUILD)/bench/bench_logins.o
	$(CXX) $(ALL_CXXFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PAM_LIBS) -loath -Wl,--no-as-needed -lcrypt -Wl,--as-needed

$(BENCH_LOAD_ONCE): bench/load_once.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Wpedantic -Werror -o $@ $< $(ALL_LDFLAGS) $(PAM_LIBS) -lcrypt -ldl

# Logins timed through the real libpam against google-authenticator and
# pam_oath (bench/README.md); writes bench/RESULTS.md. Needs root.
bench: $(BENCH_LOGINS) $(BENCH_LOAD_ONCE) $(MODULE) $(ENROLL)
	sh bench/run.sh $(BUILD)

# --- packages --------------------------------------------------------------

# Debian package in dist/, built by dpkg-buildpackage in a scratch copy
# under $(BUILD)/deb (so it needs no `all` first).
deb:
	sh packaging/debian/build-deb.sh $(BUILD)

# RPM in dist/ (rpmbuild, _topdir under $(BUILD)/rpm; %check runs check-unit).
rpm:
	sh tests/packaging/build-rpm.sh $(BUILD)

# Builds, installs, logs in through, enables/disables and purges the .deb;
# skips unless root with the tools present and no pam_totp installed.
check-packaging: $(PAM_LOGIN)
	@echo "== tests/packaging"; sh tests/packaging/test-deb.sh $(BUILD)

# --- static analysis -------------------------------------------------------

LINT_SRCS := $(shell git ls-files '*.cpp' '*.h' '*.hpp' '*.c' 2>/dev/null)
TIDY_SRCS := $(wildcard core/*.cpp pam_module/*.cpp enroll_tool/*.cpp)

# clang-format (layout), clang-tidy (.clang-tidy: bugprone, cert, ...) and
# cppcheck, all clean. cppcheck's style class is on, less two checks:
# noExplicitConstructor (Result<T> converts from T and Error by design) and
# useStlAlgorithm (a plain loop often reads better).
lint:
	@echo "== clang-format"; clang-format --dry-run -Werror $(LINT_SRCS)
	@echo "== clang-tidy"; printf '%s\n' $(TIDY_SRCS) | xargs -P"$$(nproc)" -I{} \
	  sh -c 'clang-tidy --quiet {} -- -std=c++20 -I. -D_FORTIFY_SOURCE=2 2>/dev/null'
	@echo "== cppcheck"; cppcheck --quiet --std=c++20 --language=c++ --enable=warning,style,performance,portability \
	  --suppress=noExplicitConstructor --suppress=useStlAlgorithm --inline-suppr --error-exitcode=1 -I. \
	  core pam_module enroll_tool
	@echo "ok - lint clean"

# --- demo ------------------------------------------------------------------

demo: all $(PAM_LOGIN)
	./scripts/demo $(BUILD)

# --- install ---------------------------------------------------------------

# The module is installed 0644 like every module in the PAM directory; the
# state directory is created by the module itself (root, 0700) when missing.
install: all
	install -d $(DESTDIR)$(PAMDIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_totp.so
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(ENROLL) $(DESTDIR)$(BINDIR)/totp-enroll
	@set -e; for m in $(MAN_PAGES); do \
	  sec=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$sec; \
	  echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/"; \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/; \
	done

clean:
	rm -rf $(BUILD)

-include $(BUILD)/tests/tools/pam_login.d $(BUILD)/bench/bench_logins.d $(CORE_OBJS:.o=.d) $(MODULE_OBJS:.o=.d) $(ENROLL_OBJS:.o=.d) $(UNIT_BINS:=.d) $(UNIT_HOBJS:.o=.d) $(PAM_TEST_BINS:=.d) $(PAM_TEST_HOBJS:.o=.d)
