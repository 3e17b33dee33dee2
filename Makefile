# Benchmarks (as root). See BENCHMARKS.md for the results and Benchmarks/README.md for the parts.
#   make bench            quick comparison: 10k and 100k sockets, three mixes (about 4 minutes)
#   make bench-full       10k, 100k and 500k sockets (about 15 minutes)
#   make bench-micro      ordo-one/benchmark micro-benchmarks on a captured dump (parse, count, format)
#   make bench-check      the micro-benchmarks' malloc counts against Benchmarks/Thresholds/
.PHONY: bench bench-full bench-micro bench-check

bench:
	Benchmarks/run.sh --quick

bench-full:
	Benchmarks/run.sh --full

bench-micro:
	swift package --package-path Benchmarks benchmark

bench-check:
	cd Benchmarks && swift package benchmark thresholds check
