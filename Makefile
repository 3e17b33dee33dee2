# Install and package (docs/install.md):
#   make                  release build of the executables below
#   make install          into $(DESTDIR)$(PREFIX): binary, man pages, completions, systemd units, alert rules
#                         (it builds first: build, man and completions are its prerequisites)
#   make uninstall        removes exactly what install installed
#   make deb              a Debian package in .build/deb/ (dpkg-deb; lintian-clean)
#   make dist             a self-contained tarball in .build/dist/: the stripped static binaries, man pages,
#                         completions, units and rules under usr/local (tar -C / -xzf FILE)
#   make docs             SockDiag's DocC catalog (API reference, the article on embedding) in .build/plugins/
#   make man              the man pages only (.build/pkg/man/), generated from the argument parser
# Benchmarks (as root). See BENCHMARKS.md for the results and Benchmarks/README.md for the parts.
#   make bench            quick comparison: 10k and 100k sockets, three mixes, start-up, churn (about 5 minutes)
#   make bench-full       10k, 100k and 500k sockets (about 15 minutes)
#   make bench-micro      ordo-one/benchmark micro-benchmarks on a captured dump (parse, count, format)
#   make bench-check      the micro-benchmarks' malloc counts against Benchmarks/Thresholds/
.PHONY: all build man completions docs install uninstall deb dist clean-pkg bench bench-full bench-micro bench-check

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
# Companion executables that users do not call by name (none yet).
PKGLIBDIR ?= $(PREFIX)/lib/sockscan
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# systemd reads /usr/local/lib/systemd/system as well as /usr/lib/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system

# debug for a quick package from the test build (scripts/test-packaging); release for the real one.
CONFIGURATION ?= release
# Every flag of the release build, in one place: the Swift runtime linked in (the binaries run on a host
# without a Swift toolchain), in a scratch folder of its own (a static link fails on objects that a dynamic
# build of the same folder left behind), and bound at load (`-z now`: with RELRO the GOT is then read-only;
# it adds 1% to the instructions of an empty-namespace run, 0.2M; its CPU is within noise), with the C++
# runtime that the Swift runtime uses linked in as well (libstdc++ and libgcc: binding libstdc++.so's
# symbols at load took 1.7M of the 12.0M instructions `sockscan count` started in; 2.58x the C floor's CPU
# then, 2.33x now). The Swift driver asks for -lstdc++ itself, so the linker is given a folder that holds
# only the static archive (the one the toolchain's clang finds) and is searched before the compiler's own:
# STATIC_CXX, which `build` makes when RELEASE_FLAGS name it.
SCRATCH ?= .build-static
STATIC_CXX = $(if $(filter /%,$(SCRATCH)),$(SCRATCH),$(CURDIR)/$(SCRATCH))/static-c++
RELEASE_FLAGS ?= -c $(CONFIGURATION) --static-swift-stdlib --scratch-path "$(SCRATCH)" -Xlinker -z -Xlinker now \
	-Xswiftc "-L$(STATIC_CXX)" -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
# What goes into BINDIR, and into PKGLIBDIR: sockscan hands record, watch, report, metrics and serve to
# sockscan-full, which it finds beside itself or in PKGLIBDIR.
EXECUTABLES ?= sockscan
LIB_EXECUTABLES ?= sockscan-full

SWIFT ?= swift
# Asked of SwiftPM once, when first used.
BUILD_DIR = $(eval BUILD_DIR := $(shell $(SWIFT) build $(RELEASE_FLAGS) --show-bin-path))$(BUILD_DIR)
# The version is the CLI's (`version:` in Sources/SockScanCLI/SockScanRoot.swift), asked of the built binary.
VERSION = $(shell $(BUILD_DIR)/sockscan --version)
# Man pages carry the date of the last commit, so a rebuild of one commit gives the same pages.
MAN_DATE ?= $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
MAN_SECTION = 8
OUT = .build/pkg
MAN_OUT = $(OUT)/man
COMPLETION_OUT = $(OUT)/completions
UNIT_FILES = sockscan.service sockscan-record.service sockscan-textfile.service sockscan-textfile.timer
RULE_FILES = alerts.yml

all: build

