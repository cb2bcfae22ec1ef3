# The libFuzzer targets, built with clang (libFuzzer is clang's). Called by
# tests/fuzz/run.sh from the top of the tree:
#
#   make -f tests/fuzz/fuzz.mk FUZZ_BUILD=build/fuzz
#
# core/ and the parsers of enroll_tool/ are compiled again here with
# coverage instrumentation and ASan+UBSan; the targets link only what they
# use from them (a static archive). No target needs libpam.

FUZZ_BUILD ?= build/fuzz
FUZZ_CXX   ?= clang++
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_FLAGS := -std=c++20 -O1 -g -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror -I. $(FUZZ_SAN)
# Where core/ looks for the store's backend and the setuid helper (as the
# top-level Makefile's defaults; the fuzzers load and run neither).
FUZZ_FLAGS += -DPAM_TOTP_PKGLIBDIR='"/usr/lib/pam_totp"' -DPAM_TOTP_HELPER='"/usr/sbin/pam_totp_check"'

FUZZ_CORE_SRCS := $(wildcard core/*/*.cpp) enroll_tool/ga_import.cpp enroll_tool/pam_oath_import.cpp \
                  enroll_tool/secret_text.cpp
FUZZ_CORE_OBJS := $(FUZZ_CORE_SRCS:%.cpp=$(FUZZ_BUILD)/%.o)
FUZZ_CORE_LIB  := $(FUZZ_BUILD)/libpamtotp_core_fuzz.a
FUZZ_SRCS      := $(wildcard tests/fuzz/fuzz_*.cpp)
FUZZ_BINS      := $(FUZZ_SRCS:tests/fuzz/%.cpp=$(FUZZ_BUILD)/%)

.PHONY: all
.DELETE_ON_ERROR:

all: $(FUZZ_BINS)

$(FUZZ_BUILD)/core/%.o: core/%.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/enroll_tool/%.o: enroll_tool/%.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -MMD -MP -c $< -o $@

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_CORE_LIB)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@ -loath -lcrypt -lnettle

-include $(FUZZ_CORE_OBJS:.o=.d) $(FUZZ_SRCS:tests/fuzz/%.cpp=$(FUZZ_BUILD)/tests/fuzz/%.d)
