# Front door only: the build is CMake (see CMakeLists.txt).
#   make run    install what is missing, build, run xmuxd on the default config
#   make test   install, build with ASan+UBSan (clang) and gcc, run every test
#   make fuzz   run every libFuzzer target for FUZZ_SECONDS each
#   make bench  build optimised and run the benchmark suite (as root):
#               xmuxd vs Prosody and ejabberd, docs/performance.md rewritten
#   make demo   two servers on 127.0.0.2/.3: connections with and without mux
#   make clean  remove build trees

JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
ARGS         ?=

.PHONY: all deps build run test fuzz bench demo clean

all: build

deps:
	@scripts/deps.sh

build/release/build.ninja build/release/Makefile:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps build/release/Makefile
	cmake --build build/release -j $(JOBS)

run: build
	exec build/release/xmuxd $(ARGS)

test: deps
	CC=gcc cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=Debug -DXMUX_WERROR=ON
	cmake --build build/gcc -j $(JOBS)
	CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug \
	    -DXMUX_SANITIZE=ON -DXMUX_WERROR=ON
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ctest --output-on-failure -j $(JOBS)

fuzz: deps
	CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DXMUX_FUZZ=ON
	cmake --build build/fuzz -j $(JOBS)
	scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

bench: build
	scripts/bench.sh build/release

demo: build
	/usr/bin/python3 scripts/demo.py build/release

clean:
	rm -rf build
