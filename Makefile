# Thin wrapper over CMake: `make`, `make test`, `make demo`, `make bench`.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all configure test demo bench clean asan

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDESCENT_SANITIZE=ON -DDESCENT_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

demo: all
	./$(BUILD)/descent replay --opt 'Adam(lr=0.1)' --params examples/data/params.csv --grads examples/data/grads.csv

# The standard set at 16M fp32 parameters on 1 and 2 threads (docs/performance.md).
BENCH_FLAGS ?= --n 16777216 --threads 1,2 --reps 5
bench: all
	./$(BUILD)/descent bench $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD) build-asan
