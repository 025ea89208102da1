# moegrad build. Targets:
#   make              static library build/libmoegrad.a, the test binary and the examples
#   make test         build, check an installed copy (tools/test_install.sh), then run the test
#                     suite (its last line: "tests: N passed, M failed")
#   make demo         build, then a tour: every paper's example in --quick mode and one table
#   make bench        benchmarks (ratios against raw BLAS, side by side in one run; the four
#                     training-step configs of bench/configs.h -> build/bench.jsonl)
#   make bench-compare  the four configs against PyTorch in lockstep (BENCH_ARGS="--rounds 3" etc.)
#   make bench-check    the first-step loss of both on the same weights (must agree to 1e-4)
#   make bench-callgrind  instruction counts of one reduced step per config (valgrind)
#   make bench-cuda   the GPU benchmark (bench/bench_cuda.cpp) and, where PyTorch with CUDA is
#                     installed, the same step in PyTorch eager (bench/bert_moe_torch.py)
#   make install      library, headers, moegrad.pc and the CMake package under PREFIX (/usr/local)
#   make test SANITIZE=1   the suite under AddressSanitizer + UndefinedBehaviorSanitizer
# Options: CUDA=auto|1|0 (auto: compile cuda/ when nvcc is on PATH), CXX, NVCC, PREFIX.
# Parallel by default; set once at the top level, so the inner make (see below) shares its jobserver.
ifeq ($(MAKELEVEL),0)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
CXX ?= g++
NVCC ?= nvcc
CUDA ?= auto
SANITIZE ?= 0
PREFIX ?= /usr/local
VERSION := $(shell cat VERSION)

ifeq ($(SANITIZE),1)
  BUILD ?= build/sanitize
  OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
  BUILD ?= build
  OPT := -O3 -g
endif

NVCC_PATH := $(shell command -v $(NVCC) 2>/dev/null)
ifeq ($(CUDA),auto)
  CUDA_ON := $(if $(NVCC_PATH),1,0)
else
  CUDA_ON := $(CUDA)
endif

CXXFLAGS := -std=c++20 $(OPT) -fopenmp -Wall -Wextra -Wno-unused-parameter -I. -MMD -MP
LDFLAGS := $(OPT) -fopenmp
LDLIBS := -lopenblas -lfmt -lz -lsentencepiece_train -lsentencepiece
# OpenBLAS's OpenMP build (Debian's libopenblas0-openmp, which tools/install_deps.sh installs): its
# threads are OpenMP's own, so a GEMM and moegrad's kernels share one pool instead of two that spin
# against each other (bert_dense step on 2 threads: 2.05 s with the pthread build, 1.18 s with this
# one). The link is the usual -lopenblas; this run path makes the loader take the OpenMP build's
# libopenblas.so.0 before the system's choice, and falls back to that choice where it is missing.
OPENBLAS_OPENMP_DIR := /usr/lib/$(shell $(CXX) -print-multiarch)/openblas-openmp
LDFLAGS += -Wl,-rpath,$(OPENBLAS_OPENMP_DIR)

