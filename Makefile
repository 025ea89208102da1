# moegrad build. Targets:
#   make              static library build/libmoegrad.a and the test binary
#   make test         build and run the test suite (ends with "tests: N passed, M failed")
#   make demo         build, then a tour: every paper's example in --quick mode and one table
#   make bench        benchmarks (ratios against raw BLAS, side by side in one run)
#   make test SANITIZE=1   the suite under AddressSanitizer + UndefinedBehaviorSanitizer
# Options: CUDA=auto|1|0 (auto: compile cuda/ when nvcc is on PATH), CXX, NVCC.
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
CXX ?= g++
NVCC ?= nvcc
CUDA ?= auto
SANITIZE ?= 0

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

LIB_SRCS := $(wildcard tensor/*.cpp tensor/cpu/*.cpp tensor/ops/*.cpp autograd/*.cpp nn/*.cpp data/*.cpp train/*.cpp moe/*.cpp distill/*.cpp)
CU_SRCS :=
ifeq ($(CUDA_ON),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC_PATH)))
  CU_SRCS := $(wildcard cuda/*.cu)
  LIB_SRCS += $(filter-out cuda/no_cuda.cpp,$(wildcard cuda/*.cpp))
  CXXFLAGS += -DMOEGRAD_CUDA -isystem $(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart
  NVCCFLAGS := -std=c++17 -O3 -I. -DMOEGRAD_CUDA -Xcompiler -fopenmp \
               -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 -MMD -MP
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

.PHONY: all deps venv test demo bench examples smoke clean
all: deps $(LIB) $(TEST_BIN) $(EXAMPLES)

deps:
	@tools/install_deps.sh

# A thin archive (T): it stores paths, so tensor/cpu/softmax.o and tensor/ops/softmax.o, which
# share a base name, both stay in it (a plain archive keeps one member per base name).
$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcsT $@ $^

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) $(LDLIBS) -o $@

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

examples: deps $(EXAMPLES)

# The Python side (safetensors interop test): build/venv with safetensors + numpy from PyPI.
venv:
	@tools/python_venv.sh

test: deps venv $(TEST_BIN)
	$(RUN_ENV) $(TEST_BIN)

demo: deps $(EXAMPLES)
	@tools/tour.sh $(BUILD)

# Every example in --quick mode (seconds each; each exits non-zero when its loss does not fall).
smoke: deps $(EXAMPLES)
	@for e in $(EXAMPLES); do echo "== $$e --quick"; OMP_NUM_THREADS=2 $$e --quick --out $(BUILD)/smoke/$$(basename $$e) || exit 1; done

bench: deps $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d)