build:
ifneq ($(findstring $(STATIC_CXX),$(RELEASE_FLAGS)),)
	@clang="$$(dirname "$$(readlink -f "$$(command -v $(SWIFT))")")/clang"; \
	archive=$$("$$clang" -print-file-name=libstdc++.a); \
	if [ ! -f "$$archive" ]; then \
		echo "make: $$clang finds no static libstdc++ (libstdc++.a): install the C++ library's development package (Debian 12: libstdc++-12-dev)" >&2; \
		exit 1; \
	fi; \
	mkdir -p "$(STATIC_CXX)" && ln -sfn "$$archive" "$(STATIC_CXX)/libstdc++.a"
endif
	@for exe in $(EXECUTABLES) $(LIB_EXECUTABLES); do \
		echo "$(SWIFT) build $(RELEASE_FLAGS) --product $$exe"; \
		$(SWIFT) build $(RELEASE_FLAGS) --product $$exe || exit 1; \
	done

# swift-argument-parser's generate-manual plugin reads `sockscan --experimental-dump-help`: sockscan(8)
# and sockscan.SUBCOMMAND(8), the discussions of --help (with their examples) as DESCRIPTION. It builds
# the package first (in the same configuration), so it runs before `build` relinks the shipped binary.
# Post-processing, so that lintian and whatis accept the pages: blank lines become paragraph breaks
# (mdoc warns on empty lines); a subcommand page is named `sockscan.list` in NAME (whatis cannot parse a
# name with a space) and `sockscan list` in SYNOPSIS. The page of the built-in `help` subcommand is left out.
man:
	rm -rf $(MAN_OUT) .build/plugins/GenerateManual/outputs/sockscan && mkdir -p $(MAN_OUT)
	$(SWIFT) package plugin generate-manual --configuration $(CONFIGURATION) \
		--multi-page --section $(MAN_SECTION) --date $(MAN_DATE)
	@for page in .build/plugins/GenerateManual/outputs/sockscan/*.$(MAN_SECTION); do \
		name=$${page##*/}; name=$${name%.$(MAN_SECTION)}; words=$$(echo $$name | tr . ' '); \
		case $$name in *.help) continue;; esac; \
		sed -e 's/^$$/.Pp/' -e "s/^\.Nm \"$$words\"$$/.Nm $$name/" \
			-e "/^\.Sh SYNOPSIS$$/{n;s/^\.Nm$$/.Nm \"$$words\"/;}" $$page > $(MAN_OUT)/$$name.$(MAN_SECTION) || exit 1; \
	done
	@ls $(MAN_OUT)

docs:
	$(SWIFT) package --disable-sandbox generate-documentation --target SockDiag

# bash completions are sourced, not run: no #! line.
completions: build
	rm -rf $(COMPLETION_OUT) && mkdir -p $(COMPLETION_OUT)
	$(BUILD_DIR)/sockscan --generate-completion-script bash | sed '1{/^#!/d}' > $(COMPLETION_OUT)/sockscan
	$(BUILD_DIR)/sockscan --generate-completion-script zsh > $(COMPLETION_OUT)/_sockscan
	$(BUILD_DIR)/sockscan --generate-completion-script fish > $(COMPLETION_OUT)/sockscan.fish

