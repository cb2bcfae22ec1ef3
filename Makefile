# pam_totp: top-level build. No autotools, no CMake: one file to read.
#
#   make            build core, the PAM module and the tools
#   make check      build and run every test; ends with "N passed, M failed"
#   make install    DESTDIR=, PREFIX= (default /usr), PAMDIR= (multiarch PAM dir)
#   make clean
#
# Flags: CPPFLAGS, CXXFLAGS and LDFLAGS from the environment or the command
# line (dpkg-buildflags, rpm's optflags) are used as given, after the
# project's own warnings and hardening; CXXFLAGS defaults to "-O2 -g".
# WERROR=-Werror is the default for development and CI; distribution builds
# pass WERROR= so that a newer compiler's new warning does not fail them.

PREFIX    ?= /usr
DESTDIR   ?=
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
PAM_LIBDIR := $(shell pkg-config --variable=libdir pam 2>/dev/null)
# The module directory libpam searches: /lib/<multiarch>/security on Debian.
PAMDIR    ?= $(if $(PAM_LIBDIR),$(PAM_LIBDIR)/security,$(if $(MULTIARCH),/lib/$(MULTIARCH)/security,/lib/security))
BINDIR    ?= $(PREFIX)/bin
# Where the PostgreSQL store's backend object is installed (the module
# loads it from here when store=postgresql and store.conf names no other).
PKGLIBDIR ?= $(PREFIX)/lib/$(if $(MULTIARCH),$(MULTIARCH)/)pam_totp
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man

CXXFLAGS  ?= -O2 -g
CPPFLAGS  ?=
LDFLAGS   ?=
WERROR    ?= -Werror
WARNINGS  := -Wall -Wextra -Wpedantic -Wconversion -Wshadow $(WERROR)
PROJECT_CPPFLAGS = -I. -D_FORTIFY_SOURCE=2 -DPAM_TOTP_PKGLIBDIR='"$(PKGLIBDIR)"' \
                   -DPAM_TOTP_HELPER='"$(SBINDIR)/pam_totp_check"'
PROJECT_CXXFLAGS := -std=c++20 $(WARNINGS) -fstack-protector-strong -fPIC -fvisibility=hidden
ALL_CPPFLAGS = $(PROJECT_CPPFLAGS) $(CPPFLAGS)
ALL_CXXFLAGS = $(PROJECT_CXXFLAGS) $(CXXFLAGS)
ALL_LDFLAGS  = -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)

SANITIZE_PRELOAD_LIBS :=
ifeq ($(SANITIZE),1)
PROJECT_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LDFLAGS      += -fsanitize=address,undefined
SANITIZE_PRELOAD_LIBS := -Wl,--no-as-needed -lcrypt
endif

# Each program links only the libraries it calls (readelf -d shows them).
# The module takes Nettle's SHA-256 and HMAC (two small objects, hidden by
# the version script) from the static archive: the shared libnettle's 469
# symbol relocations cost about 100 us at every pam_start in a new sshd or
# su process (bench/README.md). Debian's Built-Using names it.
MODULE_LIBS := -lpam -loath -lcrypt -Wl,-Bstatic -lnettle -Wl,-Bdynamic
# The module carries its own C++ runtime, hidden by the version script:
# sshd, login, su and sudo load no libstdc++, and loading and relocating it
# at every pam_start cost about 1 ms (bench/README.md). -z nodelete keeps
# the module mapped after dlclose, so the runtime's one static object (the
# exception emergency pool) is made once per process, not once per
# pam_start. Under SANITIZE=1 the shared runtime lets ASan see every
# allocation.
ifeq ($(SANITIZE),1)
MODULE_RUNTIME :=
else
MODULE_RUNTIME := -static-libstdc++ -static-libgcc -Wl,-z,nodelete
endif
CORE_LIBS   := -loath -lcrypt -lnettle
ENROLL_LIBS := $(CORE_LIBS) -lqrencode

