# Thin wrapper over CMake: `make`, `make test`, `make demo`, `make bench`,
# `make install PREFIX=P`.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all configure test check-install demo bench clean asan valgrind install cross-test cross-quick windows-test

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

# Every test but the packaging ones (label install), which check-install runs.
test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE install

check-install: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L install

# The tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDESCENT_SANITIZE=ON -DDESCENT_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# The tests again under valgrind memcheck (cmake/Valgrind.cmake): every
# test program and the descent commands it starts; any memory error or leak
# fails the test. DESCENT_VALGRIND=1 makes the golden tests start the CLI
# for every 16th case only and test_nonfinite run 1 and 2 threads, not 3;
# test_long_run runs 20000 steps instead of 10^7; idle OpenMP threads sleep
# instead of spinning (valgrind runs one thread at a time, so a spinning
# thread only delays the others). Not run under valgrind:
# the install and subproject tests (they compile and install; the examples
# they run are tested here as example_*), test_browser (Chromium renders
# the SVGs that test_pictures makes here) and the MPI tests (mpirun and
# Open MPI's daemons; they run under `make asan`). docs/reliability.md.
VALGRIND_EXCLUDE ?= install_examples|subproject_consumer|test_browser|test_mpi
valgrind:
	cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESCENT_VALGRIND=ON $(CMAKE_FLAGS)
	cmake --build build-valgrind -j $(JOBS)
	rm -rf build-valgrind/valgrind-logs && mkdir -p build-valgrind/valgrind-logs
	cd build-valgrind && status=0; DESCENT_VALGRIND=1 DESCENT_LONG_STEPS=20000 OMP_WAIT_POLICY=passive \
	  ctest --output-on-failure -j $(JOBS) --timeout 3600 -E '$(VALGRIND_EXCLUDE)' || status=$$?; \
	  find valgrind-logs -type f -empty -delete; \
	  if [ -n "$$(ls valgrind-logs)" ]; then cat valgrind-logs/*; echo "valgrind found errors (above)"; exit 1; fi; \
	  exit $$status

# The tests built for another architecture by Debian's cross compiler and
# run under qemu-user (cmake/toolchains/ARCH.cmake): ARCH=aarch64 (ARM64),
# s390x (64-bit big-endian), i686 or armhf (32-bit). Needs gcc-TRIPLE and
# qemu-user (docs/getting-started.md, "Platforms tested"). Not run there:
# the install and subproject tests (they compile consumers with the host's
# tools), test_browser (the host's Chromium) and MPI (no cross MPI).
# portable_ckpt_from_host / _to_host move checkpoints between the host
# build ($(BUILD), built first) and the emulated one.
# ARCH=mingw64 (or `make windows-test`) builds for 64-bit Windows and runs
# under wine the tests that use the library alone (WINE_TESTS); the others
# start the descent command with POSIX shell quoting, which cmd.exe (popen
# on Windows) does not take, and portable_ckpt_*_host are left out because
# mingw-w64's libm differs from glibc's in the last bit (docs/getting-started.md).
ARCH ?= aarch64
CROSS_EXCLUDE ?= install_examples|subproject_consumer|test_browser|test_mpi
WINE_TESTS ?= ^(test_clip|test_optim_elementwise|test_optim_whole_tensor|test_optim_schedule_free|test_nonfinite|test_q8|test_arena|test_div_const|test_portable_ckpt|test_core|test_alloc_fail|test_hparam_sweep|test_old_images|test_long_run|test_mgh|test_state_access|test_zero_checks|test_csv_crlf|test_file_replace|example_.*)$$
# test_long_run's 10^7 steps per optimizer take over half an hour under
# qemu: 10^6 here. CI (.ci/run) sets CROSS_ENV="DESCENT_EMULATED=1
# DESCENT_LONG_STEPS=20000", which also scales the slowest tests down as
# `make valgrind` does.
CROSS_ENV ?= DESCENT_LONG_STEPS=1000000
CROSS_SELECT = $(if $(filter mingw64,$(ARCH)),-R '$(WINE_TESTS)',-E '$(CROSS_EXCLUDE)')
cross-test: configure
	@test -f cmake/toolchains/$(ARCH).cmake || { echo "no toolchain for ARCH=$(ARCH): cmake/toolchains/"; exit 2; }
	cmake --build $(BUILD) -j $(JOBS) --target test_portable_ckpt descent_cli
	cmake -S . -B build-cross-$(ARCH) -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/$(ARCH).cmake \
	  -DDESCENT_WERROR=ON -DDESCENT_MPI=OFF -DDESCENT_HOST_BUILD=$(abspath $(BUILD)) $(CMAKE_FLAGS)
	cmake --build build-cross-$(ARCH) -j $(JOBS)
	cd build-cross-$(ARCH) && $(if $(filter mingw64,$(ARCH)),WINEDEBUG=-all) $(CROSS_ENV) ctest --output-on-failure -j $(JOBS) --timeout 1800 $(CROSS_SELECT) $(CTEST_FLAGS)

# The portability subset of cross-test, which CI runs for aarch64 and
# s390x (the whole suite under qemu is too slow for CI on two cores):
# checkpoints and training runs moved both ways, the golden PyTorch
# comparisons, the checkpoint images of earlier builds, CSV, 8-bit state,
# file replacement.
CROSS_QUICK ?= ^(test_portable_ckpt|portable_ckpt_from_host|portable_ckpt_to_host|train_ckpt_from_host|train_ckpt_to_host|test_golden_optim|test_golden_sched|test_clip|test_q8|test_div_const|test_old_images|test_state_access|test_alloc_fail|test_csv_crlf|test_file_replace)
cross-quick:
	$(MAKE) cross-test ARCH=$(ARCH) CTEST_FLAGS="-R '$(CROSS_QUICK)'"

windows-test:
	$(MAKE) cross-test ARCH=mingw64

# Train an MLP on the handwritten digits (data/digits.csv) with AdamW and a
# linear warmup into cosine annealing, stepped per batch: 20 epochs of 45
# batches = 900 steps. A progress bar on a terminal; expect val_accuracy >= 0.95.
# It builds only the library and the descent command (no tests), with the
# build's output in $(BUILD)/demo-build.log, shown only when it fails.
DEMO_EPOCHS ?= 20
demo:
	@mkdir -p $(BUILD)
	@echo "building the library and the descent command (log: $(BUILD)/demo-build.log)"
	@{ test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS); } > $(BUILD)/demo-build.log 2>&1 \
	  && cmake --build $(BUILD) -j $(JOBS) --target descent_cli >> $(BUILD)/demo-build.log 2>&1 \
	  || { cat $(BUILD)/demo-build.log; exit 1; }
	./$(BUILD)/descent train --data data/digits.csv --target label \
	  --model "mlp(hidden=(64, 32), activation='relu')" \
	  --opt 'AdamW(lr=3e-3, weight_decay=0.01)' \
	  --sched 'LinearWarmup(warmup_period=50, schedule=CosineAnnealingLR(T_max=900))' \
	  --epochs $(DEMO_EPOCHS) --batch-size 32 --seed 0
	@mkdir -p $(BUILD)/demo
	./$(BUILD)/descent compare --data data/digits.csv --target label \
	  --model "mlp(hidden=(64, 32), activation='relu')" \
	  --opt 'SGD(lr=0.05, momentum=0.9)' --sched none \
	  --opt 'Adam(lr=1e-3)' --sched none \
	  --opt 'AdamW(lr=3e-3, weight_decay=0.01)' \
	  --sched 'LinearWarmup(warmup_period=45, schedule=CosineAnnealingLR(T_max=450))' \
	  --epochs 10 --batch-size 32 --seed 0 --out $(BUILD)/demo/compare
	./$(BUILD)/descent plot-paths --fn 'rosenbrock()' --steps 300 \
	  --opt 'SGD(lr=1e-3, momentum=0.9)' --opt 'Adam(lr=0.2)' --opt 'RMSprop(lr=0.03)' \
	  --opt 'NAG(lr=1e-3, momentum=0.9)' --out $(BUILD)/demo/paths-rosenbrock.svg
	@echo
	@echo "comparison report (open in a browser): $(BUILD)/demo/compare/index.html"
	@echo "optimizer paths on Rosenbrock:         $(BUILD)/demo/paths-rosenbrock.svg"

# The standard set at 16M fp32 parameters on 1 and 2 threads (docs/performance.md).
BENCH_FLAGS ?= --n 16777216 --threads 1,2 --reps 5
bench: all
	./$(BUILD)/descent bench $(BENCH_FLAGS)

# Headers, the shared and static libraries, descent.pc, the CMake package,
# the descent command and its man page under $(PREFIX).
install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-valgrind build-cross-* build-mingw