# Units name the binary by its installed path. `make deb` stages an install without building again.
INSTALL_PREREQS = man build completions
install: $(INSTALL_PREREQS)
	install -d $(DESTDIR)$(BINDIR)
	for exe in $(EXECUTABLES); do install -m 0755 $(BUILD_DIR)/$$exe $(DESTDIR)$(BINDIR)/$$exe || exit 1; done
	if [ -n "$(LIB_EXECUTABLES)" ]; then \
		install -d $(DESTDIR)$(PKGLIBDIR) && \
		for exe in $(LIB_EXECUTABLES); do install -m 0755 $(BUILD_DIR)/$$exe $(DESTDIR)$(PKGLIBDIR)/$$exe || exit 1; done; \
	fi
	install -d $(DESTDIR)$(MANDIR)/man$(MAN_SECTION)
	install -m 0644 $(MAN_OUT)/*.$(MAN_SECTION) $(DESTDIR)$(MANDIR)/man$(MAN_SECTION)/
	install -D -m 0644 $(COMPLETION_OUT)/sockscan $(DESTDIR)$(DATADIR)/bash-completion/completions/sockscan
	install -D -m 0644 $(COMPLETION_OUT)/_sockscan $(DESTDIR)$(DATADIR)/zsh/site-functions/_sockscan
	install -D -m 0644 $(COMPLETION_OUT)/sockscan.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/sockscan.fish
	install -d $(DESTDIR)$(UNITDIR)
	for unit in $(UNIT_FILES); do \
		sed 's|/usr/local/bin/sockscan|$(BINDIR)/sockscan|g' contrib/systemd/$$unit > $(DESTDIR)$(UNITDIR)/$$unit && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -d $(DESTDIR)$(DATADIR)/sockscan/prometheus
	for rules in $(RULE_FILES); do install -m 0644 contrib/prometheus/$$rules $(DESTDIR)$(DATADIR)/sockscan/prometheus/ || exit 1; done

uninstall:
	for exe in $(EXECUTABLES); do rm -f $(DESTDIR)$(BINDIR)/$$exe; done
	for exe in $(LIB_EXECUTABLES); do rm -f $(DESTDIR)$(PKGLIBDIR)/$$exe; done
	-rmdir $(DESTDIR)$(PKGLIBDIR) 2>/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man$(MAN_SECTION)/sockscan.$(MAN_SECTION) $(DESTDIR)$(MANDIR)/man$(MAN_SECTION)/sockscan.*.$(MAN_SECTION)
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/sockscan
	rm -f $(DESTDIR)$(DATADIR)/zsh/site-functions/_sockscan
	rm -f $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/sockscan.fish
	for unit in $(UNIT_FILES); do rm -f $(DESTDIR)$(UNITDIR)/$$unit; done
	for rules in $(RULE_FILES); do rm -f $(DESTDIR)$(DATADIR)/sockscan/prometheus/$$rules; done
	-rmdir $(DESTDIR)$(DATADIR)/sockscan/prometheus $(DESTDIR)$(DATADIR)/sockscan 2>/dev/null

# The package: a staged `make install` for /usr, turned into a .deb by packaging/deb/build (strip, gzipped
# man pages, copyright, changelog, maintainer scripts, Depends from dpkg-shlibdeps, dpkg-deb).
DEB_ROOT = $(OUT)/deb-root
DEB_OUT = .build/deb
deb: man build completions
	rm -rf $(DEB_ROOT)
	$(MAKE) --no-print-directory install INSTALL_PREREQS= DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr UNITDIR=/lib/systemd/system
	packaging/deb/build $(DEB_ROOT) $(DEB_OUT) "$(VERSION)" "$(EXECUTABLES)" "$(LIB_EXECUTABLES)"

# The tarball: a staged `make install` under /usr/local, the binaries stripped; prints its path and the
# binaries' sizes.
DIST_ROOT = $(OUT)/dist-root
DIST_OUT = .build/dist
dist: man build completions
	rm -rf $(DIST_ROOT) && mkdir -p $(DIST_OUT)
	$(MAKE) --no-print-directory install INSTALL_PREREQS= DESTDIR=$(CURDIR)/$(DIST_ROOT) PREFIX=/usr/local
	strip --strip-unneeded $(DIST_ROOT)/usr/local/bin/sockscan $(DIST_ROOT)/usr/local/lib/sockscan/sockscan-full
	tar -C $(DIST_ROOT) --owner=0 --group=0 -czf $(DIST_OUT)/sockscan-$(VERSION)-linux-$$(uname -m).tar.gz usr
	@ls -l $(DIST_ROOT)/usr/local/bin/sockscan $(DIST_ROOT)/usr/local/lib/sockscan/sockscan-full \
		$(DIST_OUT)/sockscan-$(VERSION)-linux-$$(uname -m).tar.gz | awk '{print $$5, $$9}'

clean-pkg:
	rm -rf $(OUT) .build/deb .build/dist

bench:
	Benchmarks/run.sh --quick

bench-full:
	Benchmarks/run.sh --full

bench-micro:
	swift package --package-path Benchmarks benchmark

bench-check:
	cd Benchmarks && swift package benchmark thresholds check