BUILD     := build
RESULTS   := $(BUILD)/results
MAN_PAGES := $(wildcard man/*.1 man/*.5 man/*.8)

# core/: the logic, one sub-folder per layer; an archive every program links.
CORE_SRCS := $(wildcard core/*/*.cpp)
CORE_OBJS := $(CORE_SRCS:%.cpp=$(BUILD)/%.o)
CORE_LIB  := $(BUILD)/libpamtotp_core.a

MODULE      := $(BUILD)/pam_totp.so
MODULE_SRCS := $(wildcard pam_module/*.cpp)
MODULE_OBJS := $(MODULE_SRCS:%.cpp=$(BUILD)/%.o)

# enroll_tool/: totp-enroll; all but main.cpp is an archive the tests and
# fuzzers link too (enrollment editor, imports, otpauth URI, QR code).
# pgsql_store/: the PostgreSQL backend, a separate object the module loads
# on demand (store=postgresql): the only code that links libpq.
PGSQL_BACKEND := $(BUILD)/pam_totp_pgsql.so
PGSQL_CPPFLAGS := -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

ENROLL      := $(BUILD)/totp-enroll
ENROLL_SRCS := $(filter-out enroll_tool/main.cpp,$(wildcard enroll_tool/*.cpp))
ENROLL_OBJS := $(ENROLL_SRCS:%.cpp=$(BUILD)/%.o)
ENROLL_LIB  := $(BUILD)/libtotp_enroll.a

# admin_tool/: totp-admin (root's command).
ADMIN      := $(BUILD)/totp-admin
ADMIN_SRCS := $(wildcard admin_tool/*.cpp)
ADMIN_OBJS := $(ADMIN_SRCS:%.cpp=$(BUILD)/%.o)

# check_tool/: pam_totp_check, the setuid helper through which a caller
# that is not root (a screen locker) logs in (pam_totp(8), UNPRIVILEGED
# CALLERS).
CHECK      := $(BUILD)/pam_totp_check
CHECK_SRCS := $(wildcard check_tool/*.cpp)
CHECK_OBJS := $(CHECK_SRCS:%.cpp=$(BUILD)/%.o)

UNIT_SRCS  := $(wildcard tests/unit/test_*.cpp)
UNIT_BINS  := $(UNIT_SRCS:%.cpp=$(BUILD)/%)
UNIT_HELP  := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.cpp))
UNIT_HOBJS := $(UNIT_HELP:%.cpp=$(BUILD)/%.o)

PAM_TEST_SRCS := $(wildcard tests/pam/test_*.cpp)
PAM_TEST_BINS := $(PAM_TEST_SRCS:%.cpp=$(BUILD)/%)
PAM_TEST_HELP := $(filter-out $(PAM_TEST_SRCS),$(wildcard tests/pam/*.cpp))
PAM_TEST_HOBJS := $(PAM_TEST_HELP:%.cpp=$(BUILD)/%.o)

PAM_LOGIN  := $(BUILD)/pam_login
MODULE_CYCLES := $(BUILD)/module_cycles
TIME_SHIM  := $(BUILD)/timeshim.so
FAULTINJECT := $(BUILD)/faultinject.so

.PHONY: all demo demo-fleet bench deb rpm lint fuzz check check-unit check-pam check-cli check-e2e check-faults \
        check-security check-fleet check-locker check-admin check-man check-install check-packaging check-crash install install-strip clean FORCE
.DELETE_ON_ERROR:
# Keep the objects of the test programs: they are intermediate files to make.
.SECONDARY:

all: $(CORE_LIB) $(MODULE) $(ENROLL) $(ADMIN) $(CHECK) $(PGSQL_BACKEND)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(ALL_CPPFLAGS) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/admin_tool/store_admin.o: PROJECT_CPPFLAGS += $(PGSQL_CPPFLAGS)

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(ENROLL_LIB): $(ENROLL_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# -z defs: every symbol resolved at link time, so a missing library is a
# build error here rather than a dlopen failure in sshd at login time.
$(MODULE): $(MODULE_OBJS) $(CORE_LIB) pam_module/pam_totp.map
	$(CXX) $(ALL_CXXFLAGS) -shared -o $@ $(MODULE_OBJS) $(CORE_LIB) $(ALL_LDFLAGS) \
	  -Wl,-z,defs -Wl,--version-script=pam_module/pam_totp.map $(MODULE_RUNTIME) $(MODULE_LIBS)

$(BUILD)/pgsql_store/%.o: PROJECT_CPPFLAGS += $(PGSQL_CPPFLAGS)

$(PGSQL_BACKEND): $(BUILD)/pgsql_store/pgsql_backend.o pgsql_store/pam_totp_pgsql.map
	$(CXX) $(ALL_CXXFLAGS) -shared -o $@ $(BUILD)/pgsql_store/pgsql_backend.o $(ALL_LDFLAGS) \
	  -Wl,-z,defs -Wl,--version-script=pgsql_store/pam_totp_pgsql.map $(MODULE_RUNTIME) -lpq

$(ENROLL): $(BUILD)/enroll_tool/main.o $(ENROLL_LIB) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) -pie -o $@ $^ $(ALL_LDFLAGS) $(ENROLL_LIBS)

$(ADMIN): $(ADMIN_OBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) -pie -o $@ $^ $(ALL_LDFLAGS) $(CORE_LIBS) -lpq

$(CHECK): $(CHECK_OBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) -pie -o $@ $^ $(ALL_LDFLAGS) $(CORE_LIBS)

# --- test programs ---------------------------------------------------------

# Under ASan, libcrypt must be loaded at start-up: ASan's crypt_r interceptor
# resolves the real function once, and finds nothing when the module pulls
# libcrypt in later with dlopen.
$(PAM_LOGIN): $(BUILD)/tests/tools/pam_login.o
	$(CXX) $(ALL_CXXFLAGS) -o $@ $^ $(ALL_LDFLAGS) -lpam $(SANITIZE_PRELOAD_LIBS)

$(BUILD)/tests/unit/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_HOBJS) $(ENROLL_LIB) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $^ -o $@ $(ALL_LDFLAGS) -lcmocka $(ENROLL_LIBS)

$(BUILD)/tests/pam/test_%: $(BUILD)/tests/pam/test_%.o $(PAM_TEST_HOBJS) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $^ -o $@ $(ALL_LDFLAGS) -lcmocka -lpam $(CORE_LIBS) -ldl

# dlopen/dlclose of the module, as every pam_start/pam_end does: exports
# and leaks across cycles (run under valgrind).
$(MODULE_CYCLES): tests/tools/module_cycles.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wpedantic -Wconversion -Wshadow $(WERROR) -o $@ $< -ldl

# A simulated clock for the tests (LD_PRELOAD): time(2), gettimeofday(2)
# and clock_gettime(CLOCK_REALTIME) read an offset from a file.
$(TIME_SHIM): tests/tools/timeshim.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wpedantic -Wconversion -Wshadow $(WERROR) -fPIC -shared -o $@ $< -ldl

$(FAULTINJECT): tests/faults/faultinject.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wpedantic -Wconversion -Wshadow $(WERROR) -fPIC -shared -o $@ $< -ldl

TEST_PROGRAMS := all $(UNIT_BINS) $(PAM_TEST_BINS) $(PAM_LOGIN) $(MODULE_CYCLES) $(TIME_SHIM) $(FAULTINJECT)

# --- running the tests -----------------------------------------------------
#
# One result file per test program or suite under $(RESULTS), so that
# `make -j2 check` runs them side by side and a failing one hides none of
# the others; tests/summary.sh prints "N passed, M failed" at the end and
# fails when anything failed. A suite that exits 77 was skipped (not root,
# a tool missing), as in automake.

TEST_ENV = TESTS_DATA=$(CURDIR)/tests/data PAM_TOTP_MODULE=$(abspath $(MODULE)) TOTP_ENROLL=$(abspath $(ENROLL)) \
           PAM_LOGIN=$(abspath $(PAM_LOGIN)) TIME_SHIM=$(abspath $(TIME_SHIM)) FAULTINJECT=$(abspath $(FAULTINJECT)) \
           TOTP_ADMIN=$(abspath $(ADMIN)) PGSQL_BACKEND=$(abspath $(PGSQL_BACKEND)) PAM_TOTP_CHECK=$(abspath $(CHECK))
ifeq ($(SANITIZE),1)
# The time shim (LD_PRELOAD) then comes before the ASan runtime in an ASan
# pam_login's library list; it wraps only clock functions, which ASan does
# not intercept.
TEST_ENV += ASAN_OPTIONS=verify_asan_link_order=0
endif

comma := ,

# $(call run_test,COMMAND): runs COMMAND, logs to $@.log, writes pass/fail/skip to $@.
define run_test
	@mkdir -p $(@D)
	@rc=0; ( $(TEST_ENV) $(1) ) >$@.log 2>&1 || rc=$$?; \
	if [ $$rc -eq 0 ]; then echo pass >$@; echo "ok      $(@:$(RESULTS)/%=%)"; \
	elif [ $$rc -eq 77 ]; then echo skip >$@; echo "skipped $(@:$(RESULTS)/%=%): $$(tail -n 1 $@.log)"; \
	else echo fail >$@; echo "FAILED  $(@:$(RESULTS)/%=%) (exit $$rc; log $@.log):"; tail -n 40 $@.log | sed 's/^/    /'; fi
endef

UNIT_RESULTS := $(UNIT_BINS:$(BUILD)/tests/%=$(RESULTS)/%)
PAM_RESULTS  := $(PAM_TEST_BINS:$(BUILD)/tests/%=$(RESULTS)/%)
ifneq ($(SANITIZE),1)
PAM_RESULTS  += $(RESULTS)/pam/valgrind $(RESULTS)/pam/module_cycles
endif
CLI_RESULTS      := $(RESULTS)/cli
E2E_RESULTS      := $(RESULTS)/e2e
FAULT_RESULTS    := $(RESULTS)/faults
SECURITY_RESULTS := $(RESULTS)/security
FLEET_RESULTS    := $(RESULTS)/fleet
LOCKER_RESULTS   := $(RESULTS)/locker
ADMIN_RESULTS    := $(RESULTS)/admin
OTHER_RESULTS    := $(RESULTS)/man $(RESULTS)/install $(RESULTS)/packaging
ALL_RESULTS := $(UNIT_RESULTS) $(PAM_RESULTS) $(CLI_RESULTS) $(E2E_RESULTS) $(FAULT_RESULTS) $(SECURITY_RESULTS) \
               $(FLEET_RESULTS) $(LOCKER_RESULTS) $(ADMIN_RESULTS) $(OTHER_RESULTS)

# $(call check_layer,RESULT FILES): builds, runs them and summarises. The
# suites share nothing (each has its own temporary tree, namespaces, ports
# and simulated clock), so they run in parallel: with the -j given, else one
# per CPU (CHECK_JOBS). One after the other they take over five minutes.
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
define check_layer
	@rm -rf $(RESULTS)
	@+$(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$(CHECK_JOBS)) $(1)
	@sh tests/summary.sh $(RESULTS)
endef

check: $(TEST_PROGRAMS)
	$(call check_layer,$(ALL_RESULTS))
check-unit: $(TEST_PROGRAMS)
	$(call check_layer,$(UNIT_RESULTS))
check-pam: $(TEST_PROGRAMS)
	$(call check_layer,$(PAM_RESULTS))
check-cli: $(TEST_PROGRAMS)
	$(call check_layer,$(CLI_RESULTS))
check-e2e: $(TEST_PROGRAMS)
	$(call check_layer,$(E2E_RESULTS))
check-faults: $(TEST_PROGRAMS)
	$(call check_layer,$(FAULT_RESULTS))
check-security: $(TEST_PROGRAMS)
	$(call check_layer,$(SECURITY_RESULTS))
check-fleet: $(TEST_PROGRAMS)
	$(call check_layer,$(FLEET_RESULTS))
check-locker: $(TEST_PROGRAMS)
	$(call check_layer,$(LOCKER_RESULTS))
check-admin: $(TEST_PROGRAMS)
	$(call check_layer,$(ADMIN_RESULTS))
check-man check-install check-packaging: check-%: $(TEST_PROGRAMS)
	$(call check_layer,$(RESULTS)/$*)

# Each cmocka binary (tests/unit: core; tests/pam: the module through the
# real libpam, pam_start_confdir, with its own service files).
$(RESULTS)/unit/%: $(BUILD)/tests/unit/% FORCE
	$(call run_test,$<)
$(RESULTS)/pam/test_%: $(BUILD)/tests/pam/test_% $(MODULE) FORCE
	$(call run_test,$<)
$(RESULTS)/pam/valgrind: $(BUILD)/tests/pam/test_valgrind $(MODULE) FORCE
	$(call run_test,valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $<)
$(RESULTS)/pam/module_cycles: $(MODULE_CYCLES) $(MODULE) FORCE
	$(call run_test,valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite$(comma)possible \
	  $< $(abspath $(MODULE)) 10 && readelf -d $(MODULE) | grep -q 'NODELETE' && \
	  ! readelf -d $(MODULE) | grep -E 'NEEDED.*(libstdc|libgcc_s|libqrencode|libnettle)')

# totp-enroll through a pipe and a pseudo-terminal (python3-pexpect), the QR
# decoded with zbarimg, and one enrollment joined to a login via pam_login.
$(RESULTS)/cli: FORCE
	$(call run_test,/usr/bin/python3 tests/cli/run.py)

# Real sshd + ssh and a console login on a pty, each in a private mount
# namespace so that /etc (pam.d, passwd, shadow) on the host never changes.
# Not under SANITIZE=1: sshd and login cannot load an ASan module.
$(RESULTS)/e2e: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: sshd and login cannot load an ASan module"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/e2e/run.py)
endif

# LD_PRELOAD fault injection (every file call the module and totp-enroll
# make, and malloc): every failure denies or fails cleanly. Not with SANITIZE=1: the shim's
# malloc and ASan's collide.
$(RESULTS)/faults: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: the fault shim's malloc and ASan's collide"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/faults/run.py)
endif

# The module attacked through real setuid su in a private mount namespace
# (rlimits, signals, races, hostile files): tests/security.
$(RESULTS)/security: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: su cannot load an ASan module"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/security/run.py)
endif

# The PostgreSQL store across two hosts (private mount namespaces) sharing a
# throwaway cluster the suite starts and stops itself: tests/fleet.
$(RESULTS)/fleet: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: sshd cannot load an ASan module"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/fleet/run.py)
endif

# Screen lockers and other programs that run PAM as the user: pamtester and
# vlock as an unprivileged user, through the setuid helper (a root-owned
# copy the suite makes), in a private mount namespace: tests/locker.
$(RESULTS)/locker: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: pamtester and vlock cannot load an ASan module"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/locker/run.py)
endif

# totp-admin --list, --show and --reset against real enrollments and real
# states (pamtester through the real module on a simulated clock) in a
# private mount namespace, on the file store and on a throwaway cluster:
# tests/admin.
$(RESULTS)/admin: FORCE
ifeq ($(SANITIZE),1)
	$(call run_test,echo "skipped under SANITIZE=1: pamtester cannot load an ASan module"; exit 77)
else
	$(call run_test,/usr/bin/python3 tests/admin/run.py)
endif

# mandoc -Tlint reports any warning (and exits non-zero) for the man pages.
$(RESULTS)/man: FORCE
	$(call run_test,mandoc -Tlint -W warning $(MAN_PAGES))

$(RESULTS)/install: FORCE
	$(call run_test,sh tests/build/check-install.sh $(BUILD))

# Builds, installs, logs in through, enables/disables and purges the .deb;
# skips unless root with the tools present and no pam_totp installed.
$(RESULTS)/packaging: FORCE
	$(call run_test,sh tests/packaging/test-deb.sh $(BUILD))

FORCE:

print-%:
	@echo $($*)

# --- hardening: fuzzing, crash safety --------------------------------------

FUZZ_SECONDS ?= 60

# libFuzzer targets (clang, ASan+UBSan) in $(BUILD)/fuzz; FUZZ_SECONDS each.
fuzz:
	tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

# SIGKILL during state updates and enrollments (1000 kills), then every
# file parses and nothing used becomes usable again. Not in `make check`
# (it takes minutes); .ci/run runs it.
check-crash: all $(PAM_LOGIN) $(TIME_SHIM)
	@echo "== tests/crash"
	$(TEST_ENV) /usr/bin/python3 tests/crash/run.py

# --- benchmarks ------------------------------------------------------------

BENCH_LOGINS := $(BUILD)/bench_logins
BENCH_LOAD_ONCE := $(BUILD)/bench_load_once
BENCH_FRESH := $(BUILD)/bench_fresh
# libcrypt kept loaded, as in sshd (linked) and in every stack with pam_unix
# (which links it): no real login process loads it for pam_totp alone.
$(BENCH_LOGINS): $(BUILD)/bench/bench_logins.o
	$(CXX) $(ALL_CXXFLAGS) -o $@ $^ $(ALL_LDFLAGS) -lpam -loath -Wl,--no-as-needed -lcrypt -Wl,--as-needed

$(BENCH_LOAD_ONCE): bench/load_once.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Wpedantic $(WERROR) -o $@ $< $(ALL_LDFLAGS) -lpam -lcrypt -ldl

# The fresh-process model (bench/README.md): a C parent linked like sshd
# that forks a child for every login.
$(BENCH_FRESH): bench/fresh.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Wpedantic $(WERROR) -o $@ $< $(ALL_LDFLAGS) -lpam -lcrypt

BENCH_PQ_CLOCK := $(BUILD)/bench_pq_clock.so
# The fleet rows' timer of libpq calls (bench/pq_clock.c): preloaded into a
# bench_fresh of its own; links nothing of PostgreSQL (its header only).
$(BENCH_PQ_CLOCK): bench/pq_clock.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Wpedantic -Wconversion -Wshadow $(WERROR) $(PGSQL_CPPFLAGS) -fPIC -shared -o $@ $< -ldl

# Logins timed through the real libpam against google-authenticator and
# pam_oath, in-process and in a fresh process per login (bench/README.md);
# writes bench/RESULTS.md. Needs root.
bench: $(BENCH_LOGINS) $(BENCH_LOAD_ONCE) $(BENCH_FRESH) $(BENCH_PQ_CLOCK) $(MODULE) $(ENROLL) $(ADMIN) $(PGSQL_BACKEND)
	sh bench/run.sh $(BUILD)

# --- packages --------------------------------------------------------------

# Debian package in dist/, built by dpkg-buildpackage in a scratch copy
# under $(BUILD)/deb (so it needs no `all` first).
deb:
	sh packaging/debian/build-deb.sh $(BUILD)

# RPM in dist/ (rpmbuild, _topdir under $(BUILD)/rpm; %check runs check-unit).
rpm:
	sh tests/packaging/build-rpm.sh $(BUILD)

# --- static analysis -------------------------------------------------------

TIDY_SRCS = $(wildcard core/*/*.cpp pam_module/*.cpp enroll_tool/*.cpp admin_tool/*.cpp check_tool/*.cpp pgsql_store/*.cpp)

# clang-format (layout), clang-tidy (.clang-tidy: bugprone, cert, ...) and
# cppcheck, all clean. cppcheck's style class is on, less two checks:
# noExplicitConstructor (Result<T> converts from T and Error by design) and
# useStlAlgorithm (a plain loop often reads better). git is asked for the
# file list only here, not on every make invocation.
lint:
	@echo "== clang-format"; clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.h' '*.hpp' '*.c')
	@echo "== clang-tidy"; printf '%s\n' $(TIDY_SRCS) | xargs -P"$$(nproc)" -I{} \
	  sh -c 'clang-tidy --quiet {} -- -std=c++20 -I. $(PGSQL_CPPFLAGS) -D_FORTIFY_SOURCE=2 -DPAM_TOTP_PKGLIBDIR=\"/usr/lib/pam_totp\" -DPAM_TOTP_HELPER=\"/usr/sbin/pam_totp_check\" 2>/dev/null'
	@echo "== cppcheck"; cppcheck --quiet --std=c++20 --language=c++ --enable=warning,style,performance,portability \
	  --suppress=noExplicitConstructor --suppress=useStlAlgorithm --inline-suppr --error-exitcode=1 -I. \
	  -DPAM_TOTP_PKGLIBDIR=\"/usr/lib/pam_totp\" -DPAM_TOTP_HELPER=\"/usr/sbin/pam_totp_check\" \
	  core pam_module enroll_tool admin_tool check_tool pgsql_store
	@echo "ok - lint clean"

# --- demo ------------------------------------------------------------------

demo: all $(PAM_LOGIN) $(TIME_SHIM)
	./scripts/demo $(BUILD)

# Two hosts (private mount namespaces, each with its own state_dir and PAM
# configuration) sharing one throwaway PostgreSQL: a code used on one is
# refused on the other, and wrong codes on one lock the other.
demo-fleet: all $(PAM_LOGIN) $(TIME_SHIM)
	./scripts/demo-fleet $(BUILD)

# --- install ---------------------------------------------------------------

# The module is installed 0644 like every module in the PAM directory; the
# state directory is created by the module itself (root, 0700) when missing.
# Binaries are installed as built (with debug information): dh_strip and
# rpmbuild strip them into debug packages; `make install-strip` strips here.
install: all
	install -d $(DESTDIR)$(PAMDIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_totp.so
	install -d $(DESTDIR)$(PKGLIBDIR)
	install -m 0644 $(PGSQL_BACKEND) $(DESTDIR)$(PKGLIBDIR)/pam_totp_pgsql.so
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(ENROLL) $(DESTDIR)$(BINDIR)/totp-enroll
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(ADMIN) $(DESTDIR)$(SBINDIR)/totp-admin
	install -m 4755 $(CHECK) $(DESTDIR)$(SBINDIR)/pam_totp_check
	@set -e; for m in $(MAN_PAGES); do \
	  sec=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$sec; \
	  echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/"; \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/; \
	done

install-strip: install
	strip --strip-unneeded $(DESTDIR)$(PAMDIR)/pam_totp.so $(DESTDIR)$(PKGLIBDIR)/pam_totp_pgsql.so
	strip $(DESTDIR)$(BINDIR)/totp-enroll $(DESTDIR)$(SBINDIR)/totp-admin $(DESTDIR)$(SBINDIR)/pam_totp_check

clean:
	rm -rf $(BUILD)

-include $(CORE_OBJS:.o=.d) $(MODULE_OBJS:.o=.d) $(BUILD)/pgsql_store/pgsql_backend.d $(ADMIN_OBJS:.o=.d) $(CHECK_OBJS:.o=.d) $(ENROLL_OBJS:.o=.d) $(BUILD)/enroll_tool/main.d \
  $(UNIT_BINS:=.d) $(UNIT_HOBJS:.o=.d) $(PAM_TEST_BINS:=.d) $(PAM_TEST_HOBJS:.o=.d) \
  $(BUILD)/tests/tools/pam_login.d $(BUILD)/bench/bench_logins.d