LIB_SRCS := $(wildcard tensor/*.cpp tensor/cpu/*.cpp tensor/ops/*.cpp autograd/*.cpp nn/*.cpp data/*.cpp train/*.cpp moe/*.cpp distill/*.cpp)
CU_SRCS :=
ifeq ($(CUDA_ON),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC_PATH)))
  CU_SRCS := $(wildcard cuda/*.cu)
  LIB_SRCS += $(filter-out cuda/no_cuda.cpp,$(wildcard cuda/*.cpp))
  CXXFLAGS += -DMOEGRAD_CUDA -isystem $(CUDA_HOME)/include
  CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart
  LDLIBS += $(CUDA_LIBS)
  # The same C++ standard as the rest. Machine code for Hopper (sm_90) and Ampere (sm_80), plus
  # compute_90 PTX that the driver compiles for newer GPUs. .cu files never include fmt (fmt 9's
  # constexpr checks fail under nvcc in C++20 mode): messages are built in cuda/*.cpp.
  # NVCC_GENCODE=... narrows that (tools/gpu_check.sh builds sm_90 alone, to save device time).
  NVCC_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 \
                  -gencode arch=compute_90,code=compute_90
  NVCCFLAGS := -std=c++20 $(filter -O% -g,$(OPT)) -I. -DMOEGRAD_CUDA -Xcompiler -fopenmp -Xcompiler -Wall \
               $(NVCC_GENCODE) -MMD -MP
else
  LIB_SRCS += cuda/no_cuda.cpp
endif

LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o) $(CU_SRCS:%.cu=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/*.cpp tests/*/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libmoegrad.a
TEST_BIN := $(BUILD)/tests/moegrad_tests
EXAMPLES := $(patsubst examples/%.cpp,$(BUILD)/examples/%,$(wildcard examples/*.cpp))
BENCHES := $(patsubst bench/%.cpp,$(BUILD)/bench/%,$(wildcard bench/*.cpp))

# ASan and the CUDA runtime disagree about the shadow gap; harmless without a GPU.
RUN_ENV := ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=2

# ---------------- the targets people type ----------------
# Each one first installs the Debian packages its work needs (tools/install_deps.sh, by group:
# build, examples = gnuplot and the data sets, python = the venv's interpreter, install-check =
# cmake), then starts a second make for the build itself. A prerequisite list such as
# `demo: deps $(EXAMPLES)` is not enough: under -j make starts compiling beside the apt-get run,
# before fmt/format.h exists. At the top level nothing runs in parallel; the inner make does.
PUBLIC_TARGETS := all test demo smoke bench bench-compare bench-check bench-callgrind bench-cuda examples install venv deps
.PHONY: $(PUBLIC_TARGETS) build-all run-tests run-demo run-smoke run-bench run-bench-compare run-bench-check \
        run-bench-callgrind run-bench-cuda install-files clean
# `make test demo` runs one after the other (two apt-get runs at once would fight over the lock);
# a file target typed directly (make -j2 build/libmoegrad.a) still builds in parallel.
ifeq ($(MAKELEVEL),0)
ifneq ($(filter $(PUBLIC_TARGETS),$(or $(MAKECMDGOALS),all)),)
.NOTPARALLEL:
endif
endif

all:
	@tools/install_deps.sh build
	@$(MAKE) --no-print-directory build-all
test:
	@tools/install_deps.sh build python install-check
	@$(MAKE) --no-print-directory run-tests
demo:
	@tools/install_deps.sh build examples
	@$(MAKE) --no-print-directory run-demo
smoke:
	@tools/install_deps.sh build examples
	@$(MAKE) --no-print-directory run-smoke
bench:
	@tools/install_deps.sh build
	@$(MAKE) --no-print-directory run-bench
bench-cuda:
	@tools/install_deps.sh build
	@$(MAKE) --no-print-directory run-bench-cuda
bench-compare:
	@tools/install_deps.sh build python
	@$(MAKE) --no-print-directory run-bench-compare
bench-check:
	@tools/install_deps.sh build python
	@$(MAKE) --no-print-directory run-bench-check
bench-callgrind:
	@tools/install_deps.sh build profile
	@$(MAKE) --no-print-directory run-bench-callgrind
examples:
	@tools/install_deps.sh build
	@$(MAKE) --no-print-directory $(EXAMPLES)
install:
	@tools/install_deps.sh build
	@$(MAKE) --no-print-directory install-files
venv:
	@tools/install_deps.sh python
	@tools/python_venv.sh
deps:
	@tools/install_deps.sh build examples python install-check

# ---------------- the build ----------------
build-all: $(LIB) $(TEST_BIN) $(EXAMPLES)

# A regular archive keeps one member per file name, and tensor/cpu/softmax.o and
# tensor/ops/softmax.o share one; so the members are hard links named after the whole source path
# (tensor-cpu-softmax.o). A thin archive (ar T) would avoid that, but it only stores paths and
# breaks once copied out of the tree.
$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -rf $(BUILD)/archive $@ && mkdir -p $(BUILD)/archive
	@for object in $^; do ln -f "$$object" "$(BUILD)/archive/$$(echo "$${object#$(BUILD)/obj/}" | tr / -)"; done
	ar rcs $@ $(BUILD)/archive/*.o

# The one place the version lives is the file VERSION (moegrad::version(), moegrad.pc, CMake).
$(BUILD)/obj/tensor/version.o: VERSION
$(BUILD)/obj/tensor/version.o: CXXFLAGS += -DMOEGRAD_VERSION='"$(VERSION)"'

# The CPU kernels' float32 loops (tensor/cpu/fast_math.h) vectorise only when GCC may evaluate
# both arms of a select: no kernel reads the floating-point exception flags. No fused multiply-add
# either: the loops built per vector width (MOEGRAD_ISA_CLONES) must give the same bits on every CPU.
$(BUILD)/obj/tensor/cpu/%.o: CXXFLAGS += -fno-trapping-math -ffp-contract=off

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) $(LDLIBS) -o $@

# Keep the example and bench objects: reached only through the pattern rules below, make would
# delete them as intermediate files after each link, and the next make would compile them again.
.SECONDARY: $(EXAMPLES:$(BUILD)/examples/%=$(BUILD)/obj/examples/%.o) $(BENCHES:$(BUILD)/bench/%=$(BUILD)/obj/bench/%.o)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# The test binary runs last, so that its summary line ends the output. Before it: the Python venv
# (safetensors, torch and numpy from PyPI, for the interop tests) and an installed copy of the
# library in a temporary prefix, against which the README's own program is built and run.
run-tests: $(TEST_BIN) $(LIB)
	@tools/python_venv.sh
ifeq ($(SANITIZE),1)
	@echo "install check: skipped under SANITIZE=1 (the plain make test runs it)"
else
	@tools/test_install.sh "$(LIB)" "$(CUDA_LIBS)"
endif
	$(RUN_ENV) $(TEST_BIN)

# The installed files, from tools/install.sh (it writes the .pc and the CMake files from VERSION).
install-files: $(LIB)
	@tools/install.sh "$(PREFIX)" $(LIB) "$(VERSION)" "$(CUDA_LIBS)"

run-demo: $(EXAMPLES)
	@tools/tour.sh $(BUILD)

# Every example in --quick mode (seconds each; each exits non-zero when its loss does not fall).
run-smoke: $(EXAMPLES)
	@for e in $(EXAMPLES); do echo "== $$e --quick"; OMP_NUM_THREADS=2 $$e --quick --out $(BUILD)/smoke/$$(basename $$e) || exit 1; done

# The commit measured goes into every JSON line of build/bench.jsonl ("+dirty" with local changes).
BENCH_COMMIT = $(shell git describe --always --dirty=+dirty 2>/dev/null || echo unknown)
BENCH_ARGS ?=

run-bench: $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; MOEGRAD_COMMIT=$(BENCH_COMMIT) $$b || exit 1; done

# moegrad and PyTorch step by step in turn (bench/compare.py), torch from the venv of the tests.
run-bench-compare: $(BUILD)/bench/train_step
	@tools/python_venv.sh
	$(BUILD)/venv/bin/python bench/compare.py --bin $(BUILD)/bench/train_step --commit $(BENCH_COMMIT) $(BENCH_ARGS)

run-bench-check: $(BUILD)/bench/train_step
	@tools/python_venv.sh
	$(BUILD)/venv/bin/python bench/compare.py --check --bin $(BUILD)/bench/train_step $(BENCH_ARGS)

run-bench-callgrind: $(BUILD)/bench/train_step
	@tools/bench_callgrind.sh $(BUILD)

run-bench-cuda: $(BUILD)/bench/bench_cuda
	$(BUILD)/bench/bench_cuda
	@if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then \
	  python3 bench/bert_moe_torch.py; else echo "bench-cuda: no PyTorch with CUDA here, the PyTorch eager side skipped"; fi

clean:
	rm -rf build

# Every object's header dependencies, examples and benches included (without theirs, a changed
# header left an example linked from a stale object that disagreed with the library's layout).
-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(EXAMPLES:$(BUILD)/examples/%=$(BUILD)/obj/examples/%.d) \
         $(BENCHES:$(BUILD)/bench/%=$(BUILD)/obj/bench/%.d)
